/**
 * Forks that heal: after an origin equivocates, every honest node ends with the same feed of it,
 * whatever order the versions reached it — through the fork's predecessor when no bloc-final
 * checkpoint covers the fork, through the bloc-final checkpoint (its version) when one does —
 * and the honest nodes' own entries stay.
 */
import { decodeEntry } from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import type { Verifier } from '../../src/crypto/verifier.ts'
import { Engine } from '../../src/engine/engine.ts'
import { K } from '../../src/engine/keys.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { BatchOp } from '../../src/storage/store.ts'
import { ed, registration, testBloc } from '../fixtures.ts'
import { fork, open } from './fork-fixture.ts'

describe('forks that heal', () => {
  it('without a bloc-final checkpoint, every node ends just before the fork, whatever the order', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const b = await open(bloc, 1)
    const c = await open(bloc, 2)
    // Node 1 sees A first, node 2 sees B first; each then sees the other version.
    expect(await b.engine.applyRemoteMany([f.e1, ...f.A])).toEqual(['applied', 'applied', 'applied'])
    expect(await b.engine.applyRemoteMany(f.B)).toEqual(['equivocation'])
    expect(await c.engine.applyRemoteMany([f.e1, ...f.B])).toEqual(['applied', 'applied'])
    expect(await c.engine.applyRemoteMany(f.A)).toEqual(['equivocation', 'quarantined'])
    for (const n of [b, c]) {
      expect(n.engine.versionVector()[f.origin]).toBe(1)
      expect(await n.engine.getRecord(f.first.id)).toBeDefined()
      for (const r of [...f.regsA, ...f.regsB]) expect(await n.engine.getRecord(r.id)).toBeUndefined()
    }
    expect(b.engine.stateRoot()).toBe(c.engine.stateRoot())
  })

  it('with a bloc-final checkpoint over the fork, its version stands: a node that held the other is told which, and takes it', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const b = await open(bloc, 1)
    const c = await open(bloc, 2)
    await b.engine.applyRemoteMany([f.e1, ...f.A])
    await c.engine.applyRemoteMany([f.e1, ...f.B])
    // The witnesses found node 0's checkpoint of 3 entries (version A) bloc-final.
    const root = await b.engine.audit.root(f.origin, 3)
    await b.engine.healing.setFinal(f.origin, 3, root)
    await c.engine.healing.setFinal(f.origin, 3, root)
    // Both learn of the equivocation.
    await b.engine.applyEvidence(f.A[0]!, f.B[0]!)
    await c.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(b.engine.versionVector()[f.origin]).toBe(3) // it holds the version that stands
    // Node 2 cannot tell from its 2 entries which version the checkpoint holds, until node 1
    // shows it (the witness sends this with the bloc-final checkpoint).
    const proof = await b.engine.healing.forkProof(f.origin, 3)
    expect(proof?.seq).toBe(2)
    expect(await c.engine.healing.pinFork(f.origin, 3, root, proof!)).toBe(true)
    expect(c.engine.versionVector()[f.origin]).toBe(1)
    // Catch-up brings version A; version B is not taken again, from anyone.
    expect(await c.engine.applyRemoteMany(f.B)).toEqual(['quarantined'])
    expect(await c.engine.applyRemoteMany(f.A)).toEqual(['applied', 'applied'])
    expect(c.engine.versionVector()[f.origin]).toBe(3)
    expect(c.engine.stateRoot()).toBe(b.engine.stateRoot())
    for (const r of f.regsA) expect(await c.engine.getRecord(r.id)).toBeDefined()
    for (const r of f.regsB) expect(await c.engine.getRecord(r.id)).toBeUndefined()
  })

  it('a node whose longer fork contradicts the bloc-final root drops it on its own', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 3)
    const b = await open(bloc, 1)
    const c = await open(bloc, 2)
    await b.engine.applyRemoteMany([f.e1, ...f.A])
    await c.engine.applyRemoteMany([f.e1, ...f.B])
    const root = await b.engine.audit.root(f.origin, 3)
    // Node 2 holds 4 entries of version B: its tree of 3 is not the bloc-final one.
    await c.engine.healing.setFinal(f.origin, 3, root)
    await c.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(c.engine.versionVector()[f.origin]).toBe(1)
    expect(await c.engine.applyRemoteMany([...f.B, ...f.A])).toEqual([
      'quarantined',
      'quarantined',
      'quarantined',
      'applied',
      'applied',
    ])
    await b.engine.healing.setFinal(f.origin, 3, root)
    await b.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(c.engine.stateRoot()).toBe(b.engine.stateRoot())
  })

  it('keeps an honest node’s own entries that depended on the dropped ones', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const b = await open(bloc, 1)
    await b.engine.applyRemoteMany([f.e1, ...f.A])
    // Node 1 writes after applying version A: its entry depends on node 0's seq 3.
    const own = registration(bloc.officer('BBB'), 'BBB')
    expect((await b.engine.submit([own]))[0]?.ok).toBe(true)
    expect(decodeEntry(b.sent[0]!).body.deps[f.origin]).toBe(3)
    await b.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(b.engine.versionVector()[f.origin]).toBe(1)
    expect(b.engine.versionVector()[b.engine.nodeId]).toBe(1)
    expect(await b.engine.getRecord(own.id)).toBeDefined()
    // Another node that never saw version A takes node 1's entry all the same.
    const c = await open(bloc, 2)
    await c.engine.applyRemoteMany([f.e1, ...f.B])
    await c.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(await c.engine.applyRemote(b.sent[0]!)).toBe('applied')
    expect(c.engine.stateRoot()).toBe(b.engine.stateRoot())
  })

  it('a node that cut a fork before it learned the bloc-final checkpoint over it takes that version back', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const b = await open(bloc, 1)
    await b.engine.applyRemoteMany([f.e1, ...f.A])
    const root = await b.engine.audit.root(f.origin, 3)
    // The fork is found first: no bloc-final checkpoint is known, so nothing from seq 2 stands.
    await b.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(b.engine.versionVector()[f.origin]).toBe(1)
    // Then the checkpoint the witnesses had finalized arrives: version A stands after all, and
    // node 1 applies again the entries it had set aside (no peer needed), so it can serve them.
    await b.engine.healing.setFinal(f.origin, 3, root)
    expect(b.engine.versionVector()[f.origin]).toBe(3)
    for (const r of f.regsA) expect(await b.engine.getRecord(r.id)).toBeDefined()
    expect((await b.engine.healing.forkProof(f.origin, 3))?.seq).toBe(2)
  })

  it('a peer’s frame being verified when a rebuild begins is applied all the same: its records stay', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const writer = await open(bloc, 2)
    const own = registration(bloc.officer('CCC'), 'CCC')
    expect((await writer.engine.submit([own]))[0]?.ok).toBe(true)
    // Node 1's signature checks wait at a gate, opened when a rebuild writes its first key (or
    // after 200 ms): the frame's entries are placed while the rebuild is under way, if it may be.
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let gated = false
    const verifier = {
      verify: async (checks: ReadonlyArray<{ sig: Uint8Array; message: Uint8Array; key: Uint8Array }>) => {
        if (gated) await Promise.race([gate, new Promise((r) => setTimeout(r, 200))])
        return checks.map((c) => ed.verify(c.sig, c.message, c.key))
      },
    } as unknown as Verifier
    class Observed extends MemoryStore {
      override async write(ops: readonly BatchOp[]): Promise<void> {
        if (ops.some((op) => op.key === K.rebuild && op.type === 'put')) {
          release()
          await new Promise((r) => setTimeout(r, 20))
        }
        return super.write(ops)
      }
    }
    const b = await Engine.open({
      store: new Observed(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
      verifier,
    })
    expect(await b.applyRemoteMany([f.e1, ...f.A])).toEqual(['applied', 'applied', 'applied'])
    gated = true
    const frame = b.applyRemoteMany([writer.sent[0]!])
    // The fork is learned meanwhile: nothing of node 0's from seq 2 stands, so node 1 rebuilds.
    await b.applyEvidence(f.A[0]!, f.B[0]!)
    expect(await frame).toEqual(['applied'])
    expect(b.versionVector()).toEqual({ [f.origin]: 1, [writer.engine.nodeId]: 1 })
    expect(await b.getRecord(own.id)).toBeDefined()
    expect(await b.getRecord(f.first.id)).toBeDefined()
    for (const r of f.regsA) expect(await b.getRecord(r.id)).toBeUndefined()
    // The writer, which never saw version A, holds the same state.
    await writer.engine.applyRemoteMany([f.e1])
    await writer.engine.applyEvidence(f.A[0]!, f.B[0]!)
    expect(writer.engine.stateRoot()).toBe(b.stateRoot())
  })

  it('a node that wrote on the version that lost waits for the one that stands, writing nothing meanwhile, and keeps its entry', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const b = await open(bloc, 1)
    const store = new MemoryStore()
    const opened = () => Engine.open({ store, ed, nodeKeys: bloc.nodes[2]!.keys, charter: bloc.chain })
    let c = await opened()
    await b.engine.applyRemoteMany([f.e1, ...f.A])
    await c.applyRemoteMany([f.e1, ...f.B])
    // Node 2 writes on version B: its entry depends on node 0's seq 2.
    const own = registration(bloc.officer('CCC'), 'CCC')
    expect((await c.submit([own]))[0]?.ok).toBe(true)
    const first = (await c.getEntryBytes(c.nodeId, 1))!
    expect(decodeEntry(first).body.deps[f.origin]).toBe(2)
    // Version A is bloc-final, and node 1 shows which entry it holds at the fork.
    const root = await b.engine.audit.root(f.origin, 3)
    await b.engine.healing.setFinal(f.origin, 3, root)
    await b.engine.applyEvidence(f.A[0]!, f.B[0]!)
    await c.healing.setFinal(f.origin, 3, root)
    await c.applyEvidence(f.A[0]!, f.B[0]!)
    const proof = await b.engine.healing.forkProof(f.origin, 3)
    expect(await c.healing.pinFork(f.origin, 3, root, proof!)).toBe(true)
    // Node 2 drops version B; its own entry waits for node 0's seq 2 of version A, and it writes
    // nothing meanwhile (the seq is taken).
    expect(c.failure).toBeUndefined()
    expect(c.versionVector()).toEqual({ [f.origin]: 1 })
    const refused = await c.submit([registration(bloc.officer('CCC'), 'CCC')])
    expect(refused[0]?.ok === false && refused[0].error.code).toBe('OWN_FEED_CATCHING_UP')
    expect(await c.restore.check(0, [1])).toBe(false)
    // Restarted, it still writes nothing, and its entry is not lost.
    await c.stop()
    c = await opened()
    expect((await c.submit([registration(bloc.officer('CCC'), 'CCC')]))[0]?.ok).toBe(false)
    await c.healing.setFinal(f.origin, 3, root) // what the witness tells it at start
    // A peer sends version A: the entry applies after it, and node 2 writes again.
    await c.applyRemoteMany(f.A)
    expect(c.versionVector()).toEqual({ [f.origin]: 3, [c.nodeId]: 1 })
    expect(await c.getRecord(own.id)).toBeDefined()
    expect(await c.restore.check(1, [1])).toBe(true)
    expect((await c.submit([registration(bloc.officer('CCC'), 'CCC')]))[0]?.ok).toBe(true)
    // Node 1 takes node 2's entries as they are: the two agree.
    const second = (await c.getEntryBytes(c.nodeId, 2))!
    expect(await b.engine.applyRemoteMany([first, second])).toEqual(['applied', 'applied'])
    expect(b.engine.stateRoot()).toBe(c.stateRoot())
  })
})

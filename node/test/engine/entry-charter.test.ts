/**
 * Every entry names the charter version its node applied, and replicas judge it under that
 * version: one they do not hold yet waits; a feed never goes back to an older version; the
 * records it carries name no later version and act under the entry's version's state keys;
 * and an entry signed after an amendment removed its node is void on every node that knows the
 * amendment, whichever node relays it and whatever version it names.
 */
import {
  certifyNode,
  decodeEntry,
  expelMember,
  generateKeyPair,
  type KeyPair,
  LegationClient,
  rotateStateKey,
  type SignedCharter,
  sealEntry,
  signAmendment,
  verifyCharterChain,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, registration, type TestBloc, testBloc } from '../fixtures.ts'

const signers = (bloc: TestBloc, codes: string[]) =>
  codes.map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))

/** An engine for node `i` whose clock the test sets, and the entries it writes. */
async function writer(bloc: TestBloc, i: number, clock: { now: number }) {
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[i]!.keys,
    charter: bloc.chain,
    clock: () => clock.now,
  })
  const sent: Uint8Array[] = []
  engine.onEntry((_e, bytes) => sent.push(bytes))
  return { engine, sent }
}

const replica = (bloc: TestBloc, i: number, chain: readonly SignedCharter[] = bloc.chain) =>
  Engine.open({ store: new MemoryStore(), ed, nodeKeys: bloc.nodes[i]!.keys, charter: [...chain] })

/** CCC rotates its state key; node 2 (CCC's) is certified again under the new key. */
function rotation(bloc: TestBloc): { amendment: SignedCharter; key: KeyPair } {
  const key = generateKeyPair(ed)
  const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
  const node = bloc.nodes[2]!
  const cert = certifyNode(
    ed,
    'CCC',
    key.secretKey,
    { name: 'node-2', keys: node.keys, clientId: node.clientId, addrs: [] },
    { notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 86_400_000 },
  )
  const draft = rotateStateKey(prev, 'CCC', key.publicKey, [cert], { issuedAt: Date.now() })
  return { amendment: signAmendment(ed, draft, signers(bloc, ['AAA', 'BBB'])), key }
}

/** Re-signs an entry with `changes` to its body: what a node that lies about its charter sends. */
function resealed(bytes: Uint8Array, keys: KeyPair, change: Partial<ReturnType<typeof decodeEntry>['body']>) {
  const { body } = decodeEntry(bytes)
  return sealEntry(ed, { ...body, ...change }, keys.secretKey).bytes
}

describe('entries name the charter version their node applied', () => {
  it('names the version in force, and a replica waits for a version it does not hold yet', async () => {
    const bloc = testBloc(3)
    const { amendment } = rotation(bloc)
    const c = await writer(bloc, 2, { now: Date.now() })
    expect(await c.engine.adoptCharter([...bloc.chain, amendment])).toBe(true)
    await c.engine.submit([registration(bloc.officer('AAA'), 'AAA')])
    expect(decodeEntry(c.sent[0]!).body.charter).toBe(c.engine.charter.hash)

    const a = await replica(bloc, 0)
    expect(await a.applyRemote(c.sent[0]!)).toBe('deferred')
    expect(a.versionVector()).toEqual({})
    expect(await a.adoptCharter([...bloc.chain, amendment])).toBe(true)
    expect(await a.applyRemote(c.sent[0]!)).toBe('applied')
  })

  it('refuses an entry that goes back to an older version than its feed named before', async () => {
    const bloc = testBloc(3)
    const { amendment } = rotation(bloc)
    const c = await writer(bloc, 2, { now: Date.now() })
    await c.engine.adoptCharter([...bloc.chain, amendment])
    await c.engine.submit([registration(bloc.officer('AAA'), 'AAA')])
    await c.engine.submit([registration(bloc.officer('AAA'), 'AAA')])
    const a = await replica(bloc, 0, [...bloc.chain, amendment])
    expect(await a.applyRemote(c.sent[0]!)).toBe('applied')
    const back = resealed(c.sent[1]!, bloc.nodes[2]!.keys, { charter: bloc.charterHash })
    await expect(a.applyRemote(back)).rejects.toMatchObject({ code: 'ENTRY_INVALID' })
    // The entry as written (naming the version in force) applies.
    expect(await a.applyRemote(c.sent[1]!)).toBe('applied')
  })

  it('refuses records that name a later version than their entry', async () => {
    const bloc = testBloc(3)
    const { amendment } = rotation(bloc)
    const c = await writer(bloc, 2, { now: Date.now() })
    await c.engine.adoptCharter([...bloc.chain, amendment])
    const { keys, cert } = bloc.officer('AAA')
    const officer = new LegationClient({ ed, bloc: bloc.bloc, charter: c.engine.charter.hash, keys, cert })
    expect((await c.engine.submit([registration(officer, 'AAA')]))[0]?.ok).toBe(true)
    const a = await replica(bloc, 0, [...bloc.chain, amendment])
    const older = resealed(c.sent[0]!, bloc.nodes[2]!.keys, { charter: bloc.charterHash })
    await expect(a.applyRemote(older)).rejects.toMatchObject({ code: 'ENTRY_INVALID' })
    expect(await a.applyRemote(c.sent[0]!)).toBe('applied')
  })

  it('judges records under the entry’s version: a rotated-out key counts only in entries of a node that had not adopted the rotation', async () => {
    const bloc = testBloc(3)
    const { amendment } = rotation(bloc)
    // Node 0 has not heard of the rotation: an officer certified by CCC's old key is valid to it.
    const stale = await writer(bloc, 0, { now: Date.now() })
    expect((await stale.engine.submit([registration(bloc.officer('CCC'), 'CCC')]))[0]?.ok).toBe(true)
    const honest = stale.sent[0]!
    expect(decodeEntry(honest).body.charter).toBe(bloc.charterHash)
    // The same entry, claiming the rotation was in force: the old key authorizes nothing there.
    const claimed = resealed(honest, bloc.nodes[0]!.keys, {
      charter: verifyCharterChain(ed, [...bloc.chain, amendment])[1]!.hash,
    })
    const b = await replica(bloc, 1, [...bloc.chain, amendment])
    await expect(b.applyRemote(claimed)).rejects.toMatchObject({ code: 'CERT_INVALID' })
    // As written, under the version its node applied, it stands: every replica agrees on it.
    expect(await b.applyRemote(honest)).toBe('applied')
  })
})

describe('an expelled state’s node', () => {
  it('has its entries after the expulsion voided, its feed closed, and the bloc goes on past them', async () => {
    const bloc = testBloc(3)
    const clock = { now: Date.now() }
    // CCC's node keeps writing on the genesis charter: it never adopts its own expulsion.
    const c = await writer(bloc, 2, clock)
    await c.engine.submit([registration(bloc.officer('CCC'), 'CCC')])
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const expelledAt = clock.now + 1_000
    const expel = signAmendment(
      ed,
      expelMember(prev, 'CCC', { issuedAt: expelledAt }),
      signers(bloc, ['AAA', 'BBB']),
    )
    clock.now = expelledAt + 2_000
    await c.engine.submit([registration(bloc.officer('CCC'), 'CCC')])
    clock.now += 1_000
    await c.engine.submit([registration(bloc.officer('CCC'), 'CCC')])
    expect(c.sent.map((b) => decodeEntry(b).body.charter)).toEqual([
      bloc.charterHash,
      bloc.charterHash,
      bloc.charterHash,
    ])

    // Node 1 (BBB) has not adopted the expulsion yet: it takes all three and writes on them.
    const b = await writer(bloc, 1, { now: clock.now })
    expect(await b.engine.applyRemoteMany(c.sent)).toEqual(['applied', 'applied', 'applied'])
    await b.engine.submit([registration(bloc.officer('BBB'), 'BBB')])
    expect(decodeEntry(b.sent.at(-1)!).body.deps).toMatchObject({ [decodeEntry(c.sent[0]!).body.origin]: 3 })

    // Node 0 knows the amendment: what CCC's node signed before it stands, after it is void —
    // relayed by node 1, which is not blamed — and node 1's entry that built on them applies.
    const a = await replica(bloc, 0, [...bloc.chain, expel])
    const results = await a.applyRemoteMany([...c.sent, b.sent.at(-1)!])
    expect(results).toEqual(['applied', 'withdrawn', 'withdrawn', 'applied'])
    const origin = decodeEntry(c.sent[0]!).body.origin
    expect(a.closedFeeds()).toEqual({ [origin]: 1 })
    const evidence: string[] = []
    for await (const [key] of a.evidence()) evidence.push(key)
    expect(evidence).toEqual([expect.stringContaining(`evid/refused/${origin}/000000000002/`)])
    // Sent again (a relay's catch-up), the voided entries stay void and are not stored again.
    expect(await a.applyRemoteMany(c.sent.slice(1))).toEqual(['withdrawn', 'withdrawn'])
    expect(a.versionVector()[origin]).toBe(1)
  })

  it('keeps its feed closed across a restart', async () => {
    const bloc = testBloc(3)
    const clock = { now: Date.now() }
    const c = await writer(bloc, 2, clock)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const expel = signAmendment(
      ed,
      expelMember(prev, 'CCC', { issuedAt: clock.now - 1 }),
      signers(bloc, ['AAA', 'BBB']),
    )
    await c.engine.submit([registration(bloc.officer('CCC'), 'CCC')])
    const store = new MemoryStore()
    const open = () =>
      Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: [...bloc.chain, expel] })
    const a = await open()
    expect(await a.applyRemote(c.sent[0]!)).toBe('withdrawn')
    await a.stop()
    const again = await open()
    const origin = decodeEntry(c.sent[0]!).body.origin
    expect(again.closedFeeds()).toEqual({ [origin]: 0 })
  })

  it('is voided too on a node that applied its later entries before it knew: that node rebuilds and converges', async () => {
    const bloc = testBloc(3)
    const clock = { now: Date.now() }
    const c = await writer(bloc, 2, clock)
    const regs = [registration(bloc.officer('CCC'), 'CCC')]
    await c.engine.submit([regs[0]!])
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const expel = signAmendment(
      ed,
      expelMember(prev, 'CCC', { issuedAt: clock.now + 1_000 }),
      signers(bloc, ['AAA', 'BBB']),
    )
    clock.now += 3_000
    for (let i = 1; i < 3; i++) {
      regs.push(registration(bloc.officer('CCC'), 'CCC'))
      await c.engine.submit([regs[i]!])
    }
    // Node 1 takes them all before it hears of the expulsion, and writes on them.
    const store = new MemoryStore()
    const b = await Engine.open({ store, ed, nodeKeys: bloc.nodes[1]!.keys, charter: bloc.chain })
    const fromB: Uint8Array[] = []
    b.onEntry((_e, bytes) => fromB.push(bytes))
    expect(await b.applyRemoteMany(c.sent)).toEqual(['applied', 'applied', 'applied'])
    const own = registration(bloc.officer('BBB'), 'BBB')
    expect((await b.submit([own]))[0]?.ok).toBe(true)
    const relayed = fromB.length
    // Node 0 knew the amendment all along.
    const a = await replica(bloc, 0, [...bloc.chain, expel])
    await a.applyRemoteMany([...c.sent, fromB.at(-1)!])
    expect(b.stateRoot()).not.toBe(a.stateRoot())

    expect(await b.adoptCharter([...bloc.chain, expel])).toBe(true)
    const origin = decodeEntry(c.sent[0]!).body.origin
    expect(b.versionVector()).toEqual(a.versionVector())
    expect(b.stateRoot()).toBe(a.stateRoot())
    expect(b.closedFeeds()).toEqual({ [origin]: 1 })
    expect(fromB.length).toBe(relayed) // nothing re-sent to peers
    // The voided records are gone from its reads; the one before the expulsion and its own stay.
    expect(await b.getRecord(regs[0]!.id)).toBeDefined()
    expect(await b.getRecord(regs[1]!.id)).toBeUndefined()
    expect(await b.getRecord(regs[2]!.id)).toBeUndefined()
    expect(await b.getRecord(own.id)).toBeDefined()
    // It goes on writing, and the others take what it writes.
    const next = registration(bloc.officer('BBB'), 'BBB')
    expect((await b.submit([next]))[0]?.ok).toBe(true)
    expect(await a.applyRemote(fromB.at(-1)!)).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())

    // A rebuild cut short (the marker left behind) runs again when the node starts.
    await b.stop()
    await store.write([{ type: 'put', key: 'meta/rebuild', value: new Uint8Array([1]) }])
    const again = await Engine.open({
      store,
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: [...bloc.chain, expel],
    })
    expect(again.stateRoot()).toBe(a.stateRoot())
    expect(await store.get('meta/rebuild')).toBeUndefined()
  })

  it('stops a node’s writes when a rebuild cannot bring its own feed back whole', async () => {
    const bloc = testBloc(3)
    const clock = { now: Date.now() }
    const c = await writer(bloc, 2, clock)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const expel = signAmendment(
      ed,
      expelMember(prev, 'CCC', { issuedAt: clock.now - 1 }),
      signers(bloc, ['AAA', 'BBB']),
    )
    const reg = registration(bloc.officer('CCC'), 'AAA')
    await c.engine.submit([reg])
    // Node 1 applies the void registration, then its officer opens a case on that citizen: its
    // own entry builds on what the amendment voids.
    const b = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
    })
    expect(await b.applyRemote(c.sent[0]!)).toBe('applied')
    const officer = bloc.officer('BBB')
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'emergency-travel-document' })
    expect((await b.submit([opened]))[0]?.ok).toBe(true)
    await b.adoptCharter([...bloc.chain, expel])
    const [refused] = await b.submit([registration(bloc.officer('BBB'), 'BBB')])
    expect(!refused?.ok && refused?.error.code).toBe('REBUILD_LOST_OWN_ENTRIES')
  })
})

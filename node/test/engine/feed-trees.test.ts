/**
 * Every feed's RFC 6962 tree, kept by the engine as entries are stored: the same root at the
 * origin and at a replica, proofs that verify with the protocol's (RFC 9162) verifiers, kept
 * across a restart, and built once for a store written before trees were kept.
 */
import {
  entryHash,
  leafHash,
  rootOf,
  type SignedEntry,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { deleteEntryRows } from '../../src/engine/entry-rows.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { Store } from '../../src/storage/store.ts'
import { ed, registration, testBloc } from '../fixtures.ts'

const open = (bloc: ReturnType<typeof testBloc>, i: number, store: Store = new MemoryStore()) =>
  Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })

async function fiveEntries() {
  const bloc = testBloc(2)
  const a = await open(bloc, 0)
  const sent: Array<{ entry: SignedEntry; bytes: Uint8Array }> = []
  a.onEntry((entry, bytes) => sent.push({ entry, bytes }))
  const officer = bloc.officer('AAA')
  for (let i = 0; i < 5; i++) await a.submit([registration(officer)])
  const leaves = sent.map((s) => leafHash(entryHash(s.entry.body)))
  return { bloc, a, sent, leaves }
}

describe('feed trees', () => {
  it('are the RFC 6962 tree of each feed’s entry hashes, the same at the origin and at a replica', async () => {
    const { bloc, a, sent, leaves } = await fiveEntries()
    expect((await a.audit.feedTree(a.nodeId)).size).toBe(5)
    expect(toHex((await a.audit.feedTree(a.nodeId)).root)).toBe(toHex(rootOf(leaves)))
    const b = await open(bloc, 1)
    await b.applyRemoteMany(sent.map((s) => s.bytes))
    expect(toHex((await b.audit.feedTree(a.nodeId)).root)).toBe(toHex(rootOf(leaves)))
    expect(toHex(await b.audit.root(a.nodeId, 3))).toBe(toHex(rootOf(leaves.slice(0, 3))))
  })

  it('prove an entry included and an older tree consistent, as RFC 9162 verifies them', async () => {
    const { a, leaves } = await fiveEntries()
    const root = (await a.audit.feedTree(a.nodeId)).root
    for (let seq = 1; seq <= 5; seq++) {
      const proof = await a.audit.inclusionProof(a.nodeId, seq, 5)
      expect(verifyInclusion(leaves[seq - 1]!, seq - 1, 5, proof, root)).toBe(true)
    }
    const old = await a.audit.root(a.nodeId, 2)
    expect(verifyConsistency(2, 5, old, root, await a.audit.consistencyProof(a.nodeId, 2, 5))).toBe(true)
    // Nothing beyond what is held.
    await expect(a.audit.inclusionProof(a.nodeId, 6, 6)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('are kept across a restart, and built once for a store that kept none', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    let a = await open(bloc, 0, store)
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 3; i++) await a.submit([registration(officer)])
    const root = toHex((await a.audit.feedTree(a.nodeId)).root)
    await a.close()
    a = await open(bloc, 0, store)
    expect(toHex((await a.audit.feedTree(a.nodeId)).root)).toBe(root)
    await a.close()
    // As a store of an earlier version: no subtrees stored.
    const subtrees: string[] = []
    for await (const [k] of store.range({ gte: 'mkt/', lt: 'mkt/\uffff' })) subtrees.push(k)
    expect(subtrees.length).toBeGreaterThan(0)
    await store.write(subtrees.map((key) => ({ type: 'del' as const, key })))
    a = await open(bloc, 0, store)
    expect(toHex((await a.audit.feedTree(a.nodeId)).root)).toBe(root)
    await a.submit([registration(officer)])
    expect((await a.audit.feedTree(a.nodeId)).size).toBe(4)
    const proof = await a.audit.inclusionProof(a.nodeId, 2, 4)
    expect(proof.length).toBeGreaterThan(0)
  })

  it('refuse to start on a store whose feed has a gap where its tree must be built', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const a = await open(bloc, 0, store)
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 3; i++) await a.submit([registration(officer)])
    await a.close()
    const subtrees: string[] = []
    for await (const [k] of store.range({ gte: 'mkt/', lt: 'mkt/\uffff' })) subtrees.push(k)
    const entry2 = await deleteEntryRows(store, a.nodeId, 2)
    await store.write([...subtrees.map((key) => ({ type: 'del' as const, key })), ...entry2])
    await expect(open(bloc, 0, store)).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
  })
})

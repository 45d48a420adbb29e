/**
 * An origin that forks its feed, for tests of equivocation: two engines under node 0's key,
 * each writing its own version of the feed after a shared first entry.
 */
import { decodeEntry } from '@legation/protocol'
import { expect } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, registration, type TestBloc } from '../fixtures.ts'

/** Node `i` of `bloc` over a MemoryStore, and the bytes of each entry of its own it wrote. */
export async function open(bloc: TestBloc, i: number) {
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[i]!.keys,
    charter: bloc.chain,
  })
  const sent: Uint8Array[] = []
  engine.onEntry((e, bytes) => {
    if (e.body.origin === engine.nodeId) sent.push(bytes)
  })
  return { engine, sent }
}

/**
 * Node 0 forks its feed: one copy of its key writes seq 1 and then version A (seqs 2…), another
 * copy version B from seq 2. Answers the entries and the registrations each carries.
 */
export async function fork(bloc: TestBloc, lengthA: number, lengthB: number) {
  const officer = bloc.officer('AAA')
  const a1 = await open(bloc, 0)
  const a2 = await open(bloc, 0)
  const first = registration(officer)
  await a1.engine.submit([first])
  expect(await a2.engine.applyRemote(a1.sent[0]!)).toBe('applied')
  const regsA = []
  const regsB = []
  for (let i = 0; i < lengthA; i++) {
    regsA.push(registration(officer))
    await a1.engine.submit([regsA[i]!])
  }
  for (let i = 0; i < lengthB; i++) {
    regsB.push(registration(officer))
    await a2.engine.submit([regsB[i]!])
  }
  const e1 = a1.sent[0]!
  const A = a1.sent.slice(1)
  const B = a2.sent.slice(1) // its first is seq 1, applied from the other copy
  expect(decodeEntry(A[0]!).body.seq).toBe(2)
  expect(decodeEntry(B[0]!).body.seq).toBe(2)
  return { origin: a1.engine.nodeId, e1, A, B, first, regsA, regsB }
}

/** Evidence kept for the secretariat is told to the observer (the node counts it in a metric). */
import { ProtocolError } from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { Evidence } from '../../src/engine/evidence.ts'
import type { Trust } from '../../src/engine/trust.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed } from '../fixtures.ts'

describe('Evidence', () => {
  it('tells the observer each piece of evidence it stores, by kind, and lists it after `after`', async () => {
    const kinds: string[] = []
    const store = new MemoryStore()
    const evidence = new Evidence({
      store,
      ed,
      trust: {} as Trust,
      observer: { evidenceStored: (kind) => kinds.push(kind) },
    })
    const origin = 'a'.repeat(32)
    for (const seq of [1, 2]) {
      await evidence.refused(
        Uint8Array.of(seq),
        origin,
        seq,
        new Uint8Array(32).fill(seq),
        new ProtocolError('ENTRY_INVALID'),
      )
    }
    expect(kinds).toEqual(['refused', 'refused'])
    const all = []
    for await (const [key] of evidence.list(10)) all.push(key)
    expect(all).toHaveLength(2)
    const rest = []
    for await (const [key] of evidence.list(10, all[0]!.slice('evid/'.length))) rest.push(key)
    expect(rest).toEqual([all[1]])
  })
})

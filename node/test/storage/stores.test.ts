/**
 * Every store, and the fake that stands in for one, against the one contract.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { describe, expect, it } from 'vitest'
import { LevelStore } from '../../src/storage/level-store.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { storeCompliance } from './compliance.ts'
import { controlMedium } from './faulty-medium.ts'
import { GatedStore } from './gated-store.ts'

storeCompliance('LevelStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'legation-store-'))
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  return {
    store: new LevelStore(db),
    ...controlMedium(db),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
})

/** MemoryStore as the code builds it, its database in reach of the test. */
class ReachableMemoryStore extends MemoryStore {
  get medium() {
    return this.db
  }
}

storeCompliance('MemoryStore', async () => {
  const store = new ReachableMemoryStore()
  return { store, ...controlMedium(store.medium) }
})

storeCompliance('GatedStore', async () => {
  const store = new GatedStore()
  return {
    store,
    hold: () => {
      store.armed = true
    },
    release: () => {
      store.armed = false
      for (const gate of store.gates.splice(0)) gate.open()
    },
    breakWrites: (err) => {
      store.failWith = err
    },
  }
})

describe('MemoryStore', () => {
  it('is usable as soon as it is constructed', async () => {
    const store = new MemoryStore()
    const w = store.write([{ type: 'put', key: 'a', value: new Uint8Array([1]) }])
    expect(await store.get('a')).toEqual(new Uint8Array([1]))
    await w
    await store.close()
  })
})

describe('GatedStore', () => {
  it('holds each write made while armed at its own gate, and fails only what the test fails', async () => {
    const store = new GatedStore()
    store.armed = true
    const first = store.write([{ type: 'put', key: 'a', value: new Uint8Array([1]) }])
    const second = store.write([{ type: 'put', key: 'b', value: new Uint8Array([2]) }])
    expect(store.gates).toHaveLength(2)
    // Opened out of order, they still become durable in call order.
    store.gates[1]!.open()
    store.gates[0]!.open()
    await Promise.all([first, second])
    const third = store.write([{ type: 'put', key: 'c', value: new Uint8Array([3]) }])
    store.gates[2]!.fail(new Error('disk full'))
    await expect(third).rejects.toThrow('disk full')
    expect(await store.getMany(['a', 'b', 'c'])).toEqual([
      new Uint8Array([1]),
      new Uint8Array([2]),
      undefined,
    ])
    await store.close()
  })
})

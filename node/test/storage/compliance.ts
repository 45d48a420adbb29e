/**
 * The store contract as tests (the way libp2p runs its interface-compliance tests against every
 * transport): every `Store` implementation, and every fake a test uses in its place, registers
 * this suite. The contract is the one written in node/src/storage/store.ts.
 *
 * @example
 * storeCompliance('MemoryStore', async () => ({ store, ...controlMedium(db) }))
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { prefixRange, type RangeOptions, type Store } from '../../src/storage/store.ts'
import type { MediumControl } from './faulty-medium.ts'

export interface StoreUnderTest extends MediumControl {
  store: Store
  /** Frees what the setup made (a temp dir), after the store is closed. */
  cleanup?: () => Promise<void>
}

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b))
const put = (key: string, value: string) => ({ type: 'put', key, value: bytes(value) }) as const
const del = (key: string) => ({ type: 'del', key }) as const

async function entries(store: Store, opts: RangeOptions): Promise<Array<[string, string | undefined]>> {
  const out: Array<[string, string | undefined]> = []
  for await (const [k, v] of store.range(opts)) out.push([k, text(v)])
  return out
}

/** Long enough for a write that is not held to have reached the medium. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

export function storeCompliance(name: string, setup: () => Promise<StoreUnderTest>): void {
  describe(`${name} keeps the store contract`, () => {
    let t: StoreUnderTest
    let store: Store
    beforeEach(async () => {
      t = await setup()
      store = t.store
    })
    afterEach(async () => {
      t.release()
      await store.close().catch(() => {})
      await t.cleanup?.()
    })

    describe('reads', () => {
      it('gets what was put, and nothing for a key never put or deleted', async () => {
        await store.write([put('a', '1'), put('b', '2')])
        await store.write([del('b')])
        expect(text(await store.get('a'))).toBe('1')
        expect(await store.get('b')).toBeUndefined()
        expect(await store.get('c')).toBeUndefined()
      })

      it('getMany answers in the order asked, repeats included', async () => {
        await store.write([put('a', '1'), put('b', '2')])
        expect((await store.getMany(['b', 'x', 'a', 'b'])).map(text)).toEqual(['2', undefined, '1', '2'])
        expect(await store.getMany([])).toEqual([])
      })

      it('keeps values byte for byte', async () => {
        const value = Uint8Array.from({ length: 256 }, (_, i) => i)
        await store.write([{ type: 'put', key: 'bin', value }])
        // Compared as bytes: a store may hand back a Buffer, which is a Uint8Array.
        const asBytes = (v: Uint8Array | undefined) => (v === undefined ? undefined : [...v])
        expect(asBytes(await store.get('bin'))).toEqual([...value])
        expect(asBytes((await store.getMany(['bin']))[0])).toEqual([...value])
      })
    })

    describe('range', () => {
      beforeEach(async () => {
        await store.write(['a', 'b/1', 'b/2', 'b/3', 'b0', 'c'].map((k) => put(k, k.toUpperCase())))
      })

      it('yields entries in key order, each with its value', async () => {
        expect(await entries(store, {})).toEqual([
          ['a', 'A'],
          ['b/1', 'B/1'],
          ['b/2', 'B/2'],
          ['b/3', 'B/3'],
          ['b0', 'B0'],
          ['c', 'C'],
        ])
      })

      it('honours gte, gt, lt and lte', async () => {
        const keys = async (o: RangeOptions) => (await entries(store, o)).map(([k]) => k)
        expect(await keys({ gte: 'b/2', lt: 'c' })).toEqual(['b/2', 'b/3', 'b0'])
        expect(await keys({ gt: 'b/2', lte: 'c' })).toEqual(['b/3', 'b0', 'c'])
        expect(await keys({ gt: 'a', lt: 'b/2' })).toEqual(['b/1'])
        expect(await keys({ gte: 'd' })).toEqual([])
      })

      it('honours limit and reverse, the limit counted from the end when reversed', async () => {
        const keys = async (o: RangeOptions) => (await entries(store, o)).map(([k]) => k)
        expect(await keys({ limit: 2 })).toEqual(['a', 'b/1'])
        expect(await keys({ reverse: true })).toEqual(['c', 'b0', 'b/3', 'b/2', 'b/1', 'a'])
        expect(await keys({ reverse: true, limit: 2 })).toEqual(['c', 'b0'])
        expect(await keys({ gte: 'b/', reverse: true, limit: 1, lt: 'b0' })).toEqual(['b/3'])
        expect(await keys({ limit: 0 })).toEqual([])
      })

      it('prefixRange yields the keys with that prefix and no neighbour', async () => {
        expect((await entries(store, prefixRange('b/'))).map(([k]) => k)).toEqual(['b/1', 'b/2', 'b/3'])
        expect(
          (await entries(store, prefixRange('b/', { reverse: true, limit: 2 }))).map(([k]) => k),
        ).toEqual(['b/3', 'b/2'])
        expect(await entries(store, prefixRange('z'))).toEqual([])
      })
    })

    describe('writes', () => {
      it('applies a batch in order: a later op on the same key wins', async () => {
        await store.write([put('a', '1'), del('a'), put('b', '1'), put('b', '2')])
        expect((await store.getMany(['a', 'b'])).map(text)).toEqual([undefined, '2'])
        expect(await entries(store, {})).toEqual([['b', '2']])
      })

      it('takes an empty batch', async () => {
        await store.write([])
        expect(await entries(store, {})).toEqual([])
      })

      it('shows a write to get and getMany from the moment it is made, but to range only once durable', async () => {
        await store.write([put('a', 'old'), put('gone', 'x')])
        t.hold()
        let durable = false
        const w = store.write([put('a', 'new'), put('b', '1'), del('gone')]).then(() => {
          durable = true
        })
        expect(text(await store.get('a'))).toBe('new')
        expect(await store.get('gone')).toBeUndefined()
        expect((await store.getMany(['a', 'b', 'gone'])).map(text)).toEqual(['new', '1', undefined])
        await settle()
        expect(durable).toBe(false)
        expect(await entries(store, {})).toEqual([
          ['a', 'old'],
          ['gone', 'x'],
        ])
        t.release()
        await w
        expect(await entries(store, {})).toEqual([
          ['a', 'new'],
          ['b', '1'],
        ])
      })

      it('makes writes durable in the order they were made', async () => {
        t.hold()
        const writes = Array.from({ length: 10 }, (_, i) =>
          store.write([put('last', String(i)), put(`k${i}`, '')]),
        )
        expect(text(await store.get('last'))).toBe('9')
        t.release()
        await Promise.all(writes)
        expect(text(await store.get('last'))).toBe('9')
        expect(await entries(store, { gte: 'last', lte: 'last' })).toEqual([['last', '9']])
        expect(await entries(store, prefixRange('k'))).toHaveLength(10)
      })
    })

    describe('a failed write', () => {
      it('is reported, is not applied in part, and the store takes no more writes', async () => {
        await store.write([put('a', 'old')])
        const err = new Error('disk full')
        t.breakWrites(err)
        await expect(store.write([put('a', 'new'), put('b', '1')])).rejects.toThrow('disk full')
        expect((await store.getMany(['a', 'b'])).map(text)).toEqual(['old', undefined])
        expect(await entries(store, {})).toEqual([['a', 'old']])
        await expect(store.write([put('c', '1')])).rejects.toThrow('disk full')
        expect(await store.get('c')).toBeUndefined()
      })

      it('takes down the writes made after it that were not yet durable', async () => {
        await store.write([put('a', '0')])
        t.hold()
        const first = store.write([put('a', '1')])
        const second = store.write([put('b', '2')])
        t.breakWrites(new Error('disk full'))
        t.release()
        await expect(first).rejects.toThrow('disk full')
        await expect(second).rejects.toThrow('disk full')
        expect((await store.getMany(['a', 'b'])).map(text)).toEqual(['0', undefined])
        expect(await entries(store, {})).toEqual([['a', '0']])
      })
    })

    describe('close', () => {
      it('lets writes on their way finish first', async () => {
        t.hold()
        const w = store.write([put('a', '1')])
        const closed = store.close()
        t.release()
        await w
        await closed
      })

      it('refuses reads once closed', async () => {
        await store.write([put('a', '1')])
        await store.close()
        await expect(store.get('a')).rejects.toThrow()
        await expect(entries(store, {})).rejects.toThrow()
      })
    })
  })
}

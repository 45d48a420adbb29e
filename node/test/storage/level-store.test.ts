import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelStore } from '../../src/storage/level-store.ts'

const dirs: string[] = []
const stores: LevelStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function open(): Promise<{ store: LevelStore; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-store-'))
  dirs.push(dir)
  const store = await LevelStore.open(dir)
  stores.push(store)
  return { store, dir }
}

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b))

describe('LevelStore', () => {
  it('shows a write to get and getMany from the moment it is made, before it is durable', async () => {
    const { store } = await open()
    await store.write([{ type: 'put', key: 'a', value: bytes('old') }])
    const first = store.write([
      { type: 'put', key: 'a', value: bytes('new') },
      { type: 'put', key: 'b', value: bytes('b1') },
    ])
    const second = store.write([
      { type: 'put', key: 'b', value: bytes('b2') },
      { type: 'del', key: 'a' },
    ])
    // Not awaited: the batches may still be on their way to disk.
    expect(text(await store.get('b'))).toBe('b2')
    expect(await store.get('a')).toBeUndefined()
    expect((await store.getMany(['a', 'b', 'c'])).map(text)).toEqual([undefined, 'b2', undefined])
    await Promise.all([first, second])
    expect((await store.getMany(['a', 'b'])).map(text)).toEqual([undefined, 'b2'])
  })

  it('keeps, in order, every write it acknowledged, across a reopen', async () => {
    const { store, dir } = await open()
    const writes = Array.from({ length: 50 }, (_, i) =>
      store.write([
        { type: 'put', key: 'last', value: bytes(String(i)) },
        { type: 'put', key: `k${String(i).padStart(2, '0')}`, value: bytes(String(i)) },
      ]),
    )
    await Promise.all(writes)
    await store.close()
    stores.pop()
    const again = await LevelStore.open(dir)
    stores.push(again)
    expect(text(await again.get('last'))).toBe('49')
    const keys: string[] = []
    for await (const [k] of again.range({ gte: 'k', lt: 'l' })) keys.push(k)
    expect(keys).toHaveLength(50)
  })

  it('tells the bytes on disk under a prefix, for the bench to say where a citizen goes', async () => {
    const { store } = await open()
    // Random bytes do not compress: 200 rows of 1 KiB under one prefix, a few bytes under another.
    await store.write(
      Array.from({ length: 200 }, (_, i) => ({
        type: 'put' as const,
        key: `big/${String(i).padStart(4, '0')}`,
        value: randomBytes(1024),
      })),
    )
    await store.write([{ type: 'put', key: 'small/a', value: bytes('x') }])
    await store.compact()
    const big = (await store.bytesUnder('big/')) ?? 0
    const small = await store.bytesUnder('small/')
    expect(big).toBeGreaterThan(180 * 1024)
    expect(big).toBeLessThan(260 * 1024)
    // An estimate is as fine as a table block: the small prefix shares its block with the big one.
    expect(small).toBeLessThan(big / 10)
  })

  it('compresses rows that repeat their neighbours, blocks of 32 KiB at a time', async () => {
    const { store } = await open()
    // The same 1 KiB in each row, as an officer's certificate is in each stored record: snappy
    // finds it again only within one block, so a row costs ~1 KiB / (rows per block).
    const same = randomBytes(1024)
    await store.write(
      Array.from({ length: 400 }, (_, i) => ({
        type: 'put' as const,
        key: `rec/${String(i).padStart(4, '0')}`,
        value: same,
      })),
    )
    await store.compact()
    // LevelDB's estimate: ~35 KiB in 32 KiB blocks, ~47 KiB in 16 KiB blocks; 4 KiB blocks
    // (LevelDB's default) take ~100 KiB.
    expect(await store.bytesUnder('rec/')).toBeLessThan(42 * 1024)
  })
})

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelStore } from '../../src/storage/level-store.ts'
import { type StoreUpkeep, storeUpkeep } from '../../src/storage/upkeep.ts'
import type { ServiceLogger } from '../../src/util/log.ts'

const dirs: string[] = []
const open: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A store on disk, with the LevelDB under it to count its table files per level. */
async function diskStore(): Promise<{ store: LevelStore; levels: () => number[]; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-upkeep-'))
  dirs.push(dir)
  const path = join(dir, 'db')
  const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const store = new LevelStore(db, { path })
  await store.start()
  open.push(store)
  // classic-level's, which `level`'s type (browsers' too) leaves out.
  const property = (db as unknown as { getProperty(name: string): string }).getProperty.bind(db)
  const levels = () => Array.from({ length: 7 }, (_, n) => Number(property(`leveldb.num-files-at-level${n}`)))
  return { store, levels, path }
}

/** `mib` MiB of 1 KiB values under random keys, in batches of 256, each awaited. */
async function load(store: LevelStore, mib: number): Promise<string[]> {
  const keys: string[] = []
  for (let b = 0; b < mib * 4; b++) {
    const ops = Array.from({ length: 256 }, () => {
      const key = `k/${randomBytes(12).toString('hex')}`
      keys.push(key)
      return { type: 'put' as const, key, value: randomBytes(1024) }
    })
    await store.write(ops)
  }
  return keys
}

/** A logger that keeps its messages. */
function recordingLogger(): {
  logger: ServiceLogger
  lines: Array<{ msg: string; obj: Record<string, unknown> }>
} {
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = []
  const keep = (obj: Record<string, unknown>, msg?: string) => lines.push({ msg: msg ?? '', obj })
  const logger: ServiceLogger = { child: () => logger, debug: keep, info: keep, warn: keep, error: keep }
  return { logger, lines }
}

async function until(what: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

function started(upkeep: StoreUpkeep): StoreUpkeep {
  open.push({ close: () => upkeep.stop() })
  return upkeep
}

describe('store upkeep', () => {
  it('compacts the whole store into one level once writes pause after a load, not during it', async () => {
    const { store, levels } = await diskStore()
    const { logger, lines } = recordingLogger()
    const upkeep = started(storeUpkeep({ idleMs: 400, minBytes: 4 * 2 ** 20 })({ store, logger }))
    await upkeep.start()
    const keys = await load(store, 24)
    // The load took longer than the pause it waits for, and no compaction ran inside it.
    expect(upkeep.stats.compactions).toBe(0)
    expect(upkeep.stats.bytesSinceCompaction).toBeGreaterThan(24 * 2 ** 20)
    await until(() => levels().filter((n) => n > 0).length > 1, 10_000)

    await until(() => upkeep.stats.compactions === 1, 60_000)
    expect(levels().filter((n) => n > 0)).toHaveLength(1)
    expect(upkeep.stats.lastCompactionSeconds).toBeGreaterThan(0)
    expect(upkeep.stats.bytesSinceCompaction).toBe(0)
    const done = lines.find((l) => l.msg === 'compacted the store after a load of writes')
    expect(done?.obj).toMatchObject({ reason: 'writes paused', writtenMiB: 25 })
    // Nothing was lost on the way.
    const sample = keys.filter((_, i) => i % 97 === 0)
    expect((await store.getMany(sample)).every((v) => v?.byteLength === 1024)).toBe(true)

    // A load under a quarter of the store's size is left to LevelDB.
    await load(store, 5)
    await new Promise((r) => setTimeout(r, 1_500))
    expect(upkeep.stats.compactions).toBe(1)
  }, 120_000)

  it('leaves a load under its least bytes to LevelDB', async () => {
    const { store } = await diskStore()
    const upkeep = started(storeUpkeep({ idleMs: 100, minBytes: 8 * 2 ** 20 })({ store }))
    await upkeep.start()
    await load(store, 4)
    await new Promise((r) => setTimeout(r, 800))
    expect(upkeep.stats).toMatchObject({ compactions: 0, compacting: false })
  })

  it('waits while the node is busy serving, as it waits for writes, and compacts once that is over', async () => {
    const { store } = await diskStore()
    const upkeep = started(storeUpkeep({ idleMs: 300, minBytes: 2 ** 20 })({ store }))
    await upkeep.start()
    await load(store, 4)
    // A peer's catch-up served for four pauses' worth after the writes stopped.
    const end = Date.now() + 1_200
    while (Date.now() < end) {
      upkeep.busy()
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(upkeep.stats).toMatchObject({ compactions: 0, compacting: false })
    await until(() => upkeep.stats.compactions === 1, 30_000)
  })

  it('is deferred by serving for 60 pauses at most: a peer asking without end does not hold it off', async () => {
    const { store } = await diskStore()
    const upkeep = started(storeUpkeep({ idleMs: 50, minBytes: 2 ** 20 })({ store }))
    await upkeep.start()
    await load(store, 4)
    const t = Date.now()
    // Busy all along: it compacts once 60 pauses (3 s) have passed since the last write.
    while (upkeep.stats.compactions === 0 && Date.now() - t < 20_000) {
      upkeep.busy()
      await new Promise((r) => setTimeout(r, 10))
    }
    expect(upkeep.stats.compactions).toBe(1)
    expect(Date.now() - t).toBeGreaterThanOrEqual(2_900)
  })

  it('stops between slices: a stop does not wait for the whole compaction, and loses nothing', async () => {
    const { store, path } = await diskStore()
    const { logger, lines } = recordingLogger()
    const upkeep = storeUpkeep({ idleMs: 60_000 })({ store, logger })
    await upkeep.start()
    const keys = await load(store, 8)
    const compacting = upkeep.compactNow()
    expect(upkeep.stats.compacting).toBe(true)
    await upkeep.stop()
    await compacting
    expect(upkeep.stats).toMatchObject({ compactions: 0, compacting: false })
    expect(lines.map((l) => l.msg)).toContain('store compaction cut short by a stop')
    await store.close()
    open.splice(open.indexOf(store), 1)

    const again = await LevelStore.open(path)
    open.push(again)
    const sample = keys.filter((_, i) => i % 31 === 0)
    expect((await again.getMany(sample)).every((v) => v?.byteLength === 1024)).toBe(true)
  })

  it('compacts when asked, whatever was written, and refuses settings that cannot work', async () => {
    const { store, levels } = await diskStore()
    const upkeep = started(storeUpkeep({ idleMs: 60_000 })({ store }))
    await upkeep.start()
    await load(store, 12)
    await upkeep.compactNow()
    expect(upkeep.stats.compactions).toBe(1)
    expect(levels().filter((n) => n > 0)).toHaveLength(1)
    // Not once it stops: the store is about to close.
    await upkeep.stop()
    await load(store, 1)
    await upkeep.compactNow()
    expect(upkeep.stats.compactions).toBe(1)
    expect(() => storeUpkeep({ idleMs: 0 })).toThrow(RangeError)
    expect(() => storeUpkeep({ minBytes: -1 })).toThrow(RangeError)
  }, 60_000)
})

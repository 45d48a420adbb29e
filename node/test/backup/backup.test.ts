/**
 * The backup format and snapshot without a network: what a node streams reads back whole, into a
 * real `level` store on disk; a snapshot is one moment of the store while writes go on; a ring that
 * keeps changing gives BACKUP_BUSY, not a backup whose keys the ring cannot open; and every kind
 * of damage has its code.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { BACKUP_VERSION, readBackup } from '../../src/backup/format.ts'
import { restoreBackup } from '../../src/backup/restore.ts'
import { RestoreFence } from '../../src/backup/restore-fence.ts'
import { backupStream } from '../../src/backup/snapshot.ts'
import { K } from '../../src/engine/keys.ts'
import { RING_FILE } from '../../src/engine/vault.ts'
import { LevelStore } from '../../src/storage/level-store.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { Store } from '../../src/storage/store.ts'

const MANIFEST = {
  version: BACKUP_VERSION,
  createdAt: 1_700_000_000_000,
  software: 'test',
  bloc: 'b'.repeat(64),
  nodeId: 'n'.repeat(64),
  state: 'DVA',
  charter: { version: 1, hash: 'c'.repeat(64) },
  storeFormat: 2,
}
const bytes = (s: string) => new TextEncoder().encode(s)

let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-backup-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const b of gen) parts.push(b)
  return Buffer.concat(parts)
}

async function* chunked(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
}

async function filled(n: number): Promise<MemoryStore> {
  const store = new MemoryStore()
  await store.start()
  await store.sideFile(RING_FILE).write(bytes('sealed ring'))
  await store.write([{ type: 'put', key: K.charter, value: bytes('charter chain') }])
  const ops = []
  for (let i = 1; i <= n; i++) {
    ops.push({ type: 'put' as const, key: K.entryRow(MANIFEST.nodeId, i, 0), value: bytes(`entry ${i}`) })
    ops.push({ type: 'put' as const, key: K.record(`r${i}`), value: new Uint8Array(3000).fill(i % 256) })
  }
  await store.write(ops)
  return store
}

async function errorOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

it('reads back what it wrote, in chunks of any size, and restores it into level on disk', async () => {
  const store = await filled(600)
  const file = await collect(backupStream(store, MANIFEST))
  for (const size of [97, 4096, file.length]) {
    const items = []
    for await (const item of readBackup(chunked(file, size))) items.push(item.type)
    expect(items[0]).toBe('manifest')
    expect(items[1]).toBe('ring')
    expect(items.at(-1)).toBe('trailer')
  }
  const result = await restoreBackup(chunked(file, 65_536), join(dir, 'node'), { now: () => 5 })
  expect(result.trailer).toMatchObject({ keys: 1201, records: 600, feeds: { [MANIFEST.nodeId]: 600 } })
  expect(await readFile(result.charterFile, 'utf8')).toBe('charter chain')
  const restored = await LevelStore.open(result.dbPath)
  try {
    expect(new TextDecoder().decode(await restored.sideFile(RING_FILE).read())).toBe('sealed ring')
    // Compared as text: a deep comparison of 1,200 byte arrays would take minutes.
    const pairs: Array<[string, string]> = []
    for await (const [k, v] of restored.range({})) pairs.push([k, Buffer.from(v).toString('base64')])
    const original: Array<[string, string]> = []
    for await (const [k, v] of store.range({})) original.push([k, Buffer.from(v).toString('base64')])
    // Everything, and the mark that keeps the restored node from writing until it has its feed back.
    expect(pairs.filter(([k]) => k !== K.restored)).toEqual(original)
    const fence = new RestoreFence(restored)
    await fence.load()
    expect(fence.pending).toEqual({ restoredAt: 5, snapshotAt: MANIFEST.createdAt, ownSeq: 600 })
    // Not lifted without a peer heard, nor while a peer holds more of the node's own feed.
    expect(await fence.check(600, [])).toBe(false)
    expect(await fence.check(600, [600, 601])).toBe(false)
    expect(await fence.check(601, [600, 601])).toBe(true)
    expect(await restored.get(K.restored)).toBeUndefined()
  } finally {
    await restored.close()
  }
  // A second restore into the same directory is refused and changes nothing.
  expect(await errorOf(restoreBackup(chunked(file, 65_536), join(dir, 'node')))).toBe(
    'RESTORE_TARGET_NOT_EMPTY',
  )
  expect((await readdir(join(dir, 'node'))).sort()).toEqual(['charter.cbor', 'db', 'db.vault-ring'])
})

it('is one moment of the store while writes go on', async () => {
  const store = await filled(400)
  const stream = backupStream(store, MANIFEST)[Symbol.asyncIterator]()
  const parts: Uint8Array[] = [(await stream.next()).value as Uint8Array]
  // Written after the snapshot opened: not in it.
  await store.write([
    { type: 'put', key: K.entryRow(MANIFEST.nodeId, 401, 0), value: bytes('later') },
    { type: 'del', key: K.record('r1') },
  ])
  for (let n = await stream.next(); !n.done; n = await stream.next()) parts.push(n.value)
  const keys: string[] = []
  for await (const item of readBackup(chunked(Buffer.concat(parts), 1000))) {
    if (item.type === 'pairs') keys.push(...item.pairs.map(([k]) => k))
  }
  expect(keys).toContain(K.record('r1'))
  expect(keys).not.toContain(K.entryRow(MANIFEST.nodeId, 401, 0))
})

it('refuses to pair a snapshot with a key ring that changed meanwhile (BACKUP_BUSY)', async () => {
  const store = await filled(3)
  const ring = store.sideFile(RING_FILE)
  let reads = 0
  // Every read of the ring sees a new one, as if citizens were being erased all the while.
  const changing: Store = Object.assign(Object.create(store) as Store, {
    sideFile: () => ({ read: async () => bytes(`ring ${reads++}`), write: ring.write }),
  })
  expect(await errorOf(collect(backupStream(changing, MANIFEST)))).toBe('BACKUP_BUSY')
})

it('gives every kind of damage its code, and a restore leaves nothing behind', async () => {
  const file = await collect(backupStream(await filled(50), MANIFEST))
  const flipped = Buffer.from(file)
  flipped[file.length - 200]! ^= 0x20
  const cases: Array<[string, Uint8Array]> = [
    ['BACKUP_CHECKSUM_MISMATCH', flipped],
    ['BACKUP_TRUNCATED', file.subarray(0, file.length - 1)],
    ['BACKUP_INVALID', Buffer.concat([file, Buffer.from([0])])],
    ['BACKUP_INVALID', bytes('not a backup at all, just text')],
    ['BACKUP_INVALID', new Uint8Array()],
  ]
  for (const [code, damaged] of cases) {
    const drain = async () => {
      for await (const _ of readBackup(chunked(damaged, 333))) {
        // read to the end
      }
    }
    expect(await errorOf(drain())).toBe(code)
  }
  const target = join(dir, 'bad')
  expect(await errorOf(restoreBackup(chunked(flipped, 4096), target))).toBe('BACKUP_CHECKSUM_MISMATCH')
  expect(await readdir(target)).toEqual([])
})

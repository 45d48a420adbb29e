/**
 * No acknowledged write is lost to a power cut, not just to a kill: the node's store lives on
 * lazyfs, which holds file data in memory until it is fsync'ed. At a random moment, while four
 * clients write, everything not yet synced is dropped (the crash, an fsync in progress
 * included) and the node is SIGKILLed; after a fresh mount over the same disk and a restart,
 * every acknowledged record is there and the feed verifies. durability.test.ts, with a plain
 * SIGKILL, passes without any fsync: the page cache survives a kill.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { auditStore, LevelStore } from '@legation/node'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { buildLazyFs, LazyFs } from '../src/lazyfs.ts'
import { TestNetwork } from '../src/network.ts'
import { citizenRegistration, missingAt, submitBatch } from '../src/workload.ts'

/**
 * Each fsync through lazyfs takes this long, like a slow disk: the node then spends much of its
 * time inside an fsync of its log, so the crash usually lands between a write and its
 * durability and drops that write. An acknowledgement sent before the fsync returned is then
 * caught (in 3 runs of 3 with a store that did so, 1 of 3 without the delay).
 */
const SYNC_DELAY_MS = 10

let tmp: string | undefined
let net: TestNetwork | undefined
const mounts: LazyFs[] = []
afterEach(async () => {
  // The node first (it holds files on the mount), then the filesystems, by PID, then the files.
  await net?.stop()
  net = undefined
  for (const m of mounts.splice(0)) await m.unmount()
  if (tmp) await rm(tmp, { recursive: true, force: true })
  tmp = undefined
})

it('keeps every acknowledged record through a power cut at a random moment under load', {
  timeout: 90_000,
}, async () => {
  tmp = await mkdtemp(join(tmpdir(), 'legation-power-'))
  const bin = await buildLazyFs(tmp)
  // The node's data dir stays on the real disk (its key, its log); only its store, `db/`, is
  // on lazyfs, over `disk/`. The harness starts no node: the mount must be there first.
  net = await TestNetwork.start({ nodes: 1, dir: join(tmp, 'net'), startNodes: 0 })
  const node = net.nodes[0]!
  const disk = join(tmp, 'disk')
  const db = join(node.dir, 'db')
  await mkdir(disk)
  await mkdir(db)
  const before = await LazyFs.mount(bin, disk, db, { syncDelayMs: SYNC_DELAY_MS })
  mounts.push(before)
  await node.start()

  const officer = net.officer('DVA')
  const seed = Date.now()
  const crashAfterMs = 500 + (seed % 2000)
  console.log(`power loss: SIGKILL and crash after ${crashAfterMs} ms (seed ${seed})`)
  const acked: string[] = []
  let attempted = 0
  let inFlight = 0
  let stop = false
  const writer = async () => {
    // Bounded: at most 400 batches per writer, and it stops when the node dies.
    for (let i = 0; i < 400 && !stop; i++) {
      const batch = Array.from({ length: 10 }, () => citizenRegistration(officer, 'DVB'))
      attempted += batch.length
      inFlight++
      try {
        acked.push(...(await submitBatch(node, batch)))
      } catch {
        return // connection refused or reset: the node is down
      } finally {
        inFlight--
      }
    }
  }
  const writers = Array.from({ length: 4 }, writer)
  await new Promise((r) => setTimeout(r, crashAfterMs))
  // The power takes the process and the unsynced data together: the crash signal goes first,
  // in the same instant as the SIGKILL; from it on every file operation fails.
  const cutInFlight = inFlight
  const crashed = before.crash()
  await node.kill()
  const dropped = await crashed
  stop = true
  await Promise.all(writers)
  const synced = await before.report()
  await before.unmount()
  const walDropped = dropped.files.filter((f) => f.path.endsWith('.log')).reduce((n, f) => n + f.bytes, 0)
  console.log(
    `power loss: ${acked.length} acknowledged of ${attempted} attempted, ${cutInFlight} batches in flight; ` +
      `${synced.syncs} fsyncs wrote ${synced.syncedBytes} bytes; the crash dropped ${dropped.bytes} ` +
      `unsynced bytes (${walDropped} in LevelDB's write-ahead log): ` +
      dropped.files.map((f) => `${f.path} ${f.bytes}`).join(', '),
  )
  expect(acked.length).toBeGreaterThan(0)
  expect(cutInFlight).toBeGreaterThan(0) // killed under load, not between rounds
  expect(synced.syncs).toBeGreaterThan(0) // the store really wrote through lazyfs

  const after = await LazyFs.mount(bin, disk, db)
  mounts.push(after)
  await node.start()
  expect(await missingAt(node, acked, officer)).toEqual([])
  await node.stop()

  const store = await LevelStore.open(db)
  try {
    const report = await auditStore(store, nativeEd25519)
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.records).toBeGreaterThanOrEqual(acked.length)
  } finally {
    await store.close()
  }
})

/**
 * `legation backup` of a running node while writes go on, `legation restore --verify` offline, and
 * `legation restore` into a fresh data directory — driven as an operator would, against a bloc of
 * three real node processes. The restored node holds every record of its snapshot, takes no write
 * until its peers have given it back the part of its own feed made after the snapshot, then
 * catches up on the rest, writes again, and no node takes it for an equivocator.
 */
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toSubmission } from '@legation/protocol'
import { afterEach, expect, it } from 'vitest'
import { legation } from '../src/admin.ts'
import { eventually } from '../src/byzantine.ts'
import { TestNetwork } from '../src/network.ts'
import { citizenRegistration, missingAt, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface BackupJson {
  file: string
  manifest: { nodeId: string; state: string; bloc: string }
  trailer: { keys: number; records: number; feeds: Record<string, number>; sha256: string }
}
interface VerifyJson {
  verified: boolean
  manifest: { nodeId: string }
  trailer: { records: number; feeds: Record<string, number> }
  audit: { entries: number; records: number }
}

it('backs up a node while writes go on, verifies and restores it; the restored node catches up without equivocating', {
  timeout: 240_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [n0, n1, n2] = net.nodes as [(typeof net.nodes)[0], (typeof net.nodes)[0], (typeof net.nodes)[0]]
  const officer = net.officer('DVA')
  const keyFile = join(n0.dir, 'node-key.json')
  const backupFile = join(net.dir, 'node-0.backup')

  // Writes at node 0, going on before, during and after the backup.
  const acked: string[] = []
  let stop = false
  let batchesAfterBackup = -1
  const writer = (async () => {
    // Bounded: at most 400 batches.
    for (let i = 0; i < 400 && !stop; i++) {
      acked.push(
        ...(await submitBatch(
          n0,
          Array.from({ length: 5 }, () => citizenRegistration(officer, 'DVB')),
        )),
      )
      if (batchesAfterBackup >= 0) batchesAfterBackup++
    }
  })()
  await eventually('records written before the backup', async () => acked.length >= 50, 60_000)
  const beforeBackup = [...acked]

  // Only the node's operator (its key) may take a backup: another node's key is refused.
  const other = await legation([
    'backup',
    '--node',
    n0.url,
    '--key-file',
    join(n1.dir, 'node-key.json'),
    '-o',
    join(net.dir, 'x.backup'),
  ])
  expect(other.code).toBe(1)
  expect(other.stderr).toContain('403 FORBIDDEN')

  const taken = await legation([
    'backup',
    '--node',
    n0.url,
    '--key-file',
    keyFile,
    '-o',
    backupFile,
    '--json',
  ])
  expect(taken.code, taken.stderr).toBe(0)
  batchesAfterBackup = 0
  const backup = JSON.parse(taken.stdout) as BackupJson
  expect(backup.manifest.nodeId).toBe(n0.nodeId)
  expect(backup.trailer.records).toBeGreaterThanOrEqual(beforeBackup.length)
  // Writes went on after the snapshot: node 0's own feed grows past it.
  await eventually('writes after the backup', async () => batchesAfterBackup >= 3, 60_000)
  stop = true
  await writer
  const snapshotSeq = backup.trailer.feeds[n0.nodeId]!
  await net.waitForConvergence()
  const finalSeq = (await n0.info()).versionVector[n0.nodeId]!
  expect(finalSeq).toBeGreaterThan(snapshotSeq)

  // Offline check: checksums, counts, and every signature and hash chain.
  const verified = await legation(['restore', '--verify', backupFile, '--json'])
  expect(verified.code, verified.stderr).toBe(0)
  const report = JSON.parse(verified.stdout) as VerifyJson
  expect(report.verified).toBe(true)
  expect(report.audit.records).toBe(backup.trailer.records)
  expect(report.trailer.feeds[n0.nodeId]).toBe(snapshotSeq)

  // A damaged backup is caught, with its code: one byte changed in the middle, and one cut short.
  const bytes = await readFile(backupFile)
  const damaged = Buffer.from(bytes)
  damaged[Math.floor(damaged.length / 2)]! ^= 0x01
  await writeFile(join(net.dir, 'damaged.backup'), damaged)
  const bad = await legation(['restore', '--verify', join(net.dir, 'damaged.backup')])
  expect(bad.code).toBe(1)
  expect(bad.stderr).toMatch(/\[BACKUP_(CHECKSUM_MISMATCH|INVALID)\]/)
  await writeFile(join(net.dir, 'short.backup'), bytes.subarray(0, bytes.length - 40))
  const short = await legation(['restore', '--verify', join(net.dir, 'short.backup')])
  expect(short.code).toBe(1)
  expect(short.stderr).toContain('[BACKUP_TRUNCATED]')

  // Node 0's disk is lost. Its operator restores the backup into a fresh data directory and puts
  // the key file back. The bloc is down meanwhile: the restored node has only its snapshot.
  await Promise.all(net.nodes.map((n) => n.stop()))
  await rename(n0.dir, `${n0.dir}-lost`)
  await mkdir(n0.dir, { mode: 0o700 })
  await copyFile(join(`${n0.dir}-lost`, 'node-key.json'), keyFile)
  const notFresh = await legation(['restore', backupFile, '--data-dir', `${n0.dir}-lost`])
  expect(notFresh.code).toBe(1)
  expect(notFresh.stderr).toContain('[RESTORE_TARGET_NOT_EMPTY]')
  const restored = await legation(['restore', backupFile, '--data-dir', n0.dir])
  expect(restored.code, restored.stderr).toBe(0)
  await n0.start()

  // Every record of the snapshot is there, from the backup alone.
  expect(await missingAt(n0, beforeBackup, officer)).toEqual([])
  expect((await n0.info()).versionVector[n0.nodeId]).toBe(snapshotSeq)
  // It does not write: its next sequence number is one its peers already hold.
  const early = await n0.post<{ code: string }>(
    '/v1/records',
    toSubmission(citizenRegistration(officer, 'DVC')),
  )
  expect(early.status).toBe(503)
  expect(early.body.code).toBe('RESTORE_CATCHING_UP')

  // The bloc comes back: node 0 gets its own feed back from its peers, then writes again.
  await Promise.all([n1.start(), n2.start()])
  await eventually(
    'node 0 has its own feed back',
    async () => (await n0.info()).versionVector[n0.nodeId] === finalSeq,
    60_000,
  )
  const later = citizenRegistration(officer, 'DVC')
  const accepted = await eventually(
    'node 0 takes writes again',
    async () => {
      const res = await n0.post<{ id: string; code?: string }>('/v1/records', toSubmission(later))
      if (res.status === 503 && res.body.code === 'RESTORE_CATCHING_UP') return undefined
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      return res.body.id
    },
    30_000,
  )
  await net.waitForConvergence()
  for (const n of net.nodes) {
    const info = await n.info()
    // A new entry at the next sequence number, not a second one at a number already used.
    expect(info.versionVector[n0.nodeId]).toBe(finalSeq + 1)
    expect(info.quarantined).toEqual([])
    expect(await missingAt(n, [...acked, accepted], officer)).toEqual([])
  }
})

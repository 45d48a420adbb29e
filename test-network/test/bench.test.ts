/**
 * A tiny run of `npm run bench -- --smoke` as a user runs it (a child process): every section
 * of the harness runs against real node processes and the JSON it writes holds every figure
 * the operators' table needs, for the sizes asked. No figure is asserted as a timing: figures
 * vary with the machine; that the harness measures what it says is what is checked.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { BenchResults } from '../src/bench/report.ts'
import { SIZES } from '../src/bench/sizes.ts'

const REPO = resolve(import.meta.dirname, '../..')
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('npm run bench -- --smoke', () => {
  it('runs every section on real nodes and writes the JSON the performance table is made from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-bench-'))
    dirs.push(dir)
    const out = join(dir, 'bench.json')
    const child = spawn(
      process.execPath,
      ['test-network/src/bench.ts', '--smoke', '--no-orbitdb', '--out', out],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 270_000)
    const code = await new Promise<number | null>((r) => child.once('exit', r))
    clearTimeout(timer)
    expect(code, stderr).toBe(0)

    const r = JSON.parse(await readFile(out, 'utf8')) as BenchResults
    const s = SIZES.smoke
    expect(r.mode).toBe('smoke')
    expect(r.machine.cores).toBeGreaterThan(0)
    expect(r.machine.node).toMatch(/^v2\d\./)
    expect(r.verify!.oneCore).toBeGreaterThan(0)
    expect(r.verify!.allCores).toBeGreaterThan(0)
    // Ingest: every record counted, CPU read from /proc for the node's main thread.
    expect(r.ingest!.singleWrites.oneClient.records).toBe(s.singles)
    expect(r.ingest!.singleWrites.clients32.records).toBe(s.concurrent)
    expect(r.ingest!.singleWrites.withPeer.records).toBe(s.singles)
    expect(r.ingest!.singleWrites.withPeer.cold.records).toBe(s.singlesWarmup)
    expect(r.ingest!.singleWrites.withPeer.cpuMicrosecondsPerRecord.main).toBeGreaterThan(0)
    expect(r.ingest!.singleWrites.withPeer.peerHadAllSecondsAfterLast).toBeGreaterThanOrEqual(0)
    expect(r.ingest!.singleWrites.withPeer.paced.records).toBe(s.singlesPaced)
    expect(r.ingest!.singleWrites.withPeer.paced.latencyMs.p50).toBeGreaterThan(0)
    expect(r.ingest!.batches.records).toBe(s.batchRecords)
    expect(r.ingest!.batchesCbor.records).toBe(s.batchRecords)
    expect(r.ingest!.batchesCbor.cpuMicrosecondsPerRecord.main).toBeGreaterThan(0)
    expect(r.ingest!.batches.cpuMicrosecondsPerRecord.main).toBeGreaterThan(0)
    expect(r.ingest!.batches.cpuMicrosecondsPerRecord.total).toBeGreaterThanOrEqual(
      r.ingest!.batches.cpuMicrosecondsPerRecord.main!,
    )
    // The 5-node bloc: every timed write reached the four others; the late node caught up.
    expect(r.bloc!.replication.writes).toBe(s.replication)
    expect(r.bloc!.replication.warmupWrites).toBe(s.replicationWarmup)
    expect(r.bloc!.replication.cold.writes).toBe(s.replication)
    expect(r.bloc!.replication.cold.p99Ms).toBeGreaterThanOrEqual(r.bloc!.replication.cold.p50Ms)
    expect(r.bloc!.replication.cpuMillisecondsPerWritePerNode).toHaveLength(5)
    expect(r.bloc!.replication.nodes).toBe(5)
    expect(r.bloc!.replication.p99Ms).toBeGreaterThanOrEqual(r.bloc!.replication.p50Ms)
    expect(r.bloc!.partition.recordsEachSide).toBe(s.partition)
    expect(r.bloc!.catchUp.records).toBe(s.catchUp)
    expect(r.bloc!.catchUp.secondsFromProcessStart).toBeGreaterThan(r.bloc!.catchUp.secondsToReady)
    // Bloc sizes: the mesh's byte counters moved on every size.
    expect(r.blocSizes!.map((b) => b.nodes)).toEqual(s.blocSizes)
    for (const b of r.blocSizes!) {
      expect(b.error === undefined && b.bytesSentPerRecordPerNode, b.error).toBeGreaterThan(0)
      if (b.error === undefined) expect(b.extraCopiesPerEntryPerNode).toBeGreaterThanOrEqual(0)
    }
    // Scale: every citizen written, disk and memory read, reads answered.
    expect(r.scale!.citizens).toBe(s.citizens)
    expect(r.scale!.officers).toBe(s.officers)
    expect(r.scale!.diskBytesPerCitizen).toBeGreaterThan(0)
    expect(r.scale!.rssMiB.peakDuringIngest).toBeGreaterThan(0)
    expect(r.scale!.readCitizenFile.reads).toBeGreaterThan(0)
    expect(r.scale!.readCitizenFileFirst.reads).toBe(s.readsWarmup)
    expect(r.scale!.searchByTravelDocument.reads).toBe(r.scale!.readCitizenFile.reads)
    // The table printed is made from the same JSON.
    expect(stdout).toContain('| Batch ingest, one node (500/batch, 4 clients) |')
    expect(stdout).toContain(`${s.citizens} citizens: disk (${s.officers} officers in turn)`)
  }, 300_000)
})

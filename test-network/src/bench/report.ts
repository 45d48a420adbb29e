/**
 * The benchmark's JSON and the table printed from it (the one `docs/performance.md` holds): each
 * figure beside its target from issue 13, met or not, ratios from the same run.
 */

import type { fiveNodes } from './bloc.ts'
import type { blocSizes } from './bloc-size.ts'
import type { ingest } from './ingest.ts'
import type { describeMachine } from './machine.ts'
import type { scale } from './scale.ts'
import type { Sizes } from './sizes.ts'

export interface BenchResults {
  mode: string
  started: string
  finished?: string
  machine: ReturnType<typeof describeMachine>
  sizes: Sizes
  verify?: { oneCore: number; allCores: number; threads: number }
  ingest?: Awaited<ReturnType<typeof ingest>>
  bloc?: Awaited<ReturnType<typeof fiveNodes>>
  blocSizes?: Awaited<ReturnType<typeof blocSizes>>
  scale?: Awaited<ReturnType<typeof scale>>
  /** As `bench/orbitdb/run.mjs` printed it. */
  orbitdb?: Record<string, unknown>
  /** Sections that failed, with their error (the run goes on without them). */
  errors?: Record<string, string>
}

type Row = [measure: string, figure: string, target: string, met: string]

const n = (x: number | undefined, digits = 0) =>
  x === undefined || Number.isNaN(x) ? '—' : x.toLocaleString('en', { maximumFractionDigits: digits })
const verdict = (ok: boolean | undefined) => (ok === undefined ? '—' : ok ? 'met' : 'not met')

/** A number at `path` (dotted) in OrbitDB's JSON, if the runner gave it. */
function orbit(r: BenchResults, path: string): number | undefined {
  let v: unknown = r.orbitdb
  for (const k of path.split('.'))
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined
  return typeof v === 'number' ? v : undefined
}

export function rows(r: BenchResults): Row[] {
  const out: Row[] = []
  const v1 = r.verify?.oneCore
  if (r.verify) {
    out.push(['Ed25519 verify, native, one core', `${n(r.verify.oneCore)}/s`, 'the limit', ''])
    out.push([`Ed25519 verify, native, ${r.verify.threads} cores`, `${n(r.verify.allCores)}/s`, '', ''])
  }
  const ing = r.ingest
  if (ing) {
    const batch = ing.batches.recordsPerSecond
    const c32 = ing.singleWrites.clients32.recordsPerSecond
    const one = ing.singleWrites.oneClient
    out.push([
      'Batch ingest, one node (500/batch, 4 clients)',
      `${n(batch)} rec/s = ${v1 ? (batch / v1).toFixed(2) : '—'} × verify`,
      '≥ 0.6 × verify',
      verdict(v1 ? batch / v1 >= 0.6 : undefined),
    ])
    const cbor = ing.batchesCbor
    out.push([
      'Batch ingest as CBOR (application/cbor)',
      `${n(cbor.recordsPerSecond)} rec/s = ${v1 ? (cbor.recordsPerSecond / v1).toFixed(2) : '—'} × verify; ${n(cbor.cpuMicrosecondsPerRecord.total)} µs CPU/rec`,
      '≥ 0.6 × verify',
      verdict(v1 ? cbor.recordsPerSecond / v1 >= 0.6 : undefined),
    ])
    out.push([
      'Node CPU per record, batches',
      `${n(ing.batches.cpuMicrosecondsPerRecord.total)} µs (${Object.entries(
        ing.batches.cpuMicrosecondsPerRecord,
      )
        .filter(([k]) => k !== 'total')
        .map(([k, us]) => `${k} ${us}`)
        .join(', ')})`,
      '',
      '',
    ])
    out.push([
      'Single records, 32 clients',
      `${n(c32)} rec/s = ${v1 ? (c32 / v1).toFixed(2) : '—'} × verify; ${n(ing.singleWrites.clients32.cpuMicrosecondsPerRecord.total)} µs CPU/rec`,
      '≥ 0.3 × verify',
      verdict(v1 ? c32 / v1 >= 0.3 : undefined),
    ])
    out.push(['A node doing nothing', `${n(ing.idleCpuMillisecondsPerSecond)} ms CPU per second`, '', ''])
    const orbitSingle = orbit(r, 'singleWrites.writesPerSecond')
    // OrbitDB's figure has a live peer: it is compared with ours with one (runs before the
    // peer was measured compared it with a node alone).
    const peer: typeof one | undefined = (ing.singleWrites as { withPeer?: typeof one }).withPeer
    const vsOrbit = (x: typeof one) =>
      `${n(x.recordsPerSecond)} rec/s, p50 ${x.latencyMs.p50} ms, p99 ${x.latencyMs.p99} ms; ${n(x.cpuMicrosecondsPerRecord.total)} µs CPU/rec${orbitSingle ? `; OrbitDB ${n(orbitSingle)}/s` : ''}`
    out.push([
      'Single records, one client, durable, a node alone',
      peer
        ? `${n(one.recordsPerSecond)} rec/s, p50 ${one.latencyMs.p50} ms, p99 ${one.latencyMs.p99} ms; ${n(one.cpuMicrosecondsPerRecord.total)} µs CPU/rec`
        : vsOrbit(one),
      peer ? '' : 'faster than OrbitDB',
      peer ? '' : verdict(orbitSingle === undefined ? undefined : one.recordsPerSecond > orbitSingle),
    ])
    if (peer) {
      const cold = (peer as { cold?: typeof one }).cold
      // Runs before this figure have none.
      const paced = (peer as { paced?: { gapMs: number; latencyMs: { p50: number; p99: number } } }).paced
      const orbitCold = orbit(r, 'singleWritesCold.writesPerSecond')
      out.push([
        'Single records, one client, durable, a live peer (OrbitDB’s shape)',
        `${cold ? `after ${n(cold.records)} writes: ` : ''}${vsOrbit(peer)}${
          cold
            ? `; a new node's first ${n(cold.records)}: ${n(cold.recordsPerSecond)} rec/s, p50 ${cold.latencyMs.p50} ms, ${n(cold.cpuMicrosecondsPerRecord.total)} µs CPU/rec${orbitCold ? `; OrbitDB ${n(orbitCold)}/s` : ''}`
            : ''
        }${paced ? `; writes ${paced.gapMs} ms apart: p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms` : ''}`,
        'faster than OrbitDB',
        verdict(orbitSingle === undefined ? undefined : peer.recordsPerSecond > orbitSingle),
      ])
    }
  }
  const bloc = r.bloc
  if (bloc) {
    // Runs before the write-concern method counted writes not everywhere after 10 s instead.
    const rep: typeof bloc.replication & { missedAfter10s?: number } = bloc.replication
    const late = rep.notAcknowledgedInTime ?? rep.missedAfter10s
    out.push([
      `Replication latency, 5 nodes, ${rep.backgroundRecordsPerSecond} rec/s background`,
      `${rep.cold ? `after ${n(rep.warmupWrites ?? 0)} writes: ` : ''}p50 ${rep.p50Ms} ms, p99 ${rep.p99Ms} ms${late ? ` (${late} of ${rep.writes} not acknowledged by every node in time)` : ''}${
        rep.cold
          ? `; a new bloc's first ${rep.cold.writes}: p50 ${rep.cold.p50Ms} ms, p99 ${rep.cold.p99Ms} ms`
          : ''
      }${
        rep.cpuMillisecondsPerWritePerNode?.length
          ? `; ${rep.cpuMillisecondsPerWritePerNode.map((ms) => ms.toFixed(1)).join(' / ')} ms CPU per write at each node, background included`
          : ''
      }`,
      'p50 < 20 ms, p99 < 100 ms',
      verdict(rep.p50Ms < 20 && rep.p99Ms < 100),
    ])
    out.push([
      `Partition heal (${n(bloc.partition.recordsEachSide)} records each side)`,
      `${bloc.partition.secondsToIdenticalRoots} s to identical roots`,
      '',
      '',
    ])
    const cu = bloc.catchUp
    const orbitCatch = orbit(r, 'catchUp.recordsPerSecond')
    out.push([
      `Catch-up of ${n(cu.records)} records`,
      `${cu.secondsFromProcessStart} s from process start (${n(cu.recordsPerSecond)} rec/s, ${n(cu.cpuMicrosecondsPerRecord.total)} µs CPU/rec)${orbitCatch ? `; ${(cu.recordsPerSecond / orbitCatch).toFixed(1)} × OrbitDB` : ''}`,
      '< 15 s for 100,000; ≥ 20 × OrbitDB',
      verdict(
        cu.records >= 100_000
          ? cu.secondsFromProcessStart < 15 &&
              (orbitCatch === undefined || cu.recordsPerSecond / orbitCatch >= 20)
          : undefined,
      ),
    ])
  }
  const orbitBatch = orbit(r, 'batched.recordsPerSecond')
  if (ing && orbitBatch) {
    const ratio = ing.batches.recordsPerSecond / orbitBatch
    out.push(['Batched writes vs OrbitDB', `${ratio.toFixed(1)} ×`, '≥ 20 ×', verdict(ratio >= 20)])
  }
  // Batched replication: records written in batches at one node until every node of the
  // smallest bloc has them, against OrbitDB's two peers (the first put on A until B has all).
  const orbitReplicated = orbit(r, 'batched.replicatedRecordsPerSecond')
  const first = r.blocSizes?.[0]
  if (first && first.error === undefined && orbitReplicated) {
    const ours = first.records / first.secondsToConverge
    out.push([
      `Batched replication vs OrbitDB (${first.nodes} nodes vs 2)`,
      `${n(ours)} rec/s vs ${n(orbitReplicated, 1)} rec/s = ${(ours / orbitReplicated).toFixed(1)} ×`,
      '≥ 20 ×',
      verdict(ours / orbitReplicated >= 20),
    ])
  }
  if (r.blocSizes && r.blocSizes.length > 0) {
    const ok = r.blocSizes.flatMap((b) => (b.error === undefined ? [b] : []))
    const growth =
      ok.length > 1 ? ok.at(-1)!.bytesSentPerRecordPerNode / ok[0]!.bytesSentPerRecordPerNode : undefined
    out.push([
      'Bytes sent per record per node',
      r.blocSizes
        .map((b) =>
          b.error === undefined
            ? `${b.nodes} nodes: ${n(b.bytesSentPerRecordPerNode)} B (${b.secondsToConverge} s, ${b.extraCopiesPerEntryPerNode ?? '—'} extra copies per entry per node)`
            : `${b.nodes} nodes: failed (${b.error})`,
        )
        .join('; '),
      'flat (largest ≤ 1.25 × smallest)',
      verdict(growth === undefined || ok.length < r.blocSizes.length ? undefined : growth <= 1.25),
    ])
  }
  const sc = r.scale
  if (sc) {
    const million = sc.citizens >= 1_000_000
    const peak = Math.max(sc.rssMiB.peakDuringIngest, sc.rssMiB.atRest, sc.rssMiB.afterRestart)
    out.push([
      `${n(sc.citizens)} citizens: RSS`,
      `peak ${n(sc.rssMiB.peakDuringIngest)} MiB ingesting, ${n(sc.rssMiB.atRest)} at rest${
        sc.rssAtRestSplitMiB
          ? ` (${n(sc.rssAtRestSplitMiB.anon)} its own, ${n(sc.rssAtRestSplitMiB.file)} mapped files)`
          : ''
      }, ${n(sc.rssMiB.afterRestart)} after restart`,
      '< 1 GiB throughout',
      verdict(million ? peak < 1024 : undefined),
    ])
    out.push([
      `${n(sc.citizens)} citizens: disk${(sc.officers ?? 1) > 1 ? ` (${n(sc.officers)} officers in turn)` : ''}`,
      `${n(sc.diskBytesPerCitizen)} B per citizen (${n(sc.diskMiB)} MiB)${
        sc.diskBytesPerCitizenByPrefix
          ? `: ${Object.entries(sc.diskBytesPerCitizenByPrefix)
              .map(([p, b]) => `${p} ${n(b)}`)
              .join(', ')}`
          : ''
      }`,
      '< 1 KB per citizen',
      verdict(million ? sc.diskBytesPerCitizen < 1000 : undefined),
    ])
    out.push([
      `${n(sc.citizens)} citizens: restart to ready`,
      `${sc.restartToReadySeconds} s`,
      '< 5 s',
      verdict(million ? sc.restartToReadySeconds < 5 : undefined),
    ])
    out.push([
      `${n(sc.citizens)} citizens: a citizen's file / a search`,
      `after ${n(sc.readCitizenFileFirst.reads)} reads of other files: p50 ${sc.readCitizenFile.p50Ms} ms, p99 ${sc.readCitizenFile.p99Ms} ms / p50 ${sc.searchByTravelDocument.p50Ms} ms, p99 ${sc.searchByTravelDocument.p99Ms} ms; the node's first ${n(sc.readCitizenFileFirst.reads)} reads: p50 ${sc.readCitizenFileFirst.p50Ms} ms, p99 ${sc.readCitizenFileFirst.p99Ms} ms`,
      'file p99 < 20 ms',
      verdict(million ? sc.readCitizenFile.p99Ms < 20 : undefined),
    ])
    if (sc.readCitizenFileAfterRestart) {
      out.push([
        `${n(sc.citizens)} citizens: a citizen's file after a restart`,
        `p50 ${sc.readCitizenFileAfterRestart.p50Ms} ms, p99 ${sc.readCitizenFileAfterRestart.p99Ms} ms (every cache cold)`,
        '',
        '',
      ])
    }
  }
  return out
}

export function table(r: BenchResults): string {
  const lines = ['| Measure | Figure | Target | |', '| --- | --- | --- | --- |']
  for (const row of rows(r)) lines.push(`| ${row.join(' | ')} |`)
  const m = r.machine
  for (const [section, error] of Object.entries(r.errors ?? {}))
    lines.push(`| ${section} | failed: ${error} | | |`)
  lines.push(
    '',
    `${r.mode} run, ${r.started}; ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, commit ${m.commit}${m.uncommittedChanges ? ' (with uncommitted changes)' : ''}.`,
  )
  return lines.join('\n')
}

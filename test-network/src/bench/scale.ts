/**
 * Scale at one node: `citizens` registrations (1,000,000 in a full run), with disk, resident
 * memory during ingest and at rest, restart to ready, and reads at that size — a citizen's file
 * and a search by travel document number, as an officer with a stated purpose. The records are
 * signed by `officers` officers in turn, one record each: every record carries its signer's
 * certificate, and with one signer LevelDB's compression all but hides it.
 */
import { join } from 'node:path'
import { DEFAULT_COMPACT_IDLE_MS, DEFAULT_COMPACT_MIN_BYTES, LevelStore } from '@legation/node'
import type { BuiltRecord, LegationClient } from '@legation/protocol'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { BenchClient } from './client.ts'
import { dirBytes, percentile, rssMiB, rssSampler, rssSplitMiB, sleep, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

const BATCH = 500

/** The store's key prefixes (node/src/engine/keys.ts), for where a citizen's bytes on disk go. */
const PREFIXES = [
  'ent/',
  'rec/',
  'pay/',
  'ck/',
  'doc/',
  'dh/',
  'sum/',
  'ix/',
  'acc/',
  'mkt/',
  'case/',
  'alert/',
  'gone/',
  'ret/',
  'miss/',
  'evid/',
  'rev/',
  'ckpt/',
  'stash/',
  'meta/',
]

/**
 * Bytes on disk per citizen under each prefix of a stopped node's store (LevelDB's estimates),
 * largest first; `other` is what the folder holds beyond them (LevelDB's log and manifest).
 */
async function diskByPrefix(dir: string, total: number, citizens: number): Promise<Record<string, number>> {
  const store = await LevelStore.open(join(dir, 'db'))
  const out: [string, number][] = []
  let counted = 0
  try {
    for (const p of PREFIXES) {
      const bytes = (await store.bytesUnder(p)) ?? 0
      counted += bytes
      if (bytes / citizens >= 0.5) out.push([p, Math.round(bytes / citizens)])
    }
  } finally {
    await store.close()
  }
  out.sort((a, b) => b[1] - a[1])
  return Object.fromEntries([...out, ['other', Math.round((total - counted) / citizens)]])
}

async function timedReads(url: string, officer: LegationClient, paths: readonly string[]) {
  // Signed before the clock starts.
  const signed = paths.map((path) => ({ path, headers: officer.sign({ method: 'GET', path }) }))
  const lat: number[] = []
  const client = new BenchClient(url)
  try {
    for (const r of signed) {
      const t = performance.now()
      const res = await client.get(r.path, r.headers)
      if (res.status !== 200) throw new Error(`GET ${r.path}: ${res.status}`)
      lat.push(performance.now() - t)
    }
  } finally {
    client.close()
  }
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), reads: lat.length }
}

const metricsText = async (url: string) =>
  (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()

/** A metric's first value in a /metrics text, whatever its labels; NaN if absent. */
function metricValue(text: string, name: string): number {
  const v = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1]
  return v === undefined ? Number.NaN : Number(v)
}

/**
 * Where a node's resident memory is, from its own /metrics: V8's heap (used, and reserved) and
 * memory outside it that V8 knows of (buffers). What RSS holds beyond these is native: LevelDB,
 * OpenSSL, and what the C allocator keeps of memory freed.
 */
async function nodeMemory(url: string): Promise<{ heapUsed: number; heapTotal: number; external: number }> {
  const text = await metricsText(url)
  const mib = (name: string) => Math.round(metricValue(text, name) / 2 ** 20)
  return {
    heapUsed: mib('nodejs_heap_size_used_bytes'),
    heapTotal: mib('nodejs_heap_size_total_bytes'),
    external: mib('nodejs_external_memory_bytes'),
  }
}

const nodeGauge = async (url: string, name: string) => metricValue(await metricsText(url), name)

/** The longest a node's compaction after the load is waited for (a million citizens: under a minute). */
const COMPACTION_WAIT_MS = 15 * 60_000

/**
 * Waits for the compaction the node makes once writes pause after a load (storage/upkeep.ts),
 * if it makes one: "at rest" is after the node's own upkeep. Answers how long it took by the
 * node's account, or null if the load was too small for one (the node started empty, so the
 * load is more than a quarter of its store: its default least is what decides).
 */
async function compactionAfterLoad(url: string): Promise<{ seconds: number } | null> {
  const started = Date.now()
  const compactions = () => nodeGauge(url, 'legation_store_compactions_total')
  const compacting = () => nodeGauge(url, 'legation_store_compacting')
  // What was written counts from the start of the last compaction: one running, or done, is not
  // a small load.
  const written = await nodeGauge(url, 'legation_store_written_since_compaction_bytes')
  if (written < DEFAULT_COMPACT_MIN_BYTES && (await compacting()) !== 1 && (await compactions()) < 1)
    return null
  while ((await compactions()) < 1 && (await compacting()) !== 1) {
    if (Date.now() - started > DEFAULT_COMPACT_IDLE_MS + 30_000)
      throw new Error('the node did not compact after the load')
    await sleep(250)
  }
  while ((await compacting()) === 1) {
    if (Date.now() - started > COMPACTION_WAIT_MS)
      throw new Error('the node compacted for longer than 15 min')
    await sleep(250)
  }
  return { seconds: await nodeGauge(url, 'legation_store_last_compaction_seconds') }
}

export async function scale(sizes: Sizes, deadline: number, progress: (done: number) => void) {
  return withNetwork({ nodes: 1 }, async (net) => {
    const node = net.nodes[0]!
    const officer = net.officer('DVA')
    const signers = [officer, ...Array.from({ length: sizes.officers - 1 }, () => net.officer('DVA'))]
    // A sample of the citizens to read back later (every k-th one), and another, as large as the
    // warm-up, of citizens not in it, read first.
    const every = Math.max(2, Math.floor(sizes.citizens / sizes.reads))
    const everyWarm = Math.max(2, Math.floor(sizes.citizens / sizes.readsWarmup))
    const sample: { id: string; passport: string }[] = []
    const warmSample: string[] = []
    const peak = rssSampler(() => node.pid)
    const t = performance.now()
    let written = 0
    // Signed in chunks while the node ingests the previous chunk: the generator runs in this
    // process, so only memory and time, not the node's CPU, are measured here.
    let pending: Promise<unknown> = Promise.resolve()
    while (written < sizes.citizens && Date.now() < deadline) {
      const n = Math.min(BATCH * 4, sizes.citizens - written)
      const chunk: BuiltRecord[] = []
      for (let i = 0; i < n; i++) {
        const rec = citizenRegistration(signers[(written + i) % signers.length]!, 'DVB')
        if ((written + i) % every === 0) sample.push({ id: rec.citizenId, passport: rec.passport })
        else if ((written + i) % everyWarm === 1 && warmSample.length < sizes.readsWarmup)
          warmSample.push(rec.citizenId)
        chunk.push(rec)
      }
      await pending
      pending = Promise.all(
        [0, 1, 2, 3].map((k) => {
          const part = chunk.slice(k * BATCH, (k + 1) * BATCH)
          return part.length > 0 ? submitBatch(node, part) : undefined
        }),
      )
      written += n
      progress(written)
    }
    await pending
    const ingestSeconds = (performance.now() - t) / 1000
    const rssPeakDuringIngest = await peak.stop()
    await sleep(sizes.settleMs)
    const compaction = await compactionAfterLoad(node.url)
    const rssAtRest = await rssMiB(node.pid)
    const rssAtRestSplit = await rssSplitMiB(node.pid)
    const memoryAtRest = await nodeMemory(node.url)
    const disk = await dirBytes(node.dir)
    const purpose = 'purpose=consular-assistance'
    // The node has served no read yet: the first ones are the cold figure, the sample's the warm.
    const firstFiles = await timedReads(
      node.url,
      officer,
      warmSample.map((id) => `/v1/citizens/${id}?${purpose}`),
    )
    const file = await timedReads(
      node.url,
      officer,
      sample.map((s) => `/v1/citizens/${s.id}?${purpose}`),
    )
    const search = await timedReads(
      node.url,
      officer,
      sample.map((s) => `/v1/citizens?travelDocument=${s.passport}&${purpose}`),
    )
    // Restart to ready (`/ready`), then the citizens' files once more: every cache of the node
    // is cold, and LevelDB opens its table files again.
    await node.stop()
    const r = performance.now()
    await node.start()
    const restartSeconds = (performance.now() - r) / 1000
    const rssAfterRestart = await rssMiB(node.pid)
    const fileAfterRestart = await timedReads(
      node.url,
      officer,
      sample.map((s) => `/v1/citizens/${s.id}?${purpose}`),
    )
    await node.stop()
    const diskBytesPerCitizenByPrefix = await diskByPrefix(node.dir, disk, written)
    return {
      citizens: written,
      officers: signers.length,
      ingestRecordsPerSecond: Math.round(written / ingestSeconds),
      diskBytesPerCitizen: Math.round(disk / written),
      diskMiB: Math.round(disk / 2 ** 20),
      diskBytesPerCitizenByPrefix,
      rssMiB: { peakDuringIngest: rssPeakDuringIngest, atRest: rssAtRest, afterRestart: rssAfterRestart },
      rssAtRestSplitMiB: rssAtRestSplit,
      memoryAtRestMiB: memoryAtRest,
      restartToReadySeconds: Number(restartSeconds.toFixed(2)),
      compactionAfterLoad: compaction,
      readCitizenFileFirst: firstFiles,
      readCitizenFile: file,
      readCitizenFileAfterRestart: fileAfterRestart,
      searchByTravelDocument: search,
    }
  })
}

/**
 * A 5-node bloc: replication latency under a steady background load, time from healing a
 * partition to identical state roots after writes on both sides, and catch-up of a node that
 * was down while records were written, from its process start.
 */
import { type BuiltRecord, toSubmission } from '@legation/protocol'
import type { TestNetwork, TestNode } from '../network.ts'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { BenchClient } from './client.ts'
import { cpuTimeline, percentile, perRecord, rssMiB, sleep, threadSeconds, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

/** Until `stop()`: a batch of 20 registrations every 200 ms at `node` (100 records/s at most). */
function backgroundLoad(node: TestNode, make: () => BuiltRecord, deadline: number) {
  let running = true
  let written = 0
  const done = (async () => {
    while (running && Date.now() < deadline) {
      const t = Date.now()
      await submitBatch(node, Array.from({ length: 20 }, make))
      written += 20
      await sleep(Math.max(0, 200 - (Date.now() - t)))
    }
  })()
  return {
    async stop(): Promise<number> {
      running = false
      await done
      return written
    },
  }
}

/**
 * A write at one node until every other node holds it durably: the write asks for write concern
 * k = 4, so the node answers once the four others have sent their signed receipts, each signed
 * after the entry was durable there. Asking the four others over HTTP until they answered (the
 * earlier method) cost more than what it timed: ~40 signed reads a write, on the two cores the
 * five nodes share (docs/performance.md).
 *
 * The figure is taken after `replicationWarmup` writes of the same shape, as a node runs in
 * service: a new bloc's first writes run code V8 has not optimised yet (in a 2-node probe the
 * CPU of a write fell by a third over its first 2,000). The first `replication` writes of the
 * new bloc are reported too, as the cold figure.
 */
async function replicationLatency(net: TestNetwork, sizes: Sizes, deadline: number) {
  const officer = net.officer('DVB')
  const load = backgroundLoad(net.nodes[0]!, () => citizenRegistration(officer, 'DVC'), deadline)
  const k = net.nodes.length - 1
  const lat: number[] = []
  const ids: string[] = []
  const late: number[] = []
  let background = 0
  const clients = net.nodes.map((n) => new BenchClient(n.url))
  const total = sizes.replicationWarmup + sizes.replication
  // Each node's CPU over the timed writes (the background load's included).
  let cpuBefore: Array<Record<string, number>> = []
  let cpuAfter: Array<Record<string, number>> = []
  const cpuNow = () => Promise.all(net.nodes.map((n) => threadSeconds(n.pid!)))
  try {
    for (let i = 0; i < total && Date.now() < deadline; i++) {
      if (i === sizes.replicationWarmup) cpuBefore = await cpuNow()
      const writer = clients[1 + (i % 4)]!
      const rec = citizenRegistration(officer, 'DVA')
      const t = performance.now()
      const res = await writer.post('/v1/records', { ...toSubmission(rec), writeConcern: k })
      const ms = performance.now() - t
      // Durable at the writer but not acknowledged by every other node within the node's
      // write-concern timeout (504): counted with its time, and as missed.
      if (res.status === 504) late.push(i)
      else if (res.status !== 201) throw new Error(`write refused: ${res.status}`)
      lat.push(ms)
      ids.push(rec.id)
    }
    if (cpuBefore.length > 0) cpuAfter = await cpuNow()
  } finally {
    for (const c of clients) c.close()
    background = await load.stop()
  }
  // Cold: a new bloc's first writes; warm: the last ones, after the warm-up.
  const cold = lat.slice(0, sizes.replication)
  const warm = lat.length > sizes.replicationWarmup ? lat.slice(sizes.replicationWarmup) : []
  // Untimed: every node serves every record written in both (what the receipts said).
  await net.waitForConvergence({ timeoutMs: 120_000 })
  const reader = officer
  for (const node of net.nodes) {
    for (const id of [...ids.slice(0, sizes.replication), ...ids.slice(sizes.replicationWarmup)]) {
      const path = `/v1/records/${id}`
      const r = await fetch(`${node.url}${path}`, { headers: reader.sign({ method: 'GET', path }) })
      await r.arrayBuffer()
      if (r.status !== 200) throw new Error(`node ${node.index} does not serve record ${id}: ${r.status}`)
    }
  }
  return {
    p50Ms: percentile(warm, 50),
    p99Ms: percentile(warm, 99),
    writes: warm.length,
    warmupWrites: sizes.replicationWarmup,
    cold: {
      p50Ms: percentile(cold, 50),
      p99Ms: percentile(cold, 99),
      writes: cold.length,
      notAcknowledgedInTime: late.filter((i) => i < sizes.replication).length,
    },
    method: `write concern ${k}: the write is answered once every other node sent its receipt`,
    notAcknowledgedInTime: late.filter((i) => i >= sizes.replicationWarmup).length,
    /** Each node's CPU per timed write, background load included, in ms. */
    cpuMillisecondsPerWritePerNode: cpuAfter.map(
      (after, i) => perRecord(cpuBefore[i]!, after, Math.max(1, warm.length)).total! / 1000,
    ),
    backgroundRecordsPerSecond: 100,
    backgroundRecords: background,
    nodes: net.nodes.length,
  }
}

async function partitionHeal(net: TestNetwork, sizes: Sizes) {
  const officer = net.officer('DVA')
  await net.partition([0, 1], [2, 3, 4])
  const write = async (node: TestNode) => {
    for (let i = 0; i < sizes.partition; i += 250) {
      await submitBatch(
        node,
        Array.from({ length: Math.min(250, sizes.partition - i) }, () => citizenRegistration(officer, 'DVB')),
      )
    }
  }
  await Promise.all([write(net.nodes[0]!), write(net.nodes[2]!)])
  await net.waitForConvergence({ timeoutMs: 120_000, nodes: [0, 1] })
  await net.waitForConvergence({ timeoutMs: 120_000, nodes: [2, 3, 4] })
  const t = performance.now()
  await net.heal()
  await net.waitForConvergence({ timeoutMs: 300_000 })
  return {
    recordsEachSide: sizes.partition,
    secondsToIdenticalRoots: Number(((performance.now() - t) / 1000).toFixed(2)),
  }
}

/**
 * The bytes of `entries` messages a node queued to send: catch-up's frames, pushes, and
 * answers to `wantPayload`, with their message framing. NaN if the counter is not there.
 */
async function syncBytesSent(node: TestNode): Promise<number> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`metrics of node ${node.index}: HTTP ${res.status}`)
  const m = /^legation_sync_bytes_sent_total\{type="entries"\} (\d+)/m.exec(await res.text())
  return m ? Number(m[1]) : Number.NaN
}

/**
 * Node 4 of a 5-node bloc stops while `records` registrations are written in batches of 500 at
 * the other four, then starts: the time from its process start to identical state roots, its CPU
 * per record, and what serving it cost each of the others. `timeline`: its CPU every 250 ms
 * (`cpuTimeline`). The bench's row, and `npm run bench:catchup` (bench-catchup.ts).
 */
export async function catchUp(
  net: TestNetwork,
  records: number,
  deadline: number,
  opts: { timeline?: boolean } = {},
) {
  const officer = net.officer('DVC')
  const late = net.nodes[4]!
  const servers = net.nodes.slice(0, 4)
  await late.stop()
  for (let i = 0, b = 0; i < records && Date.now() < deadline; i += 500, b++) {
    const n = Math.min(500, records - i)
    await submitBatch(
      servers[b % 4]!,
      Array.from({ length: n }, () => citizenRegistration(officer, 'DVA')),
    )
  }
  await net.waitForConvergence({ timeoutMs: 600_000, nodes: [0, 1, 2, 3] })
  const sentBefore = await Promise.all(servers.map(syncBytesSent))
  const serversBefore = await Promise.all(servers.map((n) => threadSeconds(n.pid!)))
  const t = performance.now()
  await late.start()
  const ready = performance.now()
  const before = await threadSeconds(late.pid!)
  const timeline = opts.timeline ? cpuTimeline(late.pid!) : undefined
  let points: string | undefined
  try {
    await net.waitForConvergence({ timeoutMs: 900_000 })
  } finally {
    points = timeline?.stop()
  }
  const done = performance.now()
  const serversAfter = await Promise.all(servers.map((n) => threadSeconds(n.pid!)))
  const sentAfter = await Promise.all(servers.map(syncBytesSent))
  return {
    records,
    secondsFromProcessStart: Number(((done - t) / 1000).toFixed(2)),
    secondsToReady: Number(((ready - t) / 1000).toFixed(2)),
    recordsPerSecond: Math.round(records / ((done - t) / 1000)),
    cpuMicrosecondsPerRecord: perRecord(before, await threadSeconds(late.pid!), records),
    serversCpuMicrosecondsPerRecord: servers.map((_, i) =>
      perRecord(serversBefore[i]!, serversAfter[i]!, records),
    ),
    serversEntryBytesSentPerRecord: Math.round(
      sentAfter.reduce((sum, b, i) => sum + b - sentBefore[i]!, 0) / records,
    ),
    rssMiB: await rssMiB(late.pid),
    ...(points === undefined ? {} : { timelineMainSlashOthers: points }),
  }
}

export async function fiveNodes(sizes: Sizes, deadline: number) {
  return withNetwork({ nodes: 5 }, async (net) => {
    await net.waitForConvergence({ timeoutMs: 60_000 })
    await sleep(2000) // the mesh connects every pair
    const replication = await replicationLatency(net, sizes, deadline)
    await net.waitForConvergence({ timeoutMs: 120_000 })
    const partition = await partitionHeal(net, sizes)
    const caughtUp = await catchUp(net, sizes.catchUp, deadline)
    return { replication, partition, catchUp: caughtUp }
  })
}

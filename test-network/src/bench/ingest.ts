/**
 * Ingest at one node over HTTP: single records one at a time (latency of one durable write), at
 * a node alone and at one with a live peer (OrbitDB's shape),
 * single records from 32 concurrent clients (group commit at work), and batches of 500 from 4
 * clients. Records are signed before each clock starts, so the load generator's CPU is not the
 * node's; the node's CPU per record is read from /proc per thread.
 */
import { type BuiltRecord, toSubmission } from '@legation/protocol'
import type { TestNode } from '../network.ts'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { answerJson, BenchClient } from './client.ts'
import { percentile, perRecord, rssMiB, sleep, threadSeconds, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

async function post(client: BenchClient, rec: BuiltRecord): Promise<void> {
  const res = await client.post('/v1/records', toSubmission(rec))
  if (res.status !== 201) throw new Error(`write refused: ${res.status} ${JSON.stringify(answerJson(res))}`)
}

/** Runs `work` and returns its wall time and the node's CPU per record, per thread kind. */
async function measured(node: TestNode, records: number, work: () => Promise<void>) {
  const before = await threadSeconds(node.pid!)
  const t = performance.now()
  await work()
  const seconds = (performance.now() - t) / 1000
  const cpu = perRecord(before, await threadSeconds(node.pid!), records)
  return { recordsPerSecond: Math.round(records / seconds), cpuMicrosecondsPerRecord: cpu }
}

/**
 * `records` single writes at `node`, one at a time, each `gapMs` after the answer to the one
 * before: the p50/p99 of one durable write.
 */
async function writesOneAtATime(
  node: TestNode,
  records: readonly BuiltRecord[],
  deadline: number,
  gapMs = 0,
) {
  const latencies: number[] = []
  const client = new BenchClient(node.url)
  try {
    for (const rec of records) {
      if (Date.now() > deadline) throw new Error('benchmark deadline passed')
      const t = performance.now()
      await post(client, rec)
      latencies.push(performance.now() - t)
      if (gapMs > 0) await sleep(gapMs)
    }
  } finally {
    client.close()
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
}

/** `records` single records one at a time at `node`: its rate, its CPU per record, and the p50/p99 of one durable write. */
async function oneAtATime(node: TestNode, records: readonly BuiltRecord[], deadline: number) {
  let latencyMs: { p50: number; p99: number } | undefined
  const figures = await measured(node, records.length, async () => {
    latencyMs = await writesOneAtATime(node, records, deadline)
  })
  return { ...figures, latencyMs: latencyMs!, records: records.length }
}

/** How long after each answer a paced write is sent: the writer, its peer and the disk are idle by then. */
const PACED_GAP_MS = 8

/**
 * `records` single writes at `node`, each `PACED_GAP_MS` after the answer to the one before:
 * the p50/p99 of one durable write when nothing else is being done. Back to back, a write also
 * waits for what the last one left to do (its push to peers, its peer's receipt).
 */
async function paced(node: TestNode, records: readonly BuiltRecord[], deadline: number) {
  const latencyMs = await writesOneAtATime(node, records, deadline, PACED_GAP_MS)
  return { records: records.length, gapMs: PACED_GAP_MS, latencyMs }
}

/**
 * Single records one at a time at a node with a live peer, OrbitDB's shape: the writer pushes
 * each entry to its peer and gets its receipt back, and the peer's apply shares the machine's
 * cores. Also how long after the last write the peer held every record, and the latency of
 * writes paced apart (`paced`). Timed after
 * `singlesWarmup` writes of the same shape (OrbitDB's get as many), as a node runs in service:
 * a new node's first writes run code V8 has not optimised yet. Those are reported as `cold`.
 */
async function oneAtATimeWithPeer(sizes: Sizes, deadline: number) {
  return withNetwork({ nodes: 2 }, async (net) => {
    await net.waitForConvergence({ timeoutMs: 60_000 })
    await sleep(1000)
    const officer = net.officer('DVA')
    const make = (n: number) => Array.from({ length: n }, () => citizenRegistration(officer, 'DVB'))
    const cold = await oneAtATime(net.nodes[0]!, make(sizes.singlesWarmup), deadline)
    const figures = await oneAtATime(net.nodes[0]!, make(sizes.singles), deadline)
    const t = performance.now()
    await net.waitForConvergence({ timeoutMs: 120_000 })
    const peerHadAllSecondsAfterLast = Number(((performance.now() - t) / 1000).toFixed(2))
    return {
      ...figures,
      peerHadAllSecondsAfterLast,
      warmupWrites: sizes.singlesWarmup,
      cold,
      paced: await paced(net.nodes[0]!, make(sizes.singlesPaced), deadline),
    }
  })
}

export async function ingest(sizes: Sizes, deadline: number) {
  const alone = await ingestAtOneNode(sizes, deadline)
  const withPeer = await oneAtATimeWithPeer(sizes, deadline)
  return { ...alone, singleWrites: { ...alone.singleWrites, withPeer } }
}

async function ingestAtOneNode(sizes: Sizes, deadline: number) {
  return withNetwork({ nodes: 1 }, async (net) => {
    const node = net.nodes[0]!
    const officer = net.officer('DVA')
    await sleep(1000)
    // What the node costs doing nothing (timers, checkpoints, metrics): a slow phase's CPU per
    // record includes it.
    const idleBefore = await threadSeconds(node.pid!)
    await sleep(sizes.settleMs)
    const idle = perRecord(idleBefore, await threadSeconds(node.pid!), sizes.settleMs / 1000)

    // One at a time: what one client waits for a durable write.
    const singles = Array.from({ length: sizes.singles }, () => citizenRegistration(officer, 'DVB'))
    const oneClient = await oneAtATime(node, singles, deadline)

    // 32 clients, one record per request.
    const concurrent = Array.from({ length: sizes.concurrent }, () => citizenRegistration(officer, 'DVC'))
    let next = 0
    const client = new BenchClient(node.url, 32)
    const clients32 = await measured(node, concurrent.length, async () => {
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let i = next++; i < concurrent.length && Date.now() < deadline; i = next++) {
            await post(client, concurrent[i]!)
          }
        }),
      )
    }).finally(() => client.close())

    // Batches of 500 from 4 clients, as JSON and then as CBOR.
    const batchesOf = async (as: 'json' | 'cbor') => {
      const recs = Array.from({ length: sizes.batchRecords }, () => citizenRegistration(officer, 'DVA'))
      const batches: BuiltRecord[][] = []
      for (let i = 0; i < recs.length; i += 500) batches.push(recs.slice(i, i + 500))
      let nextBatch = 0
      return measured(node, recs.length, async () => {
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            for (let i = nextBatch++; i < batches.length && Date.now() < deadline; i = nextBatch++) {
              await submitBatch(node, batches[i]!, as)
            }
          }),
        )
      })
    }
    const batched = await batchesOf('json')
    const batchedCbor = await batchesOf('cbor')
    return {
      singleWrites: {
        oneClient,
        clients32: { ...clients32, records: concurrent.length },
      },
      batches: { ...batched, records: sizes.batchRecords, batchSize: 500, clients: 4 },
      batchesCbor: { ...batchedCbor, records: sizes.batchRecords, batchSize: 500, clients: 4 },
      idleCpuMillisecondsPerSecond: Math.round(idle.total! / 1000),
      rssMiB: await rssMiB(node.pid),
    }
  })
}

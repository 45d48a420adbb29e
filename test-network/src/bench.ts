/**
 * Benchmarks with real node processes on loopback (`npm run bench -- [--records N] [--quick]`).
 * Every loop is bounded in count and time. Figures are printed as one JSON document at the
 * end, with the native Ed25519 verify rate measured in the same run to compare against.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { generateKeyPair, signingInput, toSubmission } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { TestNetwork, type TestNode } from './network.ts'
import { citizenRegistration, submitBatch } from './workload.ts'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    quick: { type: 'boolean', default: false },
  },
})
const RECORDS = Number(values.records)
const QUICK = values.quick
const DEADLINE = Date.now() + 20 * 60_000

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN).toFixed(1))
}

function verifyRate(): number {
  const keys = generateKeyPair(nativeEd25519)
  const msg = signingInput('record', new Uint8Array(600).fill(7))
  const sig = nativeEd25519.sign(msg, keys.secretKey)
  const n = 20_000
  const t = performance.now()
  for (let i = 0; i < n; i++) nativeEd25519.verify(sig, msg, keys.publicKey)
  return Math.round(n / ((performance.now() - t) / 1000))
}

async function rss(node: TestNode): Promise<number> {
  try {
    const status = await readFile(`/proc/${node.pid}/status`, 'utf8')
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
  } catch {
    return 0
  }
}

async function oneNode(results: Record<string, unknown>) {
  const net = await TestNetwork.start({ nodes: 1, env: { LEGATION_HTTP_RATE_LIMIT_MAX: '100000000' } })
  try {
    const node = net.nodes[0]!
    const officer = net.officer('DVA')
    // Single-record writes, one at a time: latency of one acknowledged (durable) write.
    const latencies: number[] = []
    const singles = QUICK ? 200 : 1000
    for (let i = 0; i < singles && Date.now() < DEADLINE; i++) {
      const rec = citizenRegistration(officer, 'DVB')
      const t = performance.now()
      const res = await node.post('/v1/records', toSubmission(rec))
      latencies.push(performance.now() - t)
      if (res.status !== 201) throw new Error(`write refused: ${res.status}`)
    }
    results.singleWriteLatencyMs = { p50: pct(latencies, 50), p99: pct(latencies, 99), n: latencies.length }
    // Single-record writes from 32 concurrent clients: group commit at work.
    {
      const n = QUICK ? 1000 : 4000
      const recs = Array.from({ length: n }, () => citizenRegistration(officer, 'DVC'))
      let next = 0
      const t = performance.now()
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < recs.length) {
            const r = recs[next++]!
            const res = await node.post('/v1/records', toSubmission(r))
            if (res.status !== 201) throw new Error(`write refused: ${res.status}`)
          }
        }),
      )
      results.singleRecordsPerSecond32Clients = Math.round(n / ((performance.now() - t) / 1000))
    }
    // Batches of 500 from 4 concurrent clients.
    {
      const n = QUICK ? 5000 : RECORDS
      const recs = Array.from({ length: n }, () => citizenRegistration(officer, 'DVA'))
      const batches: (typeof recs)[] = []
      for (let i = 0; i < recs.length; i += 500) batches.push(recs.slice(i, i + 500))
      let next = 0
      const t = performance.now()
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < batches.length) await submitBatch(node, batches[next++]!)
        }),
      )
      results.batchRecordsPerSecond = Math.round(n / ((performance.now() - t) / 1000))
    }
    results.oneNodeRssMb = await rss(node)
  } finally {
    await net.stop()
  }
}

async function fiveNodes(results: Record<string, unknown>) {
  const net = await TestNetwork.start({ nodes: 5, env: { LEGATION_HTTP_RATE_LIMIT_MAX: '100000000' } })
  try {
    const officer = net.officer('DVB')
    await net.waitForConvergence({ timeoutMs: 30_000 })
    await new Promise((r) => setTimeout(r, 2000)) // let the mesh connect
    // Replication latency: write at one node, poll the four others until all have it.
    const lat: number[] = []
    const n = QUICK ? 30 : 200
    for (let i = 0; i < n && Date.now() < DEADLINE; i++) {
      const writer = net.nodes[i % 5]!
      const rec = citizenRegistration(officer, 'DVA')
      const t = performance.now()
      const res = await writer.post('/v1/records', toSubmission(rec))
      if (res.status !== 201) throw new Error(`write refused: ${res.status}`)
      const others = net.nodes.filter((x) => x !== writer)
      const seen = new Set<number>()
      while (seen.size < others.length && performance.now() - t < 10_000) {
        await Promise.all(
          others.map(async (o) => {
            if (seen.has(o.index)) return
            const path = `/v1/records/${rec.id}`
            const r = await fetch(`${o.url}${path}`, { headers: officer.sign({ method: 'GET', path }) })
            if (r.status === 200) seen.add(o.index)
            await r.arrayBuffer()
          }),
        )
      }
      lat.push(performance.now() - t)
    }
    results.replicationLatencyMs = { p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, nodes: 5 }
    // Catch-up: node 4 stops; the others take RECORDS records; it restarts and catches up.
    const late = net.nodes[4]!
    await late.stop()
    const total = QUICK ? 5000 : RECORDS
    for (let i = 0; i < total && Date.now() < DEADLINE; i += 500) {
      await submitBatch(
        net.nodes[(i / 500) % 4]!,
        Array.from({ length: Math.min(500, total - i) }, () => citizenRegistration(officer, 'DVC')),
      )
    }
    await net.waitForConvergence({ timeoutMs: 120_000, nodes: [0, 1, 2, 3] })
    const t = performance.now()
    await late.start()
    const started = performance.now()
    await net.waitForConvergence({ timeoutMs: 300_000 })
    const done = performance.now()
    results.catchUp = {
      records: total,
      seconds: Number(((done - t) / 1000).toFixed(2)),
      secondsAfterStart: Number(((done - started) / 1000).toFixed(2)),
      recordsPerSecond: Math.round(total / ((done - started) / 1000)),
    }
    results.fiveNodeRssMb = await Promise.all(net.nodes.map(rss))
  } finally {
    await net.stop()
  }
}

const results: Record<string, unknown> = { nativeVerifyPerSecond: verifyRate() }
await oneNode(results)
await fiveNodes(results)
results.batchVsVerify = Number(
  ((results.batchRecordsPerSecond as number) / (results.nativeVerifyPerSecond as number)).toFixed(2),
)
console.log(JSON.stringify(results, null, 2))

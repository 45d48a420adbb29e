/**
 * What an officer's read of a citizen's file costs the node that serves it — with the read's
 * purpose stated and logged (an access.logged record, durable before the answer): `npm run
 * bench:readpath -- [citizens] [reads] [clients]` (prints JSON). CPU time of the serving node from
 * /proc (user + system); latency per read as the client sees it. Bounded: `reads` (default 2000)
 * signed GETs from `clients` (default 8) concurrent clients over `citizens` (default 2000) files: a
 * repeated read of a file by the same officer within 15 minutes is logged once, so with as many
 * files as reads every read is logged.
 */
import { cpuSeconds } from './bench/proc.ts'
import { TestNetwork, type TestNode } from './network.ts'
import { citizenRegistration, submitBatch } from './workload.ts'

const CITIZENS = Number(process.argv[2] ?? 2000)
const READS = Number(process.argv[3] ?? 2000)
const CLIENTS = Number(process.argv[4] ?? 8)
const net = await TestNetwork.start({ nodes: 1, env: { LEGATION_HTTP_RATE_LIMIT_MAX: '100000000' } })
try {
  const [node] = net.nodes as [TestNode]
  const officer = net.officer('DVA')
  const regs = Array.from({ length: CITIZENS }, () => citizenRegistration(officer, 'DVB'))
  for (let i = 0; i < regs.length; i += 250) await submitBatch(node, regs.slice(i, i + 250))
  // Requests are signed before the clock starts: the load generator's CPU is not the node's.
  const requests = Array.from({ length: READS }, (_, i) => {
    const path = `/v1/citizens/${regs[i % regs.length]!.citizenId}?purpose=consular-assistance`
    return { path, headers: officer.sign({ method: 'GET', path }) }
  })
  await new Promise((r) => setTimeout(r, 2_000))
  const before = await cpuSeconds(node.pid!)
  const latencies: number[] = []
  let next = 0
  let failed = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = next++; i < requests.length; i = next++) {
        const r = requests[i]!
        const s = performance.now()
        const res = await fetch(`${node.url}${r.path}`, {
          headers: r.headers,
          signal: AbortSignal.timeout(10_000),
        })
        await res.arrayBuffer()
        if (res.status !== 200) failed++
        latencies.push(performance.now() - s)
      }
    }),
  )
  const ms = performance.now() - t
  const cpu = (await cpuSeconds(node.pid!)) - before
  latencies.sort((a, b) => a - b)
  const pct = (p: number) => Math.round(latencies[Math.floor((latencies.length - 1) * p)]! * 10) / 10
  console.log(
    JSON.stringify(
      {
        citizens: CITIZENS,
        reads: READS,
        clients: CLIENTS,
        failed,
        readsPerSecond: Math.round(READS / (ms / 1000)),
        cpuMicrosecondsPerRead: Math.round((cpu * 1e6) / READS),
        latencyMs: { p50: pct(0.5), p99: pct(0.99) },
      },
      null,
      1,
    ),
  )
} finally {
  await net.stop()
}

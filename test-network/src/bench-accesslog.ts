/**
 * How an officer's read of a citizen's file grows with the reads of it already logged: `npm run
 * bench:accesslog -- [files] [levels]` (prints JSON). At one node, `files` (default 20) citizens
 * are registered. Then, for each level (default `0,100,1000` logged reads per file), officers
 * not seen before read every file until each holds that many logged reads (a repeated read by
 * one officer within 15 minutes is logged once, so each new officer's read is), and 5 more new
 * officers read each file one at a time, timed: latency as the client sees it, the node's CPU
 * per read from /proc. Every read states its purpose, so each is logged durably before it is
 * answered, as in service. Bounded: at most 5,000 logged reads per file, every request with a
 * timeout.
 */
import { BenchClient } from './bench/client.ts'
import { cpuSeconds, percentile, withNetwork } from './bench/proc.ts'
import type { TestNetwork } from './network.ts'
import { citizenRegistration, submitBatch } from './workload.ts'

const FILES = Number(process.argv[2] ?? 20)
const LEVELS = (process.argv[3] ?? '0,100,1000').split(',').map(Number)
const MAX_LEVEL = 5_000
const TIMED_OFFICERS = 5
const CLIENTS = 8
if (
  !(FILES > 0) ||
  LEVELS.some((l) => !(l >= 0 && l <= MAX_LEVEL)) ||
  LEVELS.some((l, i) => i > 0 && l < LEVELS[i - 1]!)
) {
  throw new Error(`files must be > 0 and levels rising, each from 0 to ${MAX_LEVEL}`)
}

/** Each file read once by each of `officers` new officers, `clients` reads at a time; answers each read's latency. */
async function readAll(net: TestNetwork, files: readonly string[], officers: number, clients: number) {
  const url = net.nodes[0]!.url
  // Signed just before it is sent (a signed request is accepted for a short while only), and
  // before its clock starts.
  const requests = Array.from({ length: officers }, () => net.officer('DVA')).flatMap((officer) =>
    files.map((id) => ({ officer, path: `/v1/citizens/${id}?purpose=consular-assistance` })),
  )
  const pool = Array.from({ length: clients }, () => new BenchClient(url))
  const latencies: number[] = []
  let next = 0
  try {
    await Promise.all(
      pool.map(async (client) => {
        for (let i = next++; i < requests.length; i = next++) {
          const { officer, path } = requests[i]!
          const headers = officer.sign({ method: 'GET', path })
          const s = performance.now()
          const res = await client.get(path, headers)
          if (res.status !== 200) throw new Error(`a read was answered ${res.status}`)
          latencies.push(performance.now() - s)
        }
      }),
    )
  } finally {
    for (const c of pool) c.close()
  }
  return latencies
}

const result = await withNetwork(
  { nodes: 1, env: { LEGATION_HTTP_RATE_LIMIT_MAX: '100000000' } },
  async (net) => {
    const node = net.nodes[0]!
    const regs = Array.from({ length: FILES + 1 }, () => citizenRegistration(net.officer('DVA'), 'DVB'))
    await submitBatch(node, regs)
    const [warm, ...files] = regs.map((r) => r.citizenId)
    // V8's warm-up, on a file of its own: a node's first reads compile the read path.
    await readAll(net, [warm!], 200, 1)
    const rows = []
    let logged = 0
    for (const level of LEVELS) {
      if (level > logged) await readAll(net, files, level - logged, CLIENTS)
      logged = level
      const before = await cpuSeconds(node.pid!)
      const latencies = await readAll(net, files, TIMED_OFFICERS, 1)
      const cpu = (await cpuSeconds(node.pid!)) - before
      logged += TIMED_OFFICERS
      rows.push({
        loggedReadsPerFile: level,
        reads: latencies.length,
        latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
        cpuMicrosecondsPerRead: Math.round((cpu * 1e6) / latencies.length),
      })
    }
    return { files: FILES, rows }
  },
)
console.log(JSON.stringify(result, null, 1))

/**
 * What catching up costs: `npm run bench:catchup -- [records] [--timeline]` (prints JSON). A
 * 5-node bloc; node 4 is stopped while `records` (default 20,000) registrations are written in
 * batches of 500 at the other four, then started. Reports the time from its process start to
 * identical state roots, and the CPU per record of every node by kind of thread (from /proc):
 * the late node's own, and what serving it cost each of the others. With `--timeline`, the late
 * node's CPU every 250 ms (main thread / the other threads, in 1/100 s ticks): whether it waits
 * or computes. The bench's catch-up row is the same at 100,000 records; this is the quick form to
 * compare two versions of the code, alternated.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { perRecord, sleep, threadSeconds, withNetwork } from './bench/proc.ts'
import { citizenRegistration, submitBatch } from './workload.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { timeline: { type: 'boolean', default: false } },
})
const RECORDS = Number(positionals[0] ?? 20_000)
const BATCH = 500

/** CPU ticks of each thread of a process, by thread id. */
function ticks(pid: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(tid, Number(f[11]) + Number(f[12]))
    } catch {
      // the thread exited meanwhile
    }
  }
  return out
}

const result = await withNetwork({ nodes: 5 }, async (net) => {
  await net.waitForConvergence({ timeoutMs: 60_000 })
  await sleep(2_000) // the mesh connects every pair
  const officer = net.officer('DVC')
  const late = net.nodes[4]!
  await late.stop()
  for (let i = 0, b = 0; i < RECORDS; i += BATCH, b++) {
    const n = Math.min(BATCH, RECORDS - i)
    await submitBatch(
      net.nodes[b % 4]!,
      Array.from({ length: n }, () => citizenRegistration(officer, 'DVA')),
    )
  }
  await net.waitForConvergence({ timeoutMs: 600_000, nodes: [0, 1, 2, 3] })
  await sleep(3_000) // the witnesses' last checkpoints
  const servers = net.nodes.slice(0, 4)
  const serversBefore = await Promise.all(servers.map((n) => threadSeconds(n.pid!)))
  const t = performance.now()
  await late.start()
  const ready = performance.now()
  const pid = late.pid!
  const before = await threadSeconds(pid)
  const timeline: string[] = []
  let prev = ticks(pid)
  const sampler = values.timeline
    ? setInterval(() => {
        const now = ticks(pid)
        let main = 0
        let rest = 0
        for (const [tid, v] of now) {
          const d = v - (prev.get(tid) ?? 0)
          if (tid === String(pid)) main += d
          else rest += d
        }
        timeline.push(`${main}/${rest}`)
        prev = now
      }, 250)
    : undefined
  try {
    await net.waitForConvergence({ timeoutMs: 900_000 })
  } finally {
    clearInterval(sampler)
  }
  const done = performance.now()
  const after = await threadSeconds(pid)
  const serversAfter = await Promise.all(servers.map((n) => threadSeconds(n.pid!)))
  return {
    records: RECORDS,
    secondsToReady: Number(((ready - t) / 1000).toFixed(2)),
    secondsFromProcessStart: Number(((done - t) / 1000).toFixed(2)),
    recordsPerSecond: Math.round(RECORDS / ((done - t) / 1000)),
    cpuMicrosecondsPerRecord: {
      late: perRecord(before, after, RECORDS),
      servers: servers.map((_, i) => perRecord(serversBefore[i]!, serversAfter[i]!, RECORDS)),
    },
    ...(values.timeline ? { timelineMainSlashOthers: timeline.join(' ') } : {}),
  }
})
console.log(JSON.stringify(result, null, 1))

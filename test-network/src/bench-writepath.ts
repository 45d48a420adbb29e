/**
 * CPU a record costs each node of a 3-node bloc on the write path — the origin that accepts it
 * and the replicas that apply it — with everything the nodes do around it (feed trees,
 * checkpoints and their cosignatures, receipts): `npm run bench:writepath --
 * [records] [batch]` (prints JSON). CPU time is read from /proc per process (user + system), which
 * is steadier than a rate on a shared machine. Bounded: `records` (default 6000) in batches of
 * `batch` (default 250), then at most 60 s for the replicas to catch up.
 */
import { cpuSeconds } from './bench/proc.ts'
import { TestNetwork, type TestNode } from './network.ts'
import { citizenRegistration, submitBatch } from './workload.ts'

const RECORDS = Number(process.argv[2] ?? 6000)
const BATCH = Number(process.argv[3] ?? 250)
const net = await TestNetwork.start({ nodes: 3, env: { LEGATION_HTTP_RATE_LIMIT_MAX: '100000000' } })
try {
  const [origin] = net.nodes as [TestNode]
  const officer = net.officer('DVA')
  // Records are signed before the clock starts: the load generator's CPU is not the nodes'.
  const batches = Array.from({ length: Math.ceil(RECORDS / BATCH) }, () =>
    Array.from({ length: BATCH }, () => citizenRegistration(officer, 'DVB')),
  )
  await new Promise((r) => setTimeout(r, 3_000))
  const before = await Promise.all(net.nodes.map((n) => cpuSeconds(n.pid!)))
  const t = performance.now()
  for (const b of batches) await submitBatch(origin, b)
  const ingestMs = performance.now() - t
  const target = (await origin.info()).versionVector[origin.nodeId]
  const deadline = Date.now() + 60_000
  for (const n of net.nodes.slice(1)) {
    while ((await n.info()).versionVector[origin.nodeId] !== target && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  // A few witness intervals more: checkpoints of the last entries and their cosignatures.
  await new Promise((r) => setTimeout(r, 5_000))
  const after = await Promise.all(net.nodes.map((n) => cpuSeconds(n.pid!)))
  const total = batches.length * BATCH
  const perRecordUs = net.nodes.map((_, i) => Math.round(((after[i]! - before[i]!) * 1e6) / total))
  console.log(
    JSON.stringify(
      {
        records: total,
        batch: BATCH,
        ingestRecordsPerSecond: Math.round(total / (ingestMs / 1000)),
        cpuMicrosecondsPerRecord: { origin: perRecordUs[0], replicas: perRecordUs.slice(1) },
      },
      null,
      1,
    ),
  )
} finally {
  await net.stop()
}

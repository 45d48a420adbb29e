/**
 * What catching up costs: `npm run bench:catchup -- [records] [--timeline]` (prints JSON). A
 * 5-node bloc; node 4 is stopped while `records` (default 20,000) registrations are written in
 * batches of 500 at the other four, then started (`catchUp` in bench/bloc.ts, the bench's own
 * row at 100,000 records). The quick form, to compare two versions of the code alternated.
 * With `--timeline`, the late node's CPU every 250 ms: whether it waits or computes.
 */
import { parseArgs } from 'node:util'
import { catchUp } from './bench/bloc.ts'
import { sleep, withNetwork } from './bench/proc.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { timeline: { type: 'boolean', default: false } },
})
const RECORDS = Number(positionals[0] ?? 20_000)

const result = await withNetwork({ nodes: 5 }, async (net) => {
  await net.waitForConvergence({ timeoutMs: 60_000 })
  await sleep(2_000) // the mesh connects every pair
  return catchUp(net, RECORDS, Date.now() + 30 * 60_000, { timeline: values.timeline })
})
console.log(JSON.stringify(result, null, 1))

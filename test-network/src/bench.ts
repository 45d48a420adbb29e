/**
 * The benchmark the bloc's operators read: `npm run bench [-- --quick | --smoke] [--only
 * ingest,bloc,...] [--out file.json] [--no-orbitdb]`. Real node processes on loopback; every loop
 * bounded in count and time. It writes one JSON document (the machine, the versions, every
 * figure, the targets met or not) to `--out` (default `.bench/bench-<time>.json`) and prints the
 * table `docs/performance.md` holds. Sections: `verify` (the native Ed25519 limit), `ingest`
 * (one node over HTTP), `bloc` (5 nodes: replication latency under load, partition heal,
 * catch-up), `sizes` (5, 10, 15 nodes: bytes per record per node), `scale` (1,000,000 citizens),
 * `orbitdb` (the same shapes against OrbitDB, installed on first use).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { fiveNodes } from './bench/bloc.ts'
import { blocSizes } from './bench/bloc-size.ts'
import { ingest } from './bench/ingest.ts'
import { describeMachine } from './bench/machine.ts'
import { orbitdb } from './bench/orbitdb.ts'
import { type BenchResults, table } from './bench/report.ts'
import { scale } from './bench/scale.ts'
import { SIZES } from './bench/sizes.ts'
import { verifyRates } from './bench/verify.ts'

const SECTIONS = ['verify', 'ingest', 'bloc', 'sizes', 'scale', 'orbitdb'] as const
type Section = (typeof SECTIONS)[number]

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    'no-orbitdb': { type: 'boolean', default: false },
    citizens: { type: 'string' },
  },
})
const mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'
const sizes = { ...SIZES[mode] }
if (values.citizens !== undefined) sizes.citizens = Number(values.citizens)
const only = values.only?.split(',') ?? [...SECTIONS]
for (const s of only)
  if (!SECTIONS.includes(s as Section)) throw new Error(`unknown section ${s}: ${SECTIONS.join(', ')}`)
const run = (s: Section) => only.includes(s) && !(s === 'orbitdb' && values['no-orbitdb'])
// The whole run is bounded: a full run takes about 40 minutes on 2 cores.
const deadline = Date.now() + (mode === 'full' ? 120 : 30) * 60_000
const started = new Date()
const say = (msg: string) =>
  process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${msg}\n`)

const results: BenchResults = { mode, started: started.toISOString(), machine: describeMachine(), sizes }
if (run('verify')) {
  say('native Ed25519 verify, one core and all cores')
  results.verify = await verifyRates(sizes.verify)
}
if (run('ingest')) {
  say('ingest at one node: single records (1 and 32 clients), batches')
  results.ingest = await ingest(sizes, deadline)
}
if (run('bloc')) {
  say('5-node bloc: replication latency under load, partition heal, catch-up')
  results.bloc = await fiveNodes(sizes, deadline)
}
if (run('sizes')) {
  say(`bloc sizes ${sizes.blocSizes.join(', ')}: convergence and bytes per record per node`)
  results.blocSizes = await blocSizes(sizes)
}
if (run('scale')) {
  say(`scale: ${sizes.citizens.toLocaleString('en')} citizens at one node`)
  let shown = 0
  results.scale = await scale(sizes, deadline, (done) => {
    if (done - shown >= sizes.citizens / 20) {
      shown = done
      say(`  ${done.toLocaleString('en')} citizens`)
    }
  })
}
if (run('orbitdb')) {
  say('OrbitDB, the same shapes (installed in bench/orbitdb on first use)')
  results.orbitdb = await orbitdb(mode === 'full' ? ['--records', '20000'] : ['--quick'], 40 * 60_000)
}
results.finished = new Date().toISOString()

const out = resolve(values.out ?? `.bench/bench-${started.toISOString().replace(/[:.]/g, '-')}.json`)
await mkdir(dirname(out), { recursive: true })
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(`${table(results)}\n`)
say(`results written to ${out}`)

/**
 * The benchmark the bloc's operators read: `npm run bench [-- --quick | --smoke] [--only
 * ingest,bloc,...] [--out file.json] [--no-orbitdb] [--citizens n] [--officers n] [--report file.json]`. Real node processes on loopback; every loop
 * bounded in count and time. It writes one JSON document (the machine, the versions, every
 * figure, the targets met or not) to `--out` (default `.bench/bench-<time>.json`) and prints the
 * table `docs/performance.md` holds. Sections: `verify` (the native Ed25519 limit), `ingest`
 * (one node over HTTP), `bloc` (5 nodes: replication latency under load, partition heal,
 * catch-up), `sizes` (5, 10, 15 nodes: bytes per record per node), `scale` (1,000,000 citizens),
 * `orbitdb` (the same shapes against OrbitDB, installed on first use).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
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
    officers: { type: 'string' },
    report: { type: 'string' },
  },
})
if (values.report !== undefined) {
  // The table of a run already written, without running anything.
  process.stdout.write(`${table(JSON.parse(await readFile(values.report, 'utf8')) as BenchResults)}\n`)
  process.exit(0)
}
const mode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'
const sizes = { ...SIZES[mode] }
if (values.citizens !== undefined) sizes.citizens = Number(values.citizens)
if (values.officers !== undefined) sizes.officers = Number(values.officers)
if (!Number.isSafeInteger(sizes.officers) || sizes.officers < 1)
  throw new Error('--officers: a whole number ≥ 1')
const only = values.only?.split(',') ?? [...SECTIONS]
for (const s of only)
  if (!SECTIONS.includes(s as Section)) throw new Error(`unknown section ${s}: ${SECTIONS.join(', ')}`)
const run = (s: Section) => only.includes(s) && !(s === 'orbitdb' && values['no-orbitdb'])
// The whole run is bounded: a full run takes about 40 minutes on 2 cores.
const deadline = Date.now() + (mode === 'full' ? 120 : 30) * 60_000
const started = new Date()
const say = (msg: string) =>
  process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${msg}\n`)

const out = resolve(values.out ?? `.bench/bench-${started.toISOString().replace(/[:.]/g, '-')}.json`)
await mkdir(dirname(out), { recursive: true })
const results: BenchResults = { mode, started: started.toISOString(), machine: describeMachine(), sizes }
const failed: string[] = []

/**
 * Runs one section and writes the JSON so far (a long run that stops late keeps what it
 * measured); a section that fails is recorded with its error and the run goes on.
 */
async function section(name: Section, what: string, work: () => Promise<void>): Promise<void> {
  if (!run(name)) return
  say(what)
  try {
    await work()
  } catch (err) {
    failed.push(name)
    results.errors = { ...results.errors, [name]: err instanceof Error ? err.message : String(err) }
    say(`${name} failed: ${err instanceof Error ? err.message : String(err)}`)
  }
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`)
}

await section('verify', 'native Ed25519 verify, one core and all cores', async () => {
  results.verify = await verifyRates(sizes.verify)
})
await section('ingest', 'ingest at one node: single records (1 and 32 clients), batches', async () => {
  results.ingest = await ingest(sizes, deadline)
})
await section('bloc', '5-node bloc: replication latency under load, partition heal, catch-up', async () => {
  results.bloc = await fiveNodes(sizes, deadline)
})
await section(
  'sizes',
  `bloc sizes ${sizes.blocSizes.join(', ')}: convergence and bytes per record per node`,
  async () => {
    results.blocSizes = await blocSizes(sizes)
  },
)
await section('scale', `scale: ${sizes.citizens.toLocaleString('en')} citizens at one node`, async () => {
  let shown = 0
  results.scale = await scale(sizes, deadline, (done) => {
    if (done - shown >= sizes.citizens / 20) {
      shown = done
      say(`  ${done.toLocaleString('en')} citizens`)
    }
  })
})
await section('orbitdb', 'OrbitDB, the same shapes (installed in bench/orbitdb on first use)', async () => {
  results.orbitdb = await orbitdb(mode === 'full' ? ['--records', '20000'] : ['--quick'], 40 * 60_000)
})
results.finished = new Date().toISOString()
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`)
process.stdout.write(`${table(results)}\n`)
say(`results written to ${out}`)
if (failed.length > 0) {
  say(`failed: ${failed.join(', ')}`)
  process.exitCode = 1
}

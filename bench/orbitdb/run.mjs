#!/usr/bin/env node
// OrbitDB side of Legation's benchmark. See README.md beside this file.
//
//   node bench/orbitdb/run.mjs --quick          (~1-2 min)
//   node bench/orbitdb/run.mjs --records 20000  (full; N = records written while the peer is down)
//
// Prints ONE JSON document on stdout; everything else goes to stderr. Exit code 0 when every phase
// ran, 2 when the run was cut short (deadline or error: the JSON says which, with what was measured).
import { execFileSync, fork } from 'node:child_process'
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { ensureInstalled, HERE } from './install.mjs'

const SELF = fileURLToPath(import.meta.url)
const log = (s) => process.stderr.write(`[orbitdb-bench${ROLE === 'replica' ? ' B' : ''}] ${s}\n`)
const now = () => performance.timeOrigin + performance.now() // wall-clock ms, sub-ms resolution
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const a = { quick: false, records: null, deadline: null, role: 'main', keep: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) throw new Error(`${k} needs a value`)
      return x
    }
    if (k === '--quick') a.quick = true
    else if (k === '--records') a.records = Number(v())
    else if (k === '--deadline') a.deadline = Number(v())
    else if (k === '--keep') a.keep = true
    else if (k === '--role') a.role = v()
    else if (k === '--dir') a.dir = v()
    else if (k === '--address') a.address = v()
    else if (k === '--peer') a.peer = v()
    else if (k === '--expect') a.expect = v()
    else if (k === '--help' || k === '-h') a.help = true
    else throw new Error(`unknown argument ${k}`)
  }
  return a
}

const ARGS = parseArgs(process.argv.slice(2))
const ROLE = ARGS.role

// ---------------------------------------------------------------- /proc helpers

let clkTck = 100
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
} catch {}

/** utime+stime of a process in microseconds, from /proc/<pid>/stat (null where /proc is absent). */
function cpuMicros(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return ((Number(f[11]) + Number(f[12])) * 1e6) / clkTck
  } catch {
    return null
  }
}

/** { rssMiB, peakRssMiB } from /proc/<pid>/status. */
function memOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1] || 0)
    return { rssMiB: round(kb('VmRSS') / 1024, 1), peakRssMiB: round(kb('VmHWM') / 1024, 1) }
  } catch {
    return { rssMiB: null, peakRssMiB: null }
  }
}

function duBytes(dir) {
  let total = 0
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) total += statSync(p).size
    }
  }
  try {
    walk(dir)
  } catch {}
  return total
}

const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d)

function pct(sorted, p) {
  if (sorted.length === 0) return null
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

function latencyStats(ms) {
  const s = [...ms].sort((x, y) => x - y)
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null
  return {
    samples: s.length,
    p50Ms: round(pct(s, 50)),
    p99Ms: round(pct(s, 99)),
    meanMs: round(mean),
    maxMs: round(s[s.length - 1]),
  }
}

// ---------------------------------------------------------------- workload: signed citizen records

const GIVEN = ['Ana', 'Jonas', 'Mira', 'Tomas', 'Elif', 'Piet', 'Sofia', 'Lukas', 'Ines', 'Karel', 'Noor']
const FAMILY = ['Peeters', 'Novak', 'Schmidt', 'Horvat', 'Janssens', 'Dvorak', 'Weber', 'Kovac', 'Maes']
const NATIONS = ['BE', 'CZ', 'HR', 'NL', 'SK']
const officer = generateKeyPairSync('ed25519')
const officerId = createHash('sha256')
  .update(officer.publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64url')
  .slice(0, 22)
let serial = 0

/**
 * A citizen registration like Legation's (names, birth date, passport, the citizen's public key in
 * base64url, an officer's Ed25519 signature of 64 bytes in base64url): ~600 bytes of JSON. Signed
 * before any clock starts. `_id` is the documents database's key.
 */
function citizenRecord(prefix = '') {
  const n = ++serial
  const citizenKey = randomBytes(32).toString('base64url')
  const citizenId = createHash('sha256').update(citizenKey).digest('base64url').slice(0, 22)
  const nationality = NATIONS[n % NATIONS.length]
  const body = {
    kind: 'citizen.registered',
    v: 1,
    subject: citizenId,
    author: officerId,
    hlc: `${Date.now().toString(36)}-${n.toString(36)}`,
    salt: randomBytes(12).toString('base64url'),
    citizenKey,
    nationality,
    consent: { purposes: ['consular-assistance', 'crisis-contact'], version: 1 },
    names: { given: GIVEN[n % GIVEN.length], family: FAMILY[(n * 7) % FAMILY.length] },
    birth: { date: `19${50 + (n % 50)}-0${1 + (n % 9)}-1${n % 10}` },
    travelDocument: {
      type: 'passport',
      number: `X${String(n).padStart(8, '0')}${Math.floor(Math.random() * 1e6)}`,
      issuer: nationality,
      expires: '2032-06-30',
    },
    contact: { email: `citizen${n}@mail.example`, phone: `+32 470 ${String(n).padStart(6, '0')}` },
  }
  const signature = sign(null, Buffer.from(JSON.stringify(body)), officer.privateKey).toString('base64url')
  return { _id: `${prefix}${citizenId}`, ...body, signature }
}

const makeRecords = (count, prefix) => Array.from({ length: count }, () => citizenRecord(prefix))

// ---------------------------------------------------------------- role B: the replica (child process)

async function replicaMain() {
  const tStart = performance.timeOrigin // process start, wall clock
  const send = (m) => process.send?.(m)
  const { startPeer, dialPeer } = await import('./peer.mjs')
  const peer = await startPeer(ARGS.dir)
  const tPeer = now()
  await dialPeer(peer.libp2p, ARGS.peer)
  const tDialed = now()
  const db = await peer.orbitdb.open(ARGS.address, { signal: AbortSignal.timeout(30_000) })
  const tOpened = now()
  let updates = 0
  let joined = null
  db.events.on('join', () => {
    joined ??= now()
  })
  db.events.on('error', (e) => log(`db error: ${e?.message ?? e}`))
  // 'update' fires once log.joinEntry() has finished for an entry received as a head (gossipsub
  // message or heads exchange), i.e. with every entry it links to stored and indexed. Remember when,
  // for the most recent ones.
  const seen = new Map()
  db.events.on('update', (entry) => {
    const t = now()
    updates++
    if (entry?.hash) {
      seen.set(entry.hash, t)
      if (seen.size > 20_000) seen.delete(seen.keys().next().value)
    }
    const key = entry?.payload?.key
    if (typeof key === 'string' && key.startsWith('probe-')) send({ type: 'probe', key, t })
  })

  /**
   * Wall-clock ms of the 'update' event for `hash` (B has it and all before it), or, failing that
   * within timeoutMs, of the moment log.has(hash) was seen true; null if neither.
   */
  const waitHas = async (hash, timeoutMs, graceMs = 2000) => {
    const until = now() + timeoutMs
    let hasAt = null
    while (now() < until) {
      if (seen.has(hash)) return seen.get(hash)
      if (hasAt === null && (await db.log.has(hash))) hasAt = now()
      // an entry joined as part of a later head gets no event of its own: after a grace, take has()
      if (hasAt !== null && now() - hasAt > graceMs) return hasAt
      await sleep(20)
    }
    return hasAt
  }

  let stopping = false
  const stop = async (code) => {
    if (stopping) return
    stopping = true
    try {
      await db.close()
      await peer.stop()
    } catch (e) {
      log(`stop: ${e?.message ?? e}`)
    }
    process.exit(code)
  }
  process.on('disconnect', () => stop(0))
  process.on('message', async (m) => {
    try {
      if (m.cmd === 'stop') await stop(0)
      else if (m.cmd === 'stats') send({ type: 'stats', id: m.id, updates, ...memOf(process.pid) })
      else if (m.cmd === 'waitHas') send({ type: 'has', id: m.id, at: await waitHas(m.hash, m.timeoutMs) })
      else if (m.cmd === 'verify') {
        let present = 0
        for (const h of m.hashes) if (await db.log.has(h)) present++
        send({ type: 'verified', id: m.id, present, missing: m.hashes.length - present })
      }
    } catch (e) {
      send({ type: 'error', id: m.id, message: String(e?.stack ?? e) })
    }
  })

  send({ type: 'ready', tStart, tPeer, tDialed, tOpened })
  if (ARGS.expect) {
    const at = await waitHas(ARGS.expect, 60 * 60_000, 60_000)
    send({ type: 'caughtUp', tStart, tPeer, tDialed, tOpened, tJoined: joined, at, updates })
  }
}

// ---------------------------------------------------------------- role A: orchestrator + writer

class Replica {
  constructor(child) {
    this.child = child
    this.pending = new Map()
    this.nextId = 1
    this.probes = new Map()
    this.waiters = []
    this.exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })))
    child.on('message', (m) => {
      if (m.type === 'probe') this.probes.set(m.key, m.t)
      if (m.id && this.pending.has(m.id)) {
        this.pending.get(m.id)(m)
        this.pending.delete(m.id)
      }
      for (const w of this.waiters) w(m)
    })
  }
  next(type, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`replica: no '${type}' within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const w = (m) => {
        if (m.type === 'error' && !m.id) reject(new Error(m.message))
        if (m.type !== type) return
        clearTimeout(timer)
        this.waiters.splice(this.waiters.indexOf(w), 1)
        resolve(m)
      }
      this.waiters.push(w)
      this.exited.then(({ code, sig }) =>
        reject(new Error(`replica exited (${code ?? sig}) before '${type}'`)),
      )
    })
  }
  ask(cmd, extra = {}, timeoutMs = 60_000) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`replica: no answer to ${cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, (m) => {
        clearTimeout(timer)
        if (m.type === 'error') reject(new Error(m.message))
        else resolve(m)
      })
      this.child.send({ cmd, id, ...extra })
    })
  }
  /** Wall-clock ms at which B had `hash` in its log, or null after timeoutMs. */
  async waitHas(hash, timeoutMs) {
    return (await this.ask('waitHas', { hash, timeoutMs }, timeoutMs + 10_000)).at
  }
  async stop(timeoutMs = 20_000) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    try {
      this.child.send({ cmd: 'stop' })
    } catch {}
    const t = await Promise.race([this.exited, sleep(timeoutMs).then(() => null)])
    if (t === null) {
      log(`replica ${this.child.pid} did not stop in ${timeoutMs} ms: SIGKILL`)
      try {
        process.kill(this.child.pid, 'SIGKILL')
      } catch {}
      await this.exited
    }
  }
}

function spawnReplica(dirB, address, peerAddr, expect) {
  const args = ['--role', 'replica', '--dir', dirB, '--address', address, '--peer', peerAddr]
  if (expect) args.push('--expect', expect)
  const child = fork(SELF, args, { stdio: ['ignore', 2, 2, 'ipc'], execArgv: [] })
  return new Replica(child)
}

async function main() {
  if (ARGS.help) {
    process.stdout.write(
      'usage: node bench/orbitdb/run.mjs [--quick] [--records N] [--deadline SECONDS] [--keep]\n',
    )
    return 0
  }
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    // OrbitDB 4 and its dependencies (undici, libp2p 3) need Node 22: say so in the one JSON document
    const msg = `Node ${process.version}: @orbitdb/core 4 needs Node >= 22 (use node_modules/node/bin/node)`
    process.stdout.write(
      `${JSON.stringify({ tool: 'legation-bench-orbitdb', complete: false, errors: [msg] })}\n`,
    )
    log(msg)
    return 2
  }
  const quick = ARGS.quick
  const N = ARGS.records ?? (quick ? 1000 : 20000)
  if (!Number.isInteger(N) || N < 1 || N > 1_000_000) throw new Error('--records must be 1..1000000')
  const deadlineS = ARGS.deadline ?? (quick ? 170 : 900)
  // First use installs OrbitDB (about a minute); the deadline counts from after the install.
  let install = null
  let installError = null
  try {
    install = ensureInstalled({ log })
  } catch (e) {
    installError = e
  }
  const tRun = now()
  const deadline = tRun + deadlineS * 1000
  const left = () => deadline - now()
  const sizes = quick
    ? {
        single: 300,
        singleWarmup: 200,
        concurrent: 640,
        batches: 2,
        replicationProbes: 40,
        bgPerSecond: 20,
        probesPerSecond: 5,
      }
    : {
        single: 1000,
        singleWarmup: 1000,
        concurrent: 1600,
        batches: 6,
        replicationProbes: 150,
        bgPerSecond: 20,
        probesPerSecond: 5,
      }
  const BATCH = 500

  const out = {
    tool: 'legation-bench-orbitdb',
    mode: quick ? 'quick' : 'full',
    complete: false,
    startedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memoryGiB: round(os.totalmem() / 2 ** 30, 1),
      platform: `${os.platform()} ${os.release()}`,
      loadAverage1m: round(os.loadavg()[0]),
    },
    versions: null,
    install: null,
    durability: null,
    setup: null,
    record: null,
    singleWrites: null,
    singleWritesCold: null,
    concurrentWrites32: null,
    batched: null,
    replication: null,
    catchUp: null,
    memory: null,
    disk: null,
    errors: [],
  }
  let replica = null
  let peerA = null
  let tmp = null
  let printed = false
  const finish = (code) => {
    if (printed) return
    printed = true
    out.totalSeconds = round((now() - tRun) / 1000, 1)
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
    return code
  }
  // Hard stop: whatever happens, print what we have and leave before the deadline + 60 s.
  const watchdog = setTimeout(
    () => {
      out.errors.push(`watchdog: run exceeded its ${deadlineS} s deadline by 60 s; stopped`)
      finish(2)
      if (replica?.child.pid) {
        try {
          process.kill(replica.child.pid, 'SIGKILL')
        } catch {}
      }
      if (tmp && !ARGS.keep) rmSync(tmp, { recursive: true, force: true })
      process.exit(2)
    },
    (deadlineS + 60) * 1000,
  )

  try {
    if (installError) throw installError
    out.install = install
    out.versions = versions()
    out.durability = DURABILITY
    const { startPeer, loopbackAddrs, DB_NAME } = await import('./peer.mjs')

    tmp = mkdtempSync(path.join(os.tmpdir(), 'legation-orbitdb-bench-'))
    const dirA = path.join(tmp, 'A')
    const dirB = path.join(tmp, 'B')
    log(`temp dir ${tmp}; catch-up N=${N}; deadline ${deadlineS} s`)

    const sample = citizenRecord()
    out.record = {
      jsonBytes: Buffer.byteLength(JSON.stringify(sample)),
      shape:
        'citizen.registered: names, birth date, passport, contact, consent, citizen public key (base64url), officer Ed25519 signature (64 B, base64url); signed before the clock starts',
      database: "OrbitDB 'documents' database (indexBy _id), default IPFSAccessController (only A may write)",
    }

    // --- setup: A in this process, B in a child process, connected directly over TCP on 127.0.0.1
    let t = now()
    peerA = await startPeer(dirA)
    const db = await peerA.orbitdb.open(DB_NAME, { type: 'documents' })
    const addrA = loopbackAddrs(peerA.libp2p)[0]
    if (!addrA) throw new Error('A has no loopback address')
    const tAUp = now() - t
    t = now()
    let bJoined = false
    db.events.on('join', () => {
      bJoined = true
    })
    db.events.on('error', (e) => log(`db A error: ${e?.message ?? e}`))
    replica = spawnReplica(dirB, db.address, addrA)
    const ready = await replica.next('ready', 60_000)
    for (let i = 0; i < 200 && !bJoined; i++) await sleep(50)
    out.setup = {
      aStartSeconds: round(tAUp / 1000),
      bStartToReadySeconds: round((ready.tOpened - t) / 1000),
      bJoinedA: bJoined,
      topology:
        'A (this process) writes; B (child process) replicates; libp2p TCP on 127.0.0.1, noise, yamux, gossipsub + bitswap; dialled directly',
      address: db.address,
    }
    log(`A and B up (B ready in ${out.setup.bStartToReadySeconds} s, joined=${bJoined})`)
    const bPid = replica.child.pid
    const cpu = () => ({ a: cpuMicros(process.pid), b: cpuMicros(bPid) })
    const cpuPer = (c0, c1, n) => ({
      aMicrosPerRecord: c0.a == null ? null : round((c1.a - c0.a) / n, 0),
      bMicrosPerRecord: c0.b == null ? null : round((c1.b - c0.b) / n, 0),
    })
    let written = 0
    const phaseBudget = (wantS) => Math.min(wantS * 1000, left() - (quick ? 60_000 : 200_000))

    // --- 1. single writes, one at a time, with B replicating live: first `singleWarmup` of
    // them (a new database's first writes, reported as the cold figure), then `single` timed,
    // as Legation's single writes with a live peer are.
    const singles = async (count, wantS) => {
      const recs = makeRecords(count)
      const budget = phaseBudget(wantS)
      const lat = []
      let last = null
      const c0 = cpu()
      const t0 = now()
      for (let i = 0; i < recs.length && now() - t0 < budget; i++) {
        const ts = now()
        last = await db.put(recs[i])
        lat.push(now() - ts)
      }
      const el = now() - t0
      const bAt = last && (await replica.waitHas(last, 30_000))
      const c1 = cpu()
      written += lat.length
      return {
        shape: 'sequential: await db.put(record) one after another, B connected and replicating',
        records: lat.length,
        seconds: round(el / 1000),
        writesPerSecond: round(lat.length / (el / 1000), 1),
        latency: latencyStats(lat),
        bHadAllSecondsAfterLastPut: bAt ? round((bAt - t0 - el) / 1000) : null,
        ...cpuPer(c0, c1, lat.length),
      }
    }
    out.singleWritesCold = await singles(sizes.singleWarmup, quick ? 25 : 60)
    log(
      `singleWritesCold: ${out.singleWritesCold.writesPerSecond}/s p50 ${out.singleWritesCold.latency.p50Ms} ms`,
    )
    out.singleWrites = {
      ...(await singles(sizes.single, quick ? 25 : 60)),
      afterWrites: out.singleWritesCold.records,
    }
    log(`singleWrites: ${out.singleWrites.writesPerSecond}/s p50 ${out.singleWrites.latency.p50Ms} ms`)

    // --- 2. 32 concurrent writers on A
    {
      const recs = makeRecords(sizes.concurrent)
      const budget = phaseBudget(quick ? 25 : 60)
      const lat = []
      let idx = 0
      let last = null
      const c0 = cpu()
      const t0 = now()
      const worker = async () => {
        while (idx < recs.length && now() - t0 < budget) {
          const r = recs[idx++]
          const ts = now()
          last = await db.put(r)
          lat.push(now() - ts)
        }
      }
      await Promise.all(Array.from({ length: 32 }, worker))
      const el = now() - t0
      const bAt = last && (await replica.waitHas(last, 60_000))
      const c1 = cpu()
      written += lat.length
      out.concurrentWrites32 = {
        shape:
          '32 concurrent writers (Promise.all of 32 loops, each awaiting its own db.put); OrbitDB queues them through one append queue',
        records: lat.length,
        seconds: round(el / 1000),
        recordsPerSecond: round(lat.length / (el / 1000), 1),
        latency: latencyStats(lat),
        bHadAllSecondsAfterLastPut: bAt ? round((bAt - t0 - el) / 1000) : null,
        ...cpuPer(c0, c1, lat.length),
      }
      log(`concurrentWrites32: ${out.concurrentWrites32.recordsPerSecond}/s`)
    }

    // --- 3. batches: OrbitDB has no batch API; Promise.all of 500 puts per batch
    {
      const recs = makeRecords(sizes.batches * BATCH)
      const budget = phaseBudget(quick ? 30 : 120)
      let done = 0
      let last = null
      const batchMs = []
      const c0 = cpu()
      const t0 = now()
      for (let b = 0; b < sizes.batches && now() - t0 < budget; b++) {
        const tb = now()
        const hashes = await Promise.all(recs.slice(b * BATCH, (b + 1) * BATCH).map((r) => db.put(r)))
        last = hashes[hashes.length - 1]
        batchMs.push(now() - tb)
        done += hashes.length
      }
      const el = now() - t0
      const bAt = last && (await replica.waitHas(last, Math.max(30_000, Math.min(300_000, left() - 120_000))))
      const c1 = cpu()
      written += done
      out.batched = {
        shape: `Promise.all of ${BATCH} db.put() per batch, batches one after another (OrbitDB has no batch API; its append queue still writes one entry at a time)`,
        records: done,
        batches: batchMs.length,
        seconds: round(el / 1000),
        recordsPerSecond: round(done / (el / 1000), 1),
        batchLatency: latencyStats(batchMs),
        replicatedRecordsPerSecond: bAt ? round(done / ((bAt - t0) / 1000), 1) : null,
        replicatedNote:
          'records / seconds from the first put on A until B has the last one in its log (live replication of the batches)',
        bHadAllSecondsAfterLastPut: bAt ? round((bAt - t0 - el) / 1000) : null,
        ...cpuPer(c0, c1, done),
      }
      log(
        `batched: ${out.batched.recordsPerSecond}/s written, ${out.batched.replicatedRecordsPerSecond}/s replicated`,
      )
    }

    // --- 4. replication latency A -> B under a steady light background load
    {
      const P = sizes.replicationProbes
      const probes = makeRecords(P, 'probe-')
      const bgMax = Math.ceil((P / sizes.probesPerSecond) * sizes.bgPerSecond) + 50
      const bg = makeRecords(bgMax)
      const sent = new Map()
      let stop = false
      let bgDone = 0
      let last = null
      const c0 = cpu()
      const t0 = now()
      const budget = phaseBudget(quick ? 20 : 60)
      const bgLoop = (async () => {
        for (let i = 0; i < bg.length && !stop && now() - t0 < budget; i++) {
          await sleep(t0 + (i * 1000) / sizes.bgPerSecond - now())
          last = await db.put(bg[i])
          bgDone++
        }
      })()
      const putLat = []
      for (let i = 0; i < P && now() - t0 < budget; i++) {
        await sleep(t0 + 100 + (i * 1000) / sizes.probesPerSecond - now())
        const ts = now()
        sent.set(probes[i]._id, ts)
        last = await db.put(probes[i])
        putLat.push(now() - ts)
      }
      stop = true
      await bgLoop
      const el = now() - t0
      const waitUntil = now() + 15_000
      while (now() < waitUntil && [...sent.keys()].some((k) => !replica.probes.has(k))) await sleep(50)
      if (last) await replica.waitHas(last, 30_000)
      const c1 = cpu()
      const lat = [...sent]
        .filter(([k]) => replica.probes.has(k))
        .map(([k, ts]) => replica.probes.get(k) - ts)
      written += sent.size + bgDone
      out.replication = {
        shape: `2 peers; probes at ${sizes.probesPerSecond}/s over a background of ${sizes.bgPerSecond} sequential puts/s on A; latency = time from calling db.put on A to the 'update' event for that record on B (wall clock of both processes)`,
        probes: sent.size,
        received: lat.length,
        missed: sent.size - lat.length,
        backgroundRecords: bgDone,
        seconds: round(el / 1000),
        latency: latencyStats(lat),
        putOnALatency: latencyStats(putLat),
        ...cpuPer(c0, c1, sent.size + bgDone),
      }
      log(`replication: p50 ${out.replication.latency.p50Ms} ms p99 ${out.replication.latency.p99Ms} ms`)
    }

    const bBefore = await replica.ask('stats')

    // --- 5. catch-up: B stopped, A writes N, B restarts from its own directory and connects
    {
      await replica.stop()
      log(`B stopped; A writes ${N} records`)
      const recs = makeRecords(N)
      const hashes = []
      const c0 = { a: cpuMicros(process.pid) }
      const t0 = now()
      const writeBudget = Math.max(10_000, left() - (quick ? 45_000 : 150_000) - N * 5)
      for (let b = 0; b * BATCH < N && now() - t0 < writeBudget; b++) {
        hashes.push(...(await Promise.all(recs.slice(b * BATCH, (b + 1) * BATCH).map((r) => db.put(r)))))
      }
      const writeEl = now() - t0
      const cWrite = cpuMicros(process.pid)
      written += hashes.length
      const n = hashes.length
      if (n < N) out.errors.push(`catchUp: only ${n} of ${N} records written before the deadline`)
      const last = hashes[hashes.length - 1]
      log(`A wrote ${n} in ${round(writeEl / 1000, 1)} s; restarting B`)
      const tSpawn = now()
      replica = spawnReplica(dirB, db.address, addrA, last)
      const bPid2 = replica.child.pid
      const ready = await replica.next('ready', 60_000)
      let cu = null
      try {
        cu = await replica.next('caughtUp', Math.max(15_000, left() - 30_000))
      } catch (e) {
        out.errors.push(`catchUp: ${e.message}`)
      }
      const tEnd = now()
      const bCpu = cpuMicros(bPid2)
      const aCpu = cpuMicros(process.pid)
      const ver = await replica.ask('verify', { hashes }, 120_000)
      const bMem = memOf(bPid2)
      const s = cu?.at ? (cu.at - tSpawn) / 1000 : null
      if (!cu?.at) {
        out.errors.push(
          `catchUp: B had ${ver.present} of ${n} after ${round((tEnd - tSpawn) / 1000, 1)} s when the run had to stop`,
        )
      }
      out.catchUp = {
        shape: `B stopped (its LevelDB directories kept); A writes N records (Promise.all of ${BATCH} puts per batch); B's process is started again on the same directory, dials A, opens the database by address; OrbitDB exchanges heads and B fetches the missing entries by bitswap`,
        records: n,
        recordsBefore: written - n,
        aWriteSeconds: round(writeEl / 1000),
        aWriteRecordsPerSecond: round(n / (writeEl / 1000), 1),
        secondsFromProcessStart: round(s),
        recordsPerSecond: s ? round(n / s, 1) : null,
        partialRecordsPerSecond: s ? null : round(ver.present / ((tEnd - tSpawn) / 1000), 1),
        bStartup: {
          processStartSeconds: round((ready.tStart - tSpawn) / 1000),
          peerStartedSeconds: round((ready.tPeer - tSpawn) / 1000),
          dialledASeconds: round((ready.tDialed - tSpawn) / 1000),
          databaseOpenSeconds: round((ready.tOpened - tSpawn) / 1000),
          note: "seconds from spawning B's process: node running, Helia/libp2p/OrbitDB up, A dialled, database opened",
        },
        bReadyToCaughtUpSeconds: cu?.at ? round((cu.at - ready.tOpened) / 1000) : null,
        verified: { present: ver.present, missing: ver.missing },
        aMicrosPerRecordWriting: c0.a == null ? null : round((cWrite - c0.a) / n, 0),
        aMicrosPerRecordServing: c0.a == null ? null : round((aCpu - cWrite) / n, 0),
        bMicrosPerRecord: bCpu == null ? null : round(bCpu / n, 0),
        bMicrosNote: 'all CPU of the restarted B process (start, open, catch-up) divided by N',
        bMemoryAfterCatchUp: bMem,
      }
      log(`catchUp: ${n} in ${out.catchUp.secondsFromProcessStart} s (${out.catchUp.recordsPerSecond}/s)`)
    }

    // --- 6. memory (A after all the load; B before it was stopped and after catch-up) and disk
    const aMem = memOf(process.pid)
    out.memory = {
      note: 'A and B are separate processes (B is a child process), so each RSS is its own',
      aAfterLoad: { ...aMem, heapUsedMiB: round(process.memoryUsage().heapUsed / 2 ** 20, 1) },
      bBeforeStop: { rssMiB: bBefore.rssMiB, peakRssMiB: bBefore.peakRssMiB },
      bAfterCatchUp: out.catchUp.bMemoryAfterCatchUp,
      recordsInLog: written,
    }
    out.disk = {
      aBytes: duBytes(dirA),
      bBytes: duBytes(dirB),
      recordsInLog: written,
    }
    out.disk.aBytesPerRecord = round(out.disk.aBytes / written, 0)
    out.disk.bBytesPerRecord = round(out.disk.bBytes / written, 0)
    out.complete = out.errors.length === 0
  } catch (e) {
    out.errors.push(String(e?.stack ?? e))
    log(`error: ${e?.stack ?? e}`)
  } finally {
    try {
      await replica?.stop()
    } catch (e) {
      out.errors.push(`stopping B: ${e?.message ?? e}`)
    }
    try {
      await Promise.race([peerA?.stop(), sleep(20_000)])
    } catch (e) {
      out.errors.push(`stopping A: ${e?.message ?? e}`)
    }
    if (tmp && !ARGS.keep) rmSync(tmp, { recursive: true, force: true })
    else if (tmp) log(`kept ${tmp}`)
    clearTimeout(watchdog)
  }
  return finish(out.complete ? 0 : 2)
}

function versions() {
  const v = (name) => {
    try {
      return JSON.parse(readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')).version
    } catch {
      return null
    }
  }
  const names = [
    '@orbitdb/core',
    'helia',
    'libp2p',
    '@libp2p/gossipsub',
    '@libp2p/tcp',
    '@helia/block-brokers',
    'blockstore-level',
    'datastore-level',
    'level',
    'classic-level',
  ]
  return { node: process.version, ...Object.fromEntries(names.map((n) => [n, v(n)])) }
}

const DURABILITY = {
  putAwaitsFsync: false,
  storage:
    "all on disk in LevelDB: entries in Helia's LevelBlockstore (pinned in its LevelDatastore), OrbitDB's heads and index in its own LevelStorage, the keystore in LevelDB; LRU caches in front",
  whatPutAwaits:
    "db.put() resolves after the signed entry is written to the blockstore, pinned, added to the index and heads stores, and published on gossipsub; every LevelDB write uses classic-level's default sync:false, i.e. it is in LevelDB's write-ahead log in the OS page cache, not fsynced",
  survives:
    'a crash of the process (LevelDB replays its log), not a crash of the machine or a power loss, where the latest acknowledged writes can be lost',
  replicaAck: 'none: put never waits for a peer; replication is asynchronous (gossipsub + bitswap)',
  comparison:
    'weaker than a write acknowledged after fsync (group commit): OrbitDB is measured with the durability it offers, not forced to fsync',
}

if (ROLE === 'replica') {
  replicaMain().catch((e) => {
    log(`fatal: ${e?.stack ?? e}`)
    process.send?.({ type: 'error', message: String(e?.stack ?? e) })
    setTimeout(() => process.exit(1), 100)
  })
} else {
  main().then(
    (code) => setTimeout(() => process.exit(code ?? 0), 50),
    (e) => {
      log(`fatal: ${e?.stack ?? e}`)
      process.exit(2)
    },
  )
}

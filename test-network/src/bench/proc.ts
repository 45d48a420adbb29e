/**
 * What the benchmark reads of a process from /proc: CPU time per thread (user + system, in
 * clock ticks of 1/100 s), resident memory, and the size of a data directory. CPU time is
 * steadier than a rate on a shared machine, so the harness reports microseconds per record.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type NetworkOptions, TestNetwork } from '../network.ts'

const TICKS_PER_SECOND = 100

/** `/proc/<pid>/…/stat`: the command name (which may hold spaces) in parentheses, then fields. */
function parseStat(text: string): { comm: string; seconds: number } {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  const fields = text.slice(close + 2).split(' ')
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
  return {
    comm: text.slice(open + 1, close),
    seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
  }
}

/** CPU seconds a process used so far, all threads. */
export async function cpuSeconds(pid: number): Promise<number> {
  return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8')).seconds
}

/**
 * CPU seconds per kind of thread of a process: `main` (the event loop), `workersAndV8` (threads
 * that keep the process's name: the signature verifiers' worker threads, and V8's own helpers —
 * concurrent GC marking and sweeping, background compilation), and the others by name (libuv's
 * pool `libuv-worker`). Threads that have exited are not counted.
 */
export async function threadSeconds(pid: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[])
  const mainComm = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8')).comm
  for (const tid of tasks) {
    try {
      const { comm, seconds } = parseStat(await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8'))
      // Worker threads keep the process's name: they are told apart from the main thread by id.
      const kind =
        Number(tid) === pid ? 'main' : comm === mainComm ? 'workersAndV8' : comm.replace(/[-_ ]?\d+$/, '')
      out[kind] = (out[kind] ?? 0) + seconds
    } catch {
      // the thread exited meanwhile
    }
  }
  return out
}

/**
 * A process's CPU every `everyMs` until `stop()`, as "main/others" in clock ticks (1/100 s) per
 * interval: whether its event loop or its other threads (verifiers, V8's helpers, libuv's pool)
 * were busy, or it waited. Read synchronously, so a busy bench loop does not delay the reading.
 */
export function cpuTimeline(pid: number, everyMs = 250): { stop(): string } {
  const read = () => {
    const out = new Map<string, number>()
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        out.set(tid, parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')).seconds)
      } catch {
        // the thread exited meanwhile
      }
    }
    return out
  }
  const points: string[] = []
  let prev = read()
  const timer = setInterval(() => {
    const now = read()
    let main = 0
    let others = 0
    for (const [tid, s] of now) {
      const ticks = Math.round((s - (prev.get(tid) ?? 0)) * TICKS_PER_SECOND)
      if (tid === String(pid)) main += ticks
      else others += ticks
    }
    points.push(`${main}/${others}`)
    prev = now
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      return points.join(' ')
    },
  }
}

/** Microseconds of CPU per record between two `threadSeconds` readings, per kind and in total. */
export function perRecord(
  before: Record<string, number>,
  after: Record<string, number>,
  records: number,
): Record<string, number> {
  const out: Record<string, number> = {}
  let total = 0
  for (const [kind, s] of Object.entries(after)) {
    const us = ((s - (before[kind] ?? 0)) * 1e6) / records
    total += us
    if (us >= 0.5) out[kind] = Math.round(us)
  }
  return { total: Math.round(total), ...out }
}

/** Resident memory of a process in MiB (0 if it is gone). */
export async function rssMiB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
  } catch {
    return 0
  }
}

/**
 * Resident memory of a process in MiB, split: `anon`, the process's own (heaps, buffers), and
 * `file`, pages of files it maps — its binary, and the store's table files LevelDB maps to read
 * them: the kernel's page cache, shared and given back under pressure.
 */
export async function rssSplitMiB(pid: number | undefined): Promise<{ anon: number; file: number }> {
  if (pid === undefined) return { anon: 0, file: 0 }
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
    return {
      anon: Math.round(kib('RssAnon') / 1024),
      file: Math.round((kib('RssFile') + kib('RssShmem')) / 1024),
    }
  } catch {
    return { anon: 0, file: 0 }
  }
}

/** Bytes of every file under `dir` (apparent size). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    total += (await stat(join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size
  }
  return total
}

/** Samples a process's RSS every `everyMs` until stopped; `stop` takes a last sample and returns the peak. */
export function rssSampler(pid: () => number | undefined, everyMs = 500) {
  let peak = 0
  const sample = async () => {
    peak = Math.max(peak, await rssMiB(pid()))
  }
  const timer = setInterval(() => void sample(), everyMs)
  return {
    async stop(): Promise<number> {
      clearInterval(timer)
      await sample()
      return peak
    },
  }
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(1))
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Starts a bloc for one section in a folder of its own and stops it after `work`: removed when
 * the section succeeds, kept (with every node's log) and named when it fails.
 */
export async function withNetwork<T>(
  options: Omit<NetworkOptions, 'dir'>,
  work: (net: TestNetwork) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-bench-'))
  // A loaded machine (a shared CI host) can take long to start many nodes.
  const net = await TestNetwork.start({ readyTimeoutMs: 120_000, ...options, dir })
  let ok = false
  try {
    const result = await work(net)
    ok = true
    return result
  } finally {
    await net.stop()
    if (ok) await rm(dir, { recursive: true, force: true })
    else process.stderr.write(`[bench] the nodes' data and logs are kept in ${dir}\n`)
  }
}

/**
 * Power loss for one directory, for crash tests. SIGKILL leaves the operating system's page
 * cache in place, so a killed process loses nothing it wrote, synced or not; lazyfs
 * (`test-network/lazyfs/lazyfs.c`, a FUSE filesystem) holds file data in its own memory until the
 * file is fsync'ed, and `crash()` drops what is still held, as a power cut drops what never
 * reached the disk. What it models and what it does not is in the header of lazyfs.c.
 *
 * Needs a C compiler, libfuse3-dev (headers and pkg-config file), fuse3 (fusermount3) and
 * /dev/fuse; `buildLazyFs` names whichever is missing.
 *
 * @example
 * const bin = await buildLazyFs(tmp)
 * const disk = await LazyFs.mount(bin, backingDir, mountpoint)
 * try {
 *   // ... a process writes under mountpoint, then is SIGKILLed ...
 *   const lost = await disk.crash() // SIGUSR1: unsynced data is gone; the mount is dead
 *   await disk.unmount() // mount a new LazyFs over backingDir to "reboot"
 * } finally {
 *   await disk.unmount()
 * }
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { access, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SOURCE = resolve(import.meta.dirname, '../lazyfs/lazyfs.c')
/** The control file at the root of a mount (lazyfs.c: CTL_NAME). */
const CONTROL = '.lazyfs'
const MOUNT_TIMEOUT_MS = 5_000
const UNMOUNT_TIMEOUT_MS = 5_000

/** What lazyfs held for files that were never synced: `bytes` in all, and per file. */
export interface HeldData {
  bytes: number
  files: Array<{ path: string; bytes: number }>
}

/** What the control file reports (lazyfs.c: make_report). */
export interface LazyFsReport {
  /** A crash happened: every operation but the control file answers EIO. */
  crashed: boolean
  /** Written and not yet synced. */
  held: HeldData
  /** Bytes written to the backing directory by fsync, and the number of fsyncs that wrote. */
  syncedBytes: number
  syncs: number
  syncDelayMs: number
  /** What the crash dropped, or null if there was none. */
  lastCrash: HeldData | null
}

export interface LazyFsOptions {
  /**
   * How long each fsync takes (a slow disk): its data is durable only at the end, and a crash
   * during the wait drops it. It widens the window a crash can hit between write and durable.
   * @default 0
   */
  syncDelayMs?: number
}

async function need(what: string, check: () => Promise<unknown>): Promise<void> {
  try {
    await check()
  } catch (err) {
    throw new Error(`the power-loss tests need ${what}`, { cause: err })
  }
}

/**
 * Compiles lazyfs into `dir` and returns the path of the binary. Fails, naming the Debian
 * package, if something it needs is missing (the tests fail then: they do not skip).
 */
export async function buildLazyFs(dir: string): Promise<string> {
  await need(
    'the kernel FUSE device /dev/fuse (in a container: --device /dev/fuse --cap-add SYS_ADMIN)',
    () => access('/dev/fuse'),
  )
  await need('fusermount3, from the Debian package fuse3 (apt-get install fuse3)', () =>
    run('fusermount3', ['-V']),
  )
  await need('a C compiler, cc (apt-get install gcc)', () => run('cc', ['--version']))
  let flags: string[] = []
  await need(
    'libfuse3-dev: `pkg-config fuse3` failed (apt-get install pkg-config libfuse3-dev)',
    async () => {
      const { stdout } = await run('pkg-config', ['--cflags', '--libs', 'fuse3'])
      flags = stdout.trim().split(/\s+/)
    },
  )
  const bin = join(dir, 'lazyfs')
  try {
    await run('cc', ['-O2', '-Wall', '-o', bin, SOURCE, ...flags])
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`lazyfs did not compile (is libfuse3-dev installed?):\n${stderr}`, { cause: err })
  }
  return bin
}

async function mounted(mountpoint: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  // Fields: id parent major:minor root mountpoint options ... - fstype source superoptions
  return info
    .split('\n')
    .some((line) => line.split(' ')[4] === mountpoint && line.includes(' - fuse.lazyfs '))
}

async function sleep(ms: number) {
  await new Promise((r) => setTimeout(r, ms))
}

/** One mount of lazyfs: a process of its own (foreground, single-threaded), stopped by PID. */
export class LazyFs {
  readonly mountpoint: string
  readonly backing: string
  readonly #proc: ChildProcess
  readonly #exited: Promise<unknown>
  #output = ''
  #unmounting: Promise<void> | undefined

  private constructor(proc: ChildProcess, backing: string, mountpoint: string) {
    this.#proc = proc
    this.backing = backing
    this.mountpoint = mountpoint
    this.#exited = once(proc, 'exit')
    proc.stdout?.on('data', (d: Buffer) => {
      this.#output += d.toString()
    })
    proc.stderr?.on('data', (d: Buffer) => {
      this.#output += d.toString()
    })
  }

  /** Mounts `backing` at `mountpoint` (both existing directories) and waits until it is there. */
  static async mount(
    bin: string,
    backing: string,
    mountpoint: string,
    opts: LazyFsOptions = {},
  ): Promise<LazyFs> {
    const mp = resolve(mountpoint)
    const args = ['--sync-delay-ms', String(opts.syncDelayMs ?? 0), resolve(backing), mp, '-f']
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const fs = new LazyFs(proc, resolve(backing), mp)
    const deadline = Date.now() + MOUNT_TIMEOUT_MS
    while (!(await mounted(mp))) {
      if (!fs.running || Date.now() > deadline) {
        await fs.unmount()
        throw new Error(`lazyfs did not mount at ${mp}:\n${fs.output}`)
      }
      await sleep(20)
    }
    return fs
  }

  async #waitExit(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#exited, new Promise((r) => (timer = setTimeout(r, ms)))])
    clearTimeout(timer)
  }

  get pid(): number | undefined {
    return this.#proc.pid
  }

  get running(): boolean {
    return this.#proc.exitCode === null && this.#proc.signalCode === null
  }

  /** What the filesystem process printed (its crash line, errors). */
  get output(): string {
    return this.#output
  }

  async report(): Promise<LazyFsReport> {
    return JSON.parse(await readFile(join(this.mountpoint, CONTROL), 'utf8')) as LazyFsReport
  }

  /**
   * Power loss: SIGUSR1 to the filesystem's PID, sent before this returns its promise, so a
   * caller can SIGKILL the writing process right after it, in the same instant. Everything not
   * synced is dropped, an fsync in progress included, and the mount is dead (EIO): unmount it
   * and mount a new LazyFs over the same backing directory to reboot. Resolves to what was
   * dropped.
   */
  crash(): Promise<HeldData> {
    if (!this.running) return Promise.reject(new Error(`lazyfs is not running:\n${this.output}`))
    this.#proc.kill('SIGUSR1')
    return this.report().then((report) => {
      if (!report.crashed || !report.lastCrash)
        throw new Error(`lazyfs did not crash: ${JSON.stringify(report)}`)
      return report.lastCrash
    })
  }

  /**
   * Unmounts and waits for the process to exit; if it will not, SIGTERM then SIGKILL by PID,
   * and a lazy unmount for the mount a killed process left behind. Later calls wait for the
   * first: by then another LazyFs may be mounted at the same place.
   */
  unmount(): Promise<void> {
    this.#unmounting ??= this.#unmount()
    return this.#unmounting
  }

  async #unmount(): Promise<void> {
    for (let i = 0; i < 20 && this.running && (await mounted(this.mountpoint)); i++) {
      try {
        await run('fusermount3', ['-u', this.mountpoint])
      } catch {
        await sleep(100) // busy: a process still has a file open there
      }
    }
    if (this.running) await this.#waitExit(UNMOUNT_TIMEOUT_MS)
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      if (!this.running) break
      this.#proc.kill(signal)
      await this.#waitExit(UNMOUNT_TIMEOUT_MS)
    }
    if (await mounted(this.mountpoint))
      await run('fusermount3', ['-u', '-z', this.mountpoint]).catch(() => {})
  }
}

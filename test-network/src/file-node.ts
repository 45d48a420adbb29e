/**
 * One real node process started from files an operator made: a charter chain file and a key
 * file (with its passphrase in the environment), as a member state starts its node after the
 * founding ceremony. `TestNetwork` makes its own bloc; this starts a node of any bloc, so that
 * tests of the `legation ceremony` and `legation charter` commands run the very files the CLI
 * wrote.
 *
 * @example
 * const node = await FileNode.start({ dir, charterFile, keyFile, p2pPort, env: { LEGATION_KEY_PASSPHRASE } })
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { freePort, type NodeInfo } from './network.ts'

const REPO = resolve(import.meta.dirname, '../..')
const BIN = join(REPO, 'node/src/bin.ts')

export interface FileNodeInit {
  /** The node's data directory (its log is `node.log` there). */
  dir: string
  charterFile: string
  keyFile: string
  /** The p2p port: the one the node's address in the charter names. */
  p2pPort: number
  /** Extra environment: LEGATION_KEY_PASSPHRASE, for one. */
  env?: Record<string, string>
}

export class FileNode {
  readonly init: FileNodeInit
  httpPort = 0
  #proc: ChildProcess | undefined
  #exited: Promise<unknown> | undefined

  private constructor(init: FileNodeInit) {
    this.init = init
  }

  /** Starts the process and waits until it is ready; throws with the log's tail if it exits. */
  static async start(init: FileNodeInit): Promise<FileNode> {
    const node = new FileNode(init)
    await node.start()
    return node
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null
  }

  get logFile(): string {
    return join(this.init.dir, 'node.log')
  }

  async start(): Promise<void> {
    await mkdir(this.init.dir, { recursive: true })
    this.httpPort = await freePort()
    const log = createWriteStream(this.logFile, { flags: 'a' })
    const args = [
      BIN,
      '--data-dir',
      this.init.dir,
      '--http-port',
      String(this.httpPort),
      '--p2p-listen',
      `/ip4/127.0.0.1/tcp/${this.init.p2pPort}`,
      '--charter-file',
      this.init.charterFile,
      '--key-file',
      this.init.keyFile,
      '--no-dev',
      '--log-level',
      'warn',
    ]
    const proc = spawn(process.execPath, args, {
      cwd: REPO,
      env: { ...process.env, LEGATION_HTTP_RATE_LIMIT_MAX: '1000000', ...this.init.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    proc.stdout.pipe(log)
    proc.stderr.pipe(log)
    this.#proc = proc
    this.#exited = once(proc, 'exit')
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (!this.running) {
        await this.#exited
        const tail = (await readFile(this.logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-4)
        throw new Error(`node exited during start-up (${this.logFile}):\n${tail.join('\n')}`)
      }
      try {
        const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(1000) })
        if (res.ok) return
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    await this.stop()
    throw new Error(`node not ready after 30 s (${this.logFile})`)
  }

  async info(): Promise<NodeInfo> {
    const res = await fetch(`${this.url}/v1/node`, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`GET /v1/node → ${res.status}`)
    return (await res.json()) as NodeInfo
  }

  /** Graceful stop: SIGTERM, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.#proc!.kill('SIGTERM')
    const timer = setTimeout(() => this.#proc?.kill('SIGKILL'), 15_000)
    await this.#exited
    clearTimeout(timer)
  }
}

/**
 * The commands that control a running `npm run testnet` one node at a time: `status`,
 * `start N`, `stop N`, `restart N`, `kill N`, `help`, `quit`. One class runs them for both
 * channels (the interactive prompt and the control socket, src/control-socket.ts), one command
 * at a time, and answers in one line of text or a table; a command it cannot run is refused with
 * a coded one-line error, and the network is left as it was.
 *
 * @example
 * const control = new NetworkControl(net, { onQuit: () => wake() })
 * await control.run('restart 1') // { ok: true, text: 'node 1 restarted: http://127.0.0.1:…' }
 */
import { join } from 'node:path'
import { Mutex } from 'async-mutex'
import type { TestNetwork, TestNode } from './network.ts'

export const CONTROL_ERRORS = {
  UNKNOWN_COMMAND: 'not a control command',
  UNKNOWN_NODE: 'no such node',
  NODE_STOPPED: 'the node is not running',
  NODE_RUNNING: 'the node is already running',
  START_FAILED: 'the node did not start',
  CLOSED: 'the test network is stopping',
  IN_USE: 'another test network runs in this folder',
  NOT_RUNNING: 'no test network is running there',
  CONTROL_TIMEOUT: 'no answer in time',
  BAD_ANSWER: 'the answer is not one the control channel sends',
} as const satisfies Record<string, string>

export type ControlErrorCode = keyof typeof CONTROL_ERRORS

export class ControlError extends Error {
  override name = 'ControlError'
  readonly code: ControlErrorCode
  constructor(code: ControlErrorCode, message: string = CONTROL_ERRORS[code], options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** What a command answers: its output, or a one-line error (`ok: false`, with the error's code). */
export type ControlResult = { ok: true; text: string } | { ok: false; code: ControlErrorCode; text: string }

export const CONTROL_HELP = `Commands (N is a node index, as in the table):
  status      each node: running, stopped (by a command) or exited (on its own), URL, pid
  stop N      stops node N gracefully (SIGTERM; SIGKILL after 15 s)
  kill N      kills node N (SIGKILL): nothing that was not yet durable survives
  start N     starts node N again on its data (its HTTP port may change if taken meanwhile)
  restart N   stop N, then start N (starts it if it was not running)
  help        this text
  quit        stops every node and the test network (as Ctrl-C does)`

const WITH_NODE = new Set(['start', 'stop', 'restart', 'kill'])
const WITHOUT_NODE = new Set(['status', 'help', 'quit'])

/** The first line of a (possibly multi-line) error message. */
function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!
}

export interface NetworkControlInit {
  /** Called once for `quit`, after its answer is made. */
  onQuit: () => void
}

export class NetworkControl {
  readonly #net: TestNetwork
  readonly #init: NetworkControlInit
  readonly #mutex = new Mutex()
  /** Nodes stopped or killed by a command: their exit is no surprise (see `stoppedByCommand`). */
  readonly #stoppedByCommand = new Set<number>()
  #closed = false

  constructor(net: TestNetwork, init: NetworkControlInit) {
    this.#net = net
    this.#init = init
  }

  /** Whether node `index` is down because a command stopped or killed it. */
  stoppedByCommand(index: number): boolean {
    return this.#stoppedByCommand.has(index)
  }

  /** Runs one command line; never throws. Commands run one at a time, in the order received. */
  async run(line: string): Promise<ControlResult> {
    try {
      return { ok: true, text: await this.#mutex.runExclusive(() => this.#run(line)) }
    } catch (e) {
      if (e instanceof ControlError) return { ok: false, code: e.code, text: e.message }
      return { ok: false, code: 'START_FAILED', text: firstLine(e) }
    }
  }

  /** Refuses every later command; waits for the one running, so the network can be stopped. */
  async close(): Promise<void> {
    await this.#mutex.runExclusive(() => {
      this.#closed = true
    })
  }

  async #run(line: string): Promise<string> {
    if (this.#closed) throw new ControlError('CLOSED')
    const [verb = '', ...args] = line.trim().split(/\s+/)
    const command = verb.toLowerCase()
    if (WITHOUT_NODE.has(command)) {
      if (args.length > 0) throw new ControlError('UNKNOWN_COMMAND', `${command} takes no argument`)
      if (command === 'help') return CONTROL_HELP
      if (command === 'status') return statusTable(this.#net.nodes, (i) => this.#stoppedByCommand.has(i))
      this.#closed = true
      this.#init.onQuit()
      return `stopping ${this.#net.nodes.length} node(s)`
    }
    if (!WITH_NODE.has(command))
      throw new ControlError(
        'UNKNOWN_COMMAND',
        `unknown command "${verb}"; commands: status, start N, stop N, restart N, kill N, help, quit`,
      )
    if (args.length !== 1) throw new ControlError('UNKNOWN_COMMAND', `usage: ${command} N (${this.#range()})`)
    const node = this.#node(args[0]!)
    const log = join(node.dir, 'node.log')
    switch (command) {
      case 'stop':
      case 'kill': {
        if (!node.running) throw this.#notRunning(node)
        const pid = node.pid
        this.#stoppedByCommand.add(node.index)
        if (command === 'stop') await node.stop()
        else await node.kill()
        return `node ${node.index} ${command === 'stop' ? 'stopped' : 'killed with SIGKILL'} (pid ${pid})`
      }
      case 'start': {
        if (node.running)
          throw new ControlError('NODE_RUNNING', `node ${node.index} is already running (pid ${node.pid})`)
        await this.#start(node, log)
        return `node ${node.index} started: ${node.url} (pid ${node.pid})`
      }
      default: {
        // restart
        if (node.running) {
          this.#stoppedByCommand.add(node.index)
          await node.stop()
        }
        await this.#start(node, log)
        return `node ${node.index} restarted: ${node.url} (pid ${node.pid})`
      }
    }
  }

  async #start(node: TestNode, log: string): Promise<void> {
    try {
      await node.start()
    } catch (cause) {
      // TestNode.start waits at most 30 s for /ready, and leaves no process behind a failure.
      await node.kill()
      this.#stoppedByCommand.add(node.index)
      throw new ControlError(
        'START_FAILED',
        `node ${node.index} did not start: ${firstLine(cause)} (see ${log})`,
        {
          cause,
        },
      )
    }
    this.#stoppedByCommand.delete(node.index)
  }

  /** "the nodes are 0 to 2", "the only node is 0". */
  #range(): string {
    const n = this.#net.nodes.length
    return n === 1 ? 'the only node is 0' : `the nodes are 0 to ${n - 1}`
  }

  #node(arg: string): TestNode {
    const index = /^\d{1,6}$/.test(arg) ? Number(arg) : Number.NaN
    const node = this.#net.nodes[index]
    if (!node) throw new ControlError('UNKNOWN_NODE', `no node "${arg}": ${this.#range()}`)
    return node
  }

  #notRunning(node: TestNode): ControlError {
    const message = this.#stoppedByCommand.has(node.index)
      ? `node ${node.index} is already stopped; start ${node.index} starts it`
      : `node ${node.index} is not running: it exited on its own (see ${join(node.dir, 'node.log')}); start ${node.index} starts it`
    return new ControlError('NODE_STOPPED', message)
  }
}

function alignRows(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map((r) => `  ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')}`.trimEnd()).join('\n')
}

/** The table printed at start: node, member state, URL, peer id, pid. */
export function nodeTable(nodes: readonly TestNode[]): string {
  return alignRows([
    ['node', 'state', 'HTTP', 'peer id', 'pid'],
    ...nodes.map((n) => [String(n.index), n.state, n.url, n.peerId, String(n.pid ?? '-')]),
  ])
}

/** What `status` prints: whether each node runs, and where. */
function statusTable(nodes: readonly TestNode[], stoppedByCommand: (index: number) => boolean): string {
  return alignRows([
    ['node', 'state', 'status', 'HTTP', 'pid'],
    ...nodes.map((n) => [
      String(n.index),
      n.state,
      n.running ? 'running' : stoppedByCommand(n.index) ? 'stopped' : 'exited',
      n.url,
      n.running ? String(n.pid) : '-',
    ]),
  ])
}

/**
 * `npm run testnet -- [--nodes N] [--dir PATH]`: a local bloc of N real node processes on
 * loopback (the `TestNetwork` harness), kept running until SIGINT (Ctrl-C) or SIGTERM, which
 * stop every node. It prints each node's URL and peer id, and writes key files for the
 * `legation` admin CLI in `<dir>`: a development officer's key and certificate (`officer.json`)
 * and each member state's key (`state-<CODE>.key.json`; src/key-files.ts).
 *
 * Exit codes: 0 after a requested stop, 2 for a command line it cannot use, 1 for any other
 * failure (a node that does not start, every node gone).
 *
 * @example
 * npm run testnet -- --nodes 3 --dir .legation/testnet
 * npx legation status --node http://127.0.0.1:<port printed>
 */
import { readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { keyId } from '@legation/protocol'
import { CONTROL_HELP, ControlError, type ControlResult, NetworkControl, nodeTable } from './control.ts'
import { CONTROL_SOCKET_FILE, type ControlServer, sendControl, serveControl } from './control-socket.ts'
import { OFFICER_FILE, stateKeyFileName, writeKeyFiles } from './key-files.ts'
import { NETWORK_FILE, STATES, TestNetwork, type TestNode } from './network.ts'
import { ControlPrompt } from './prompt.ts'

export const DEFAULT_NODES = 3
/** Each node is a whole process with its own store, connected to every other node: a bound for one machine. */
export const MAX_NODES = 20
/** How long to wait for every node to be connected to every other before saying so. */
const CONNECT_TIMEOUT_MS = 60_000
const WATCH_INTERVAL_MS = 500
const EXIT_USAGE = 2

const USAGE = `Usage: npm run testnet -- [--nodes N] [--dir PATH] [--prompt]
       npm run testnet -- ctl <command> --dir PATH

Starts a local bloc of N real Legation node processes on loopback (HTTP and libp2p on
127.0.0.1, free ports) and keeps it running; Ctrl-C (SIGINT) or SIGTERM stops every node.

  --nodes N    how many nodes, 1 to ${MAX_NODES} (default ${DEFAULT_NODES}; with --dir, the size of the
               network saved there)
  --dir PATH   keep the network (charter, keys, ports, data, logs) in PATH: a later run with
               the same PATH starts the same bloc again on its data. Default: a temporary
               folder, removed on exit.
  --prompt     read control commands from stdin even when it is not a terminal (one per line)
  -h, --help   this text

While it runs, one node at a time can be controlled: at the prompt (when stdin is a terminal),
or from anywhere with \`ctl\`, which talks to the running test network through its control
socket (<dir>/${CONTROL_SOCKET_FILE}) and exits 0 when the command was done, 1 when refused:

  npm run testnet -- ctl restart 1 --dir PATH

${CONTROL_HELP}

Key files for the legation CLI, written to <dir> on every start:
  ${OFFICER_FILE.padEnd(20)}  a development officer's key and certificate (DVA; registrar,
                        consul, crisis; valid 24 h), for --key / --officer / --officer-key
  ${stateKeyFileName('<S>').padEnd(20)}  each member state's secret key, for officer revoke --state-key
`

class UsageError extends Error {
  override name = 'UsageError'
}

interface Flags {
  help: boolean
  nodes: number | undefined
  dir: string | undefined
  prompt: boolean
  /** `ctl <command…>`: the command line to send to the test network running in `dir`. */
  ctl: string | undefined
}

function parseFlags(argv: readonly string[]): Flags {
  let values: { nodes?: string; dir?: string; help?: boolean; prompt?: boolean }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        nodes: { type: 'string' },
        dir: { type: 'string' },
        prompt: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  let ctl: string | undefined
  if (positionals.length > 0) {
    if (positionals[0] !== 'ctl') throw new UsageError(`unexpected argument "${positionals[0]}"`)
    if (positionals.length === 1) throw new UsageError('ctl needs a command, e.g. ctl status --dir PATH')
    if (values.dir === undefined)
      throw new UsageError('ctl needs --dir: the folder of the running test network (printed at its start)')
    if (values.nodes !== undefined || values.prompt)
      throw new UsageError('ctl takes only a command and --dir')
    ctl = positionals.slice(1).join(' ')
  }
  let nodes: number | undefined
  if (values.nodes !== undefined) {
    nodes = /^\d+$/.test(values.nodes) ? Number(values.nodes) : Number.NaN
    if (!(nodes >= 1 && nodes <= MAX_NODES))
      throw new UsageError(`--nodes must be a whole number from 1 to ${MAX_NODES}, got "${values.nodes}"`)
  }
  if (values.dir === '') throw new UsageError('--dir must not be empty')
  // `npm run` moves to the repository root; a relative --dir is meant from where npm was run.
  const cwd = process.env.INIT_CWD || process.cwd()
  return {
    help: values.help ?? false,
    nodes,
    dir: values.dir === undefined ? undefined : resolve(cwd, values.dir),
    prompt: values.prompt ?? false,
    ctl,
  }
}

/** `ctl`: one command to the test network running in `dir`; its answer on stdout, or its error. */
async function sendCommand(dir: string, line: string): Promise<number> {
  let result: ControlResult
  try {
    result = await sendControl(dir, line)
  } catch (e) {
    if (!(e instanceof ControlError)) throw e
    result = { ok: false, code: e.code, text: e.message }
  }
  if (result.ok) out(result.text)
  else err(`${result.text} [${result.code}]`)
  return result.ok ? 0 : 1
}

/** How many nodes to start: the flag, else the size saved in `dir`, else the default. */
async function networkSize(flags: Flags): Promise<number> {
  if (flags.dir === undefined) return flags.nodes ?? DEFAULT_NODES
  let saved: number | undefined
  try {
    saved = await TestNetwork.savedSize(flags.dir)
  } catch (err) {
    throw new UsageError(`--dir ${flags.dir}: ${(err as Error).message}`)
  }
  if (saved === undefined) {
    // Refuse to spread node folders over a folder that is something else (`--dir .`, say).
    const entries = await readdir(flags.dir).catch(() => [])
    if (entries.length > 0)
      throw new UsageError(
        `--dir ${flags.dir} is not empty and holds no test network (no ${NETWORK_FILE}); name a new or empty folder`,
      )
    return flags.nodes ?? DEFAULT_NODES
  }
  if (flags.nodes !== undefined && flags.nodes !== saved)
    throw new UsageError(
      `--dir ${flags.dir} holds a network of ${saved} node(s); run with --nodes ${saved} (or without --nodes), or name another folder`,
    )
  return saved
}

/** Pairs of nodes that are not (yet) connected, as `0→2` (a node that is down misses every link). */
async function missingLinks(net: TestNetwork): Promise<string[]> {
  const infos = await Promise.all(
    net.nodes.map((n) => (n.running ? n.info().catch(() => undefined) : undefined)),
  )
  const missing: string[] = []
  net.nodes.forEach((node, i) => {
    const connected = new Set(infos[i]?.peers.filter((p) => p.connected).map((p) => p.peerId))
    for (const other of net.nodes)
      if (other !== node && !connected.has(other.peerId)) missing.push(`${node.index}→${other.index}`)
  })
  return missing
}

async function waitConnected(net: TestNetwork, timeoutMs: number, stopped: () => boolean): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const missing = await missingLinks(net)
    if (missing.length === 0 || Date.now() >= deadline || stopped()) return missing
    await new Promise((r) => setTimeout(r, 200))
  }
}

// While the prompt is up, lines are printed through it so that they do not garble the typing.
let prompt: ControlPrompt | undefined
const out = (text: string) =>
  prompt ? prompt.say(process.stdout, text) : void process.stdout.write(`${text}\n`)
const err = (text: string) =>
  prompt ? prompt.say(process.stderr, `testnet: ${text}`) : void process.stderr.write(`testnet: ${text}\n`)

async function main(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv)
  if (flags.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (flags.ctl !== undefined) return await sendCommand(flags.dir!, flags.ctl)
  const nodes = await networkSize(flags)

  // Signals are taken from the start: a Ctrl-C during start-up still stops what has started.
  let stopping: string | undefined
  let wake: () => void = () => {}
  const stopRequested = new Promise<void>((r) => {
    wake = r
  })
  let net: TestNetwork | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal: do not wait for graceful stops.
      err(`${signal} again: killing the nodes`)
      for (const n of net?.nodes ?? []) void n.kill()
      return
    }
    stopping = signal
    wake()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // The terminal closed: stop the nodes rather than leave them running without us.
  process.on('SIGHUP', onSignal)

  out(`Starting ${nodes} Legation node(s) on loopback…`)
  try {
    net = await TestNetwork.start({
      nodes,
      faultInjection: false,
      ...(flags.dir !== undefined ? { dir: flags.dir, reuse: true } : {}),
    })
  } catch (e) {
    // A Ctrl-C in a terminal reaches the nodes as well, so they may stop before they are ready.
    if (!stopping) throw e
    out(`${stopping} during start-up: stopped.`)
    return 0
  }
  if (stopping) {
    out(`${stopping} during start-up: stopping ${nodes} node(s)…`)
    await net.stop()
    return 0
  }
  const officer = net.officer(STATES[0])
  const keyFiles = await writeKeyFiles(net, officer)
  const officerFile = keyFiles.officer
  const officerUntil = new Date(officer.cert!.body.notAfter).toISOString().slice(0, 16).replace('T', ' ')
  const first = net.nodes[0]!.url
  const control = new NetworkControl(net, {
    onQuit: () => {
      stopping ??= 'quit'
      wake()
    },
  })
  let server: ControlServer
  try {
    server = await serveControl(net.dir, (line) => control.run(line))
  } catch (e) {
    await net.stop()
    throw e
  }
  out(`
Bloc      ${net.bloc} (charter v${net.chain.length}, states ${STATES.join(', ')})
Folder    ${net.dir}${flags.dir === undefined ? ' (temporary: removed on exit; keep it with --dir)' : ''}
Logs      ${join(net.dir, 'node-<n>', 'node.log')}

${nodeTable(net.nodes)}

Officer   ${officerFile}
          key and certificate of ${STATES[0]} officer ${keyId(officer.keys.publicKey)}
          (registrar, consul, crisis), valid until ${officerUntil} UTC; renewed on every start
${STATES.map((s, i) => `${i === 0 ? 'States' : '      '}    ${keyFiles.states[s]}`).join('\n')}
          each member state's secret key (officer revoke --state-key)

Try
  npx legation status --node ${first}
  npx legation dev seed --citizens 100 --node ${first} --officer ${officerFile}
  npx legation citizen find --nationality DVB --purpose consular-assistance --node ${net.nodes.at(-1)!.url} --key ${officerFile}

Control   ${server.path}
  npm run testnet -- ctl status --dir ${net.dir}
  npm run testnet -- ctl restart ${net.nodes.length - 1} --dir ${net.dir}
`)
  const interactive = Boolean(process.stdin.isTTY) || flags.prompt
  if (interactive)
    prompt = new ControlPrompt({
      input: process.stdin,
      output: process.stdout,
      errors: process.stderr,
      run: (line) => control.run(line),
      onInterrupt: () => onSignal('SIGINT'),
      onEnd: () => control.run('quit'),
    })

  // Reports a node process that exits on its own (a crash, or someone's kill), by pid: a node
  // started again by a command is a new process, and one stopped by a command is no surprise.
  let exitCode = 0
  const reported = new Set<number>()
  const suspect = new Set<number>()
  const exitedOnItsOwn = (n: TestNode) =>
    !n.running && n.pid !== undefined && !control.stoppedByCommand(n.index)
  const watch = setInterval(() => {
    if (stopping || !net) return
    for (const n of net.nodes) {
      if (!exitedOnItsOwn(n) || reported.has(n.pid!)) continue
      // Seen dead on two ticks in a row: a Ctrl-C reaches the nodes too, maybe before us.
      if (!suspect.has(n.pid!)) {
        suspect.add(n.pid!)
        continue
      }
      reported.add(n.pid!)
      err(`node ${n.index} (pid ${n.pid}) exited unexpectedly; see ${join(n.dir, 'node.log')}`)
    }
    if (net.nodes.every((n) => exitedOnItsOwn(n) && reported.has(n.pid!))) {
      err('every node has exited; stopping')
      exitCode = 1
      stopping = 'exit'
      wake()
    }
  }, WATCH_INTERVAL_MS)

  if (!stopping) {
    const t0 = Date.now()
    const missing = await waitConnected(net, CONNECT_TIMEOUT_MS, () => stopping !== undefined)
    if (stopping) {
      // Stopped while waiting: nothing to report.
    } else if (missing.length === 0) {
      out(
        nodes === 1
          ? 'Ready: 1 node (no peers to connect to).'
          : `Ready: all ${nodes} nodes are connected to each other (${((Date.now() - t0) / 1000).toFixed(1)} s).`,
      )
    } else {
      err(
        `not every node is connected after ${CONNECT_TIMEOUT_MS / 1000} s (missing ${missing.join(', ')}); they keep trying`,
      )
    }
  }
  // `npm run` passes a signal sent to npm only to its shell: signal this pid, or Ctrl-C the group.
  if (!stopping)
    out(
      `Running (pid ${process.pid}). Ctrl-C (SIGINT) or SIGTERM stops every node${interactive ? '; type help for commands' : ''}.`,
    )

  await stopRequested
  clearInterval(watch)
  prompt?.close()
  prompt = undefined
  // A command under way finishes first (a start is not left half done); later ones are refused.
  await control.close()
  await server.close()
  if (stopping !== 'exit') out(`\n${stopping}: stopping ${nodes} node(s)…`)
  await net.stop()
  out(
    flags.dir === undefined
      ? 'Stopped; the temporary folder is removed.'
      : `Stopped. The network is kept in ${net.dir}: run again with --dir ${flags.dir} to restart it.`,
  )
  return exitCode
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      err(`${e.message}\nRun with --help for usage.`)
      process.exitCode = EXIT_USAGE
    } else {
      err(`failed: ${e instanceof Error ? e.message : String(e)}`)
      process.exitCode = 1
    }
    // TestNetwork.start stops the nodes it started before rejecting; nothing else is left.
  },
)

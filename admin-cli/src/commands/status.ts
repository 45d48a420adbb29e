/** `legation status`: where a node stands, from GET /v1/node and GET /ready. */
import { type Command, Option } from 'commander'
import { CliError, isCliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { DEFAULT_NODE_URL, NodeClient, type NodeInfo } from '../node-client.ts'
import { blocStatus, formatBloc } from './status-bloc.ts'

export function registerStatus(program: Command, io: CliIo): void {
  program
    .command('status')
    .description(
      "show a node's identity, charter, version vector, state root and peers; or the whole bloc as a table (--bloc, or --node more than once)",
    )
    .addOption(
      new Option(
        '--node <url>',
        'node HTTP address; give it once per node for the bloc view (env LEGATION_NODE_URL, comma-separated for several)',
      ).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]),
    )
    .option('--bloc', "the bloc view: every node asked, each peer's lag, heads side by side, convergence")
    .option('--json', 'print JSON (one node: GET /v1/node as it is)')
    .action(async (opts: { node?: string[]; bloc?: boolean; json?: boolean }) => {
      const urls =
        opts.node ?? (io.env.LEGATION_NODE_URL || DEFAULT_NODE_URL).split(',').filter((u) => u !== '')
      if (opts.bloc || urls.length > 1) {
        const bloc = await blocStatus(io, urls)
        if (opts.json) println(io.stdout, JSON.stringify(bloc, null, 2))
        else for (const line of formatBloc(bloc)) println(io.stdout, line)
        if (bloc.nodes.every((n) => n.info === null)) {
          throw new CliError(
            'NODE_UNREACHABLE',
            `no node answered: ${bloc.nodes.map((n) => n.url).join(', ')}`,
          )
        }
        return
      }
      const node = new NodeClient({ url: urls[0]!, fetch: io.fetch })
      const info = await node.get<NodeInfo>('/v1/node')
      if (opts.json) {
        println(io.stdout, JSON.stringify(info, null, 2))
        return
      }
      const ready = await readiness(node)
      for (const line of formatStatus(node.origin, info, ready)) println(io.stdout, line)
    })
}

async function readiness(node: NodeClient): Promise<string> {
  try {
    await node.get('/ready')
    return 'ready'
  } catch (err) {
    if (isCliError(err) && err.remoteCode) return `not ready (${err.remoteCode})`
    throw err
  }
}

const short = (id: string) => (id.length > 16 ? `${id.slice(0, 16)}…` : id)

/** The human summary, one line per fact; peers and feeds one line each. */
export function formatStatus(url: string, info: NodeInfo, ready: string): string[] {
  const total = Object.values(info.versionVector).reduce((s, n) => s + n, 0)
  const connected = info.peers.filter((p) => p.connected).length
  const lines = [
    `Node         ${info.name} of ${info.state} at ${url} — ${ready}`,
    `Node id      ${info.nodeId}`,
    `Peer id      ${info.peerId}`,
    `Software     ${info.version}`,
    `Bloc         ${info.bloc}`,
    `Charter      v${info.charter.version} ${info.charter.hash}`,
    `Members      ${info.charter.members.join(', ')}`,
    `State root   ${info.stateRoot}`,
    `Entries      ${total} in ${Object.keys(info.versionVector).length} feed(s), ${info.pendingEntries} pending${info.rebuilding ? ' (rebuilding: reads answer 503)' : ''}`,
  ]
  const feeds = Object.entries(info.versionVector).sort(([a], [b]) => a.localeCompare(b))
  for (const [nodeId, seq] of feeds) {
    lines.push(`  ${nodeId}  seq ${seq}${nodeId === info.nodeId ? '  (this node)' : ''}`)
  }
  if (info.quarantined.length > 0) {
    lines.push(`Quarantined  ${info.quarantined.length} feed(s)`)
    for (const q of info.quarantined) lines.push(`  ${q.nodeId}  from seq ${q.fromSeq}`)
  }
  if (info.checkpoint) {
    const c = info.checkpoint
    lines.push(
      `Checkpoint   ${c.size ?? 'none yet'}${c.finalSize != null ? `, bloc-final ${c.finalSize}` : ''}`,
    )
  }
  if (info.evidence !== undefined) lines.push(`Evidence     ${info.evidence} item(s) kept`)
  lines.push(`Peers        ${info.peers.length} known, ${connected} connected`)
  for (const p of info.peers) {
    const who = p.nodeId ? `${p.state ?? '?'} ${short(p.nodeId)}` : 'unknown node'
    lines.push(`  ${p.peerId}  ${who}  ${p.connected ? 'connected' : 'disconnected'}  lag ${p.lag}`)
  }
  return lines
}

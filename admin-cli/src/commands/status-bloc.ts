/**
 * `legation status --bloc` (or `status` with `--node` given more than once): the whole bloc at a
 * glance, as one table. Every node named is asked (GET /v1/node, GET /ready); a node that does not
 * answer is a row that says so. The charter does not name nodes' HTTP addresses, so the nodes not
 * asked are shown as the asked ones see them: connected or not, and how far behind.
 *
 *   NODE    STATE  HEALTH  PEERS  ENTRIES  OWN SEQ  MAX LAG  CHECKPOINT  FINAL  EVIDENCE  ROOT
 *
 * then the replication lag of every asked node towards each of its peers, the heads (version
 * vectors) side by side, and whether the asked nodes agree (one state root).
 */
import { isCliError } from '../errors.ts'
import type { CliIo } from '../io.ts'
import { NodeClient, type NodeInfo } from '../node-client.ts'

export interface BlocNode {
  url: string
  /** 'ready', 'not ready (CODE)', or 'unreachable (CODE)'. */
  health: string
  info: NodeInfo | null
}

export interface BlocStatus {
  bloc: string | null
  charter: { version: number; hash: string } | null
  nodes: BlocNode[]
  /**
   * Whether every node asked answered and is ready, all have one state root and version vector,
   * and each is connected to every peer it knows, none of them behind.
   */
  converged: boolean
}

/** Asks every node at once; never throws for a node that does not answer. */
export async function blocStatus(io: CliIo, urls: readonly string[]): Promise<BlocStatus> {
  const nodes = await Promise.all(
    urls.map(async (url): Promise<BlocNode> => {
      const node = new NodeClient({ url, fetch: io.fetch, timeoutMs: 10_000 })
      try {
        const info = await node.get<NodeInfo>('/v1/node')
        return { url: node.origin, health: await readiness(node), info }
      } catch (err) {
        if (!isCliError(err)) throw err
        return { url: node.origin, health: `unreachable (${err.remoteCode ?? err.code})`, info: null }
      }
    }),
  )
  const up = nodes.flatMap((n) => (n.info ? [n.info] : []))
  // The newest charter any of them holds names the bloc.
  const newest = up.reduce<NodeInfo | undefined>(
    (a, b) => (!a || b.charter.version > a.charter.version ? b : a),
    undefined,
  )
  const roots = new Set(up.map((i) => i.stateRoot))
  const vvs = new Set(up.map((i) => JSON.stringify(Object.entries(i.versionVector).sort())))
  return {
    bloc: newest?.bloc ?? null,
    charter: newest ? { version: newest.charter.version, hash: newest.charter.hash } : null,
    nodes,
    converged:
      up.length === nodes.length &&
      nodes.every((n) => n.health === 'ready') &&
      roots.size === 1 &&
      vvs.size === 1 &&
      up.every((i) => i.peers.every((p) => p.connected && p.lag === 0)),
  }
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

const short = (s: string, n = 12) => (s.length > n ? `${s.slice(0, n)}…` : s)

/** A table: columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd(),
  )
}

export function formatBloc(s: BlocStatus): string[] {
  const lines: string[] = []
  const members = s.nodes.find((n) => n.info)?.info?.charter.members ?? []
  lines.push(
    s.bloc
      ? `Bloc ${short(s.bloc, 16)}  charter v${s.charter!.version} ${short(s.charter!.hash, 16)}  members ${members.join(', ')}`
      : 'Bloc unknown: no node answered',
  )
  const name = (n: BlocNode) => (n.info ? `${n.info.name}` : n.url)
  const rows: string[][] = [
    [
      'NODE',
      'STATE',
      'URL',
      'HEALTH',
      'PEERS',
      'ENTRIES',
      'OWN SEQ',
      'MAX LAG',
      'CHECKPOINT',
      'FINAL',
      'EVIDENCE',
      'QUARANTINED',
      'STATE ROOT',
    ],
  ]
  for (const n of s.nodes) {
    const i = n.info
    if (!i) {
      rows.push([name(n), '?', n.url, n.health])
      continue
    }
    const connected = i.peers.filter((p) => p.connected)
    const lags = connected.map((p) => p.lag)
    rows.push([
      name(n),
      i.state,
      n.url,
      n.health,
      `${connected.length}/${i.peers.length}`,
      String(Object.values(i.versionVector).reduce((a, b) => a + b, 0)),
      String(i.versionVector[i.nodeId] ?? 0),
      lags.length > 0 ? String(Math.max(...lags)) : '—',
      i.checkpoint?.size != null ? String(i.checkpoint.size) : '—',
      i.checkpoint?.finalSize != null ? String(i.checkpoint.finalSize) : '—',
      i.evidence !== undefined ? String(i.evidence) : '?',
      String(i.quarantined.length),
      short(i.stateRoot),
    ])
  }
  lines.push('', ...table(rows))

  const asked = s.nodes.flatMap((n) => (n.info ? [n.info] : []))
  if (asked.length > 0) {
    // Every certified node any asked node knows of, by node id.
    const known = new Map<string, string>()
    for (const i of asked) {
      known.set(i.nodeId, i.name)
      for (const p of i.peers)
        if (p.nodeId && !known.has(p.nodeId)) known.set(p.nodeId, `${p.state ?? '?'} ${short(p.nodeId, 8)}`)
    }
    const ids = [...known.keys()].sort((a, b) => known.get(a)!.localeCompare(known.get(b)!))
    lines.push(
      '',
      'Replication lag (entries the row node has that the column node is not known to have; ✗ not connected):',
    )
    const lagRows: string[][] = [['', ...ids.map((id) => known.get(id)!)]]
    for (const i of asked) {
      lagRows.push([
        i.name,
        ...ids.map((id) => {
          if (id === i.nodeId) return '—'
          const p = i.peers.find((q) => q.nodeId === id)
          return !p ? '?' : p.connected ? String(p.lag) : '✗'
        }),
      ])
    }
    lines.push(...table(lagRows).map((l) => `  ${l}`))
    lines.push('', 'Heads (entries held of each feed):')
    const origins = [...new Set(asked.flatMap((i) => Object.keys(i.versionVector)))].sort()
    const headRows: string[][] = [['feed', ...asked.map((i) => i.name)]]
    for (const o of origins)
      headRows.push([known.get(o) ?? short(o, 16), ...asked.map((i) => String(i.versionVector[o] ?? 0))])
    lines.push(...table(headRows).map((l) => `  ${l}`))
  }
  lines.push(
    '',
    s.converged
      ? 'Converged: every node asked is ready, with one state root and the same heads'
      : `Not converged: ${reason(s)}`,
  )
  return lines
}

function reason(s: BlocStatus): string {
  const down = s.nodes.filter((n) => n.health !== 'ready')
  if (down.length > 0) return `${down.map((n) => `${n.info?.name ?? n.url} ${n.health}`).join(', ')}`
  const roots = new Set(s.nodes.map((n) => n.info!.stateRoot))
  const apart = s.nodes.flatMap((n) =>
    n
      .info!.peers.filter((p) => !p.connected)
      .map((p) => `${n.info!.name} not connected to ${p.state ?? '?'} ${short(p.nodeId ?? p.peerId, 8)}`),
  )
  if (apart.length > 0) return apart.join(', ')
  return roots.size > 1
    ? `${roots.size} different state roots (replication under way, or a fault)`
    : 'heads differ (replication under way)'
}

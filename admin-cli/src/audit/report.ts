/**
 * What `legation audit` reports: findings (each naming the node, the feed, the entry and the
 * kind of fault), the checks run and their outcome, and a readable summary of both. The JSON
 * report is the same object; docs/audit.md § The report describes it.
 */
import { AUDIT_FINDING_KINDS, type AuditFindingKind, type Revocation } from '@legation/protocol'

/** One fault found. */
export interface Finding {
  readonly kind: AuditFindingKind
  /** The node it was found at: its node id when known, else the data dir or URL. */
  readonly node: string
  /** Where the audit read it: the node's URL, or the data dir. */
  readonly source: string
  /** Every node where the same was found (the first is `node`). */
  readonly nodes: readonly string[]
  /** The feed (its origin's node id), if the finding is about one. */
  readonly feed: string | null
  /** The entry's sequence number in that feed, if the finding is about one entry. */
  readonly seq: number | null
  readonly record?: string
  readonly detail: string
}

/** The signed material that shows a finding to anyone holding the charter (`audit export`). */
export interface Material {
  /** Signed entries, canonical CBOR. */
  readonly entries?: readonly Uint8Array[]
  readonly revocations?: readonly Revocation[]
  /** Signed checkpoints (C2SP signed notes), earliest first. */
  readonly checkpoints?: readonly string[]
  /** Entries 1..size of a feed as a node serves them, fetched when the bundle is written. */
  readonly feed?: { readonly source: string; readonly origin: string; readonly size: number }
  /** Entries 1..n of a feed, already read (a store's). */
  readonly feedEntries?: { readonly origin: string; readonly entries: readonly Uint8Array[] }
}

export interface FoundWithMaterial {
  readonly finding: Finding
  readonly material: Material | undefined
}

export type CheckStatus = 'ok' | 'failed' | 'skipped'

/**
 * The checks an audit runs, each with the finding kinds it can raise. A check that does not
 * apply in a mode, or is not built yet (cosignatures), is reported `skipped` with why.
 */
export const CHECKS: ReadonlyArray<{ name: string; kinds: readonly AuditFindingKind[]; what: string }> = [
  { name: 'charter', kinds: ['charter-mismatch'], what: 'each node follows the auditor’s charter chain' },
  {
    name: 'entry-signatures',
    kinds: ['entry-undecodable', 'entry-signature', 'entry-charter-unknown'],
    what: 'every entry signed by its origin under the charter version it names',
  },
  {
    name: 'records',
    kinds: ['record-invalid', 'record-revoked'],
    what: 'every record: signature, certificate chain at its time, role, revocations',
  },
  {
    name: 'hash-chains',
    kinds: ['entry-out-of-place', 'chain-broken', 'clock-not-increasing', 'charter-went-back'],
    what: 'each feed chained entry to entry, clocks increasing',
  },
  {
    name: 'merkle-roots',
    kinds: ['root-mismatch', 'size-mismatch'],
    what: 'every root served or signed is the root of the entries served',
  },
  {
    name: 'checkpoints',
    kinds: ['checkpoint-invalid'],
    what: 'each checkpoint (a node’s own, those it witnessed) opens with its signers’ keys',
  },
  {
    name: 'checkpoint-consistency',
    kinds: ['checkpoint-inconsistent', 'proof-invalid'],
    what: 'each checkpoint extends the one seen before; consistency proofs verify',
  },
  {
    name: 'node-agreement',
    kinds: ['nodes-disagree', 'equivocation'],
    what: 'nodes hold the same entries of every feed',
  },
  { name: 'revocations', kinds: ['revocation-invalid'], what: 'every revocation signed by its state' },
  { name: 'evidence', kinds: ['evidence-invalid'], what: 'evidence the nodes keep proves what it says' },
  {
    name: 'state-root',
    kinds: ['state-root-mismatch', 'replay-refused', 'derived-mismatch'],
    what: 'a replay of the entries gives the state root stored, and the reads-logged lists',
  },
  {
    name: 'cosignature-quorum',
    kinds: ['cosignature-quorum'],
    what: 'every checkpoint called bloc-final is cosigned by nodes of a quorum of member states',
  },
]

export interface NodeSummary {
  readonly source: string
  readonly nodeId: string | null
  readonly name: string | null
  readonly state: string | null
  /** The node's signed checkpoint of its own feed, if it has one. */
  readonly checkpoint: { readonly size: number; readonly root: string } | null
  /** Entries held per feed. */
  readonly feeds: Readonly<Record<string, number>>
}

export interface AuditReport {
  readonly v: 1
  readonly mode: 'live' | 'offline'
  readonly at: string
  readonly bloc: string
  readonly charter: { readonly version: number; readonly hash: string }
  readonly nodes: readonly NodeSummary[]
  readonly totals: {
    readonly nodes: number
    readonly feeds: number
    readonly entries: number
    readonly records: number
  }
  readonly checks: ReadonlyArray<{
    readonly check: string
    readonly status: CheckStatus
    readonly detail: string
  }>
  readonly findings: readonly Finding[]
  /** What is worth knowing but is no fault (void entries after a removal, refused entries kept). */
  readonly notices: readonly string[]
}

/** The checks' outcome from the findings; `skipped` names those not run, with why. */
export function checkResults(
  findings: readonly Finding[],
  skipped: Readonly<Record<string, string>>,
): AuditReport['checks'] {
  return CHECKS.map(({ name, kinds, what }) => {
    if (skipped[name]) return { check: name, status: 'skipped' as const, detail: skipped[name]! }
    const n = findings.filter((f) => kinds.includes(f.kind)).length
    return n === 0
      ? { check: name, status: 'ok' as const, detail: what }
      : { check: name, status: 'failed' as const, detail: `${n} finding(s): ${what}` }
  })
}

/**
 * Merges findings of one fault seen at several nodes (the same kind, feed, entry and record):
 * one finding, every node named.
 */
export function mergeFindings(found: readonly FoundWithMaterial[]): FoundWithMaterial[] {
  const byKey = new Map<string, FoundWithMaterial>()
  for (const f of found) {
    const { kind, feed, seq, record, detail } = f.finding
    // Faults of the entry itself are the same wherever it is served; other faults are each node's.
    const key = [
      kind,
      feed,
      seq,
      record ?? '',
      sharedKinds.has(kind) ? '' : `${f.finding.node}/${detail}`,
    ].join('|')
    const known = byKey.get(key)
    if (!known) {
      byKey.set(key, f)
      continue
    }
    const nodes = [...new Set([...known.finding.nodes, ...f.finding.nodes])]
    byKey.set(key, { finding: { ...known.finding, nodes }, material: known.material ?? f.material })
  }
  return [...byKey.values()]
}

/** Kinds that are about signed material, whichever node serves it. */
const sharedKinds: ReadonlySet<AuditFindingKind> = new Set([
  'record-invalid',
  'record-revoked',
  'equivocation',
  'revocation-invalid',
])

const short = (id: string | null) => (id === null ? '—' : id.length > 16 ? `${id.slice(0, 12)}…` : id)

/** The readable summary: what was audited, each check, each finding. */
export function formatReport(r: AuditReport): string[] {
  const lines = [
    `Audit (${r.mode}) of ${r.totals.nodes} node(s), bloc ${short(r.bloc)}, charter v${r.charter.version}: ` +
      `${r.totals.feeds} feed(s), ${r.totals.entries} entries, ${r.totals.records} records checked`,
  ]
  for (const n of r.nodes) {
    const who = n.nodeId ? `${n.name ?? '?'} of ${n.state ?? '?'} (${short(n.nodeId)})` : n.source
    const cp = n.checkpoint
      ? `checkpoint ${n.checkpoint.size} ${n.checkpoint.root.slice(0, 12)}…`
      : 'no checkpoint'
    lines.push(`  ${who} at ${n.source}: ${cp}, ${Object.keys(n.feeds).length} feed(s)`)
  }
  lines.push('Checks')
  for (const c of r.checks)
    lines.push(`  ${c.status.toUpperCase().padEnd(8)} ${c.check.padEnd(23)} ${c.detail}`)
  for (const n of r.notices) lines.push(`Notice: ${n}`)
  if (r.findings.length === 0) {
    lines.push('No findings.')
    return lines
  }
  lines.push(`Findings (${r.findings.length})`)
  for (const f of r.findings) {
    const where = [
      `node ${short(f.node)}${f.nodes.length > 1 ? ` (+${f.nodes.length - 1} more)` : ''}`,
      f.feed === null ? null : `feed ${short(f.feed)}`,
      f.seq === null ? null : `entry ${f.seq}`,
      f.record ? `record ${short(f.record)}` : null,
    ].filter((x) => x !== null)
    lines.push(`  ${f.kind}: ${where.join(', ')}: ${f.detail}`)
    lines.push(`    ${AUDIT_FINDING_KINDS[f.kind]}`)
  }
  return lines
}

/**
 * The live audit: what `legation audit --node URL…` checks on running nodes, through their audit
 * API only. Each node's charter, signed checkpoint, feeds, revocations and evidence are read
 * first (a snapshot of sizes); then every feed is read from every node that holds it, in step,
 * entry by entry: each distinct entry is checked once (`checkEntry`), each node's copy of the
 * feed in its place (`FeedChain`), and where two nodes serve different entries at one place the
 * first such place is named (an equivocation, when the origin signed both). Last, every root a
 * node serves or signs is compared with the root of the entries it served, each checkpoint with
 * the one seen last time (`--state`), and each consistency proof checked.
 */
import {
  type AuditCharter,
  type AuditFindingKind,
  auditCharter,
  BoundedSet,
  type CheckedEntry,
  checkEntry,
  checkEquivocation,
  type Ed25519,
  encodeEntry,
  type FeedAuditContext,
  FeedChain,
  isProtocolError,
  type KeyPair,
  type Revocation,
  revocationIndex,
  rootOf,
  type SignedCharter,
  toBase64url,
} from '@legation/protocol'
import { CliError } from '../errors.ts'
import {
  type Add,
  checkSince,
  crossCheckProofs,
  describe,
  openCheckpoint,
  openWitnessedList,
  type Snapshot,
  splitView,
} from './checkpoints.ts'
import {
  type AuditReport,
  checkResults,
  type Finding,
  type FoundWithMaterial,
  type Material,
  mergeFindings,
  type NodeSummary,
} from './report.ts'
import { AuditedNode, DEFAULT_AUDIT_PAGE, decodeEquivocation, EntryReader } from './sources.ts'
import type { AuditState } from './state.ts'

export interface LiveAuditOptions {
  readonly urls: readonly string[]
  /** The auditor's charter chain (verified): the trust anchor. */
  readonly charter: readonly SignedCharter[]
  readonly auditor: KeyPair
  readonly ed: Ed25519
  readonly fetch: typeof globalThis.fetch
  readonly now: () => number
  /** The checkpoints seen by an earlier run: each must be extended, never rewritten. */
  readonly previous?: AuditState | undefined
  /** @default DEFAULT_AUDIT_PAGE */
  readonly pageSize?: number
  readonly onProgress?: (done: number, total: number) => void
}

export interface LiveAuditResult {
  readonly report: AuditReport
  readonly found: FoundWithMaterial[]
  /** The checkpoints to remember for the next run. */
  readonly state: AuditState
  readonly nodes: ReadonlyMap<string, AuditedNode>
}

/** Every `PROGRESS_EVERY` entries read, progress is told. */
const PROGRESS_EVERY = 200

export async function auditLive(opts: LiveAuditOptions): Promise<LiveAuditResult> {
  const { ed } = opts
  const found: FoundWithMaterial[] = []
  const notices: string[] = []
  const nodes = opts.urls.map((u) => new AuditedNode(u, opts.fetch, ed, opts.auditor, opts.now))
  const infos = await Promise.all(nodes.map((n) => n.info()))
  const label = (i: number) => infos[i]!.nodeId
  const add = (i: number, f: Omit<Finding, 'node' | 'source' | 'nodes'>, material?: Material) =>
    found.push({
      finding: { ...f, node: label(i), source: nodes[i]!.url, nodes: [label(i)] },
      material,
    })

  // The charter: the auditor's, extended by any amendment a node holds (each verified by its quorum).
  let charter = auditCharter(ed, opts.charter)
  for (const [i, n] of nodes.entries()) {
    const offered = await n.charter()
    let next: AuditCharter
    try {
      next = auditCharter(ed, charter.chain, offered)
    } catch (cause) {
      if (!isProtocolError(cause) || cause.code !== 'BLOC_MISMATCH') throw cause
      throw new CliError('BLOC_MISMATCH', `${n.url} runs another bloc than the charter's`, { cause })
    }
    if (next.divergesAt !== undefined) {
      add(i, {
        kind: 'charter-mismatch',
        feed: null,
        seq: null,
        detail: `its charter chain differs from the auditor's at version ${next.divergesAt}`,
      })
    }
    charter = next
  }
  const charters = charter.views
  const bloc = charters[0]!.bloc
  const latest = charters.at(-1)!
  for (const [i, info] of infos.entries()) {
    if (info.bloc !== bloc)
      throw new CliError('BLOC_MISMATCH', `${nodes[i]!.url} runs another bloc (${info.bloc})`)
  }
  if (toBase64url(latest.charter.auditorKey) !== toBase64url(opts.auditor.publicKey)) {
    throw new CliError(
      'AUDITOR_KEY_MISMATCH',
      `the key given is not the auditor key of charter version ${latest.version}`,
    )
  }

  // Revocations: every node's, each checked against its state's keys; the earliest counts.
  const servedBy = new Map<Revocation, number>()
  for (const [i, n] of nodes.entries()) {
    for (const r of await n.revocations()) {
      if (r.ok) servedBy.set(r.revocation, i)
      else
        add(i, {
          kind: 'revocation-invalid',
          feed: null,
          seq: null,
          detail: `a revocation does not decode: ${r.detail}`,
        })
    }
  }
  const revocations = revocationIndex(ed, bloc, charters, servedBy.keys())
  for (const { revocation, detail } of revocations.invalid) {
    add(
      servedBy.get(revocation)!,
      {
        kind: 'revocation-invalid',
        feed: null,
        seq: null,
        detail: `revocation of ${revocation.body.cert} by ${revocation.body.state}: ${detail}`,
      },
      { revocations: [revocation] },
    )
  }
  const ctx: FeedAuditContext = {
    ed,
    bloc,
    charters,
    revocation: revocations.revocation,
    verifiedCerts: new BoundedSet(),
  }

  // Each node's signed checkpoint (before its feeds: the feeds then hold at least as much) and feeds.
  const snapshots: Snapshot[] = []
  for (const [i, node] of nodes.entries()) {
    const served = await node.checkpoint()
    const checkpoint = openCheckpoint(ed, bloc, charters, infos[i]!.nodeId, served.note)
    if (typeof checkpoint === 'string') {
      add(
        i,
        { kind: 'checkpoint-invalid', feed: infos[i]!.nodeId, seq: null, detail: checkpoint },
        { checkpoints: [served.note] },
      )
    }
    const list = await node.witnessed()
    if (!list) notices.push(`${node.url} serves no witnessed checkpoints (GET /v1/audit/checkpoints)`)
    const witnessed = openWitnessedList(ed, bloc, charters, i, list ?? [], add)
    const feeds = new Map((await node.feeds()).map((f) => [f.origin, f]))
    snapshots.push({
      node,
      info: infos[i]!,
      feeds,
      checkpoint: typeof checkpoint === 'string' ? undefined : { note: served.note, ...checkpoint },
      witnessed,
    })
  }

  // Evidence the nodes keep: equivocations and split views must prove themselves.
  let refused = 0
  for (const [i, node] of nodes.entries()) {
    for await (const e of node.evidence()) {
      if (e.kind === 'split-view') {
        splitView(ed, bloc, charters, i, snapshots[i]!, e, add)
        continue
      }
      if (e.kind !== 'equivocation') {
        refused++
        continue
      }
      const proof = decodeEquivocation(e.bytes)
      try {
        if (!proof) throw new Error('not two entries')
        checkEquivocation(ed, bloc, charters, proof)
      } catch (err) {
        add(i, {
          kind: 'evidence-invalid',
          feed: null,
          seq: null,
          detail: `${e.kind}/${e.id}: ${describe(err)}`,
        })
        continue
      }
      add(
        i,
        {
          kind: 'equivocation',
          feed: proof!.origin,
          seq: proof!.seq,
          detail: `kept as evidence by ${label(i)}: two entries signed for one sequence number`,
        },
        { entries: [encodeEntry(proof!.a), encodeEntry(proof!.b)] },
      )
    }
  }
  if (refused > 0)
    notices.push(`the nodes keep ${refused} refused entries as evidence (GET /v1/audit/evidence)`)

  // Every feed, read from every node that holds it, in step.
  const origins = [...new Set(snapshots.flatMap((s) => [...s.feeds.keys()]))].sort()
  const total = snapshots.reduce((n, s) => n + [...s.feeds.values()].reduce((m, f) => m + f.size, 0), 0)
  const progress = { done: 0, total }
  opts.onProgress?.(0, total)
  const roots = new Map<string, FeedChain>()
  let entries = 0
  let records = 0
  let voidEntries = 0
  for (const origin of origins) {
    const counted = await auditFeed(origin, snapshots, ctx, opts, progress, add)
    for (const [i, chain] of counted.chains) roots.set(`${i}/${origin}`, chain)
    entries += counted.entries
    records += counted.records
    voidEntries += counted.voidEntries
  }
  opts.onProgress?.(progress.done, total)
  if (voidEntries > 0) {
    notices.push(`${voidEntries} entries are void: dated after an amendment removed their node (not a fault)`)
  }

  // Roots served and signed, against the entries served; checkpoints against the last ones seen.
  const state: AuditState = { v: 1, bloc, checkpoints: { ...(opts.previous?.checkpoints ?? {}) } }
  for (const [i, s] of snapshots.entries()) {
    for (const [origin, feed] of s.feeds) {
      const recomputed = roots.get(`${i}/${origin}`)?.rootAt(feed.size)
      if (recomputed && toBase64url(recomputed) !== feed.root) {
        add(i, {
          kind: 'root-mismatch',
          feed: origin,
          seq: null,
          detail: `GET /v1/audit/feeds says the tree of ${feed.size} has root ${feed.root}; its entries give ${toBase64url(recomputed)}`,
        })
      }
    }
    for (const w of s.witnessed) {
      const recomputed = roots.get(`${i}/${w.origin}`)?.rootAt(w.tree.size)
      if (!recomputed || toBase64url(recomputed) === toBase64url(w.tree.root)) continue
      add(
        i,
        {
          kind: 'root-mismatch',
          feed: w.origin,
          seq: null,
          detail: `the ${w.which} checkpoint it witnessed, of ${w.tree.size} entries (cosigned by ${w.tree.states.join(', ') || 'no state'}), has root ${toBase64url(w.tree.root)}; the entries it serves give ${toBase64url(recomputed)}`,
        },
        { checkpoints: [w.note], feed: { source: s.node.url, origin: w.origin, size: w.tree.size } },
      )
    }
    const own = s.info.nodeId
    const cp = s.checkpoint
    if (!cp) continue
    const chain = roots.get(`${i}/${own}`)
    const recomputed = cp.size === 0 ? rootOf([]) : chain?.rootAt(cp.size)
    if (recomputed && toBase64url(recomputed) !== toBase64url(cp.root)) {
      add(
        i,
        {
          kind: 'root-mismatch',
          feed: own,
          seq: null,
          detail: `its signed checkpoint of ${cp.size} entries has root ${toBase64url(cp.root)}; those entries give ${toBase64url(recomputed)}`,
        },
        { checkpoints: [cp.note], feed: { source: s.node.url, origin: own, size: cp.size } },
      )
    }
    const before = opts.previous?.checkpoints[own]
    const consistent = before ? await checkSince(i, s, before, chain, add) : true
    if (consistent)
      state.checkpoints[own] = {
        note: cp.note,
        size: cp.size,
        root: toBase64url(cp.root),
        at: new Date(opts.now()).toISOString(),
      }
  }
  await crossCheckProofs(origins, snapshots, roots, add)

  const merged = mergeFindings(found)
  const summaries: NodeSummary[] = snapshots.map((s) => ({
    source: s.node.url,
    nodeId: s.info.nodeId,
    name: s.info.name,
    state: s.info.state,
    checkpoint: s.checkpoint ? { size: s.checkpoint.size, root: toBase64url(s.checkpoint.root) } : null,
    feeds: Object.fromEntries([...s.feeds].map(([o, f]) => [o, f.size])),
  }))
  const findings = merged.map((f) => f.finding)
  return {
    found: merged,
    state,
    nodes: new Map(nodes.map((n) => [n.url, n])),
    report: {
      v: 1,
      mode: 'live',
      at: new Date(opts.now()).toISOString(),
      bloc,
      charter: { version: latest.version, hash: latest.hash },
      nodes: summaries,
      totals: { nodes: nodes.length, feeds: origins.length, entries, records },
      checks: checkResults(findings, {
        'state-root': 'offline only (--data-dir): a live node’s state moves while it is read',
      }),
      findings,
      notices,
    },
  }
}

/** Reads one feed from every node that holds it, entry by entry, and checks it. */
async function auditFeed(
  origin: string,
  snapshots: readonly Snapshot[],
  ctx: FeedAuditContext,
  opts: LiveAuditOptions,
  progress: { done: number; total: number },
  add: Add,
): Promise<{ chains: Map<number, FeedChain>; entries: number; records: number; voidEntries: number }> {
  const holders = snapshots.flatMap((s, i) => ((s.feeds.get(origin)?.size ?? 0) > 0 ? [i] : []))
  const sizes = new Map(holders.map((i) => [i, snapshots[i]!.feeds.get(origin)!.size]))
  const chains = new Map<number, FeedChain>()
  const readers = new Map<number, EntryReader>()
  const last = new Map<number, Uint8Array>()
  for (const i of holders) {
    const s = snapshots[i]!
    const wanted = [...sizes.values()].filter((n) => n <= sizes.get(i)!)
    if (s.info.nodeId === origin && s.checkpoint) wanted.push(s.checkpoint.size)
    const before = opts.previous?.checkpoints[origin]
    if (s.info.nodeId === origin && before) wanted.push(before.size)
    for (const w of s.witnessed) if (w.origin === origin) wanted.push(w.tree.size)
    chains.set(i, new FeedChain(origin, ctx.charters, wanted))
    readers.set(i, new EntryReader(s.node, origin, sizes.get(i)!, opts.pageSize ?? DEFAULT_AUDIT_PAGE))
  }
  const diverged = new Set<string>()
  const max = Math.max(0, ...sizes.values())
  let entries = 0
  let records = 0
  let voidEntries = 0
  for (let seq = 1; seq <= max; seq++) {
    const active = holders.filter((i) => sizes.get(i)! >= seq && !readers.get(i)!.exhausted)
    const served = await Promise.all(active.map((i) => readers.get(i)!.at(seq)))
    const groups: Array<{ bytes: Uint8Array; checked: CheckedEntry; holders: number[] }> = []
    for (const [k, i] of active.entries()) {
      const bytes = served[k]
      if (!bytes) {
        add(i, {
          kind: 'size-mismatch',
          feed: origin,
          seq,
          detail: `says it holds ${sizes.get(i)} entries of the feed but serves none from entry ${seq} on`,
        })
        continue
      }
      const group = groups.find((g) => Buffer.from(g.bytes).equals(bytes))
      if (group) group.holders.push(i)
      else groups.push({ bytes, checked: checkEntry(ctx, bytes), holders: [i] })
    }
    for (const g of groups) {
      entries++
      records += g.checked.records
      if (g.checked.voidFrom !== undefined) voidEntries++
      for (const f of g.checked.faults) {
        for (const i of g.holders) {
          add(
            i,
            { kind: f.kind, feed: origin, seq, ...(f.record ? { record: f.record } : {}), detail: f.detail },
            {
              entries: [g.bytes],
              ...(f.revocation ? { revocations: [f.revocation] } : {}),
            },
          )
        }
      }
      for (const i of g.holders) {
        for (const f of chains.get(i)!.next(g.checked)) {
          // The entry before it, when there is one: together they show the fault.
          const prev = last.get(i)
          add(
            i,
            { kind: f.kind, feed: origin, seq, detail: f.detail },
            { entries: prev ? [prev, g.bytes] : [g.bytes] },
          )
        }
        last.set(i, g.bytes)
        progress.done++
        if (progress.done % PROGRESS_EVERY === 0) opts.onProgress?.(progress.done, progress.total)
      }
    }
    // Where nodes first serve different entries at one place: who, and whether the origin signed both.
    for (let a = 0; a < groups.length; a++) {
      for (let b = a + 1; b < groups.length; b++) {
        const [ga, gb] = [groups[a]!, groups[b]!]
        const pairs = ga.holders.flatMap((x) => gb.holders.map((y) => `${Math.min(x, y)}/${Math.max(x, y)}`))
        if (pairs.every((p) => diverged.has(p))) continue
        for (const p of pairs) diverged.add(p)
        const both = ga.checked.signed && gb.checked.signed
        const kind: AuditFindingKind = both ? 'equivocation' : 'nodes-disagree'
        const names = (g: typeof ga) => g.holders.map((i) => snapshots[i]!.info.nodeId).join(', ')
        add(
          ga.holders[0]!,
          {
            kind,
            feed: origin,
            seq,
            detail: both
              ? `the origin signed two different entries for ${seq}: one held by ${names(ga)}, the other by ${names(gb)}`
              : `${names(ga)} and ${names(gb)} hold different entries for ${seq}`,
          },
          { entries: [ga.bytes, gb.bytes] },
        )
      }
    }
  }
  return { chains, entries, records, voidEntries }
}

/**
 * Checkpoints in the live audit: opening a node's signed checkpoint with its node key, checking
 * it against the one an earlier run saw (`--state`), and the consistency proofs nodes serve
 * between their copies of a feed.
 */
import {
  type CharterView,
  decodeCanonical,
  type Ed25519,
  type FeedChain,
  fromBase64url,
  isProtocolError,
  openNote,
  openSplitView,
  openWitnessed,
  parseCheckpoint,
  toBase64url,
  verifyConsistency,
  type WitnessedTree,
} from '@legation/protocol'
import type { NodeInfo } from '../node-client.ts'
import type { Finding, Material } from './report.ts'
import type { AuditedNode, FeedTree, WitnessedList } from './sources.ts'
import type { RememberedCheckpoint } from './state.ts'

/** One node as read at the start of the audit. */
export interface Snapshot {
  readonly node: AuditedNode
  readonly info: NodeInfo
  readonly feeds: ReadonlyMap<string, FeedTree>
  readonly checkpoint: { note: string; size: number; root: Uint8Array } | undefined
  /** The checkpoints of every feed it witnessed that opened: each must have its entries' root. */
  readonly witnessed: Array<{
    readonly origin: string
    /** Where the node keeps it: its latest or bloc-final checkpoint of the feed, or split-view evidence. */
    readonly which: 'latest' | 'final' | 'split-view'
    readonly note: string
    readonly tree: WitnessedTree
  }>
}

/** Adds a finding at node `i` of the audit. */
export type Add = (i: number, f: Omit<Finding, 'node' | 'source' | 'nodes'>, material?: Material) => void

/**
 * Checks a node's checkpoint against the one an earlier run saw: never smaller, the same root at
 * the same size, and the earlier tree a prefix of this one — by the entries just read and by
 * the node's own consistency proof. Answers whether it is consistent.
 */
export async function checkSince(
  i: number,
  s: Snapshot,
  before: RememberedCheckpoint,
  chain: FeedChain | undefined,
  add: Add,
): Promise<boolean> {
  const cp = s.checkpoint!
  const own = s.info.nodeId
  const inconsistent = (detail: string, material: Material) => {
    add(i, { kind: 'checkpoint-inconsistent', feed: own, seq: null, detail }, material)
    return false
  }
  const notes = [before.note, cp.note]
  if (cp.size < before.size) {
    return inconsistent(`its checkpoint went back from ${before.size} to ${cp.size} entries`, {
      checkpoints: notes,
    })
  }
  if (cp.size === before.size && toBase64url(cp.root) !== before.root) {
    return inconsistent(`two checkpoints of ${cp.size} entries with different roots`, { checkpoints: notes })
  }
  // Whatever it signs now, the entries it serves must still give the root it signed then.
  const then = chain?.rootAt(before.size)
  if (then && toBase64url(then) !== before.root) {
    return inconsistent(
      `its entries 1..${before.size} no longer give the root it signed then (${before.root}): history was rewritten`,
      { checkpoints: notes, feed: { source: s.node.url, origin: own, size: cp.size } },
    )
  }
  if (cp.size === before.size) return true
  if (before.size === 0) return true
  const proof = await s.node.consistency(own, before.size, cp.size)
  if (!verifyConsistency(before.size, cp.size, fromBase64url(before.root), cp.root, proof)) {
    add(i, {
      kind: 'proof-invalid',
      feed: own,
      seq: null,
      detail: `its consistency proof from ${before.size} to ${cp.size} does not verify against its signed checkpoints`,
    })
  }
  return true
}

/**
 * Where one node holds a longer copy of a feed than another, the longer one's consistency proof
 * from the shorter size must verify against both roots (asked of the longest copy only).
 */
export async function crossCheckProofs(
  origins: readonly string[],
  snapshots: readonly Snapshot[],
  roots: ReadonlyMap<string, FeedChain>,
  add: Add,
): Promise<void> {
  for (const origin of origins) {
    const holders = snapshots.flatMap((s, i) => (s.feeds.has(origin) ? [i] : []))
    const size = (i: number) => snapshots[i]!.feeds.get(origin)!.size
    const ref = holders.reduce((a, b) => (size(b) > size(a) ? b : a), holders[0]!)
    const refRoot = roots.get(`${ref}/${origin}`)?.rootAt(size(ref))
    const asked = new Set<number>()
    for (const i of holders) {
      const from = size(i)
      if (from === 0 || from >= size(ref) || asked.has(from)) continue
      asked.add(from)
      const mine = roots.get(`${i}/${origin}`)?.rootAt(from)
      const theirs = roots.get(`${ref}/${origin}`)?.rootAt(from)
      // Different entries were named already; a proof between them proves nothing more.
      if (!mine || !theirs || !refRoot || toBase64url(mine) !== toBase64url(theirs)) continue
      const proof = await snapshots[ref]!.node.consistency(origin, from, size(ref))
      if (!verifyConsistency(from, size(ref), mine, refRoot, proof)) {
        add(ref, {
          kind: 'proof-invalid',
          feed: origin,
          seq: null,
          detail: `its consistency proof from ${from} to ${size(ref)} does not verify against the entries' roots`,
        })
      }
    }
  }
}

/**
 * Opens the checkpoints a node witnessed (`GET /v1/audit/checkpoints`): each must open with its
 * origin's key and its cosigners' keys, and one the node calls bloc-final must be cosigned by
 * nodes of the charter's quorum of member states. Answers those that open.
 */
export function openWitnessedList(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  i: number,
  list: WitnessedList,
  add: Add,
): Snapshot['witnessed'] {
  const out: Array<Snapshot['witnessed'][number]> = []
  for (const { origin, latest, final } of list) {
    for (const [which, served] of [
      ['latest', latest],
      ['final', final],
    ] as const) {
      if (!served) continue
      const tree = openWitnessed(ed, bloc, charters, origin, served.note)
      if (typeof tree === 'string') {
        add(
          i,
          {
            kind: 'checkpoint-invalid',
            feed: origin,
            seq: null,
            detail: `its ${which} witnessed checkpoint: ${tree}`,
          },
          {
            checkpoints: [served.note],
          },
        )
        continue
      }
      if ((which === 'final' || served.final) && !tree.final) {
        add(
          i,
          {
            kind: 'cosignature-quorum',
            feed: origin,
            seq: null,
            detail: `it calls its checkpoint of ${tree.size} entries bloc-final, but nodes of ${tree.states.join(', ') || 'no state'} cosigned it`,
          },
          { checkpoints: [served.note] },
        )
      }
      out.push({ origin, which, note: served.note, tree })
    }
  }
  return out
}

/**
 * Split-view evidence a node keeps (`{ notes }`): checkpoints of one origin that conflict by
 * themselves are `checkpoint-inconsistent`; one that contradicts the keeper's entries is checked
 * against the entries it serves, as its witnessed checkpoints are.
 */
export function splitView(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  i: number,
  s: Snapshot,
  e: { kind: string; id: string; bytes: Uint8Array },
  add: Add,
): void {
  const origin = e.id.split('/')[0] ?? ''
  let notes: string[] = []
  try {
    const v = decodeCanonical(e.bytes, 1024 * 1024) as { notes?: unknown }
    if (Array.isArray(v.notes) && v.notes.every((n) => typeof n === 'string')) notes = v.notes
  } catch {
    // named below
  }
  const opened = notes.length > 0 ? openSplitView(ed, bloc, charters, origin, notes) : 'no checkpoints in it'
  if (typeof opened === 'string') {
    add(i, { kind: 'evidence-invalid', feed: origin, seq: null, detail: `${e.kind}/${e.id}: ${opened}` })
    return
  }
  if (opened.conflict) {
    add(
      i,
      {
        kind: 'checkpoint-inconsistent',
        feed: origin,
        seq: null,
        detail: `kept as evidence by ${s.info.nodeId}: ${opened.conflict}`,
      },
      { checkpoints: notes },
    )
    return
  }
  for (const [k, tree] of opened.trees.entries())
    s.witnessed.push({ origin, which: 'split-view', note: notes[k]!, tree })
}

/** Opens a node's checkpoint with its node key; answers why not if it cannot. */
export function openCheckpoint(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  nodeId: string,
  note: string,
): { size: number; root: Uint8Array } | string {
  const node = [...charters]
    .reverse()
    .find((c) => c.nodes.has(nodeId))
    ?.nodes.get(nodeId)
  if (!node) return `node ${nodeId} is certified in no charter version`
  const name = `legation/${bloc}/${nodeId}`
  try {
    const opened = openNote(ed, note, [{ name, publicKey: node.nodeKey }])
    const cp = parseCheckpoint(opened.text)
    if (cp.origin !== name) return `the checkpoint is of ${cp.origin}, not ${name}`
    return { size: cp.size, root: cp.root }
  } catch (err) {
    return `the checkpoint does not verify with the node's key: ${describe(err)}`
  }
}

export function describe(err: unknown): string {
  return isProtocolError(err)
    ? `${err.code}: ${err.message}`
    : err instanceof Error
      ? err.message
      : String(err)
}

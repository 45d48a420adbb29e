/**
 * Checkpoints in the live audit: opening a node's signed checkpoint with its node key, checking
 * it against the one an earlier run saw (`--state`), and the consistency proofs nodes serve
 * between their copies of a feed.
 */
import {
  type CharterView,
  type Ed25519,
  type FeedChain,
  fromBase64url,
  isProtocolError,
  openNote,
  parseCheckpoint,
  toBase64url,
  verifyConsistency,
} from '@legation/protocol'
import type { NodeInfo } from '../node-client.ts'
import type { Finding, Material } from './report.ts'
import type { AuditedNode, FeedTree } from './sources.ts'
import type { RememberedCheckpoint } from './state.ts'

/** One node as read at the start of the audit. */
export interface Snapshot {
  readonly node: AuditedNode
  readonly info: NodeInfo
  readonly feeds: ReadonlyMap<string, FeedTree>
  readonly checkpoint: { note: string; size: number; root: Uint8Array } | undefined
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

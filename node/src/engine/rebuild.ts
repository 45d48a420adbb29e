/**
 * Rebuilding the derived state from the stored feeds.
 *
 * A node that applied entries before it learned of the charter amendment that voids them (their
 * node was removed before their time: docs/protocol.md § Charter versions), or entries of a
 * fork that lost or past an equivocating origin's cut (§ Forks that heal), holds in its docs,
 * records and indexes what the other nodes do not. To converge with them it
 * forgets everything derived from the feeds — records, docs, summaries, indexes, feed trees, the
 * feed state — and applies its stored entries again, in causal order, through the same path as
 * entries from peers: the void ones are refused this time, their origin's feed closes, and what
 * is left is what every other node holds. Entries, payloads, evidence, revocations and the
 * charter are kept.
 *
 * `meta/rebuild` is written before anything is deleted and removed once the state is durable
 * again, so a node stopped in between rebuilds again when it starts. Rare (an amendment that
 * removes a node, met by a node that relayed that node's later entries) and as long as a
 * catch-up of the whole store; entries arriving meanwhile wait.
 */
import {
  type CharterView,
  decodeEntry,
  depsSatisfied,
  type ProtocolError,
  toHex,
  type VersionVector,
  withdrawnAt,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import type { Durability } from './durability.ts'
import { deleteEntryRows, lastEntrySeq, readEntries, readEntry } from './entry-rows.ts'
import type { HeldEntries } from './held-entries.ts'
import { K, seqKey } from './keys.ts'
import type { PersistentState, RemoteResult } from './types.ts'
import type { Vault } from './vault.ts'

/**
 * Key prefixes of what is derived from the feeds, deleted before they are applied again (`dh/`:
 * docs' hashes of data format 2, computed when a doc is loaded since format 5).
 */
const DERIVED = ['rec/', 'miss/', 'doc/', 'dh/', 'sum/', 'case/', 'alert/', 'ix/', 'acc/', 'mkt/'] as const
/** Entries of one origin applied together, and keys deleted per write. */
const CHUNK = 256
const DELETE_BATCH = 1_000

export interface RebuildComponents {
  store: Store
  durability: Durability
  held: HeldEntries
  /** The charter chain known here, genesis first. */
  versions: () => readonly CharterView[]
  /** Applies entries as if a peer had sent them (RemoteApplier.applyMany). */
  apply: (
    list: Uint8Array[],
    payloads: Map<string, Uint8Array>,
  ) => Promise<Array<RemoteResult | ProtocolError>>
  /** Where equivocating origins' feeds are cut (Evidence.cuts): nothing past a cut is applied. */
  cuts: () => Record<string, number>
  /** This node's id (its own feed must come back whole), or undefined for a read-only engine. */
  self?: string
  /**
   * The write that keeps the node from signing until it holds its own feed up to `ownSeq` again
   * (RestoreFence.raiseOps), made with the rebuild's end when its own entries wait.
   */
  fence?: (ownSeq: number) => Promise<BatchOp[]>
}

export interface RebuildReport {
  /** Each origin's feed length before and after. */
  before: VersionVector
  after: VersionVector
  /**
   * This node's own entries not applied again because they wait for entries of another feed it
   * no longer holds — the version of a fork that stands, which its peers hold (healing.ts).
   */
  ownWaiting?: { from: number; to: number }
}

/**
 * Whether the derived state must be rebuilt: a rebuild was interrupted, or some origin's last
 * applied entry is void under the charter chain known now (its clock only increases, so if its
 * last entry stands, all its entries do).
 */
export async function needsRebuild(
  store: Store,
  state: PersistentState,
  versions: readonly CharterView[],
): Promise<boolean> {
  if (await store.get(K.rebuild)) return true
  for (const [origin, seq] of Object.entries(state.vv)) {
    if (seq === 0 || state.closed?.[origin] !== undefined) continue
    const bytes = await readEntry(store, origin, seq)
    if (bytes && withdrawnAt(decodeEntry(bytes).body, versions) !== undefined) return true
  }
  return false
}

/**
 * Forgets the derived state and applies the stored feeds again (see the file comment). Throws
 * REBUILD_LOST_OWN_ENTRIES, after finishing, if this node's own feed did not come back whole.
 */
export async function rebuild(c: RebuildComponents): Promise<RebuildReport> {
  const { store, durability } = c
  await durability.idle()
  const before = { ...durability.state.vv }
  await store.write([{ type: 'put', key: K.rebuild, value: new Uint8Array([1]) }])
  for (const prefix of DERIVED) await deleteAll(store, prefix)
  await store.write([{ type: 'del', key: K.state }])
  durability.reset()
  c.held.clear()

  // Each origin from its first entry, a chunk at a time, taking only entries whose dependencies
  // are applied (or end in a closed feed): causal order, so nothing waits in the held set.
  const next = new Map(Object.keys(before).map((o) => [o, 1]))
  for (let progress = true; progress; ) {
    progress = false
    for (const [origin, from] of next) {
      const head = durability.head
      // A closed feed ends where it closed, a cut one at its cut: what follows is void.
      const ends = { ...head.closed, ...c.cuts() }
      const last = Math.min(before[origin]!, ends[origin] ?? Number.POSITIVE_INFINITY)
      if (from > last) continue
      const ready: Uint8Array[] = []
      for await (const { bytes } of readEntries(store, origin, { from, to: last, limit: CHUNK })) {
        if (!depsSatisfied(decodeEntry(bytes).body.deps, head.vv, ends)) break
        ready.push(bytes)
      }
      if (ready.length === 0) continue
      await c.apply(ready, await storedPayloads(store, c.durability.vault, ready))
      next.set(origin, from + ready.length)
      progress = true
    }
  }
  // Entries left waiting (after one refused) are not part of the state.
  c.held.clear()
  await durability.idle()
  const after = { ...durability.state.vv }
  // The entries not applied again (void, or after one refused) leave the feeds; the void ones
  // are kept as evidence.
  // An equivocating origin's entries past its cut are set aside (`stash/`), not lost: a
  // bloc-final checkpoint learned later may raise the cut over them (healing.ts).
  // Written an entry at a time into batches of about DELETE_BATCH keys: an entry's rows go in
  // one write, so a stop in between leaves none half deleted.
  let drop: BatchOp[] = []
  const cuts = c.cuts()
  for (const [origin, last] of Object.entries(before)) {
    if (origin === c.self) continue
    for (let s = (after[origin] ?? 0) + 1; s <= last; s++) {
      if (cuts[origin] !== undefined) {
        const bytes = await readEntry(store, origin, s)
        if (bytes) drop.push({ type: 'put', key: K.stash(origin, s), value: bytes })
      }
      drop.push(...(await deleteEntryRows(store, origin, s)))
      if (drop.length >= DELETE_BATCH) {
        await store.write(drop)
        drop = []
      }
    }
  }
  if (drop.length > 0) await store.write(drop)
  // Its own feed as signed: own entries still waiting since an earlier rebuild are past `before`.
  const own = c.self === undefined ? 0 : Math.max(before[c.self] ?? 0, await lastEntrySeq(store, c.self))
  const back = c.self === undefined ? 0 : (after[c.self] ?? 0)
  let ownWaiting: RebuildReport['ownWaiting']
  if (c.self !== undefined && back < own) {
    // Its own entry that did not come back may only wait for entries of a forked feed this node
    // held another version of (this node wrote on the version that lost): those come from peers.
    const next = await readEntry(store, c.self, back + 1)
    const ends = { ...durability.head.closed, ...c.cuts() }
    if (!next || depsSatisfied(decodeEntry(next).body.deps, after, ends)) {
      // Refused: its next entry would reuse a seq it signed, so it must write nothing (the
      // marker stays, so a restart tries again and fails the same way until an operator looks).
      throw new NodeError(
        'REBUILD_LOST_OWN_ENTRIES',
        `own entries ${seqKey(back + 1)}..${seqKey(own)} no longer apply`,
      )
    }
    ownWaiting = { from: back + 1, to: own }
  }
  // The fence in the same write as the marker's end: a node stopped in between must not sign
  // at a seq it signed already.
  const fence = ownWaiting && c.fence ? await c.fence(own) : []
  await store.write([...fence, { type: 'del', key: K.rebuild }])
  return ownWaiting ? { before, after, ownWaiting } : { before, after }
}

async function deleteAll(store: Store, prefix: string): Promise<void> {
  for (;;) {
    const ops: BatchOp[] = []
    for await (const [key] of store.range(prefixRange(prefix, { limit: DELETE_BATCH }))) {
      ops.push({ type: 'del', key })
    }
    if (ops.length === 0) return
    await store.write(ops)
  }
}

/** The payloads stored here that the records of `entries` name, by digest (hex). */
export async function storedPayloads(
  store: Store,
  vault: Vault,
  entries: readonly Uint8Array[],
): Promise<Map<string, Uint8Array>> {
  const digests: string[] = []
  for (const bytes of entries) {
    for (const ch of decodeEntry(bytes).body.changes) {
      for (const r of ch.records) if (r.header.payload) digests.push(toHex(r.header.payload))
    }
  }
  const found = await store.getMany(digests.map(K.payload))
  const payloads = new Map<string, Uint8Array>()
  for (const [i, d] of digests.entries()) {
    const plain = found[i] && (await vault.openPayload(d, found[i]))
    if (plain) payloads.set(d, plain)
  }
  return payloads
}

/**
 * A restored node writes nothing until it has its own feed back.
 *
 * A backup is a moment of the past: the node that made it went on appending entries to its own
 * feed, and its peers hold them. Restored, its store ends at the snapshot's sequence number. Were
 * it to write at once, it would sign a new entry at the next sequence number — one its peers
 * already hold with other content: two entries at one (origin, seq), an equivocation, and the
 * bloc would quarantine its feed. So a restore marks the store (`meta/restored`, restore.ts), and
 * while the mark is there the engine refuses writes (RESTORE_CATCHING_UP, 503): the node's own
 * feed is caught up like any other, from peers, and the mark goes once
 *
 *   - at least `minPeers` peers (DEFAULT_RESTORE_MIN_PEERS) have told this node their version
 *     vectors since it started, and
 *   - this node holds as many entries of its own feed as any of them says it has.
 *
 * A node that is the only one its charter certifies lifts the fence at start: nobody else holds
 * its feed (node.ts). The more peers have been heard, the surer the head: with the default, one peer that lacks the
 * latest entries of this node's feed (it was cut off) could let the node write too early. An
 * operator who knows the bloc is healthy but partly down can wait for more peers before starting
 * the restored node, or for `legation status --bloc` to show every peer connected.
 */
import { decodeJson, encodeJson } from '../engine/codec.ts'
import { K } from '../engine/keys.ts'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'

/** Peers that must have been heard before a restored node writes again. */
export const DEFAULT_RESTORE_MIN_PEERS = 1

export interface RestoreMark {
  /** When the restore was made, and when its snapshot was taken (ms since the epoch). */
  restoredAt: number
  snapshotAt: number
  /** This node's own feed head in the snapshot (or the rebuild's): the fence stands below it. */
  ownSeq: number
  /**
   * `rebuild`: not a restore, but a rebuild after a fork healed left this node's latest own
   * entries waiting for the version that stands, which peers hold (engine/healing.ts).
   * @default 'restore'
   */
  reason?: 'restore' | 'rebuild'
}

export const encodeRestoreMark = (m: RestoreMark): Uint8Array => encodeJson(m)

export class RestoreFence {
  readonly #store: Store
  #mark: RestoreMark | undefined
  #lifting: Promise<void> | undefined
  /** Set from `raiseOps` until `load`: the fence is being raised, so it is not lifted. */
  #raising = false

  constructor(store: Store) {
    this.#store = store
  }

  async load(): Promise<void> {
    const raw = await this.#store.get(K.restored)
    this.#mark = raw ? decodeJson<RestoreMark>(raw) : undefined
    this.#raising = false
  }

  /** The restore this node has not caught up from yet, if any. */
  get pending(): RestoreMark | undefined {
    return this.#mark
  }

  /** What a write is answered with while the fence stands. */
  error(): NodeError {
    if (this.#mark?.reason === 'rebuild') return new NodeError('OWN_FEED_CATCHING_UP')
    return new NodeError(
      'RESTORE_CATCHING_UP',
      'this node was restored from a backup and takes no writes until it has caught up on its own feed from its peers',
    )
  }

  /**
   * The write that raises the fence until this node holds `ownSeq` entries of its own feed again
   * (a rebuild left its latest own entries waiting for entries its peers hold): the caller writes
   * it together with what makes it needed, then calls `load`. A fence that stands keeps the
   * higher `ownSeq`; none is lifted in between.
   */
  async raiseOps(ownSeq: number, now: number): Promise<BatchOp[]> {
    this.#raising = true
    await this.#lifting
    const held = this.#mark
    const mark: RestoreMark = held
      ? { ...held, ownSeq: Math.max(held.ownSeq, ownSeq) }
      : { restoredAt: now, snapshotAt: now, ownSeq, reason: 'rebuild' }
    return [{ type: 'put', key: K.restored, value: encodeRestoreMark(mark) }]
  }

  /**
   * Lifts the fence (durably) if this node holds `ownHead` entries of its own feed and the peers
   * heard (`claims`: what each says it holds of that feed) are enough and claim no more.
   * Answers whether the fence is down.
   */
  async check(
    ownHead: number,
    claims: readonly number[],
    minPeers = DEFAULT_RESTORE_MIN_PEERS,
  ): Promise<boolean> {
    const mark = this.#mark
    if (!mark) return true
    if (this.#raising || ownHead < mark.ownSeq) return false
    if (claims.length < minPeers || claims.some((c) => c > ownHead)) return false
    this.#lifting ??= this.#store
      .write([{ type: 'del', key: K.restored }])
      .then(() => {
        if (this.#mark === mark) this.#mark = undefined
      })
      .finally(() => {
        this.#lifting = undefined
      })
    await this.#lifting
    return true
  }
}

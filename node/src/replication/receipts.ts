/**
 * Receipts and write concern: a peer that applied an entry signs a receipt and sends it to
 * the entry's origin, which is how a write waits for k other nodes (`awaitReceipts`).
 *
 * Receipts are signed only for recent entries (within the receipt window): a write waits
 * for receipts at most its write-concern timeout, and catching up on old history needs none.
 * A node can also ask its peers to sign receipts for entries another node wrote
 * (`wantReceipts`), for a record first written elsewhere and submitted here again.
 *
 * A receipt is also how a node tells a peer which version of an entry it holds: a node that
 * applied another origin's recent entry sends its receipt to `relayFanout` peers (`announce`)
 * instead of the entry itself (catch-up.ts). Those receipts wait up to `announceDelayMs` and
 * leave together, one message per peer: one each per entry cost every node of a 5-node bloc
 * ~1 message sent, 1 received and 1 signature check per replicated write (~12 % of a
 * replica's CPU per write, docs/performance-history.md). Nothing waits for them: an equivocation is
 * found when they cross, or when the next entry does not chain.
 *
 * A receipt a node sends about its own copy comes on the channel that authenticates that node,
 * so what it says (the hash it holds) is its word already, and it could sign any hash it likes.
 * Its signature is checked only where the receipt is passed on as proof: when a write waiting
 * for receipts counts it. An entry no write waits for (a batch, a record without write
 * concern) costs its origin no check per receipt.
 */
import {
  type Ed25519,
  equalBytes,
  MAX_WANT,
  openEntry,
  ProtocolError,
  type SignedReceipt,
  toBase64url,
  toHex,
  verifyReceipt,
} from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import type { Engine, EntryHead, Receipt } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'
import { shuffle } from '../util/shuffle.ts'
import type { Peers } from './peers.ts'

/** Receipts signed on request kept, so that asking again costs a lookup. */
const SIGNED_RECEIPT_CACHE = 4096
/** How often a write waiting for another origin's receipts asks peers again, in ms. */
const WANT_RECEIPTS_EVERY_MS = 1000
/** Longest sleep of a waiting write between looks at the receipts it has (a new one wakes it). */
const WAIT_SLICE_MS = 250

/** How long receipts announced to peers are gathered before they leave, in ms. */
export const DEFAULT_ANNOUNCE_DELAY_MS = 200

export interface ReceiptsOptions {
  receiptWindowMs: number
  maxTrackedEntries: number
  /** @default DEFAULT_ANNOUNCE_DELAY_MS */
  announceDelayMs?: number
  /** A peer's receipt about its own copy did not verify once checked (when a write counted it). */
  misbehaved?: (peerId: string, err: ProtocolError) => void
}

/** A receipt to announce: to `fanout` of `candidates` (peer ids), chosen when it leaves. */
interface Announcement {
  receipt: SignedReceipt
  candidates: readonly string[]
  fanout: number
}

export class Receipts {
  readonly #engine: Engine
  readonly #peers: Peers
  readonly #ed: Ed25519
  readonly #clock: () => number
  readonly #windowMs: number
  /** Receipts from other nodes, by `origin/seq`, then by node. */
  readonly #receipts: LRUCache<string, Map<string, SignedReceipt>>
  readonly #waiters = new Set<() => void>()
  /** Receipts this node signed (for origins, announced, or asked for), by `origin/seq`. */
  readonly #signed = new LRUCache<string, SignedReceipt>({ max: SIGNED_RECEIPT_CACHE })
  /** Receipts kept whose signature is not checked yet: a peer's word about its own copy. */
  readonly #unchecked = new WeakSet<SignedReceipt>()
  readonly #announceDelayMs: number
  readonly #misbehaved: ((peerId: string, err: ProtocolError) => void) | undefined
  /** Receipts to announce, sent together when the timer fires (or the batch is full). */
  #outbox: Announcement[] = []
  #outboxTimer: ReturnType<typeof setTimeout> | undefined

  constructor(engine: Engine, peers: Peers, ed: Ed25519, clock: () => number, opts: ReceiptsOptions) {
    this.#engine = engine
    this.#peers = peers
    this.#ed = ed
    this.#clock = clock
    this.#windowMs = opts.receiptWindowMs
    this.#receipts = new LRUCache({ max: opts.maxTrackedEntries })
    this.#announceDelayMs = opts.announceDelayMs ?? DEFAULT_ANNOUNCE_DELAY_MS
    this.#misbehaved = opts.misbehaved
  }

  /** Whether an entry stamped at `time` (ms) is recent enough to get receipts. */
  recent(time: number): boolean {
    return time >= this.#clock() - this.#windowMs
  }

  /**
   * Sends this node's receipt for entry (origin, seq) of hash `hash` to `fanout` peers at random
   * among `candidates`, within `announceDelayMs`, with the others announced meanwhile.
   */
  announce(
    origin: string,
    seq: number,
    hash: Uint8Array,
    candidates: readonly string[],
    fanout: number,
  ): void {
    if (candidates.length === 0 || fanout < 1) return
    this.#outbox.push({ receipt: this.#sign(origin, seq, hash), candidates, fanout })
    if (this.#outbox.length >= MAX_WANT) {
      this.#flushAnnounced()
      return
    }
    if (this.#outboxTimer) return
    this.#outboxTimer = setTimeout(() => this.#flushAnnounced(), this.#announceDelayMs)
    this.#outboxTimer.unref?.()
  }

  /**
   * Sends the receipts waiting to be announced. One order of the peers, drawn at random, serves
   * the whole batch: each receipt goes to the first `fanout` of its candidates in it, so the
   * receipts a peer is told leave in one message.
   */
  #flushAnnounced(): void {
    clearTimeout(this.#outboxTimer)
    this.#outboxTimer = undefined
    const batch = this.#outbox
    this.#outbox = []
    const rank = new Map(shuffle(this.#peers.ids()).map((id, i) => [id, i]))
    const byPeer = new Map<string, SignedReceipt[]>()
    for (const { receipt, candidates, fanout } of batch) {
      const chosen = candidates
        .filter((id) => rank.has(id))
        .sort((a, b) => rank.get(a)! - rank.get(b)!)
        .slice(0, fanout)
      for (const id of chosen) {
        const list = byPeer.get(id)
        if (list) list.push(receipt)
        else byPeer.set(id, [receipt])
      }
    }
    for (const [peerId, receipts] of byPeer) this.#peers.send(peerId, { t: 'stored', receipts })
  }

  /** Drops what waits to be announced (the node stops). */
  close(): void {
    clearTimeout(this.#outboxTimer)
    this.#outboxTimer = undefined
    this.#outbox = []
  }

  /** This node's receipt for entry (origin, seq) of hash `hash`, signed once. */
  #sign(origin: string, seq: number, hash: Uint8Array): SignedReceipt {
    const key = `${origin}/${seq}`
    const kept = this.#signed.get(key)
    if (kept && equalBytes(kept.body.entry, hash)) return kept
    const receipt = this.#engine.signReceipt(origin, seq, hash)
    this.#signed.set(key, receipt)
    return receipt
  }

  /** Wakes every waiting write (at shutdown: each then times out or finds its receipts). */
  wakeAll(): void {
    for (const w of [...this.#waiters]) w()
  }

  async awaitReceipts(recordIds: readonly string[], k: number, timeoutMs: number): Promise<Receipt[]> {
    const needed: Array<{ record: string; origin: string; seq: number }> = []
    for (const id of recordIds) {
      const r = await this.#engine.getRecord(id)
      if (r) needed.push({ record: id, origin: r.origin, seq: r.seq })
    }
    const collect = (): Receipt[] | undefined => {
      const out: Receipt[] = []
      for (const n of needed) {
        const byNode = this.#receipts.get(`${n.origin}/${n.seq}`)
        const others = [...(byNode?.values() ?? [])].filter(
          (r) => r.body.node !== this.#engine.nodeId && this.#checked(r, byNode!),
        )
        if (others.length < k) return undefined
        for (const r of others.slice(0, k)) {
          out.push({
            record: n.record,
            node: r.body.node,
            origin: r.body.origin,
            seq: r.body.seq,
            entry: toHex(r.body.entry),
            sig: toBase64url(r.sig),
          })
        }
      }
      return out
    }
    const deadline = this.#clock() + timeoutMs
    let asked = 0
    for (;;) {
      const got = collect()
      if (got) return got
      // Receipts for this node's own entries come by themselves. For another origin's (a record
      // first written elsewhere and submitted here again, say after its node failed), ask the
      // peers that hold it to sign one; again each second, for peers still catching up.
      const now = this.#clock()
      if (now - asked >= WANT_RECEIPTS_EVERY_MS) {
        asked = now
        // One per entry: several records may share one (a peer refuses a repeated item).
        const theirs = [
          ...new Map(
            needed.filter((n) => n.origin !== this.#engine.nodeId).map((n) => [`${n.origin}/${n.seq}`, n]),
          ).values(),
        ]
        for (let i = 0; i < theirs.length; i += MAX_WANT) {
          const entries = theirs.slice(i, i + MAX_WANT).map(({ origin, seq }) => ({ origin, seq }))
          if (entries.length > 0) this.#peers.broadcast({ t: 'wantReceipts', entries })
        }
      }
      const left = deadline - this.#clock()
      if (left <= 0) {
        throw new NodeError(
          'WRITE_CONCERN_TIMEOUT',
          `fewer than ${k} other nodes confirmed within ${timeoutMs} ms`,
        )
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, WAIT_SLICE_MS))
        const waiters = this.#waiters
        function done() {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        waiters.add(done)
      })
    }
  }

  /**
   * A frame of entries from node `from` was applied: receipts for the recent ones this node now
   * holds, `heads[i]` being what `results[i]` applied. A copy this node held already gets one
   * only when its origin sent it (it may have missed the first receipt); copies other nodes
   * relay do not, or each origin would get one receipt per copy, each to verify.
   */
  applied(heads: ReadonlyArray<EntryHead | null>, results: readonly unknown[], from?: string): void {
    const receipts: SignedReceipt[] = []
    const signed = new Set<string>()
    results.forEach((result, i) => {
      const head = heads[i]
      if (result !== 'applied' && (result !== 'duplicate' || head?.origin !== from)) return
      // One receipt per entry, though a frame may carry an entry twice.
      if (!head || !this.recent(head.time) || signed.has(`${head.origin}/${head.seq}`)) return
      signed.add(`${head.origin}/${head.seq}`)
      receipts.push(this.#sign(head.origin, head.seq, head.hash))
    })
    this.#send(receipts)
  }

  /** Signs receipts for the entries asked about that this node holds durably. */
  async answerWantReceipts(
    peerId: string,
    entries: ReadonlyArray<{ origin: string; seq: number }>,
  ): Promise<void> {
    const vv = this.#engine.versionVector()
    const receipts: SignedReceipt[] = []
    for (const { origin, seq } of entries) {
      if ((vv[origin] ?? 0) < seq) continue
      // A receipt signed once is kept: decoding a large entry again for each ask is the cost.
      const key = `${origin}/${seq}`
      let receipt = this.#signed.get(key)
      if (!receipt) {
        const bytes = await this.#engine.getEntryBytes(origin, seq)
        if (!bytes) continue
        receipt = this.#sign(origin, seq, openEntry(bytes).hash)
      }
      receipts.push(receipt)
    }
    if (receipts.length > 0) this.#peers.send(peerId, { t: 'stored', receipts })
  }

  /**
   * Whether a kept receipt's signature verifies, checked once. One that does not is dropped,
   * and the node that sent it is held to account as if it had been checked on arrival.
   */
  #checked(r: SignedReceipt, byNode: Map<string, SignedReceipt>): boolean {
    if (!this.#unchecked.has(r)) return true
    this.#unchecked.delete(r)
    const node = this.#engine.charter.nodes.get(r.body.node)
    if (node && verifyReceipt(this.#ed, r, node.nodeKey)) return true
    byNode.delete(r.body.node)
    if (node)
      this.#misbehaved?.(node.peerId, new ProtocolError('SIGNATURE_INVALID', 'receipt does not verify'))
    return false
  }

  /**
   * Receipts a peer (node `sender`) sent: each must verify against its node's key, checked now
   * or, for the sender's own, once a write counts it (`#checked`). Answers those of nodes of the
   * charter in force.
   */
  onStored(receipts: readonly SignedReceipt[], sender?: string): SignedReceipt[] {
    const kept: SignedReceipt[] = []
    for (const r of receipts) {
      // Only nodes of the charter in force count. One not in it (expelled, or admitted by an
      // amendment not received yet) is skipped, not held against the sender.
      const node = this.#engine.charter.nodes.get(r.body.node)
      if (!node) continue
      if (r.body.node === sender) {
        this.#unchecked.add(r)
      } else if (!verifyReceipt(this.#ed, r, node.nodeKey)) {
        throw new ProtocolError('SIGNATURE_INVALID', 'receipt does not verify')
      }
      const key = `${r.body.origin}/${r.body.seq}`
      let byNode = this.#receipts.get(key)
      if (!byNode) {
        byNode = new Map()
        this.#receipts.set(key, byNode)
      }
      byNode.set(r.body.node, r)
      kept.push(r)
    }
    this.wakeAll()
    return kept
  }

  /** Receipts go to each entry's origin, one frame per origin (and per MAX_WANT receipts). */
  #send(receipts: readonly SignedReceipt[]): void {
    const byOrigin = new Map<string, SignedReceipt[]>()
    for (const r of receipts) {
      const list = byOrigin.get(r.body.origin) ?? []
      list.push(r)
      byOrigin.set(r.body.origin, list)
    }
    for (const [origin, list] of byOrigin) {
      const node = this.#engine.charter.nodes.get(origin)
      if (!node || !this.#peers.has(node.peerId)) continue
      for (let i = 0; i < list.length; i += MAX_WANT) {
        this.#peers.send(node.peerId, { t: 'stored', receipts: list.slice(i, i + MAX_WANT) })
      }
    }
  }
}

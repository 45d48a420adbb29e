/**
 * Catch-up and anti-entropy, one mechanism: whoever sees a peer ahead for an origin sends
 * `want` for the next missing range and gets `entries` back with the payloads they need.
 * An entry's origin pushes it to every peer; every other node tells `relayFanout` peers which
 * version it holds, by its receipt (an old entry, which gets no receipt, is passed on whole);
 * a lost push is repaired by the next status.
 *
 * One want is in flight per origin, whichever peer it went to (catching up from several
 * peers must not fetch and verify the same history from each), and the next range is asked
 * as soon as a frame is read, so it travels while the previous one is applied.
 */
import {
  entryPayloadDigests,
  fromHex,
  MAX_WANT,
  ProtocolError,
  type SignedReceipt,
  type SyncMessage,
  toHex,
  type VersionVector,
} from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import type { Engine, EntryHead } from '../engine/engine.ts'
import type { MeshLogger } from '../mesh/index.ts'
import { shuffle } from '../util/shuffle.ts'
import type { PeerState, Peers } from './peers.ts'
import type { Receipts } from './receipts.ts'

export interface CatchUpOptions {
  statusIntervalMs: number
  entriesPerFrame: number
  frameBudget: number
  framesInFlight: number
  wantTimeoutIntervals: number
  payloadsPerWant: number
  payloadWantIntervals: number
  /** Peers a node passes another origin's entry on to (its origin sends it to all). */
  relayFanout: number
}

type Payload = { d: Uint8Array; p: Uint8Array }

/** What became of an entry that is applied, or will be without being asked for again. */
const ON_ITS_WAY = new Set<unknown>(['applied', 'pending', 'duplicate'])

/** Announced versions of entries not held yet that are remembered (least recently used forgotten). */
const ANNOUNCED_KEPT = 4096

export class CatchUp {
  readonly #engine: Engine
  readonly #peers: Peers
  readonly #receipts: Receipts
  readonly #clock: () => number
  readonly #log: MeshLogger | undefined
  readonly #opts: CatchUpOptions
  readonly #misbehaved: (p: PeerState, err: unknown) => void
  /**
   * One want in flight per origin: to which peer, since when, and whether that peer's frames
   * were being applied when it was sent (its answer then waits behind them).
   */
  readonly #wants = new Map<string, { peerId: string; at: number; behind: boolean }>()
  /** Per origin, the first seq missing while this node waits for the origin's own push of it, and since when. */
  readonly #awaitingPush = new Map<string, { seq: number; at: number }>()
  /**
   * Per origin, the highest seq received without a gap (in frames being applied, not yet
   * necessarily applied), and when it last moved: the next want starts after it.
   */
  readonly #received = new Map<string, { seq: number; at: number }>()
  /**
   * Versions of entries this node does not hold yet that peers announced (by their receipts),
   * by `origin/seq`, then entry hash (hex) → peer: checked once the entry is applied here.
   */
  readonly #announced = new LRUCache<string, Map<string, string>>({ max: ANNOUNCED_KEPT })
  /** Peers that told us what they hold (hello or status) since this node started. */
  readonly #heard = new Set<string>()
  #caughtUp = false
  /** Every frame being applied, whatever became of its peer: stop() waits for them. */
  readonly #applying = new Set<Promise<void>>()
  #ticks = 0
  /** Which peer the next wantPayload goes to (not #ticks: a multiple of the interval would pick one peer). */
  #payloadTurn = 0

  constructor(
    deps: {
      engine: Engine
      peers: Peers
      receipts: Receipts
      clock: () => number
      log: MeshLogger | undefined
      misbehaved: (p: PeerState, err: unknown) => void
    },
    opts: CatchUpOptions,
  ) {
    this.#engine = deps.engine
    this.#peers = deps.peers
    this.#receipts = deps.receipts
    this.#clock = deps.clock
    this.#log = deps.log
    this.#misbehaved = deps.misbehaved
    this.#opts = opts
  }

  /** Resolves once every frame being applied has been applied or has failed. */
  async settle(): Promise<void> {
    while (this.#applying.size > 0) await Promise.allSettled([...this.#applying])
  }

  /** Every status interval: forget stalled ranges, ask again, and now and then for payloads. */
  tick(): void {
    const vv = this.#engine.versionVector()
    const now = this.#clock()
    // Received but never applied (its frame was dropped with a peer, say): ask again.
    for (const [origin, r] of this.#received) {
      // Its entries may be held for an earlier range that another peer's frame brings.
      if ((vv[origin] ?? 0) >= r.seq || !this.#worthWaiting(r.at, now, this.#applying.size > 0))
        this.#received.delete(origin)
    }
    this.pull()
    if (++this.#ticks % this.#opts.payloadWantIntervals === 0) {
      void this.#wantPayloads().catch(() => undefined)
    }
  }

  /** A peer left: its wants go to another peer now. */
  disconnected(peerId: string): void {
    for (const [origin, w] of this.#wants) if (w.peerId === peerId) this.#wants.delete(origin)
    this.pull()
  }

  /** A peer said hello: what it holds, and from where on it pushes its own entries here. */
  hello(p: PeerState, vv: VersionVector): void {
    if (p.nodeId) p.pushesFrom = vv[p.nodeId] ?? 0
    this.learn(p, vv)
  }

  /** Merges what the peer says it has, and asks for what we lack. */
  learn(p: PeerState, vv: VersionVector): void {
    p.lastHeardAt = this.#clock()
    for (const [o, s] of Object.entries(vv)) if ((p.vv[o] ?? 0) < s) p.vv[o] = s
    this.#heard.add(p.peerId)
    this.pull()
    // Latched as soon as it holds: nodes started together are caught up at their first hello.
    this.caughtUp()
  }

  /**
   * Whether this node has, since it started, held everything some peer told it of: then it knows
   * every erasure that peer knew, and may serve personal data (docs/privacy.md). Stays true.
   */
  caughtUp(): boolean {
    if (this.#caughtUp) return true
    const mine = this.#engine.versionVector()
    const closed = this.#engine.closedFeeds()
    const quarantined = this.#engine.quarantined()
    for (const p of this.#peers.all()) {
      if (!this.#heard.has(p.peerId)) continue
      const behind = Object.entries(p.vv).some(
        ([o, s]) =>
          closed[o] === undefined &&
          s > (mine[o] ?? 0) &&
          !(quarantined.has(o) && (mine[o] ?? 0) >= quarantined.get(o)! - 1),
      )
      if (!behind) this.#caughtUp = true
    }
    return this.#caughtUp
  }

  /** What each peer heard from since this node started says it holds of `origin`'s feed. */
  heardOf(origin: string): number[] {
    return [...this.#peers.all()].filter((p) => this.#heard.has(p.peerId)).map((p) => p.vv[origin] ?? 0)
  }

  /**
   * An entry this node stored: its origin sends it to every peer not known to have it; any
   * other node tells `relayFanout` peers at random, among those not known to be further along
   * that origin's feed, which version it holds: its receipt (entry hash, signed), ~200 bytes.
   * A peer holding another version asks for this one, whose arrival proves the equivocation;
   * one that holds none yet remembers the hash until it does. Relaying the entry itself made
   * each node receive each entry about twice (the bytes a node sent per record were twice the
   * entry's); relaying to every peer, once per peer. Not relaying at all let two versions of one
   * entry, each shown to different nodes, sit side by side unseen: nodes holding the same seq
   * pull nothing from each other. An old entry (no receipt) is passed on whole, as before. A
   * peer that misses an entry still pulls it after the next status, so a dead node's history
   * spreads.
   */
  push(
    origin: string,
    seq: number,
    bytes: Uint8Array,
    payloads: Map<string, Uint8Array>,
    head: { hash: Uint8Array; time: number },
  ): void {
    const own = origin === this.#engine.nodeId
    if (!own) this.#compareAnnounced(origin, seq, head.hash)
    // A relay may go to a peer that says it holds this seq already: it may hold another version
    // of it. Not to one that holds more (catching up, this node is behind it).
    const to = [...this.#peers.all()].filter(
      (p) => p.nodeId !== origin && (p.vv[origin] ?? 0) < (own ? seq : seq + 1),
    )
    if (to.length === 0) return
    if (!own && this.#receipts.recent(head.time)) {
      // Which `relayFanout` of them is chosen when the announcements are sent, together.
      this.#receipts.announce(
        origin,
        seq,
        head.hash,
        to.map((p) => p.peerId),
        this.#opts.relayFanout,
      )
      return
    }
    if (!own) shuffle(to).splice(this.#opts.relayFanout)
    const msg = {
      t: 'entries' as const,
      entries: [bytes],
      payloads: [...payloads].map(([d, payload]) => ({ d: fromHex(d), p: payload })),
    }
    for (const p of to) {
      p.vv[origin] = seq
      this.#peers.send(p.peerId, msg)
    }
  }

  /**
   * Receipts a peer sent for other origins' entries: which version of each it holds. Where this
   * node holds another version, it asks the peer for that entry (whose arrival proves the
   * equivocation); where it holds none yet, it remembers the hash until it does, and asks at
   * once only if the entry's origin is not a peer (its push is not on its way).
   */
  async announced(p: PeerState, receipts: readonly SignedReceipt[]): Promise<void> {
    let pull = false
    for (const { body } of receipts) {
      const { origin, seq, entry } = body
      if (origin === this.#engine.nodeId || body.node !== p.nodeId) continue
      const held = await this.#engine.audit.holds(origin, seq, entry)
      if (held === false) {
        this.#peers.send(p.peerId, { t: 'want', origin, from: seq, limit: 1 })
      } else if (held === undefined && seq > (this.#engine.versionVector()[origin] ?? 0)) {
        if ((p.vv[origin] ?? 0) < seq) p.vv[origin] = seq
        const key = `${origin}/${seq}`
        const versions = this.#announced.get(key) ?? new Map<string, string>()
        versions.set(toHex(entry), p.peerId)
        this.#announced.set(key, versions)
        const node = this.#engine.charter.nodes.get(origin)
        if (!node || !this.#peers.has(node.peerId)) pull = true
      }
    }
    if (pull) this.pull()
  }

  /** An entry applied here: a peer that announced another version of it is asked for that one. */
  #compareAnnounced(origin: string, seq: number, hash: Uint8Array): void {
    const key = `${origin}/${seq}`
    const versions = this.#announced.get(key)
    if (!versions) return
    this.#announced.delete(key)
    const mine = toHex(hash)
    for (const [version, peerId] of versions) {
      if (version !== mine && this.#peers.has(peerId))
        this.#peers.send(peerId, { t: 'want', origin, from: seq, limit: 1 })
    }
  }

  /**
   * For every origin some peer has more of than we have (or are receiving), one want for the
   * next range, to the peer with the fewest wants in flight among those that have it.
   */
  pull(): void {
    const mine = this.#engine.versionVector()
    const quarantined = this.#engine.quarantined()
    const closed = this.#engine.closedFeeds()
    const now = this.#clock()
    const load = new Map<string, number>()
    for (const w of this.#wants.values()) load.set(w.peerId, (load.get(w.peerId) ?? 0) + 1)
    const origins = new Set<string>()
    for (const p of this.#peers.all()) for (const o of Object.keys(p.vv)) origins.add(o)
    for (const origin of origins) {
      if (closed[origin] !== undefined) continue
      const inFlight = this.#wants.get(origin)
      const to = inFlight && this.#peers.get(inFlight.peerId)
      if (to && this.#worthWaiting(inFlight.at, now, this.#busyWith(to, inFlight.behind, now))) continue
      const have = Math.max(mine[origin] ?? 0, this.#received.get(origin)?.seq ?? 0)
      // An equivocating origin is asked for only up to its cut (the version that stands).
      const stop = quarantined.get(origin)
      if (stop !== undefined && have >= stop - 1) continue
      if (this.#awaitsPush(origin, have, now)) continue
      let best: PeerState | undefined
      for (const p of this.#peers.all()) {
        if ((p.vv[origin] ?? 0) <= have) continue
        if (!best || (load.get(p.peerId) ?? 0) < (load.get(best.peerId) ?? 0)) best = p
      }
      if (!best) {
        this.#wants.delete(origin)
        continue
      }
      this.#wants.set(origin, { peerId: best.peerId, at: now, behind: best.applyingNow > 0 })
      load.set(best.peerId, (load.get(best.peerId) ?? 0) + 1)
      this.#peers.send(best.peerId, { t: 'want', origin, from: have + 1, limit: this.#opts.entriesPerFrame })
    }
  }

  /**
   * Whether what this node lacks of `origin`'s feed is on its way from the origin itself: the
   * origin is a peer that said hello (what it writes after that, it pushes here), everything it
   * held then is here, it has shown this node nothing past the gap, and it is heard from (a
   * frame being applied, or any message read within two status intervals: an honest origin
   * says its status every interval). An origin pushes its entries and says its status on one
   * ordered stream, so a status or a frame of it past the gap means the missing entry was shed
   * or not applied, and it is pulled at once. Until then a peer whose status runs ahead is not
   * asked for the same entries: on a busy node such pulls overtook the pushes, and every entry
   * they carried came twice (up to 9 % of entries at each node of a 15-node bloc on 2 cores).
   * An origin that falls silent is not waited for; one that keeps talking without showing the
   * entry, at most four want timeouts.
   */
  #awaitsPush(origin: string, have: number, now: number): boolean {
    const node = this.#engine.charter.nodes.get(origin)
    const po = node && this.#peers.get(node.peerId)
    const heard = po && (po.applyingNow > 0 || now - po.lastHeardAt < 2 * this.#opts.statusIntervalMs)
    if (!po || po.pushesFrom === undefined || have < po.pushesFrom || (po.vv[origin] ?? 0) > have || !heard) {
      this.#awaitingPush.delete(origin)
      return false
    }
    const since = this.#awaitingPush.get(origin)
    if (since?.seq !== have + 1) {
      this.#awaitingPush.set(origin, { seq: have + 1, at: now })
      return true
    }
    return now - since.at < 4 * this.#timeoutMs()
  }

  /**
   * Answers a want with one frame of entries and the payloads they need. A want that goes back
   * into the range last sent this peer for that origin, within half a want timeout of sending
   * it, is not answered: an honest peer asks again only after a whole timeout (its frame was
   * lost), while one that asks the same range over and over would make this node read and send
   * a frame for every few bytes it sends. So each origin costs at most one frame sent again
   * per half timeout, besides frames that move the peer forward.
   */
  async answerWant(p: PeerState, origin: string, from: number, limit: number): Promise<void> {
    const now = this.#clock()
    const prev = p.answered.get(origin)
    if (prev && from <= prev.last && now - prev.at < this.#timeoutMs() / 2) return
    // Entries are read until they alone fill the frame (their payloads only add to it).
    const read: { bytes: Uint8Array; digests: Uint8Array[] }[] = []
    let entryBytes = 0
    for await (const e of this.#engine.entries(origin, from, Math.min(limit, MAX_WANT))) {
      // Read off the bytes, not decoded: the entries are this node's own, checked when stored.
      const digests = entryPayloadDigests(e)
      read.push({ bytes: e, digests })
      entryBytes += e.length
      if (entryBytes > this.#opts.frameBudget) break
    }
    // The payloads of every entry read, in one batched read; a record relayed in two entries
    // names its payload twice, sent once.
    const wanted = new Map<string, Uint8Array>()
    for (const r of read) for (const d of r.digests) wanted.set(toHex(d), d)
    const found = await this.#engine.getPayloads([...wanted.values()])
    const plain = new Map<string, Payload>()
    for (const [i, [hex, d]] of [...wanted].entries()) {
      const p = found[i]
      if (p) plain.set(hex, { d, p })
    }
    const entries: Uint8Array[] = []
    const payloads = new Map<string, Payload>()
    let bytes = 0
    for (const r of read) {
      const mine = new Map<string, Payload>()
      let size = r.bytes.length
      for (const d of r.digests) {
        const hex = toHex(d)
        const m = plain.get(hex)
        if (!m || payloads.has(hex) || mine.has(hex)) continue
        mine.set(hex, m)
        size += m.p.length
      }
      // The frame stays under its budget; one entry with its payloads always fits a frame
      // (the engine makes entries that do), so a frame is never empty.
      if (entries.length > 0 && bytes + size > this.#opts.frameBudget) break
      entries.push(r.bytes)
      for (const [hex, m] of mine) payloads.set(hex, m)
      bytes += size
    }
    if (entries.length === 0) return
    const last = from + entries.length - 1
    if ((p.vv[origin] ?? 0) < last) p.vv[origin] = last
    p.answered.set(origin, { last, at: now })
    this.#peers.send(p.peerId, { t: 'entries', entries, payloads: [...payloads.values()] }, true)
  }

  /**
   * Payloads by digest, within one frame's budget; the peer asks again for the rest. An honest
   * peer asks one peer at a time, every `payloadWantIntervals` status intervals; a peer asking
   * sooner than half that after its last answer is not answered (each answer reads a frame).
   */
  async answerWantPayload(p: PeerState, digests: readonly Uint8Array[]): Promise<void> {
    const now = this.#clock()
    const interval = this.#opts.payloadWantIntervals * this.#opts.statusIntervalMs
    if (now - p.payloadsAnsweredAt < interval / 2) return
    const payloads: Payload[] = []
    let bytes = 0
    const found = await this.#engine.getPayloads(digests)
    for (const [i, d] of digests.entries()) {
      const payload = found[i]
      if (!payload) continue
      if (bytes + payload.length > this.#opts.frameBudget) break
      payloads.push({ d, p: payload })
      bytes += payload.length
    }
    if (payloads.length === 0) return
    p.payloadsAnsweredAt = now
    this.#peers.send(p.peerId, { t: 'entries', entries: [], payloads }, true)
  }

  /**
   * Starts verifying and applying a frame of entries and returns once fewer than
   * `framesInFlight` of this peer's frames are in progress: the mesh reads the next frame
   * meanwhile, and a peer faster than this node is slowed down, not buffered without end.
   */
  async applyEntries(p: PeerState, msg: Extract<SyncMessage, { t: 'entries' }>): Promise<void> {
    if (msg.entries.length === 0) {
      // An answer to wantPayload: payloads by digest, checked against their records' headers.
      if (msg.payloads.length > 0) await this.#engine.storePayloads(msg.payloads)
      return
    }
    const payloads = new Map(msg.payloads.map((x) => [toHex(x.d), x.p]))
    let read: ReadonlyArray<EntryHead | null> = []
    const done = this.#engine
      .applyRemoteMany(msg.entries, payloads, (entries) => {
        read = entries
        this.#onRead(p, entries)
      })
      .then((results) => {
        this.#receipts.applied(read, results, p.nodeId ?? undefined)
        // An entry neither applied nor held (refused, deferred, another version) is not on its
        // way: its range is asked for again now (of another peer), not after a want timeout,
        // which would keep the honest version away that long (up to four while frames are
        // being applied: a peer sending entries that are never applied must not hold it there).
        for (const [i, r] of results.entries()) {
          const head = read[i]
          if (head && !ON_ITS_WAY.has(r) && (this.#received.get(head.origin)?.seq ?? 0) >= head.seq)
            this.#received.delete(head.origin)
        }
        const refused = results.find((r) => r instanceof ProtocolError)
        if (refused) this.#misbehaved(p, refused)
        // The peer holds another version of an entry than this node: ask it for that entry, whose
        // arrival proves the fork (docs/protocol.md § Forks that heal).
        for (const [i, r] of results.entries()) {
          const head = read[i]
          if (r === 'forked' && head) {
            this.#peers.send(p.peerId, { t: 'want', origin: head.origin, from: head.seq - 1, limit: 1 })
          }
        }
      })
      .catch((err) => {
        // Our failure (storage, shutting down), not the peer's: the range is asked again later.
        this.#log?.error({ peer: p.peerId, err }, 'could not apply entries from a peer')
      })
      .finally(() => {
        this.#applying.delete(done)
        p.applyingNow--
        p.appliedAt = this.#clock()
      })
    this.#applying.add(done)
    p.applyingNow++
    p.applying.push(done)
    while (p.applying.length >= this.#opts.framesInFlight) await p.applying.shift()
  }

  /** A frame is read: what it carries is on its way; ask for what comes after. */
  #onRead(p: PeerState, entries: ReadonlyArray<EntryHead | null>): void {
    const now = this.#clock()
    p.lastHeardAt = now
    const mine = this.#engine.versionVector()
    for (const head of entries) {
      if (!head) continue
      const { origin, seq } = head
      if ((p.vv[origin] ?? 0) < seq) p.vv[origin] = seq
      const r = this.#received.get(origin)
      const upTo = Math.max(mine[origin] ?? 0, r?.seq ?? 0)
      // Only without a gap: a pushed entry far ahead must not hide the range before it.
      if (seq === upTo + 1) this.#received.set(origin, { seq, at: now })
      if (this.#wants.get(origin)?.peerId === p.peerId) this.#wants.delete(origin)
    }
    this.pull()
  }

  /** Asks a peer for payloads that stored records name and this node lacks. */
  async #wantPayloads(): Promise<void> {
    const peers = this.#peers.ids()
    if (peers.length === 0) return
    const digests = await this.#engine.missingPayloads(this.#opts.payloadsPerWant)
    if (digests.length === 0) return
    // A different peer each time: one that lacks them too does not stop the fetch.
    this.#peers.send(peers[this.#payloadTurn++ % peers.length]!, { t: 'wantPayload', digests })
  }

  /**
   * Whether a want sent at `at`, or a range read then, is still worth waiting for: within a want
   * timeout, or within four while this node is still applying frames that hold it back (`busy`):
   * the peer's, for a want (its stream is read again only as they finish); any, for a range
   * read (its entries wait for an earlier range another peer's frame brings). On a backlogged
   * node an answer sat unread past the timeout, was asked of another peer and came twice, and
   * a range read but still queued was asked again: 6 of 86 entries of a 40,000-record catch-up
   * came twice. Four bound a peer that keeps frames coming but never the answer, as they bound
   * the wait for an origin's push.
   */
  #worthWaiting(at: number, now: number, busy: boolean): boolean {
    const age = now - at
    return age < this.#timeoutMs() || (busy && age < 4 * this.#timeoutMs())
  }

  /**
   * Whether this node is applying the peer's frames, or, for a want sent while it was
   * (`behind`), finished one within two status intervals: two frames finished together leave
   * none in progress until the peer's next is read, and a tick then asked another peer for what
   * that next frame held (one entry in seven came twice in a test with both cores busy). A want
   * sent with no frame of the peer in progress has no backlog to wait behind.
   */
  #busyWith(p: PeerState, behind: boolean, now: number): boolean {
    return p.applyingNow > 0 || (behind && now - p.appliedAt < 2 * this.#opts.statusIntervalMs)
  }

  #timeoutMs(): number {
    return this.#opts.wantTimeoutIntervals * this.#opts.statusIntervalMs
  }
}

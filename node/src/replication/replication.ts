/**
 * Replication: the sync protocol (protocol/src/sync.ts) over the mesh.
 *
 * - On connect both sides say `hello` (charter version, version vector); every
 *   `statusIntervalMs` they say `status`. Whoever sees the other ahead for an origin sends
 *   `want` for the missing range and gets `entries` back (with the payloads they need):
 *   catch-up and anti-entropy are the same mechanism, so a lost push is repaired by the
 *   next status.
 * - Entries this node stores (its own, and others' it applied) are pushed to every
 *   connected peer not known to have them: a dead node's history still spreads (relay).
 * - A peer that applied an entry signs a receipt and sends it to the entry's origin, which
 *   is how a write waits for k other nodes (`awaitReceipts`).
 * - A newer charter chain is sent to peers on an older one; an equivocation found here is
 *   sent to every peer as evidence.
 * - A peer sending anything invalid is disconnected and banned for `banMs`, and the
 *   signed evidence is stored. It never takes the node down.
 */
import {
  decodeEntry,
  decodeSyncMessage,
  type Ed25519,
  encodeSyncMessage,
  fromHex,
  MAX_REVOCATIONS_PER_MESSAGE,
  MAX_WANT,
  openEntry,
  ProtocolError,
  type Revocation,
  type SignedReceipt,
  type SyncMessage,
  toBase64url,
  toHex,
  type VersionVector,
  verifyReceipt,
} from '@legation/protocol'
import type { Engine, EntryHead, Receipt } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'
import type { PeerStatus, Replication as ReplicationHooks } from '../http/context.ts'
import type { Mesh, MeshLogger } from '../mesh/index.ts'

/** How often peers exchange version vectors (anti-entropy). @default 1000 */
export const DEFAULT_STATUS_INTERVAL_MS = 1000
/** Entries per `entries` frame, and the byte budget of one frame. */
export const DEFAULT_ENTRIES_PER_FRAME = 256
export const DEFAULT_FRAME_BUDGET = 2 * 1024 * 1024
/** Frames queued for one peer before pushes to it are dropped (it catches up by pulling). */
export const DEFAULT_MAX_QUEUED_FRAMES = 64
/** How long a misbehaving peer stays disconnected. */
export const DEFAULT_BAN_MS = 30_000
/**
 * Frames of entries from one peer being verified and applied at once. Two let the next
 * frame's signatures be checked (on other cores) while the previous one is applied.
 */
export const DEFAULT_FRAMES_IN_FLIGHT = 2
/** A want unanswered for this many status intervals is asked again, of any peer that has it. */
const WANT_TIMEOUT_INTERVALS = 5
/**
 * Receipts are signed for entries whose clock is this recent: a write waits for receipts at
 * most its write-concern timeout, and catching up on old history needs none.
 */
export const DEFAULT_RECEIPT_WINDOW_MS = 120_000
/** Payload digests asked for at once, and how often (in status intervals) missing ones are asked. */
const PAYLOADS_PER_WANT = 256
const PAYLOAD_WANT_INTERVALS = 3

/** The takeover scheduler, as replication sees it. */
export interface DutyPeer {
  onAnnounced(done: { id: string; node: string; at: number }): Promise<void>
  recentDone(limit?: number): Promise<Array<{ id: string; node: string; at: number }>>
}

export interface ReplicationObserver {
  peerMisbehaved?(peerId: string, code: string): void
  peersChanged?(connected: number): void
  lag?(peerId: string, lag: number): void
}

export interface ReplicationInit {
  engine: Engine
  mesh: Mesh
  ed: Ed25519
  logger?: MeshLogger
  observer?: ReplicationObserver
  /** @default DEFAULT_STATUS_INTERVAL_MS */
  statusIntervalMs?: number
  /** @default DEFAULT_BAN_MS */
  banMs?: number
  /** @default Date.now */
  clock?: () => number
}

interface PeerState {
  peerId: string
  nodeId: string | null
  state: string | null
  /** What the peer is known to have. */
  vv: VersionVector
  /** Frames of entries from this peer still being verified and applied, oldest first. */
  applying: Array<Promise<void>>
  queue: Uint8Array[]
  sending: boolean
}

export class Replication implements ReplicationHooks {
  readonly #engine: Engine
  readonly #mesh: Mesh
  readonly #ed: Ed25519
  readonly #log: MeshLogger | undefined
  readonly #observer: ReplicationObserver
  readonly #statusMs: number
  readonly #banMs: number
  readonly #clock: () => number
  readonly #peers = new Map<string, PeerState>()
  readonly #banned = new Map<string, number>()
  /** Receipts from other nodes, by `origin/seq`, then by node. */
  readonly #receipts = new Map<string, Map<string, SignedReceipt>>()
  readonly #waiters = new Set<() => void>()
  /**
   * One want in flight per origin, whichever peer it went to: catching up from several peers
   * must not fetch and verify the same history from each.
   */
  readonly #wants = new Map<string, { peerId: string; at: number }>()
  /**
   * Per origin, the highest seq received without a gap (in frames being applied, not yet
   * necessarily applied), and when it last moved: the next want starts after it, so the next
   * range is on its way while this one is applied.
   */
  readonly #received = new Map<string, { seq: number; at: number }>()
  #ticks = 0
  readonly #unsubscribe: Array<() => void> = []
  #duties: DutyPeer | undefined
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(init: ReplicationInit) {
    this.#engine = init.engine
    this.#mesh = init.mesh
    this.#ed = init.ed
    this.#log = init.logger
    this.#observer = init.observer ?? {}
    this.#statusMs = init.statusIntervalMs ?? DEFAULT_STATUS_INTERVAL_MS
    this.#banMs = init.banMs ?? DEFAULT_BAN_MS
    this.#clock = init.clock ?? Date.now
  }

  /** Connects the takeover scheduler: duties done travel with the sync protocol. */
  setDuties(duties: DutyPeer): void {
    this.#duties = duties
  }

  /** Tells every peer this node did a duty. */
  broadcastDutyDone(done: { id: string; node: string; at: number }): void {
    this.#broadcast({ t: 'dutyDone', done: [done] })
  }

  /** Node ids of the certified peers this node is connected to now (takeover's live set). */
  liveNodes(): string[] {
    return [...this.#peers.values()].flatMap((p) => (p.nodeId ? [p.nodeId] : []))
  }

  /** For the mesh's connection gater: certified in the charter and not banned. */
  isAllowedPeer(peerId: string): boolean {
    const until = this.#banned.get(peerId)
    if (until !== undefined) {
      if (until > this.#clock()) return false
      this.#banned.delete(peerId)
    }
    return this.#engine.charter.nodesByPeerId.has(peerId) && peerId !== this.#selfPeerId()
  }

  #selfPeerId(): string {
    return this.#engine.certifiedNode(this.#engine.nodeId)?.peerId ?? ''
  }

  /** For the mesh's bootstrap list: every other certified node and its charter addresses. */
  bootstrapPeers(): Array<{ peerId: string; addrs: string[] }> {
    const self = this.#selfPeerId()
    return [...this.#engine.charter.nodes.values()]
      .filter((n) => n.peerId !== self)
      .map((n) => ({ peerId: n.peerId, addrs: [...n.addrs] }))
  }

  start(): void {
    this.#unsubscribe.push(
      this.#mesh.onPeerConnected((p) => this.#connected(p)),
      this.#mesh.onPeerDisconnected((p) => this.#disconnected(p)),
      this.#mesh.onFrame((p, f) => this.#onFrame(p, f)),
      this.#mesh.onPeerMisbehaved((p, code) => this.#observer.peerMisbehaved?.(p, code)),
      this.#engine.onEntry((entry, bytes, payloads) =>
        this.#push(entry.body.origin, entry.body.seq, bytes, payloads),
      ),
      this.#engine.onEvidence((a, b) => this.#broadcast({ t: 'evidence', a, b })),
    )
    for (const p of this.#mesh.connectedPeers()) this.#connected(p)
    this.#timer = setInterval(() => this.#tick(), this.#statusMs)
    this.#timer.unref?.()
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    for (const u of this.#unsubscribe.splice(0)) u()
    for (const w of this.#waiters) w()
    this.#peers.clear()
  }

  /** Tells every peer (but `except`) of revocations new to this node. */
  revocationsAdded(list: readonly Revocation[], except?: string): void {
    for (let i = 0; i < list.length; i += MAX_REVOCATIONS_PER_MESSAGE) {
      const msg: SyncMessage = { t: 'revocations', list: list.slice(i, i + MAX_REVOCATIONS_PER_MESSAGE) }
      for (const p of this.#peers.keys()) if (p !== except) this.#send(p, msg)
    }
  }

  /** After the engine adopted a newer charter: drop peers no longer certified, tell the rest. */
  async charterChanged(): Promise<void> {
    await this.#mesh.refreshAllowedPeers()
    this.#broadcast({ t: 'charter', chain: [...this.#engine.charterChain] })
  }

  // ---- Status for /v1/node ----

  peers(): PeerStatus[] {
    const mine = this.#engine.versionVector()
    return [...this.#engine.charter.nodes.values()]
      .filter((n) => n.nodeId !== this.#engine.nodeId)
      .map((n) => {
        const p = this.#peers.get(n.peerId)
        return {
          peerId: n.peerId,
          nodeId: n.nodeId,
          state: n.state,
          connected: p !== undefined,
          versionVector: p ? { ...p.vv } : {},
          lag: p ? lagOf(mine, p.vv) : -1,
        }
      })
  }

  // ---- Write concern ----

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
        const others = [...(byNode?.values() ?? [])].filter((r) => r.body.node !== this.#engine.nodeId)
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
      if (now - asked >= 1000) {
        asked = now
        const theirs = needed.filter((n) => n.origin !== this.#engine.nodeId)
        for (let i = 0; i < theirs.length; i += MAX_WANT) {
          const entries = theirs.slice(i, i + MAX_WANT).map(({ origin, seq }) => ({ origin, seq }))
          if (entries.length > 0) this.#broadcast({ t: 'wantReceipts', entries })
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
        const timer = setTimeout(done, Math.min(left, 250))
        const self = this
        function done() {
          clearTimeout(timer)
          self.#waiters.delete(done)
          resolve()
        }
        this.#waiters.add(done)
      })
    }
  }

  // ---- Peers ----

  #connected(peerId: string): void {
    if (this.#peers.has(peerId)) return
    const node = this.#engine.charter.nodesByPeerId.get(peerId)
    this.#peers.set(peerId, {
      peerId,
      nodeId: node?.nodeId ?? null,
      state: node?.state ?? null,
      vv: {},
      applying: [],
      queue: [],
      sending: false,
    })
    this.#observer.peersChanged?.(this.#peers.size)
    this.#send(peerId, {
      t: 'hello',
      bloc: this.#engine.bloc,
      charter: { hash: this.#engine.charter.hash, version: this.#engine.charter.version },
      vv: this.#engine.versionVector(),
    })
    // Revocations are few and must reach every node: all of them, to every peer that connects.
    const revocations = this.#engine.revocations()
    for (let i = 0; i < revocations.length; i += MAX_REVOCATIONS_PER_MESSAGE) {
      this.#send(peerId, { t: 'revocations', list: revocations.slice(i, i + MAX_REVOCATIONS_PER_MESSAGE) })
    }
    // A node coming back learns what was done while it was away, so it does not redo it.
    void this.#duties
      ?.recentDone(1000)
      .then((done) => {
        if (done.length > 0) this.#send(peerId, { t: 'dutyDone', done })
      })
      .catch(() => undefined)
  }

  #disconnected(peerId: string): void {
    this.#peers.delete(peerId)
    this.#observer.peersChanged?.(this.#peers.size)
    // Its wants go to another peer now.
    for (const [origin, w] of this.#wants) if (w.peerId === peerId) this.#wants.delete(origin)
    this.#pull()
  }

  #tick(): void {
    const vv = this.#engine.versionVector()
    const now = this.#clock()
    // Received but never applied (its frame was dropped with a peer, say): ask again.
    for (const [origin, r] of this.#received) {
      if ((vv[origin] ?? 0) >= r.seq) this.#received.delete(origin)
      else if (now - r.at > WANT_TIMEOUT_INTERVALS * this.#statusMs) this.#received.delete(origin)
    }
    for (const p of this.#peers.values()) {
      this.#send(p.peerId, { t: 'status', vv })
      this.#observer.lag?.(p.peerId, lagOf(vv, p.vv))
    }
    this.#pull()
    if (++this.#ticks % PAYLOAD_WANT_INTERVALS === 0) void this.#wantPayloads().catch(() => undefined)
  }

  /** Asks a peer for payloads that stored records name and this node lacks. */
  async #wantPayloads(): Promise<void> {
    const peers = [...this.#peers.keys()]
    if (peers.length === 0) return
    const digests = await this.#engine.missingPayloads(PAYLOADS_PER_WANT)
    if (digests.length === 0) return
    // A different peer each time: one that lacks them too does not stop the fetch.
    this.#send(peers[this.#ticks % peers.length]!, { t: 'wantPayload', digests })
  }

  #send(peerId: string, msg: SyncMessage): void {
    const p = this.#peers.get(peerId)
    if (!p) return
    if (p.queue.length >= DEFAULT_MAX_QUEUED_FRAMES) {
      // A slow peer: drop what is queued; it pulls what it misses after the next status.
      if (msg.t === 'entries') return
      p.queue = p.queue.filter((_, i) => i % 2 === 0)
    }
    p.queue.push(encodeSyncMessage(msg))
    if (!p.sending) void this.#drain(p)
  }

  async #drain(p: PeerState): Promise<void> {
    p.sending = true
    try {
      while (p.queue.length > 0 && this.#peers.get(p.peerId) === p) {
        const frame = p.queue.shift()!
        await this.#mesh.send(p.peerId, frame)
      }
    } catch (err) {
      this.#log?.debug({ peer: p.peerId, err }, 'send failed')
      p.queue = []
    } finally {
      p.sending = false
    }
  }

  #broadcast(msg: SyncMessage): void {
    for (const p of this.#peers.keys()) this.#send(p, msg)
  }

  #push(origin: string, seq: number, bytes: Uint8Array, payloads: Map<string, Uint8Array>): void {
    for (const p of this.#peers.values()) {
      if ((p.vv[origin] ?? 0) >= seq || p.nodeId === origin) continue
      p.vv[origin] = seq
      this.#send(p.peerId, {
        t: 'entries',
        entries: [bytes],
        payloads: [...payloads].map(([d, payload]) => ({ d: fromHex(d), p: payload })),
      })
    }
  }

  async #onFrame(peerId: string, frame: Uint8Array): Promise<void> {
    const p = this.#peers.get(peerId)
    if (!p) return
    let msg: SyncMessage
    try {
      msg = decodeSyncMessage(frame)
    } catch (err) {
      return this.#misbehaved(p, err)
    }
    try {
      switch (msg.t) {
        case 'hello':
          if (msg.bloc !== this.#engine.bloc) throw new ProtocolError('BLOC_MISMATCH')
          if (msg.charter.version < this.#engine.charter.version) {
            this.#send(peerId, { t: 'charter', chain: [...this.#engine.charterChain] })
          }
          this.#learn(p, msg.vv)
          return
        case 'status':
          this.#learn(p, msg.vv)
          return
        case 'want':
          return await this.#answerWant(p, msg.origin, msg.from, msg.limit)
        case 'entries':
          return await this.#applyEntries(p, msg)
        case 'stored':
          return this.#onStored(msg.receipts)
        case 'wantReceipts':
          return await this.#answerWantReceipts(peerId, msg.entries)
        case 'charter':
          if (await this.#engine.adoptCharter(msg.chain)) {
            this.#log?.info({ version: this.#engine.charter.version }, 'adopted a charter amendment')
            await this.charterChanged()
          }
          return
        case 'wantPayload': {
          const payloads = []
          let bytes = 0
          for (const d of msg.digests) {
            const payload = await this.#engine.getPayload(d)
            if (!payload) continue
            // Within one frame's budget; the peer asks again for the rest.
            if (bytes + payload.length > DEFAULT_FRAME_BUDGET) break
            payloads.push({ d, p: payload })
            bytes += payload.length
          }
          if (payloads.length > 0) this.#send(peerId, { t: 'entries', entries: [], payloads })
          return
        }
        case 'evidence':
          await this.#engine.applyEvidence(msg.a, msg.b)
          return
        case 'revocations': {
          // One that does not verify here is skipped, not held against the peer: it may follow
          // another charter version (a revocation signed before a state rotated its key).
          const added: Revocation[] = []
          for (const rev of msg.list) {
            try {
              const r = await this.#engine.addRevocation(rev)
              if (r.added) added.push(r.revocation)
            } catch (err) {
              if (!(err instanceof ProtocolError)) throw err
              this.#log?.warn(
                { peer: peerId, code: err.code },
                'skipped a revocation that does not verify here',
              )
            }
          }
          if (added.length > 0) {
            this.#log?.info({ count: added.length }, 'learned revocations of officer certificates')
            this.revocationsAdded(added, peerId)
          }
          return
        }
        case 'dutyDone':
          // Claims arrive over the peer's authenticated channel; only certified nodes count.
          for (const d of msg.done)
            if (this.#engine.charter.nodes.has(d.node)) await this.#duties?.onAnnounced(d)
          return
      }
    } catch (err) {
      return this.#misbehaved(p, err)
    }
  }

  /** Merges what the peer says it has, and asks for what we lack. */
  #learn(p: PeerState, vv: VersionVector): void {
    for (const [o, s] of Object.entries(vv)) if ((p.vv[o] ?? 0) < s) p.vv[o] = s
    this.#pull()
  }

  /**
   * For every origin some peer has more of than we have (or are receiving), one want for the
   * next range, to the peer with the fewest wants in flight among those that have it.
   */
  #pull(): void {
    const mine = this.#engine.versionVector()
    const quarantined = this.#engine.quarantined()
    const now = this.#clock()
    const timeout = WANT_TIMEOUT_INTERVALS * this.#statusMs
    const load = new Map<string, number>()
    for (const w of this.#wants.values()) load.set(w.peerId, (load.get(w.peerId) ?? 0) + 1)
    const origins = new Set<string>()
    for (const p of this.#peers.values()) for (const o of Object.keys(p.vv)) origins.add(o)
    for (const origin of origins) {
      if (quarantined.has(origin)) continue
      const inFlight = this.#wants.get(origin)
      if (inFlight && now - inFlight.at < timeout && this.#peers.has(inFlight.peerId)) continue
      const have = Math.max(mine[origin] ?? 0, this.#received.get(origin)?.seq ?? 0)
      let best: PeerState | undefined
      for (const p of this.#peers.values()) {
        if ((p.vv[origin] ?? 0) <= have) continue
        if (!best || (load.get(p.peerId) ?? 0) < (load.get(best.peerId) ?? 0)) best = p
      }
      if (!best) {
        this.#wants.delete(origin)
        continue
      }
      this.#wants.set(origin, { peerId: best.peerId, at: now })
      load.set(best.peerId, (load.get(best.peerId) ?? 0) + 1)
      this.#send(best.peerId, { t: 'want', origin, from: have + 1, limit: DEFAULT_ENTRIES_PER_FRAME })
    }
  }

  async #answerWant(p: PeerState, origin: string, from: number, limit: number): Promise<void> {
    const entries: Uint8Array[] = []
    const payloads: Array<{ d: Uint8Array; p: Uint8Array }> = []
    let bytes = 0
    for await (const e of this.#engine.entries(origin, from, Math.min(limit, MAX_WANT))) {
      const mine: Array<{ d: Uint8Array; p: Uint8Array }> = []
      let size = e.length
      for (const rec of decodeEntry(e).body.changes.flatMap((c) => c.records)) {
        if (!rec.header.payload) continue
        const payload = await this.#engine.getPayload(rec.header.payload)
        if (payload) {
          mine.push({ d: rec.header.payload, p: payload })
          size += payload.length
        }
      }
      // The frame stays under its budget; one entry with its payloads always fits a frame
      // (the engine makes entries that do), so a frame is never empty.
      if (entries.length > 0 && bytes + size > DEFAULT_FRAME_BUDGET) break
      entries.push(e)
      payloads.push(...mine)
      bytes += size
    }
    if (entries.length === 0) return
    const last = from + entries.length - 1
    if ((p.vv[origin] ?? 0) < last) p.vv[origin] = last
    this.#send(p.peerId, { t: 'entries', entries, payloads })
  }

  /**
   * Starts verifying and applying a frame of entries and returns once fewer than
   * DEFAULT_FRAMES_IN_FLIGHT of this peer's frames are in progress: the mesh reads the next
   * frame meanwhile, and a peer faster than this node is slowed down, not buffered without end.
   */
  async #applyEntries(p: PeerState, msg: Extract<SyncMessage, { t: 'entries' }>): Promise<void> {
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
        const receipts: SignedReceipt[] = []
        const recent = this.#clock() - DEFAULT_RECEIPT_WINDOW_MS
        let refused: ProtocolError | undefined
        results.forEach((result, i) => {
          if (result instanceof ProtocolError) refused ??= result
          else if (result === 'applied' || result === 'duplicate') {
            const head = read[i]
            if (head && head.time >= recent)
              receipts.push(this.#engine.signReceipt(head.origin, head.seq, head.hash))
          }
        })
        this.#sendReceipts(receipts)
        if (refused) this.#misbehaved(p, refused)
      })
      .catch((err) => {
        // Our failure (storage, shutting down), not the peer's: the range is asked again later.
        this.#log?.error({ peer: p.peerId, err }, 'could not apply entries from a peer')
      })
    p.applying.push(done)
    while (p.applying.length >= DEFAULT_FRAMES_IN_FLIGHT) await p.applying.shift()
  }

  /** A frame is read: what it carries is on its way; ask for what comes after. */
  #onRead(p: PeerState, entries: ReadonlyArray<EntryHead | null>): void {
    const now = this.#clock()
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
    this.#pull()
  }

  /** Receipts go to each entry's origin, one frame per origin. */
  #sendReceipts(receipts: readonly SignedReceipt[]): void {
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
        this.#send(node.peerId, { t: 'stored', receipts: list.slice(i, i + MAX_WANT) })
      }
    }
  }

  /** Signs receipts for the entries asked about that this node holds durably. */
  async #answerWantReceipts(
    peerId: string,
    entries: ReadonlyArray<{ origin: string; seq: number }>,
  ): Promise<void> {
    const vv = this.#engine.versionVector()
    const receipts: SignedReceipt[] = []
    for (const { origin, seq } of entries) {
      if ((vv[origin] ?? 0) < seq) continue
      const bytes = await this.#engine.getEntryBytes(origin, seq)
      if (!bytes) continue
      receipts.push(this.#engine.signReceipt(origin, seq, openEntry(bytes).hash))
    }
    if (receipts.length > 0) this.#send(peerId, { t: 'stored', receipts })
  }

  #onStored(receipts: SignedReceipt[]): void {
    for (const r of receipts) {
      const node = this.#engine.charter.nodes.get(r.body.node)
      if (!node || !verifyReceipt(this.#ed, r, node.nodeKey)) {
        throw new ProtocolError('SIGNATURE_INVALID', 'receipt does not verify')
      }
      const key = `${r.body.origin}/${r.body.seq}`
      let byNode = this.#receipts.get(key)
      if (!byNode) {
        byNode = new Map()
        this.#receipts.set(key, byNode)
        if (this.#receipts.size > 100_000) this.#receipts.delete(this.#receipts.keys().next().value!)
      }
      byNode.set(r.body.node, r)
    }
    for (const w of [...this.#waiters]) w()
  }

  #misbehaved(p: PeerState, err: unknown): void {
    const code = err instanceof ProtocolError || err instanceof NodeError ? err.code : 'INTERNAL'
    this.#log?.warn({ peer: p.peerId, node: p.nodeId, code }, 'peer sent invalid data; disconnecting')
    this.#observer.peerMisbehaved?.(p.peerId, code)
    this.#banned.set(p.peerId, this.#clock() + this.#banMs)
    this.#peers.delete(p.peerId)
    void this.#mesh.disconnect(p.peerId).catch(() => undefined)
  }
}

function lagOf(mine: VersionVector, theirs: VersionVector): number {
  let lag = 0
  for (const [o, s] of Object.entries(mine)) lag += Math.max(0, s - (theirs[o] ?? 0))
  return lag
}

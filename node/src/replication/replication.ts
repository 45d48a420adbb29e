/**
 * Replication: the sync protocol (protocol/src/sync.ts) over the mesh. This file routes each
 * frame to the concern that handles it; each concern lives in a file named for it.
 *
 * - On connect both sides say `hello` (charter version, version vector); every
 *   `statusIntervalMs` they say `status`. Whoever sees the other ahead for an origin sends
 *   `want` and gets `entries` back (`catch-up.ts`). Entries this node writes are pushed to
 *   every connected peer not known to have them; of others' entries, a node tells one other
 *   peer which version it holds, by its receipt (the entry's hash, signed), so that two
 *   versions of an entry meet: a node holding another version asks for this one. The rest is
 *   pulled after a status.
 * - A peer that applied an entry signs a receipt and sends it to the entry's origin, which
 *   is how a write waits for k other nodes (`receipts.ts`).
 * - Revocations, a newer charter chain and evidence of an equivocation are flooded
 *   (`gossip.ts`).
 * - Other services speak over the same protocol by registering a handler for a message type
 *   (`registrar.ts`), e.g. the duty scheduler for `dutyDone`.
 * - A peer sending anything invalid is disconnected and banned through the peer policy
 *   (`peer-policy.ts`). It never takes the node down.
 *
 * @example
 * const rep = replication({ statusIntervalMs: 1000 })({ engine, mesh, peerPolicy, ed, logger })
 * await rep.start()
 * const receipts = await rep.awaitReceipts([recordId], 1, 5000)
 * await rep.stop()
 */
import { decodeSyncMessage, type Ed25519, ProtocolError, type SyncMessage } from '@legation/protocol'
import type { Engine, Receipt } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'
import type { PeerStatus, Replication as ReplicationHooks } from '../http/context.ts'
import type { MeshLogger } from '../mesh/index.ts'
import { integerOptions } from '../util/options.ts'
import { CatchUp } from './catch-up.ts'
import { Gossip } from './gossip.ts'
import type { PeerPolicyControl } from './peer-policy.ts'
import { lagOf, type PeerState, Peers, type ReplicationMesh } from './peers.ts'
import { DEFAULT_ANNOUNCE_DELAY_MS, Receipts } from './receipts.ts'
import type { SyncHandler, SyncPeer, SyncRegistrar, SyncType } from './registrar.ts'

export { DEFAULT_BAN_MS } from './peer-policy.ts'
export type { ReplicationMesh } from './peers.ts'

/** How often peers exchange version vectors (anti-entropy), in ms. */
export const DEFAULT_STATUS_INTERVAL_MS = 1000
/** Entries asked for in one `want` (one `entries` frame). */
export const DEFAULT_ENTRIES_PER_FRAME = 256
/** Byte budget of one `entries` frame (entries and payloads), under the mesh's 4 MiB frame cap. */
export const DEFAULT_FRAME_BUDGET = 2 * 1024 * 1024
/** Frames queued for one peer before pushes to it are dropped (it catches up by pulling). */
export const DEFAULT_MAX_QUEUED_FRAMES = 64
/**
 * Frames of entries from one peer being verified and applied at once. Two let the next
 * frame's signatures be checked (on other cores) while the previous one is applied.
 */
export const DEFAULT_FRAMES_IN_FLIGHT = 2
/** A want unanswered for this many status intervals is asked again, of any peer that has it. */
export const DEFAULT_WANT_TIMEOUT_INTERVALS = 5
/**
 * Receipts are signed for entries whose clock is this recent, in ms: a write waits for
 * receipts at most its write-concern timeout, and catching up on old history needs none.
 */
export const DEFAULT_RECEIPT_WINDOW_MS = 120_000
/** Payload digests asked for in one `wantPayload`. */
export const DEFAULT_PAYLOADS_PER_WANT = 256
/** How often, in status intervals, payloads that stored records name but this node lacks are asked. */
export const DEFAULT_PAYLOAD_WANT_INTERVALS = 3
/**
 * Peers a node tells which version it holds of another origin's entry (its receipt; an old
 * entry, which gets none, is passed on whole), the origin sending the entry to every peer:
 * what lets two versions of one entry meet, while each node receives each entry about once.
 */
export const DEFAULT_RELAY_FANOUT = 1
/** Entries whose receipts are remembered for waiting writes (least recently used forgotten). */
export const DEFAULT_MAX_TRACKED_RECEIPTS = 100_000

export interface ReplicationInit {
  /** @default DEFAULT_STATUS_INTERVAL_MS */
  statusIntervalMs?: number
  /** @default DEFAULT_ENTRIES_PER_FRAME */
  entriesPerFrame?: number
  /** @default DEFAULT_FRAME_BUDGET */
  frameBudget?: number
  /** @default DEFAULT_MAX_QUEUED_FRAMES */
  maxQueuedFrames?: number
  /** @default DEFAULT_FRAMES_IN_FLIGHT */
  framesInFlight?: number
  /** @default DEFAULT_WANT_TIMEOUT_INTERVALS */
  wantTimeoutIntervals?: number
  /** @default DEFAULT_RECEIPT_WINDOW_MS */
  receiptWindowMs?: number
  /** @default DEFAULT_PAYLOADS_PER_WANT */
  payloadsPerWant?: number
  /** @default DEFAULT_PAYLOAD_WANT_INTERVALS */
  payloadWantIntervals?: number
  /** @default DEFAULT_MAX_TRACKED_RECEIPTS */
  maxTrackedReceipts?: number
  /** @default DEFAULT_RELAY_FANOUT */
  relayFanout?: number
  /** @default DEFAULT_ANNOUNCE_DELAY_MS (receipts.ts) */
  announceDelayMs?: number
}

export interface ReplicationObserver {
  peerMisbehaved?(peerId: string, code: string): void
  peersChanged?(connected: number): void
  lag?(peerId: string, lag: number): void
  /** A sync message of `type`, `bytes` long, was queued for a peer. */
  sent?(type: SyncMessage['t'], bytes: number): void
}

export interface ReplicationComponents {
  engine: Engine
  mesh: ReplicationMesh
  /** Who may be a peer; replication bans through it and tells it of charter amendments. */
  peerPolicy: PeerPolicyControl
  ed: Ed25519
  logger?: MeshLogger
  observer?: ReplicationObserver
  /** @default Date.now */
  clock?: () => number
}

export interface Replication extends ReplicationHooks, SyncRegistrar {
  start(): Promise<void>
  /** Stops talking to peers; resolves once frames being applied have been applied. */
  stop(): Promise<void>
  revocationsAdded(list: Parameters<ReplicationHooks['revocationsAdded']>[0], except?: string): void
  /** Whether this node caught up with a peer since it started: it knows their erasures. */
  caughtUp(): boolean
}

/** The message types replication handles itself; no other service may register for them. */
const OWN_TYPES: ReadonlySet<SyncType> = new Set<SyncType>([
  'hello',
  'status',
  'want',
  'entries',
  'stored',
  'wantReceipts',
  'charter',
  'wantPayload',
  'evidence',
  'revocations',
])

type Options = Required<ReplicationInit>

export function replication(init: ReplicationInit = {}): (components: ReplicationComponents) => Replication {
  const opts: Options = integerOptions('replication', init, {
    statusIntervalMs: DEFAULT_STATUS_INTERVAL_MS,
    entriesPerFrame: DEFAULT_ENTRIES_PER_FRAME,
    frameBudget: DEFAULT_FRAME_BUDGET,
    maxQueuedFrames: DEFAULT_MAX_QUEUED_FRAMES,
    framesInFlight: DEFAULT_FRAMES_IN_FLIGHT,
    wantTimeoutIntervals: DEFAULT_WANT_TIMEOUT_INTERVALS,
    receiptWindowMs: DEFAULT_RECEIPT_WINDOW_MS,
    payloadsPerWant: DEFAULT_PAYLOADS_PER_WANT,
    payloadWantIntervals: DEFAULT_PAYLOAD_WANT_INTERVALS,
    maxTrackedReceipts: DEFAULT_MAX_TRACKED_RECEIPTS,
    relayFanout: DEFAULT_RELAY_FANOUT,
    announceDelayMs: DEFAULT_ANNOUNCE_DELAY_MS,
  })
  return (components) => new SyncReplication(opts, components)
}

class SyncReplication implements Replication {
  readonly #engine: Engine
  readonly #mesh: ReplicationMesh
  readonly #policy: PeerPolicyControl
  readonly #log: MeshLogger | undefined
  readonly #observer: ReplicationObserver
  readonly #statusMs: number
  readonly #peers: Peers
  readonly #receipts: Receipts
  readonly #catchUp: CatchUp
  readonly #gossip: Gossip
  readonly #handlers = new Map<SyncType, SyncHandler<SyncType>>()
  readonly #unsubscribe: Array<() => void> = []
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(opts: Options, c: ReplicationComponents) {
    this.#engine = c.engine
    this.#mesh = c.mesh
    this.#policy = c.peerPolicy
    this.#log = c.logger
    this.#observer = c.observer ?? {}
    this.#statusMs = opts.statusIntervalMs
    const clock = c.clock ?? Date.now
    this.#peers = new Peers(c.mesh, opts.maxQueuedFrames, c.logger, this.#observer.sent)
    this.#receipts = new Receipts(c.engine, this.#peers, c.ed, clock, {
      receiptWindowMs: opts.receiptWindowMs,
      maxTrackedEntries: opts.maxTrackedReceipts,
      announceDelayMs: opts.announceDelayMs,
      misbehaved: (peerId, err) => {
        const p = this.#peers.get(peerId)
        if (p) this.#misbehaved(p, err)
      },
    })
    this.#catchUp = new CatchUp(
      {
        engine: c.engine,
        peers: this.#peers,
        receipts: this.#receipts,
        clock,
        log: c.logger,
        misbehaved: (p, err) => this.#misbehaved(p, err),
      },
      opts,
    )
    this.#gossip = new Gossip({
      engine: c.engine,
      peers: this.#peers,
      log: c.logger,
      isAllowed: (peerId) => this.#policy.isAllowed(peerId),
      charterChanged: () => this.#policy.charterChanged(),
    })
  }

  async start(): Promise<void> {
    this.#unsubscribe.push(
      this.#mesh.onPeerConnected((p) => this.#connected(p)),
      this.#mesh.onPeerDisconnected((p) => this.#disconnected(p)),
      this.#mesh.onFrame((p, f) => this.#onFrame(p, f)),
      this.#mesh.onPeerMisbehaved((p, code) => this.#observer.peerMisbehaved?.(p, code)),
      this.#engine.onEntry((entry, bytes, payloads, hash) =>
        this.#catchUp.push(entry.body.origin, entry.body.seq, bytes, payloads, {
          hash,
          time: entry.body.hlc[0],
        }),
      ),
      this.#engine.onEvidence((a, b) => this.#gossip.evidence(a, b)),
    )
    for (const p of this.#mesh.connectedPeers()) this.#connected(p)
    this.#timer = setInterval(() => this.#tick(), this.#statusMs)
    this.#timer.unref?.()
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    for (const u of this.#unsubscribe.splice(0)) u()
    this.#receipts.wakeAll()
    this.#receipts.close()
    this.#peers.clear()
    await this.#catchUp.settle()
  }

  // ---- Registrar ----

  handle<T extends SyncType>(type: T, handler: SyncHandler<T>): void {
    if (OWN_TYPES.has(type) || this.#handlers.has(type)) {
      throw new NodeError('INTERNAL', `a handler for sync messages of type ${type} is already registered`)
    }
    this.#handlers.set(type, handler as unknown as SyncHandler<SyncType>)
  }

  unhandle(type: SyncType): void {
    this.#handlers.delete(type)
  }

  broadcast(msg: SyncMessage): void {
    this.#peers.broadcast(msg)
  }

  /** Node ids of the certified peers this node is connected to now (takeover's live set). */
  liveNodes(): string[] {
    return this.#peers.liveNodes()
  }

  // ---- Hooks for the HTTP API ----

  revocationsAdded(list: Parameters<ReplicationHooks['revocationsAdded']>[0], except?: string): void {
    this.#gossip.revocationsAdded(list, except)
  }

  async charterChanged(): Promise<void> {
    this.#gossip.charterChanged()
  }

  awaitReceipts(recordIds: readonly string[], k: number, timeoutMs: number): Promise<Receipt[]> {
    return this.#receipts.awaitReceipts(recordIds, k, timeoutMs)
  }

  /** Status for /v1/node: every other certified node, connected or not. */
  /** Whether this node caught up with a peer since it started (CatchUp.caughtUp). */
  caughtUp(): boolean {
    return this.#catchUp.caughtUp()
  }

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

  // ---- Peers coming and going ----

  #connected(peerId: string): void {
    const node = this.#engine.charter.nodesByPeerId.get(peerId)
    const p = this.#peers.add(peerId, node)
    if (!p) return
    this.#observer.peersChanged?.(this.#peers.size)
    this.#peers.send(peerId, {
      t: 'hello',
      bloc: this.#engine.bloc,
      charter: { hash: this.#engine.charter.hash, version: this.#engine.charter.version },
      vv: this.#engine.versionVector(),
    })
    this.#gossip.connected(peerId)
    const from = syncPeer(p)
    if (!from) return
    // Each registered service tells the newcomer what it may have missed.
    for (const [type, handler] of this.#handlers) {
      handler
        .onConnect?.(from)
        .then((msg) => {
          if (msg) this.#peers.send(peerId, msg)
        })
        .catch((err: unknown) => this.#log?.error({ peer: peerId, type, err }, 'a sync handler failed'))
    }
  }

  #disconnected(peerId: string): void {
    this.#peers.remove(peerId)
    this.#observer.peersChanged?.(this.#peers.size)
    this.#catchUp.disconnected(peerId)
  }

  #tick(): void {
    const vv = this.#engine.versionVector()
    for (const p of this.#peers.all()) {
      this.#peers.send(p.peerId, { t: 'status', vv })
      this.#observer.lag?.(p.peerId, lagOf(vv, p.vv))
    }
    this.#catchUp.tick()
    if (this.#engine.restore.pending) this.#checkRestore()
  }

  /**
   * A restored node, or one whose own entries wait after a fork healed, writes again once it
   * holds its own feed back (restore-fence.ts).
   */
  #checkRestore(): void {
    const self = this.#engine.nodeId
    const own = this.#engine.versionVector()[self] ?? 0
    // Own entries a rebuild left waiting, let go of by the held set after its age limit: again.
    if (own < (this.#engine.restore.pending?.ownSeq ?? 0)) {
      this.#engine.healing
        .holdOwn()
        .catch((err: unknown) => this.#log?.error({ err }, 'could not hold own entries'))
    }
    this.#engine.restore
      .check(own, this.#catchUp.heardOf(self))
      .then((lifted) => {
        if (lifted) this.#log?.info({ ownSeq: own }, 'this node has its own feed back: taking writes again')
      })
      .catch((err: unknown) => this.#log?.error({ err }, 'could not lift the restore fence'))
  }

  // ---- Frames ----

  async #onFrame(peerId: string, frame: Uint8Array): Promise<void> {
    const p = this.#peers.get(peerId)
    if (!p) return
    let msg: SyncMessage
    try {
      msg = decodeSyncMessage(frame)
    } catch (err) {
      return this.#misbehaved(p, err)
    }
    const handler = this.#handlers.get(msg.t)
    if (handler) return this.#dispatch(p, handler, msg)
    try {
      await this.#route(p, msg)
    } catch (err) {
      // What the peer sent was refused: its fault. Anything else (our storage failing while we
      // adopt its charter or store its evidence) is ours, and never held against the peer.
      if (err instanceof ProtocolError) this.#misbehaved(p, err)
      else this.#log?.error({ peer: p.peerId, type: msg.t, err }, 'could not handle a peer’s message')
    }
  }

  async #route(p: PeerState, msg: SyncMessage): Promise<void> {
    switch (msg.t) {
      case 'hello':
        if (msg.bloc !== this.#engine.bloc) throw new ProtocolError('BLOC_MISMATCH')
        this.#gossip.helloCharter(p.peerId, msg.charter.version)
        return this.#catchUp.hello(p, msg.vv)
      case 'status':
        return this.#catchUp.learn(p, msg.vv)
      case 'want':
        return await this.#catchUp.answerWant(p, msg.origin, msg.from, msg.limit)
      case 'entries':
        return await this.#catchUp.applyEntries(p, msg)
      case 'wantPayload':
        return await this.#catchUp.answerWantPayload(p, msg.digests)
      case 'stored':
        return await this.#catchUp.announced(p, this.#receipts.onStored(msg.receipts, p.nodeId ?? undefined))
      case 'wantReceipts':
        return await this.#receipts.answerWantReceipts(p.peerId, msg.entries)
      case 'charter':
        return await this.#gossip.onCharter(msg.chain)
      case 'evidence':
        return await this.#gossip.onEvidence(msg.a, msg.b)
      case 'revocations':
        return await this.#gossip.onRevocations(p.peerId, msg.list)
      default:
        // A type nobody here handles (a service not running on this node): dropped.
        return
    }
  }

  /** A registered service's message; its ProtocolError is the peer's fault, anything else ours. */
  async #dispatch(p: PeerState, handler: SyncHandler<SyncType>, msg: SyncMessage): Promise<void> {
    // Only certified peers speak to services (a peer connects only while certified).
    const from = syncPeer(p)
    if (!from) return
    try {
      await handler.onMessage(msg, from)
    } catch (err) {
      if (err instanceof ProtocolError) this.#misbehaved(p, err)
      else this.#log?.error({ peer: p.peerId, type: msg.t, err }, 'a sync handler failed')
    }
  }

  #misbehaved(p: PeerState, err: unknown): void {
    const code = err instanceof ProtocolError || err instanceof NodeError ? err.code : 'INTERNAL'
    this.#log?.warn({ peer: p.peerId, node: p.nodeId, code }, 'peer sent invalid data; disconnecting')
    this.#observer.peerMisbehaved?.(p.peerId, code)
    this.#peers.remove(p.peerId)
    this.#policy.ban(p.peerId)
    void this.#mesh.disconnect(p.peerId).catch(() => undefined)
  }
}

function syncPeer(p: PeerState): SyncPeer | undefined {
  return p.nodeId ? { peerId: p.peerId, nodeId: p.nodeId } : undefined
}

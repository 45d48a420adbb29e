/**
 * The peers replication talks to: what each is known to have, and one send queue per peer.
 *
 * A peer's queue is capped: a slow peer's pushed entries are dropped rather than buffered
 * without end (it pulls what it missed after the next status), an answer to its want taking
 * the place of the oldest pushed entries rather than being dropped, and other messages thin out
 * what can be sent again (entries, statuses, wants) rather than grow the queue. Messages sent
 * once — revocations, evidence, receipts, the charter, duties done — are never dropped; a peer
 * that lets even those pile up is disconnected, and told everything again when it reconnects.
 */
import { encodeSyncMessage, type SyncMessage, type VersionVector } from '@legation/protocol'

/** Messages repeated or asked for again when lost: load shedding may drop these. */
const RESENT: ReadonlySet<SyncMessage['t']> = new Set<SyncMessage['t']>([
  'entries',
  'status',
  'hello',
  'want',
  'wantPayload',
  'wantReceipts',
])
/** How many times the queue cap a peer's queue of messages sent once may grow before it is dropped. */
const CONTROL_QUEUE_FACTOR = 4

interface Queued {
  readonly frame: Uint8Array
  /** Sent again (or asked again) if lost: may be shed. */
  readonly resent: boolean
  /** Entries this node pushed unasked: the first to make room for an answer. */
  readonly pushed: boolean
}

import type { MeshLogger } from '../mesh/index.ts'

/** The mesh, as replication uses it (the libp2p mesh, or a fake in tests). */
export interface ReplicationMesh {
  onFrame(handler: (peerId: string, frame: Uint8Array) => void | Promise<void>): () => void
  onPeerConnected(handler: (peerId: string) => void | Promise<void>): () => void
  onPeerDisconnected(handler: (peerId: string) => void | Promise<void>): () => void
  onPeerMisbehaved(handler: (peerId: string, code: string) => void | Promise<void>): () => void
  connectedPeers(): string[]
  send(peerId: string, frame: Uint8Array): Promise<void>
  disconnect(peerId: string): Promise<void>
}

export interface PeerState {
  readonly peerId: string
  /** The node the charter certified for this peer when it connected. */
  readonly nodeId: string | null
  readonly state: string | null
  /** What the peer is known to have. */
  readonly vv: VersionVector
  /** Frames of entries from this peer still being verified and applied, oldest first. */
  readonly applying: Array<Promise<void>>
  /** How many frames of entries from this peer are being verified and applied now. */
  applyingNow: number
  /**
   * When a frame of entries from this peer last finished being applied here: the peer's stream
   * is read on from then, so what it sent after that frame is on its way.
   */
  appliedAt: number
  /** When this node last read a hello, a status or a frame of entries from this peer. */
  lastHeardAt: number
  /**
   * The length of the peer's own feed when it said hello: what it writes after that, it pushes
   * to this node (undefined before its hello, or for a peer the charter does not name).
   */
  pushesFrom: number | undefined
  /**
   * Per origin, the last range of entries we sent this peer in answer to a want (its last seq)
   * and when: a want that goes back into it soon after is not answered again (CatchUp).
   */
  readonly answered: Map<string, { last: number; at: number }>
  /** When we last sent this peer payloads it asked for: a wantPayload sooner is not answered. */
  payloadsAnsweredAt: number
  queue: Queued[]
  sending: boolean
}

export class Peers {
  readonly #mesh: ReplicationMesh
  readonly #maxQueued: number
  readonly #log: MeshLogger | undefined
  readonly #peers = new Map<string, PeerState>()
  readonly #sent: ((type: SyncMessage['t'], bytes: number) => void) | undefined

  constructor(
    mesh: ReplicationMesh,
    maxQueuedFrames: number,
    log: MeshLogger | undefined,
    sent?: (type: SyncMessage['t'], bytes: number) => void,
  ) {
    this.#mesh = mesh
    this.#maxQueued = maxQueuedFrames
    this.#log = log
    this.#sent = sent
  }

  get size(): number {
    return this.#peers.size
  }

  get(peerId: string): PeerState | undefined {
    return this.#peers.get(peerId)
  }

  has(peerId: string): boolean {
    return this.#peers.has(peerId)
  }

  all(): IterableIterator<PeerState> {
    return this.#peers.values()
  }

  ids(): string[] {
    return [...this.#peers.keys()]
  }

  /** Adds a peer that just connected; undefined if it was already known. */
  add(peerId: string, node: { nodeId: string; state: string } | undefined): PeerState | undefined {
    if (this.#peers.has(peerId)) return undefined
    const p: PeerState = {
      peerId,
      nodeId: node?.nodeId ?? null,
      state: node?.state ?? null,
      vv: {},
      applying: [],
      applyingNow: 0,
      appliedAt: Number.NEGATIVE_INFINITY,
      lastHeardAt: Number.NEGATIVE_INFINITY,
      pushesFrom: undefined,
      answered: new Map(),
      payloadsAnsweredAt: Number.NEGATIVE_INFINITY,
      queue: [],
      sending: false,
    }
    this.#peers.set(peerId, p)
    return p
  }

  /** Forgets a peer; what is queued for it is dropped. */
  remove(peerId: string): boolean {
    return this.#peers.delete(peerId)
  }

  clear(): void {
    this.#peers.clear()
  }

  /** Node ids of the certified peers connected now. */
  liveNodes(): string[] {
    return [...this.#peers.values()].flatMap((p) => (p.nodeId ? [p.nodeId] : []))
  }

  /**
   * Queues `msg` for the peer. `answer`: entries the peer asked for (a want, a wantPayload).
   * When the queue is full, an answer takes the place of the oldest entries pushed unasked:
   * the peer pulls a pushed entry it missed at once (it sees the entries after it, or the
   * origin's status), while an answer it never gets is asked again only after a want timeout,
   * up to four while this peer's frames keep it busy. A slow peer under live load, its queue
   * full of pushes, would otherwise lose most answers and catch up in steps of that timeout.
   */
  send(peerId: string, msg: SyncMessage, answer = false): void {
    const p = this.#peers.get(peerId)
    if (!p) return
    const resent = RESENT.has(msg.t)
    const pushed = msg.t === 'entries' && !answer
    if (p.queue.length >= this.#maxQueued) {
      // A slow peer: it pulls what it misses after the next status. Shed what is sent again.
      if (msg.t === 'entries') {
        const oldest = answer ? p.queue.findIndex((q) => q.pushed) : -1
        if (oldest < 0) return
        p.queue.splice(oldest, 1)
      } else if (this.#thinned(p)) return
    }
    const frame = encodeSyncMessage(msg)
    this.#sent?.(msg.t, frame.length)
    p.queue.push({ frame, resent, pushed })
    if (!p.sending) void this.#drain(p)
  }

  /**
   * A full queue: every other message that is sent again is dropped. Whether the peer is being
   * disconnected instead, as one that reads nothing: even what is sent once piles up.
   */
  #thinned(p: PeerState): boolean {
    let n = 0
    p.queue = p.queue.filter((q) => !q.resent || n++ % 2 === 0)
    if (p.queue.length < this.#maxQueued * CONTROL_QUEUE_FACTOR) return false
    this.#log?.warn({ peer: p.peerId, queued: p.queue.length }, 'peer reads nothing; disconnecting')
    // Dropped from the peers once the mesh says it is gone (replication's disconnect handler):
    // should the disconnect fail, the peer is still served and dropped again later.
    p.queue = []
    void this.#mesh.disconnect(p.peerId).catch((err: unknown) => {
      this.#log?.warn({ peer: p.peerId, err }, 'could not disconnect a peer that reads nothing')
    })
    return true
  }

  /** Sends to every peer but `except`. */
  broadcast(msg: SyncMessage, except?: (peerId: string) => boolean): void {
    for (const peerId of this.#peers.keys()) if (!except?.(peerId)) this.send(peerId, msg)
  }

  async #drain(p: PeerState): Promise<void> {
    p.sending = true
    try {
      while (p.queue.length > 0 && this.#peers.get(p.peerId) === p) {
        const { frame } = p.queue.shift()!
        await this.#mesh.send(p.peerId, frame)
      }
    } catch (err) {
      this.#log?.debug({ peer: p.peerId, err }, 'send failed')
      p.queue = []
    } finally {
      p.sending = false
    }
  }
}

/** Entries this node has that a peer is known not to have. */
export function lagOf(mine: VersionVector, theirs: VersionVector): number {
  let lag = 0
  for (const [o, s] of Object.entries(mine)) lag += Math.max(0, s - (theirs[o] ?? 0))
  return lag
}

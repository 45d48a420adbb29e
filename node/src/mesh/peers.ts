/**
 * Peer state: what the mesh tracks about each connected (or recently connected) peer, when
 * it may forget a peer, and how a caller waits for a peer's sync channel to be open. The
 * channel keeper, the sender and the inbox all work on these records.
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { SyncChannel } from './channel.ts'
import { MeshError } from './errors.ts'
import { FrameQueue } from './inbox.ts'
import type { MeshLibp2p } from './libp2p-node.ts'

export interface PeerState {
  readonly id: string
  readonly peerId: PeerId
  /** The channel frames are sent on; undefined while none is open. */
  channel: SyncChannel | undefined
  /** An outbound channel open is in progress. */
  opening: boolean
  /** `onPeerConnected` was emitted and `onPeerDisconnected` not yet. */
  announced: boolean
  reopenTimer: ReturnType<typeof setTimeout> | undefined
  reopenAttempts: number
  /** Tail of the per-peer send queue: sends are handed over in call order. */
  sendTail: Promise<void>
  pendingSends: number
  /** Re-evaluated whenever the channel or connection state changes. */
  readonly waiters: Set<() => void>
  /** Received frames waiting for the frame handlers. */
  readonly inbox: FrameQueue
}

export class Peers {
  readonly #map = new Map<string, PeerState>()
  readonly #libp2p: MeshLibp2p
  readonly #isRunning: () => boolean
  readonly #channelOpenTimeout: number

  constructor(libp2p: MeshLibp2p, isRunning: () => boolean, channelOpenTimeout: number) {
    this.#libp2p = libp2p
    this.#isRunning = isRunning
    this.#channelOpenTimeout = channelOpenTimeout
  }

  get(id: string): PeerState | undefined {
    return this.#map.get(id)
  }

  getOrCreate(peerId: PeerId): PeerState {
    const id = peerId.toString()
    let peer = this.#map.get(id)
    if (peer === undefined) {
      peer = {
        id,
        peerId,
        channel: undefined,
        opening: false,
        announced: false,
        reopenTimer: undefined,
        reopenAttempts: 0,
        sendTail: Promise.resolve(),
        pendingSends: 0,
        waiters: new Set(),
        inbox: new FrameQueue(),
      }
      this.#map.set(id, peer)
    }
    return peer
  }

  values(): IterableIterator<PeerState> {
    return this.#map.values()
  }

  clear(): void {
    this.#map.clear()
  }

  /** Peers with an open sync channel, i.e. those `send()` can reach now. */
  sendable(): string[] {
    const out: string[] = []
    for (const peer of this.#map.values()) {
      if (peer.channel?.writable === true) {
        out.push(peer.id)
      }
    }
    return out
  }

  hasConnection(peer: PeerState): boolean {
    return this.#libp2p.getConnections(peer.peerId).some((c) => c.status === 'open')
  }

  /** Forget a peer once nothing refers to it any more. */
  maybeForget(peer: PeerState): void {
    if (
      this.#map.get(peer.id) === peer &&
      peer.channel === undefined &&
      !peer.opening &&
      !peer.inbox.delivering &&
      peer.pendingSends === 0 &&
      peer.waiters.size === 0 &&
      !this.hasConnection(peer)
    ) {
      if (peer.reopenTimer !== undefined) {
        clearTimeout(peer.reopenTimer)
      }
      this.#map.delete(peer.id)
    }
  }

  notifyWaiters(peer: PeerState): void {
    for (const waiter of [...peer.waiters]) {
      waiter()
    }
  }

  /** Resolve with the peer's open channel, waiting up to `channelOpenTimeout` for one while connected. */
  waitForChannel(peer: PeerState, options?: AbortOptions): Promise<SyncChannel> {
    const ready = peer.channel
    if (ready?.writable === true) {
      return Promise.resolve(ready)
    }
    if (!this.#isRunning()) {
      return Promise.reject(new MeshError('MESH_NOT_STARTED'))
    }
    if (!peer.opening && !this.hasConnection(peer)) {
      return Promise.reject(new MeshError('MESH_PEER_NOT_CONNECTED', `Peer ${peer.id} is not connected`))
    }
    return new Promise<SyncChannel>((resolve, reject) => {
      const signal = options?.signal
      const finish = (err: unknown, channel?: SyncChannel): void => {
        clearTimeout(timer)
        peer.waiters.delete(check)
        signal?.removeEventListener('abort', onAbort)
        if (channel !== undefined) {
          resolve(channel)
        } else {
          reject(err)
        }
      }
      const check = (): void => {
        const channel = peer.channel
        if (channel?.writable === true) {
          finish(undefined, channel)
        } else if (!this.#isRunning()) {
          finish(new MeshError('MESH_NOT_STARTED'))
        } else if (!peer.opening && !this.hasConnection(peer)) {
          finish(new MeshError('MESH_PEER_NOT_CONNECTED', `Peer ${peer.id} disconnected`))
        }
      }
      const onAbort = (): void => {
        finish(signal?.reason ?? new MeshError('MESH_ABORTED'))
      }
      const timer = setTimeout(() => {
        finish(
          new MeshError(
            'MESH_PEER_NOT_CONNECTED',
            `No sync channel to ${peer.id} within ${this.#channelOpenTimeout} ms`,
          ),
        )
      }, this.#channelOpenTimeout)
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort)
      peer.waiters.add(check)
    })
  }
}

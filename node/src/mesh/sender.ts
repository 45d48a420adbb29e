/**
 * Outgoing frames: one send queue per peer, so frames to a peer are handed to its stream in
 * call order, and the write-buffer cap (`maxBufferedBytesPerPeer`), so awaiting `send` applies
 * backpressure from a slow peer without holding up sends to the others.
 */
import type { AbortOptions } from '@libp2p/interface'
import { MeshError } from './errors.ts'
import { errorFields, type MeshLogger, noop } from './log.ts'
import type { Peers } from './peers.ts'
import type { MeshTraffic } from './traffic.ts'

export interface SenderInit {
  readonly peers: Peers
  readonly maxFrameBytes: number
  readonly isRunning: () => boolean
  readonly isAllowed: (peerId: string) => boolean
  readonly log: MeshLogger
  /** Counts what is handed to peers' streams. */
  readonly traffic: MeshTraffic
}

export class Sender {
  readonly #init: SenderInit

  constructor(init: SenderInit) {
    this.#init = init
  }

  /** See `Mesh.send`. */
  send(peerId: string, frame: Uint8Array, options?: AbortOptions): Promise<void> {
    const { peers, maxFrameBytes } = this.#init
    if (!this.#init.isRunning()) {
      return Promise.reject(new MeshError('MESH_NOT_STARTED'))
    }
    if (frame.byteLength > maxFrameBytes) {
      return Promise.reject(
        new MeshError('MESH_FRAME_TOO_LARGE', `Frame of ${frame.byteLength} bytes exceeds ${maxFrameBytes}`),
      )
    }
    const peer = peers.get(peerId)
    if (peer === undefined) {
      return Promise.reject(
        new MeshError(this.#init.isAllowed(peerId) ? 'MESH_PEER_NOT_CONNECTED' : 'MESH_PEER_NOT_ALLOWED'),
      )
    }

    // fast path: nothing queued ahead of us and room in the stream. Keeps the
    // common case free of promise chaining (and so of microtask hops)
    const channel = peer.channel
    if (peer.pendingSends === 0 && channel !== undefined && channel.canWriteNow(frame.byteLength)) {
      try {
        channel.write(frame)
        this.#init.traffic.sent(frame.byteLength)
        return Promise.resolve()
      } catch (err) {
        return Promise.reject(err)
      }
    }

    peer.pendingSends++
    const result = peer.sendTail.then(async () => {
      try {
        const ch = await peers.waitForChannel(peer, options)
        await ch.waitForCapacity(frame.byteLength, options)
        ch.write(frame)
        this.#init.traffic.sent(frame.byteLength)
      } finally {
        peer.pendingSends--
      }
    })
    peer.sendTail = result.then(noop, noop)
    return result
  }

  /** See `Mesh.broadcast`. */
  async broadcast(frame: Uint8Array, options?: AbortOptions): Promise<{ sent: number; failed: number }> {
    const targets = this.#init.peers.sendable()
    const results = await Promise.allSettled(targets.map((peerId) => this.send(peerId, frame, options)))
    let failed = 0
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        failed++
        this.#init.log.debug(
          { peer: targets[i], bytes: frame.byteLength, ...errorFields(result.reason) },
          'broadcast to peer failed',
        )
      }
    })
    return { sent: targets.length - failed, failed }
  }
}

/**
 * Incoming frames: each peer's received frames wait in a queue and go to the `onFrame`
 * handlers in arrival order, one at a time, across channel replacements. A queue that grows
 * past `maxInboundQueueBytes` pauses the channel (yamux then stops granting the peer send
 * window) until it drains to half; a handler that fails aborts that peer's channel only.
 */
import type { SyncChannel } from './channel.ts'
import { MeshError } from './errors.ts'
import type { FrameHandler } from './events.ts'
import { errorFields, type MeshLogger } from './log.ts'
import type { PeerState, Peers } from './peers.ts'
import type { MeshTraffic } from './traffic.ts'

interface InboxEntry {
  readonly frame: Uint8Array
  readonly channel: SyncChannel
}

/** Compact the queue's array once this many delivered slots lead it. */
const COMPACT_AFTER = 1024

/** One peer's received frames waiting for the handlers, in arrival order. */
export class FrameQueue {
  #entries: Array<InboxEntry | undefined> = []
  #head = 0
  /** Bytes of the frames waiting. */
  bytes = 0
  /** A delivery loop is running for this queue. */
  delivering = false

  get empty(): boolean {
    return this.#head >= this.#entries.length
  }

  push(frame: Uint8Array, channel: SyncChannel): void {
    this.#entries.push({ frame, channel })
    this.bytes += frame.byteLength
  }

  shift(): InboxEntry | undefined {
    if (this.empty) {
      return undefined
    }
    const entry = this.#entries[this.#head]!
    this.#entries[this.#head] = undefined
    this.#head++
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head)
      this.#head = 0
    }
    this.bytes -= entry.frame.byteLength
    return entry
  }

  /** Release the array once drained. */
  reset(): void {
    this.#entries = []
    this.#head = 0
    this.bytes = 0
  }
}

export interface InboxInit {
  readonly peers: Peers
  readonly handlers: ReadonlySet<FrameHandler>
  readonly maxInboundQueueBytes: number
  readonly isRunning: () => boolean
  readonly log: MeshLogger
  /** Counts what peers' streams delivered. */
  readonly traffic: MeshTraffic
}

export class Inbox {
  readonly #init: InboxInit
  readonly #lowWater: number

  constructor(init: InboxInit) {
    this.#init = init
    this.#lowWater = Math.floor(init.maxInboundQueueBytes / 2)
  }

  /** The channel's `onFrames`: queue the frames a chunk completed and start delivering. */
  readonly onChannelFrames = (channel: SyncChannel, frames: Uint8Array[]): void => {
    const peer = this.#init.peers.get(channel.peerId)
    if (peer === undefined || !this.#init.isRunning()) {
      return
    }
    for (const frame of frames) {
      peer.inbox.push(frame, channel)
      this.#init.traffic.received(frame.byteLength)
    }
    if (peer.inbox.bytes > this.#init.maxInboundQueueBytes) {
      // a slow handler: stop reading so yamux stops granting the remote send
      // window, instead of buffering without bound
      channel.pause()
    }
    if (!peer.inbox.delivering) {
      void this.#deliver(peer)
    }
  }

  /**
   * Drain a peer's inbox through the frame handlers, one frame at a time.
   * Synchronous handlers are called without any await so a burst of frames is
   * handled in one go; only a handler that returns a promise is awaited.
   */
  async #deliver(peer: PeerState): Promise<void> {
    const { isRunning, handlers, log, peers } = this.#init
    const queue = peer.inbox
    queue.delivering = true
    try {
      let entry = isRunning() ? queue.shift() : undefined
      while (entry !== undefined) {
        if (!entry.channel.failed) {
          try {
            for (const handler of handlers) {
              const result = handler(peer.id, entry.frame)
              if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
                await result
              }
            }
          } catch (err) {
            log.error(
              { peer: peer.id, bytes: entry.frame.byteLength, ...errorFields(err) },
              'frame handler failed; aborting the sync channel of this peer',
            )
            // frames queued behind this one came on the same channel and may
            // depend on it: drop them (fail() marks them undeliverable)
            entry.channel.fail(new MeshError('MESH_HANDLER_FAILED', undefined, { cause: err }))
          }
        }

        if (queue.bytes <= this.#lowWater) {
          // the paused channel may be an older one than the current, or the
          // current one while we still drain frames of an older one
          if (entry.channel.paused) {
            entry.channel.resume()
          }
          if (peer.channel?.paused === true) {
            peer.channel.resume()
          }
        }
        entry = isRunning() ? queue.shift() : undefined
      }
    } finally {
      if (queue.empty) {
        queue.reset()
      }
      queue.delivering = false
      // frames pushed by a resume() that re-entered during the last await
      if (isRunning() && !queue.empty) {
        void this.#deliver(peer)
      } else {
        peers.maybeForget(peer)
      }
    }
  }
}

/**
 * How other services speak over the sync protocol without replication knowing them: they
 * register a handler for a message type, the way a libp2p service registers a protocol with
 * the registrar. Replication decodes and schema-checks each frame, then hands the message to
 * the handler registered for its type.
 *
 * @example
 * registrar.handle('dutyDone', {
 *   onMessage: (msg, from) => scheduler.onAnnounced(msg.done),
 *   onConnect: async () => ({ t: 'dutyDone', done: await scheduler.recentDone(1000) }),
 * })
 */
import type { SyncMessage } from '@legation/protocol'

export type SyncType = SyncMessage['t']
export type SyncMessageOf<T extends SyncType> = Extract<SyncMessage, { t: T }>

/** A connected peer, as handlers see it. */
export interface SyncPeer {
  readonly peerId: string
  /** The node id the charter certifies for this peer. */
  readonly nodeId: string
}

export interface SyncHandler<T extends SyncType> {
  /**
   * A message of this type from a peer. Throwing a ProtocolError counts as the peer's
   * misbehaviour (it is dropped and banned); any other error is logged.
   */
  onMessage(msg: SyncMessageOf<T>, from: SyncPeer): void | Promise<void>
  /** What to tell a peer that just connected (what it may have missed), if anything. */
  onConnect?(peer: SyncPeer): Promise<SyncMessageOf<T> | undefined>
}

export interface SyncRegistrar {
  /** Routes messages of `type` to `handler`. One handler per type; registering twice throws. */
  handle<T extends SyncType>(type: T, handler: SyncHandler<T>): void
  unhandle(type: SyncType): void
  /** Sends a message to every connected peer. */
  broadcast(msg: SyncMessage): void
  /** Node ids of the peers connected now (this node not included). */
  liveNodes(): string[]
}

/**
 * The registrar of a node running without a mesh: no peers, so nothing is sent or heard, and
 * every duty falls to this node.
 */
export const LOCAL_REGISTRAR: SyncRegistrar = Object.freeze({
  handle: () => undefined,
  unhandle: () => undefined,
  broadcast: () => undefined,
  liveNodes: () => [],
})

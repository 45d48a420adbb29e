/**
 * One sync channel per connected peer, kept open: opened by exactly one side when a
 * connection comes up, accepted from the other, reopened with backoff after it fails, replaced
 * when a newer one appears. It turns channel life into the mesh's `onPeerConnected` /
 * `onPeerDisconnected` / `onPeerMisbehaved` events.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { backoffDelay } from '../util/backoff.ts'
import { SyncChannel } from './channel.ts'
import { MeshError, type MeshMisbehaviourCode } from './errors.ts'
import type { MeshEvents } from './events.ts'
import type { Inbox } from './inbox.ts'
import type { MeshLibp2p } from './libp2p-node.ts'
import { errorFields, type MeshLogger, noop } from './log.ts'
import type { ResolvedInit } from './options.ts'
import type { PeerState, Peers } from './peers.ts'

/** A channel that lived this long counts as healthy: its reopen backoff resets. */
const HEALTHY_CHANNEL_AGE = 10_000

export interface ChannelKeeperInit {
  readonly self: string
  readonly syncProtocol: string
  readonly options: ResolvedInit
  readonly libp2p: MeshLibp2p
  readonly peers: Peers
  readonly inbox: Inbox
  readonly events: MeshEvents
  readonly isAllowed: (peerId: string) => boolean
  readonly isRunning: () => boolean
  readonly log: MeshLogger
  /** An allowed peer connected (the bootstrap dialer resets its backoff). */
  readonly onPeerConnect: (peerId: string) => void
}

export class ChannelKeeper {
  readonly #init: ChannelKeeperInit

  constructor(init: ChannelKeeperInit) {
    this.#init = init
  }

  /**
   * Exactly one side opens the channel: the one whose peer id sorts lower.
   * Both sides compute the same answer without talking, so there is never a
   * race between two channels opened at once, and after a reconnect the same
   * side reopens it.
   */
  isOpener(remotePeerId: string): boolean {
    return this.#init.self < remotePeerId
  }

  /** Open the channel to a connected peer if we are its opener (after a dial). */
  ensureChannel(peer: PeerState): void {
    if (this.isOpener(peer.id)) {
      void this.#open(peer)
    }
  }

  /** Self-healing: open a channel to every connected peer we open for that has none. */
  ensureChannels(): void {
    const { libp2p, peers, isAllowed } = this.#init
    for (const remote of libp2p.getPeers()) {
      const id = remote.toString()
      if (!this.isOpener(id) || !isAllowed(id)) {
        continue
      }
      const peer = peers.getOrCreate(remote)
      if (peer.channel === undefined && !peer.opening && peer.reopenTimer === undefined) {
        void this.#open(peer)
      }
    }
  }

  /** On stop: cancel reopens and abort every channel. */
  closeAll(): void {
    for (const peer of this.#init.peers.values()) {
      if (peer.reopenTimer !== undefined) {
        clearTimeout(peer.reopenTimer)
        peer.reopenTimer = undefined
      }
      peer.channel?.abort(new MeshError('MESH_CHANNEL_CLOSED', 'Mesh stopping'))
      this.#init.peers.notifyWaiters(peer)
    }
  }

  readonly onPeerConnect = (evt: CustomEvent<PeerId>): void => {
    const { isRunning, isAllowed, libp2p, peers, log } = this.#init
    const id = evt.detail.toString()
    if (!isRunning()) {
      return
    }
    if (!isAllowed(id)) {
      // the allowed set changed between the gater's check and now
      void libp2p.hangUp(evt.detail).catch(noop)
      return
    }
    this.#init.onPeerConnect(id)
    const peer = peers.getOrCreate(evt.detail)
    log.debug({ peer: id }, 'peer connected')
    this.ensureChannel(peer)
    peers.notifyWaiters(peer)
  }

  readonly onPeerDisconnect = (evt: CustomEvent<PeerId>): void => {
    const { peers, log, events } = this.#init
    const id = evt.detail.toString()
    const peer = peers.get(id)
    if (peer === undefined) {
      return
    }
    log.debug({ peer: id }, 'peer disconnected')
    if (peer.reopenTimer !== undefined) {
      clearTimeout(peer.reopenTimer)
      peer.reopenTimer = undefined
    }
    peer.reopenAttempts = 0
    if (peer.channel !== undefined) {
      // normally already closed with its connection; this also emits the
      // disconnected event through onChannelClose
      peer.channel.abort(new MeshError('MESH_CHANNEL_CLOSED', 'Connection closed'))
    } else if (peer.announced) {
      peer.announced = false
      events.peerDisconnected(id)
    }
    peers.notifyWaiters(peer)
    peers.maybeForget(peer)
  }

  /** Inbound sync stream: the remote (the opener) created our channel. */
  readonly onInboundStream = (stream: Stream, connection: Connection): void => {
    const id = connection.remotePeer.toString()
    if (!this.#init.isRunning() || !this.#init.isAllowed(id)) {
      stream.abort(new MeshError('MESH_PEER_NOT_ALLOWED'))
      return
    }
    this.#attach(this.#init.peers.getOrCreate(connection.remotePeer), stream, connection)
  }

  async #open(peer: PeerState): Promise<void> {
    const { isRunning, libp2p, syncProtocol, options, peers, log } = this.#init
    if (!isRunning() || peer.opening || peer.channel?.writable === true) {
      return
    }
    const connection = libp2p.getConnections(peer.peerId).find((c) => c.status === 'open')
    if (connection === undefined) {
      return
    }
    peer.opening = true
    try {
      const stream = await connection.newStream(syncProtocol, {
        signal: AbortSignal.timeout(options.channelOpenTimeout),
      })
      if (!isRunning()) {
        stream.abort(new MeshError('MESH_CHANNEL_CLOSED', 'Mesh stopping'))
        return
      }
      this.#attach(peer, stream, connection)
    } catch (err) {
      log.debug({ peer: peer.id, ...errorFields(err) }, 'could not open sync channel')
      if (isRunning() && peers.hasConnection(peer)) {
        this.#scheduleReopen(peer)
      }
    } finally {
      peer.opening = false
      peers.notifyWaiters(peer)
    }
  }

  #scheduleReopen(peer: PeerState): void {
    const { options, isRunning, log } = this.#init
    if (peer.reopenTimer !== undefined || !isRunning()) {
      return
    }
    const delay = backoffDelay(peer.reopenAttempts++, {
      minMs: options.redialMinDelay,
      maxMs: options.redialMaxDelay,
    })
    log.debug({ peer: peer.id, delay }, 'reopening sync channel after delay')
    peer.reopenTimer = setTimeout(() => {
      peer.reopenTimer = undefined
      void this.#open(peer)
    }, delay)
    peer.reopenTimer.unref?.()
  }

  #attach(peer: PeerState, stream: Stream, connection: Connection): void {
    const { options, inbox, log, events, peers } = this.#init
    const previous = peer.channel
    const channel = new SyncChannel({
      peerId: peer.id,
      stream,
      connection,
      maxFrameBytes: options.maxFrameBytes,
      maxBufferedBytes: options.maxBufferedBytesPerPeer,
      maxReadBufferBytes: options.maxStreamWindowBytes + 2 * options.maxFrameBytes,
      onFrames: inbox.onChannelFrames,
      onMisbehaviour: this.#onMisbehaviour,
      onClose: this.#onClose,
    })
    if (channel.closed) {
      return
    }
    peer.channel = channel
    if (previous !== undefined && !previous.closed) {
      // newest wins: after a reconnect race the old stream may linger on a
      // connection that is about to close; it must not carry sends any more
      log.debug({ peer: peer.id }, 'replacing sync channel')
      previous.abort(new MeshError('MESH_CHANNEL_CLOSED', 'Replaced by a newer channel'))
    }
    log.debug({ peer: peer.id, direction: stream.direction }, 'sync channel open')
    if (!peer.announced) {
      peer.announced = true
      events.peerConnected(peer.id)
    }
    peers.notifyWaiters(peer)
  }

  readonly #onClose = (channel: SyncChannel, err?: Error): void => {
    const { peers, log, events, isRunning } = this.#init
    const peer = peers.get(channel.peerId)
    if (peer === undefined || peer.channel !== channel) {
      return
    }
    peer.channel = undefined
    if (peer.pendingSends === 0) {
      log.debug({ peer: peer.id, ...(err === undefined ? {} : errorFields(err)) }, 'sync channel closed')
    }
    if (Date.now() - channel.openedAt >= HEALTHY_CHANNEL_AGE) {
      peer.reopenAttempts = 0
    }
    if (peer.announced) {
      peer.announced = false
      events.peerDisconnected(peer.id)
    }
    if (isRunning() && this.isOpener(peer.id) && peers.hasConnection(peer)) {
      this.#scheduleReopen(peer)
    }
    peers.notifyWaiters(peer)
    peers.maybeForget(peer)
  }

  readonly #onMisbehaviour = (
    channel: SyncChannel,
    err: MeshError & { code: MeshMisbehaviourCode },
  ): void => {
    this.#init.log.warn(
      { peer: channel.peerId, code: err.code },
      'peer sent an invalid frame; aborting its sync channel',
    )
    this.#init.events.peerMisbehaved(channel.peerId, err.code)
  }
}

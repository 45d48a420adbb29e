/**
 * The mesh: a libp2p node for a private network of certified peers, plus one application
 * protocol (`<prefix>/sync/1.0.0`) that carries length-prefixed byte frames over one
 * long-lived stream per peer. This file is the facade; each concern lives in its own file:
 *
 * - `gater.ts`: who may connect (the peer policy, asked on every dial and connection);
 * - `libp2p-node.ts`: the libp2p node (TCP, noise, yamux, the bloc's private DHT);
 * - `channel-keeper.ts`: one sync channel per connected peer, reopened after failures;
 * - `sender.ts` / `inbox.ts`: outgoing frames with backpressure / incoming frames to handlers;
 * - `bootstrap-dialer.ts`: dialling the certified peers with backoff, and the DHT lookup;
 * - `peers.ts`: the per-peer state they share; `channel.ts` / `framing.ts`: one stream's bytes.
 *
 * @example
 * const m = mesh({ privateKey: seed, listen: ['/ip4/0.0.0.0/tcp/4001'], protocolPrefix: '/legation/b1' })({
 *   peerPolicy,
 *   logger,
 * })
 * m.onFrame((peerId, frame) => handle(peerId, frame))
 * await m.start()
 * await m.send(peerId, frame)
 */
import type { AbortOptions, Connection } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { COMPONENTS } from '../logger.ts'
import { BootstrapDialer } from './bootstrap-dialer.ts'
import { ChannelKeeper } from './channel-keeper.ts'
import { MeshError } from './errors.ts'
import {
  type FrameHandler,
  MeshEvents,
  type MisbehaviourHandler,
  type PeerHandler,
  subscribe,
} from './events.ts'
import { allowCheck, connectionGater, dropDisallowed } from './gater.ts'
import { Inbox } from './inbox.ts'
import { peerIdFromSeed } from './keys.ts'
import { createMeshLibp2p, type MeshLibp2p } from './libp2p-node.ts'
import { errorFields, type MeshLogger, noop } from './log.ts'
import { withPeerId } from './multiaddrs.ts'
import { type MeshInit, type ResolvedInit, resolveInit } from './options.ts'
import type { PeerPolicy } from './peer-policy.ts'
import { Peers } from './peers.ts'
import { Sender } from './sender.ts'
import { corkSocketWrites, lazyWindowUpdates } from './socket-writes.ts'
import { MeshTraffic } from './traffic.ts'

/** Channels per connection: one live plus slack for one being replaced. */
const MAX_SYNC_STREAMS_PER_CONNECTION = 4

export interface MeshComponents {
  /** Who may connect, and whom to keep dialling. */
  readonly peerPolicy: PeerPolicy
  /** Where to log; the mesh names its own component. */
  readonly logger: MeshLogger
}

/** The parts that need the libp2p node, built on the first `start()`. */
interface Parts {
  readonly libp2p: MeshLibp2p
  readonly peers: Peers
  readonly sender: Sender
  readonly keeper: ChannelKeeper
  readonly dialer: BootstrapDialer
}

/**
 * The mesh service factory: options are checked here, once (throws `MESH_INVALID_CONFIG`).
 * Nothing listens or dials before `start()`.
 */
export function mesh(init: MeshInit): (components: MeshComponents) => Mesh {
  const options = resolveInit(init)
  return (components) => new Mesh(options, components)
}

/** A node of the private mesh. Build it with `mesh(init)(components)`. */
export class Mesh {
  /** The peer id for a seed, without creating a node. */
  static peerIdFromSeed(seed: Uint8Array): string {
    return peerIdFromSeed(seed)
  }

  /** This node's base58btc peer id. */
  readonly peerId: string
  /** The protocol id frames travel on. */
  readonly syncProtocol: string
  /** Frames and bytes sent to and received from peers since the node started. */
  readonly traffic = new MeshTraffic()

  readonly #options: ResolvedInit
  readonly #peerPolicy: PeerPolicy
  readonly #log: MeshLogger
  readonly #events: MeshEvents
  readonly #isAllowed: (peerId: string) => boolean
  #parts: Promise<Parts> | undefined
  #built: Parts | undefined
  #running = false
  #unsubscribePolicy: () => void = noop

  /** @internal use `mesh(init)(components)` */
  constructor(options: ResolvedInit, components: MeshComponents) {
    this.#options = options
    this.#peerPolicy = components.peerPolicy
    this.peerId = peerIdFromSeed(options.privateKey)
    this.syncProtocol = `${options.protocolPrefix}/sync/1.0.0`
    this.#log = components.logger.child({ component: COMPONENTS.mesh }).child({ self: this.peerId })
    this.#events = new MeshEvents(this.#log)
    this.#isAllowed = allowCheck(components.peerPolicy, this.#log)
  }

  // --------------------------------------------------------------- lifecycle

  isStarted(): boolean {
    return this.#running
  }

  async start(): Promise<void> {
    if (this.#running) {
      return
    }
    this.#parts ??= this.#build()
    const { libp2p, keeper, dialer } = await this.#parts
    if (this.#running) {
      return
    }
    if (!lazyWindowUpdates()) this.#unpatched('yamux window updates')
    libp2p.addEventListener('connection:open', this.#onConnectionOpen)
    libp2p.addEventListener('peer:connect', keeper.onPeerConnect)
    libp2p.addEventListener('peer:disconnect', keeper.onPeerDisconnect)
    await libp2p.handle(this.syncProtocol, keeper.onInboundStream, {
      maxInboundStreams: MAX_SYNC_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_SYNC_STREAMS_PER_CONNECTION,
      // registering twice (start after stop) must not throw
      force: true,
    })
    // running before libp2p starts listening: a peer that dials us the moment
    // the socket is bound fires 'peer:connect' and opens its channel while
    // libp2p.start() is still pending, and neither may be ignored (nothing
    // would ever re-trigger opening that channel)
    this.#running = true
    try {
      await libp2p.start()
    } catch (err) {
      this.#running = false
      libp2p.removeEventListener('connection:open', this.#onConnectionOpen)
      libp2p.removeEventListener('peer:connect', keeper.onPeerConnect)
      libp2p.removeEventListener('peer:disconnect', keeper.onPeerDisconnect)
      throw err
    }
    this.#unsubscribePolicy = this.#peerPolicy.onChange(this.#onPolicyChange)
    this.#log.info({ addrs: this.addrs() }, 'mesh started')
    dialer.start()
  }

  async stop(): Promise<void> {
    const parts = this.#built
    if (!this.#running || parts === undefined) {
      return
    }
    this.#running = false
    this.#unsubscribePolicy()
    this.#unsubscribePolicy = noop
    parts.dialer.stop()
    parts.keeper.closeAll()
    await parts.libp2p.stop()
    parts.libp2p.removeEventListener('connection:open', this.#onConnectionOpen)
    parts.libp2p.removeEventListener('peer:connect', parts.keeper.onPeerConnect)
    parts.libp2p.removeEventListener('peer:disconnect', parts.keeper.onPeerDisconnect)
    parts.peers.clear()
    this.#log.info({}, 'mesh stopped')
  }

  /** Each connection's socket writes a message in one system call (socket-writes.ts). */
  readonly #onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    if (!corkSocketWrites((evt.detail as Connection & { maConn?: unknown }).maConn)) {
      this.#unpatched('corked socket writes')
    }
  }

  readonly #warnedUnpatched = new Set<string>()

  #unpatched(what: string): void {
    if (this.#warnedUnpatched.has(what)) return
    this.#warnedUnpatched.add(what)
    this.#log.warn(
      { what },
      'a libp2p library is not the version socket-writes.ts patches: it works as it is, with more socket writes',
    )
  }

  // ------------------------------------------------------------ inspection

  /** Listening multiaddrs, each with a `/p2p/<peerId>` suffix. */
  addrs(): string[] {
    const libp2p = this.#built?.libp2p
    return libp2p === undefined
      ? []
      : libp2p.getMultiaddrs().map((ma) => withPeerId(ma, this.peerId).toString())
  }

  /** Peers with an open sync channel, i.e. those `send()` can reach now. */
  connectedPeers(): string[] {
    return this.#built?.peers.sendable() ?? []
  }

  /** The underlying libp2p node, for diagnostics (once started). Do not register protocols on it. */
  get node(): MeshLibp2p {
    if (this.#built === undefined) {
      throw new MeshError('MESH_NOT_STARTED')
    }
    return this.#built.libp2p
  }

  // ---------------------------------------------------------------- events

  /**
   * Receive frames. Frames from one peer are delivered in order, one at a time
   * (an async handler is awaited before the next frame of that peer); peers
   * are independent. A handler that throws or rejects is logged, and the
   * channel of that peer is aborted (frames still queued from it are dropped).
   * Returns a function that unregisters the handler.
   */
  onFrame(handler: FrameHandler): () => void {
    return subscribe(this.#events.frame, handler)
  }

  /** Called when a peer gains an open sync channel (it becomes sendable). */
  onPeerConnected(handler: PeerHandler): () => void {
    return subscribe(this.#events.connected, handler)
  }

  /** Called when a peer that was announced connected loses its channel. */
  onPeerDisconnected(handler: PeerHandler): () => void {
    return subscribe(this.#events.disconnected, handler)
  }

  /** Called when a peer sends an oversized or malformed frame. */
  onPeerMisbehaved(handler: MisbehaviourHandler): () => void {
    return subscribe(this.#events.misbehaved, handler)
  }

  // --------------------------------------------------------------- sending

  /**
   * Send one frame to a peer. Resolves once the frame has been handed to the
   * peer's stream (not when the peer has processed it). Frames to one peer
   * are handed over in call order. When the peer's write buffer is full this
   * waits for it to drain, so awaiting `send` applies backpressure; other
   * peers are not affected. If the peer is connected but its channel is still
   * opening, waits up to `channelOpenTimeout`.
   *
   * Rejects with a `MeshError` coded `MESH_FRAME_TOO_LARGE`, `MESH_PEER_NOT_ALLOWED`,
   * `MESH_PEER_NOT_CONNECTED`, `MESH_CHANNEL_CLOSED` or `MESH_NOT_STARTED`.
   */
  send(peerId: string, frame: Uint8Array, options?: AbortOptions): Promise<void> {
    if (this.#built === undefined) {
      return Promise.reject(new MeshError('MESH_NOT_STARTED'))
    }
    return this.#built.sender.send(peerId, frame, options)
  }

  /**
   * Send a frame to every peer with an open channel. Resolves when it has been
   * handed to each of them; a failure for one peer does not stop the others
   * (failures are logged, and counted in the result).
   */
  broadcast(frame: Uint8Array, options?: AbortOptions): Promise<{ sent: number; failed: number }> {
    return this.#built?.sender.broadcast(frame, options) ?? Promise.resolve({ sent: 0, failed: 0 })
  }

  // ----------------------------------------------------------- connections

  /**
   * Connect to a peer, at the given addresses if any (with or without a
   * `/p2p/` suffix) or else at the addresses the peer store knows (the dialer
   * falls back to the DHT when it knows none), and wait until its sync channel
   * is open.
   */
  async dial(peerId: string, addrs?: string[], options?: AbortOptions): Promise<void> {
    const { libp2p, peers, keeper } = this.#assertRunning()
    if (!this.#isAllowed(peerId)) {
      throw new MeshError('MESH_PEER_NOT_ALLOWED', `Peer ${peerId} is not allowed`)
    }
    const signal = options?.signal ?? AbortSignal.timeout(this.#options.dialTimeout)
    const target =
      addrs !== undefined && addrs.length > 0
        ? addrs.map((addr) => withPeerId(multiaddr(addr), peerId))
        : peerIdFromString(peerId)
    await libp2p.dial(target, { signal })
    const peer = peers.get(peerId) ?? peers.getOrCreate(peerIdFromString(peerId))
    keeper.ensureChannel(peer)
    await peers.waitForChannel(peer, options)
  }

  /**
   * Close every connection to a peer. If the peer policy now refuses it, the
   * gater keeps refusing it; otherwise a bootstrap peer is redialled after the
   * backoff delay.
   */
  async disconnect(peerId: string, options?: AbortOptions): Promise<void> {
    const { libp2p, dialer } = this.#assertRunning()
    dialer.hungUp(peerId)
    await libp2p.hangUp(peerIdFromString(peerId), options)
  }

  /**
   * Ask the peer policy again about every open connection and close those it now refuses.
   * Done on every `peerPolicy.onChange`; answers the peer ids dropped.
   */
  async refreshAllowedPeers(options?: AbortOptions): Promise<string[]> {
    const { libp2p } = this.#assertRunning()
    return dropDisallowed(libp2p, this.#isAllowed, this.#log, options)
  }

  /**
   * Look a peer's current addresses up in the DHT (bypassing the local peer
   * store, whose addresses may be stale). Returns multiaddrs with a `/p2p/`
   * suffix. Rejects with `MESH_PEER_NOT_FOUND` if the DHT does not know it.
   */
  findPeer(peerId: string, options?: AbortOptions): Promise<string[]> {
    try {
      return this.#assertRunning().dialer.findPeer(peerId, options)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  // -------------------------------------------------------------- internals

  #assertRunning(): Parts {
    if (!this.#running || this.#built === undefined) {
      throw new MeshError('MESH_NOT_STARTED')
    }
    return this.#built
  }

  /** The policy changed: drop peers it no longer allows and dial the ones it now lists. */
  readonly #onPolicyChange = (): void => {
    if (!this.#running) {
      return
    }
    this.refreshAllowedPeers().catch((err: unknown) => {
      this.#log.error(errorFields(err), 'refreshing the allowed peers failed')
    })
    try {
      this.#built?.dialer.tick()
    } catch (err) {
      this.#log.error(errorFields(err), 'mesh maintenance failed')
    }
  }

  async #build(): Promise<Parts> {
    const options = this.#options
    const isRunning = (): boolean => this.#running
    const log = this.#log
    const libp2p = await createMeshLibp2p(options, connectionGater(this.#isAllowed))
    const peers = new Peers(libp2p, isRunning, options.channelOpenTimeout)
    const inbox = new Inbox({
      peers,
      handlers: this.#events.frame,
      maxInboundQueueBytes: options.maxInboundQueueBytes,
      isRunning,
      log,
      traffic: this.traffic,
    })
    const sender = new Sender({
      peers,
      maxFrameBytes: options.maxFrameBytes,
      isRunning,
      isAllowed: this.#isAllowed,
      log,
      traffic: this.traffic,
    })
    let dialer: BootstrapDialer | undefined
    const keeper = new ChannelKeeper({
      self: this.peerId,
      syncProtocol: this.syncProtocol,
      options,
      libp2p,
      peers,
      inbox,
      events: this.#events,
      isAllowed: this.#isAllowed,
      isRunning,
      log,
      onPeerConnect: (id) => dialer?.connected(id),
    })
    dialer = new BootstrapDialer({
      self: this.peerId,
      options,
      libp2p,
      peerPolicy: this.#peerPolicy,
      isAllowed: this.#isAllowed,
      isRunning,
      log,
      onTick: () => keeper.ensureChannels(),
    })
    this.#built = { libp2p, peers, sender, keeper, dialer }
    return this.#built
  }
}

export { peerIdFromSeed }

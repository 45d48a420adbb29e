/**
 * The mesh: a libp2p 3 node configured for a private network of certified
 * peers, plus one application protocol (`<prefix>/sync/1.0.0`) that carries
 * length-prefixed byte frames over one long-lived stream per peer.
 *
 * What is private about it:
 * - a connection gater consults `isAllowedPeer` on every dial and on every
 *   inbound/outbound connection before and after encryption, so a stranger
 *   never gets as far as opening a stream;
 * - the Kademlia DHT speaks a protocol id under the bloc's prefix (so it never
 *   joins or answers the public IPFS DHT), runs in server mode, and keeps
 *   private and loopback addresses (the default mapper drops them);
 * - nothing discovers peers on its own: no public bootstrap list, no mDNS, no
 *   relay, AutoNAT or UPnP. Peers come from `bootstrap()` and the DHT.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Identify } from '@libp2p/identify'
import { identify } from '@libp2p/identify'
import type {
  AbortOptions,
  Connection,
  ConnectionGater,
  Libp2p,
  PeerId,
  PeerInfo,
  Stream,
} from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { kadDHT } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Ping } from '@libp2p/ping'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { COMPONENTS } from '../logger.ts'
import { SyncChannel } from './channel.ts'
import {
  MeshChannelClosedError,
  MeshFrameTooLargeError,
  MeshHandlerError,
  MeshInvalidConfigError,
  type MeshMisbehaviourCode,
  MeshNotStartedError,
  MeshPeerNotAllowedError,
  MeshPeerNotConnectedError,
  MeshPeerNotFoundError,
} from './errors.ts'
import { peerIdFromSeed, privateKeyFromSeed } from './keys.ts'

/** Minimal structural logger; a pino logger satisfies it. */
export interface MeshLogger {
  child(bindings: Record<string, unknown>): MeshLogger
  debug(obj: Record<string, unknown>, msg?: string): void
  info(obj: Record<string, unknown>, msg?: string): void
  warn(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
}

/** A peer to connect to and stay connected to. */
export interface BootstrapPeer {
  /** base58btc peer id */
  peerId: string
  /** Multiaddrs to try, with or without a `/p2p/<peerId>` suffix. May be stale. */
  addrs: string[]
}

export type FrameHandler = (peerId: string, frame: Uint8Array) => void | Promise<void>
export type PeerHandler = (peerId: string) => void | Promise<void>
export type MisbehaviourHandler = (peerId: string, code: MeshMisbehaviourCode) => void | Promise<void>

export interface MeshInit {
  /**
   * 32-byte Ed25519 seed. The node's key pair, and so its peer id, is derived
   * from it deterministically (see `peerIdFromSeed`).
   */
  privateKey: Uint8Array

  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. */
  listen: string[]

  /**
   * Protocol prefix of the bloc, e.g. `/legation/<blocid>`. The DHT runs as
   * `${protocolPrefix}/kad/1.0.0` and frames travel on
   * `${protocolPrefix}/sync/1.0.0`, so two blocs never talk to each other.
   */
  protocolPrefix: string

  /**
   * Whether a peer may connect to us / be dialled. Called by the connection
   * gater for every dial and for inbound and outbound connections before and
   * after encryption, so it must be cheap and synchronous. Its answer may change
   * over time: call `refreshAllowedPeers()` after it does to drop connections
   * that are no longer allowed. A throw counts as "not allowed".
   */
  isAllowedPeer(peerId: string): boolean

  /**
   * Peers to dial, and to keep redialling with exponential backoff while they
   * are not connected. Called on every maintenance tick, so it may return a
   * different list over time. When the listed addresses fail the mesh asks the
   * DHT for the peer's current addresses.
   *
   * @default () => []
   */
  bootstrap?: () => BootstrapPeer[]

  /**
   * Largest frame, in bytes, that may be sent or received. A larger incoming
   * frame aborts the channel and is reported via `onPeerMisbehaved`.
   *
   * @default 4194304 (4 MiB)
   */
  maxFrameBytes?: number

  /**
   * How many bytes may wait in one peer's stream write buffer before `send()`
   * waits for it to drain. Bounds memory per slow peer; larger values trade
   * memory for fewer wake-ups.
   *
   * @default 8388608 (8 MiB)
   */
  maxBufferedBytesPerPeer?: number

  /**
   * How many bytes of received frames may wait for the `onFrame` handler of
   * one peer before we stop reading from that peer (which, through yamux flow
   * control, stops the peer from sending).
   *
   * @default 4194304 (4 MiB), or maxFrameBytes if larger
   */
  maxInboundQueueBytes?: number

  /**
   * Largest yamux receive window, in bytes, per stream. This is how much a
   * peer may have in flight towards us on one stream; it bounds the memory a
   * paused (slow) channel can pin, and together with the round-trip time it
   * caps per-peer throughput (4 MiB at 100 ms RTT is about 40 MB/s).
   * Must be at least 256 KiB.
   *
   * @default 4194304 (4 MiB)
   */
  maxStreamWindowBytes?: number

  /**
   * How long `send()` and `dial()` wait, in ms, for the sync channel of a
   * connected peer to open, and how long opening a channel may take.
   *
   * @default 10000
   */
  channelOpenTimeout?: number

  /**
   * How long one dial attempt may take, in ms.
   *
   * @default 10000
   */
  dialTimeout?: number

  /**
   * How long a DHT peer lookup may take, in ms.
   *
   * @default 10000
   */
  findPeerTimeout?: number

  /**
   * First delay, in ms, before redialling a bootstrap peer or reopening a
   * channel after a failure; it doubles per consecutive failure.
   *
   * @default 500
   */
  redialMinDelay?: number

  /**
   * Upper bound, in ms, of the redial / reopen backoff.
   *
   * @default 30000
   */
  redialMaxDelay?: number

  /**
   * How often, in ms, the bootstrap list is checked for peers to dial.
   *
   * @default 1000
   */
  maintenanceInterval?: number

  /**
   * Where to log. Frame contents are never logged, only sizes and peer ids.
   *
   * @default a logger that discards everything
   */
  logger?: MeshLogger
}

const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
const DEFAULT_MAX_BUFFERED_BYTES_PER_PEER = 8 * 1024 * 1024
const DEFAULT_MAX_INBOUND_QUEUE_BYTES = 4 * 1024 * 1024
const DEFAULT_MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024
/** Yamux refuses windows below its initial window of 256 KiB. */
const MIN_STREAM_WINDOW_BYTES = 256 * 1024
const DEFAULT_CHANNEL_OPEN_TIMEOUT = 10_000
const DEFAULT_DIAL_TIMEOUT = 10_000
const DEFAULT_FIND_PEER_TIMEOUT = 10_000
const DEFAULT_REDIAL_MIN_DELAY = 500
const DEFAULT_REDIAL_MAX_DELAY = 30_000
const DEFAULT_MAINTENANCE_INTERVAL = 1_000
/** A channel that lived this long counts as healthy: its reopen backoff resets. */
const HEALTHY_CHANNEL_AGE = 10_000
/** Channels per connection: one live plus slack for one being replaced. */
const MAX_SYNC_STREAMS_PER_CONNECTION = 4

type MeshServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
}

interface InboxEntry {
  frame: Uint8Array
  channel: SyncChannel
}

/** Everything we track about one connected (or recently connected) peer. */
interface PeerState {
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
  /** Received frames waiting for the handlers, in arrival order. */
  inbox: Array<InboxEntry | undefined>
  inboxHead: number
  inboxBytes: number
  delivering: boolean
}

/** Per bootstrap peer redial bookkeeping. */
interface DialState {
  attempts: number
  nextAttemptAt: number
  inFlight: boolean
}

const noop = (): void => {}

const silentLogger: MeshLogger = {
  child: () => silentLogger,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { err: { name: err.name, message: err.message, ...(code === undefined ? {} : { code }) } }
  }
  return { err: String(err) }
}

/** The `/p2p/<id>` value of a multiaddr, if it has one. */
function peerIdOfMultiaddr(ma: Multiaddr): string | undefined {
  const components = ma.getComponents()
  for (let i = components.length - 1; i >= 0; i--) {
    const component = components[i]!
    if (component.name === 'p2p') {
      return component.value
    }
  }
  return undefined
}

/** Append `/p2p/<peerId>` unless the multiaddr already names a peer. */
function withPeerId(ma: Multiaddr, peerId: string): Multiaddr {
  return peerIdOfMultiaddr(ma) === undefined ? ma.encapsulate(`/p2p/${peerId}`) : ma
}

/** Whether the multiaddr has an unspecified (wildcard) IP, which nobody can dial. */
function isUnspecified(ma: Multiaddr): boolean {
  return ma
    .getComponents()
    .some((c) => (c.name === 'ip4' && c.value === '0.0.0.0') || (c.name === 'ip6' && c.value === '::'))
}

/**
 * DHT address mapper for a private mesh. The kad-dht default
 * (`removePrivateAddressesMapper`) strips loopback and RFC 1918 addresses,
 * which are exactly where a private deployment (and every test) lives, so
 * keep everything dialable.
 */
function privateMeshPeerInfoMapper(peer: PeerInfo): PeerInfo {
  return { ...peer, multiaddrs: peer.multiaddrs.filter((ma) => !isUnspecified(ma)) }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new MeshInvalidConfigError(`${name} must be a positive integer`)
  }
}

interface ResolvedInit {
  protocolPrefix: string
  isAllowedPeer: (peerId: string) => boolean
  bootstrap: () => BootstrapPeer[]
  maxFrameBytes: number
  maxBufferedBytesPerPeer: number
  maxInboundQueueBytes: number
  maxStreamWindowBytes: number
  channelOpenTimeout: number
  dialTimeout: number
  findPeerTimeout: number
  redialMinDelay: number
  redialMaxDelay: number
  maintenanceInterval: number
}

/**
 * Create (but do not start) a mesh node. Call `start()` to listen and begin
 * dialling bootstrap peers.
 */
export async function createMesh(init: MeshInit): Promise<Mesh> {
  const resolved: ResolvedInit = {
    protocolPrefix: init.protocolPrefix.replace(/\/+$/, ''),
    isAllowedPeer: init.isAllowedPeer,
    bootstrap: init.bootstrap ?? (() => []),
    maxFrameBytes: init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    maxBufferedBytesPerPeer: init.maxBufferedBytesPerPeer ?? DEFAULT_MAX_BUFFERED_BYTES_PER_PEER,
    maxInboundQueueBytes: 0,
    maxStreamWindowBytes: init.maxStreamWindowBytes ?? DEFAULT_MAX_STREAM_WINDOW_BYTES,
    channelOpenTimeout: init.channelOpenTimeout ?? DEFAULT_CHANNEL_OPEN_TIMEOUT,
    dialTimeout: init.dialTimeout ?? DEFAULT_DIAL_TIMEOUT,
    findPeerTimeout: init.findPeerTimeout ?? DEFAULT_FIND_PEER_TIMEOUT,
    redialMinDelay: init.redialMinDelay ?? DEFAULT_REDIAL_MIN_DELAY,
    redialMaxDelay: init.redialMaxDelay ?? DEFAULT_REDIAL_MAX_DELAY,
    maintenanceInterval: init.maintenanceInterval ?? DEFAULT_MAINTENANCE_INTERVAL,
  }
  resolved.maxInboundQueueBytes =
    init.maxInboundQueueBytes ?? Math.max(DEFAULT_MAX_INBOUND_QUEUE_BYTES, resolved.maxFrameBytes)

  if (!resolved.protocolPrefix.startsWith('/')) {
    throw new MeshInvalidConfigError('protocolPrefix must start with "/"')
  }
  if (resolved.maxStreamWindowBytes < MIN_STREAM_WINDOW_BYTES) {
    throw new MeshInvalidConfigError(`maxStreamWindowBytes must be at least ${MIN_STREAM_WINDOW_BYTES}`)
  }
  if (init.listen.length === 0) {
    throw new MeshInvalidConfigError('listen must name at least one multiaddr')
  }
  for (const key of [
    'maxFrameBytes',
    'maxBufferedBytesPerPeer',
    'maxInboundQueueBytes',
    'maxStreamWindowBytes',
    'channelOpenTimeout',
    'dialTimeout',
    'findPeerTimeout',
    'redialMinDelay',
    'redialMaxDelay',
    'maintenanceInterval',
  ] as const) {
    assertPositiveInteger(key, resolved[key])
  }

  const privateKey = await privateKeyFromSeed(init.privateKey)
  const logger = (init.logger ?? silentLogger).child({ component: COMPONENTS.mesh })

  // the gater needs the mesh's allow check before the mesh exists
  const isAllowed = (peerId: string): boolean => {
    try {
      return resolved.isAllowedPeer(peerId) === true
    } catch (err) {
      logger.warn({ peer: peerId, ...errorFields(err) }, 'isAllowedPeer threw; treating peer as not allowed')
      return false
    }
  }
  const deny = (peerId: PeerId): boolean => !isAllowed(peerId.toString())
  const connectionGater: ConnectionGater = {
    denyDialPeer: deny,
    denyDialMultiaddr: (ma) => {
      const peerId = peerIdOfMultiaddr(ma)
      return peerId !== undefined && !isAllowed(peerId)
    },
    // the remote is unknown before the security handshake; inbound strangers
    // are stopped by denyInboundEncryptedConnection right after it
    denyInboundConnection: () => false,
    denyOutboundConnection: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny,
    // no relays in a private mesh
    denyInboundRelayReservation: () => true,
    denyOutboundRelayedConnection: () => true,
    denyInboundRelayedConnection: () => true,
  }

  const libp2p = await createLibp2p<MeshServices>({
    privateKey,
    start: false,
    addresses: { listen: init.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          maxStreamWindowSize: resolved.maxStreamWindowBytes,
          // what a paused stream may hold is bounded by the window; allow it
          // (plus slack for one partially consumed chunk) instead of having
          // libp2p reset a stream whose reader is merely slow
          maxReadBufferLength: resolved.maxStreamWindowBytes + 2 * resolved.maxFrameBytes,
        },
      }),
    ],
    connectionGater,
    // deliberately empty: peers come from bootstrap() and the DHT only
    peerDiscovery: [],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: `${resolved.protocolPrefix}/kad/1.0.0`,
        // every mesh node is dialable by its peers, so answer queries; leaving
        // this unset would keep the node a client until it sees a *public*
        // address, which a private deployment never has
        clientMode: false,
        peerInfoMapper: privateMeshPeerInfoMapper,
        logPrefix: 'libp2p:mesh:dht',
        datastorePrefix: '/mesh-dht',
        metricsPrefix: 'libp2p_mesh_dht',
      }),
    },
  })

  return new Mesh(libp2p, resolved, isAllowed, logger)
}

/**
 * A node of the private mesh. Create with `createMesh`.
 */
export class Mesh {
  /** The peer id for a seed, without creating a node. */
  static peerIdFromSeed(seed: Uint8Array): string {
    return peerIdFromSeed(seed)
  }

  /** This node's base58btc peer id. */
  readonly peerId: string
  /** The protocol id frames travel on. */
  readonly syncProtocol: string

  private readonly libp2p: Libp2p<MeshServices>
  private readonly init: ResolvedInit
  private readonly allowed: (peerId: string) => boolean
  private readonly log: MeshLogger
  private readonly peers = new Map<string, PeerState>()
  private readonly dialStates = new Map<string, DialState>()
  private readonly frameHandlers = new Set<FrameHandler>()
  private readonly connectedHandlers = new Set<PeerHandler>()
  private readonly disconnectedHandlers = new Set<PeerHandler>()
  private readonly misbehaviourHandlers = new Set<MisbehaviourHandler>()
  private readonly inboxLowWater: number
  private running = false
  private maintenanceTimer: ReturnType<typeof setTimeout> | undefined

  /** @internal use `createMesh` */
  constructor(
    libp2p: Libp2p<MeshServices>,
    init: ResolvedInit,
    allowed: (peerId: string) => boolean,
    logger: MeshLogger,
  ) {
    this.libp2p = libp2p
    this.init = init
    this.allowed = allowed
    this.peerId = libp2p.peerId.toString()
    this.syncProtocol = `${init.protocolPrefix}/sync/1.0.0`
    this.log = logger.child({ self: this.peerId })
    this.inboxLowWater = Math.floor(init.maxInboundQueueBytes / 2)
  }

  // --------------------------------------------------------------- lifecycle

  isStarted(): boolean {
    return this.running
  }

  async start(): Promise<void> {
    if (this.running) {
      return
    }
    this.libp2p.addEventListener('peer:connect', this.onPeerConnect)
    this.libp2p.addEventListener('peer:disconnect', this.onPeerDisconnect)
    await this.libp2p.handle(this.syncProtocol, this.onInboundStream, {
      maxInboundStreams: MAX_SYNC_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_SYNC_STREAMS_PER_CONNECTION,
      // registering twice (start after stop) must not throw
      force: true,
    })
    // running before libp2p starts listening: a peer that dials us the moment
    // the socket is bound fires 'peer:connect' and opens its channel while
    // libp2p.start() is still pending, and neither may be ignored (nothing
    // would ever re-trigger opening that channel)
    this.running = true
    try {
      await this.libp2p.start()
    } catch (err) {
      this.running = false
      this.libp2p.removeEventListener('peer:connect', this.onPeerConnect)
      this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect)
      throw err
    }
    this.log.info({ addrs: this.addrs() }, 'mesh started')
    this.scheduleMaintenance(0)
  }

  async stop(): Promise<void> {
    if (!this.running) {
      return
    }
    this.running = false
    if (this.maintenanceTimer !== undefined) {
      clearTimeout(this.maintenanceTimer)
      this.maintenanceTimer = undefined
    }
    for (const peer of this.peers.values()) {
      if (peer.reopenTimer !== undefined) {
        clearTimeout(peer.reopenTimer)
        peer.reopenTimer = undefined
      }
      peer.channel?.abort(new MeshChannelClosedError('Mesh stopping'))
      this.notifyWaiters(peer)
    }
    await this.libp2p.stop()
    this.libp2p.removeEventListener('peer:connect', this.onPeerConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    this.peers.clear()
    this.dialStates.clear()
    this.log.info({}, 'mesh stopped')
  }

  // ------------------------------------------------------------ inspection

  /** Listening multiaddrs, each with a `/p2p/<peerId>` suffix. */
  addrs(): string[] {
    return this.libp2p.getMultiaddrs().map((ma) => withPeerId(ma, this.peerId).toString())
  }

  /** Peers with an open sync channel, i.e. those `send()` can reach now. */
  connectedPeers(): string[] {
    const out: string[] = []
    for (const peer of this.peers.values()) {
      if (peer.channel?.writable === true) {
        out.push(peer.id)
      }
    }
    return out
  }

  /** The underlying libp2p node, for diagnostics. Do not register protocols on it. */
  get node(): Libp2p<MeshServices> {
    return this.libp2p
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
    this.frameHandlers.add(handler)
    return () => this.frameHandlers.delete(handler)
  }

  /** Called when a peer gains an open sync channel (it becomes sendable). */
  onPeerConnected(handler: PeerHandler): () => void {
    this.connectedHandlers.add(handler)
    return () => this.connectedHandlers.delete(handler)
  }

  /** Called when a peer that was announced connected loses its channel. */
  onPeerDisconnected(handler: PeerHandler): () => void {
    this.disconnectedHandlers.add(handler)
    return () => this.disconnectedHandlers.delete(handler)
  }

  /** Called when a peer sends an oversized or malformed frame. */
  onPeerMisbehaved(handler: MisbehaviourHandler): () => void {
    this.misbehaviourHandlers.add(handler)
    return () => this.misbehaviourHandlers.delete(handler)
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
   * Rejects with `MeshFrameTooLargeError`, `MeshPeerNotAllowedError`,
   * `MeshPeerNotConnectedError`, `MeshChannelClosedError` or
   * `MeshNotStartedError`.
   */
  send(peerId: string, frame: Uint8Array, options?: AbortOptions): Promise<void> {
    if (!this.running) {
      return Promise.reject(new MeshNotStartedError())
    }
    if (frame.byteLength > this.init.maxFrameBytes) {
      return Promise.reject(
        new MeshFrameTooLargeError(`Frame of ${frame.byteLength} bytes exceeds ${this.init.maxFrameBytes}`),
      )
    }
    const peer = this.peers.get(peerId)
    if (peer === undefined) {
      return Promise.reject(
        this.allowed(peerId) ? new MeshPeerNotConnectedError() : new MeshPeerNotAllowedError(),
      )
    }

    // fast path: nothing queued ahead of us and room in the stream. Keeps the
    // common case free of promise chaining (and so of microtask hops)
    const channel = peer.channel
    if (peer.pendingSends === 0 && channel !== undefined && channel.canWriteNow(frame.byteLength)) {
      try {
        channel.write(frame)
        return Promise.resolve()
      } catch (err) {
        return Promise.reject(err)
      }
    }

    peer.pendingSends++
    const result = peer.sendTail.then(async () => {
      try {
        const ch = await this.waitForChannel(peer, options)
        await ch.waitForCapacity(frame.byteLength, options)
        ch.write(frame)
      } finally {
        peer.pendingSends--
      }
    })
    peer.sendTail = result.then(noop, noop)
    return result
  }

  /**
   * Send a frame to every peer with an open channel. Resolves when it has been
   * handed to each of them; a failure for one peer does not stop the others
   * (failures are logged, and counted in the result).
   */
  async broadcast(frame: Uint8Array, options?: AbortOptions): Promise<{ sent: number; failed: number }> {
    const peers = this.connectedPeers()
    const results = await Promise.allSettled(peers.map((peerId) => this.send(peerId, frame, options)))
    let failed = 0
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        failed++
        this.log.debug(
          { peer: peers[i], bytes: frame.byteLength, ...errorFields(result.reason) },
          'broadcast to peer failed',
        )
      }
    })
    return { sent: peers.length - failed, failed }
  }

  // ----------------------------------------------------------- connections

  /**
   * Connect to a peer, at the given addresses if any (with or without a
   * `/p2p/` suffix) or else at the addresses the peer store knows (the dialer
   * falls back to the DHT when it knows none), and wait until its sync channel
   * is open.
   */
  async dial(peerId: string, addrs?: string[], options?: AbortOptions): Promise<void> {
    this.assertRunning()
    if (!this.allowed(peerId)) {
      throw new MeshPeerNotAllowedError(`Peer ${peerId} is not allowed`)
    }
    const signal = options?.signal ?? AbortSignal.timeout(this.init.dialTimeout)
    const target =
      addrs !== undefined && addrs.length > 0
        ? addrs.map((addr) => withPeerId(multiaddr(addr), peerId))
        : peerIdFromString(peerId)
    await this.libp2p.dial(target, { signal })
    const peer = this.peers.get(peerId) ?? this.getOrCreatePeer(peerIdFromString(peerId))
    if (this.isOpener(peerId)) {
      void this.openChannel(peer)
    }
    await this.waitForChannel(peer, options)
  }

  /**
   * Close every connection to a peer. If `isAllowedPeer` now refuses it, the
   * gater keeps refusing it; otherwise a bootstrap peer is redialled after the
   * backoff delay.
   */
  async disconnect(peerId: string, options?: AbortOptions): Promise<void> {
    this.assertRunning()
    const dialState = this.dialStates.get(peerId)
    if (dialState !== undefined) {
      dialState.nextAttemptAt = Date.now() + this.init.redialMinDelay
    }
    await this.libp2p.hangUp(peerIdFromString(peerId), options)
  }

  /**
   * Re-evaluate `isAllowedPeer` for every open connection and close those it
   * now refuses. Call it whenever the allowed set changes.
   */
  async refreshAllowedPeers(options?: AbortOptions): Promise<string[]> {
    this.assertRunning()
    const dropped = new Map<string, PeerId>()
    for (const connection of this.libp2p.getConnections()) {
      const id = connection.remotePeer.toString()
      if (!this.allowed(id)) {
        dropped.set(id, connection.remotePeer)
      }
    }
    await Promise.all(
      [...dropped.values()].map(async (peerId) => {
        this.log.info({ peer: peerId.toString() }, 'closing connection to peer that is no longer allowed')
        try {
          await this.libp2p.hangUp(peerId, options)
        } catch (err) {
          // hangUp closes gracefully; if that fails, abort whatever is left
          for (const connection of this.libp2p.getConnections(peerId)) {
            connection.abort(new MeshPeerNotAllowedError('Peer no longer allowed', { cause: err }))
          }
        }
      }),
    )
    return [...dropped.keys()]
  }

  /**
   * Look a peer's current addresses up in the DHT (bypassing the local peer
   * store, whose addresses may be stale). Returns multiaddrs with a `/p2p/`
   * suffix. Rejects with `MeshPeerNotFoundError` if the DHT does not know it.
   */
  async findPeer(peerId: string, options?: AbortOptions): Promise<string[]> {
    this.assertRunning()
    const signal = options?.signal ?? AbortSignal.timeout(this.init.findPeerTimeout)
    try {
      const info = await this.libp2p.peerRouting.findPeer(peerIdFromString(peerId), {
        signal,
        useCache: false,
      })
      return info.multiaddrs.filter((ma) => !isUnspecified(ma)).map((ma) => withPeerId(ma, peerId).toString())
    } catch (err) {
      throw new MeshPeerNotFoundError(`Peer ${peerId} was not found in the DHT`, { cause: err })
    }
  }

  // -------------------------------------------------------------- internals

  private assertRunning(): void {
    if (!this.running) {
      throw new MeshNotStartedError()
    }
  }

  /**
   * Exactly one side opens the channel: the one whose peer id sorts lower.
   * Both sides compute the same answer without talking, so there is never a
   * race between two channels opened at once, and after a reconnect the same
   * side reopens it.
   */
  private isOpener(remotePeerId: string): boolean {
    return this.peerId < remotePeerId
  }

  private getOrCreatePeer(peerId: PeerId): PeerState {
    const id = peerId.toString()
    let peer = this.peers.get(id)
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
        inbox: [],
        inboxHead: 0,
        inboxBytes: 0,
        delivering: false,
      }
      this.peers.set(id, peer)
    }
    return peer
  }

  private hasConnection(peer: PeerState): boolean {
    return this.libp2p.getConnections(peer.peerId).some((c) => c.status === 'open')
  }

  /** Forget a peer once nothing refers to it any more. */
  private maybeForget(peer: PeerState): void {
    if (
      this.peers.get(peer.id) === peer &&
      peer.channel === undefined &&
      !peer.opening &&
      !peer.delivering &&
      peer.pendingSends === 0 &&
      peer.waiters.size === 0 &&
      !this.hasConnection(peer)
    ) {
      if (peer.reopenTimer !== undefined) {
        clearTimeout(peer.reopenTimer)
      }
      this.peers.delete(peer.id)
    }
  }

  private notifyWaiters(peer: PeerState): void {
    for (const waiter of [...peer.waiters]) {
      waiter()
    }
  }

  /** Resolve with the peer's open channel, waiting for one while connected. */
  private waitForChannel(peer: PeerState, options?: AbortOptions): Promise<SyncChannel> {
    const ready = peer.channel
    if (ready?.writable === true) {
      return Promise.resolve(ready)
    }
    if (!this.running) {
      return Promise.reject(new MeshNotStartedError())
    }
    if (!peer.opening && !this.hasConnection(peer)) {
      return Promise.reject(new MeshPeerNotConnectedError(`Peer ${peer.id} is not connected`))
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
        } else if (!this.running) {
          finish(new MeshNotStartedError())
        } else if (!peer.opening && !this.hasConnection(peer)) {
          finish(new MeshPeerNotConnectedError(`Peer ${peer.id} disconnected`))
        }
      }
      const onAbort = (): void => {
        finish(signal?.reason ?? new Error('Aborted'))
      }
      const timer = setTimeout(() => {
        finish(
          new MeshPeerNotConnectedError(
            `No sync channel to ${peer.id} within ${this.init.channelOpenTimeout} ms`,
          ),
        )
      }, this.init.channelOpenTimeout)
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort)
      peer.waiters.add(check)
    })
  }

  private readonly onPeerConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    if (!this.running) {
      return
    }
    if (!this.allowed(id)) {
      // the allowed set changed between the gater's check and now
      void this.libp2p.hangUp(evt.detail).catch(noop)
      return
    }
    this.dialStates.delete(id)
    const peer = this.getOrCreatePeer(evt.detail)
    this.log.debug({ peer: id }, 'peer connected')
    if (this.isOpener(id)) {
      void this.openChannel(peer)
    }
    this.notifyWaiters(peer)
  }

  private readonly onPeerDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    const peer = this.peers.get(id)
    if (peer === undefined) {
      return
    }
    this.log.debug({ peer: id }, 'peer disconnected')
    if (peer.reopenTimer !== undefined) {
      clearTimeout(peer.reopenTimer)
      peer.reopenTimer = undefined
    }
    peer.reopenAttempts = 0
    if (peer.channel !== undefined) {
      // normally already closed with its connection; this also emits the
      // disconnected event through onChannelClose
      peer.channel.abort(new MeshChannelClosedError('Connection closed'))
    } else if (peer.announced) {
      peer.announced = false
      this.emit(this.disconnectedHandlers, 'onPeerDisconnected', id)
    }
    this.notifyWaiters(peer)
    this.maybeForget(peer)
  }

  /** Inbound sync stream: the remote (the opener) created our channel. */
  private readonly onInboundStream = (stream: Stream, connection: Connection): void => {
    const id = connection.remotePeer.toString()
    if (!this.running || !this.allowed(id)) {
      stream.abort(new MeshPeerNotAllowedError())
      return
    }
    this.attachChannel(this.getOrCreatePeer(connection.remotePeer), stream, connection)
  }

  private async openChannel(peer: PeerState): Promise<void> {
    if (!this.running || peer.opening || peer.channel?.writable === true) {
      return
    }
    const connection = this.libp2p.getConnections(peer.peerId).find((c) => c.status === 'open')
    if (connection === undefined) {
      return
    }
    peer.opening = true
    try {
      const stream = await connection.newStream(this.syncProtocol, {
        signal: AbortSignal.timeout(this.init.channelOpenTimeout),
      })
      if (!this.running) {
        stream.abort(new MeshChannelClosedError('Mesh stopping'))
        return
      }
      this.attachChannel(peer, stream, connection)
    } catch (err) {
      this.log.debug({ peer: peer.id, ...errorFields(err) }, 'could not open sync channel')
      if (this.running && this.hasConnection(peer)) {
        this.scheduleReopen(peer)
      }
    } finally {
      peer.opening = false
      this.notifyWaiters(peer)
    }
  }

  private scheduleReopen(peer: PeerState): void {
    if (peer.reopenTimer !== undefined || !this.running) {
      return
    }
    const delay = this.backoff(peer.reopenAttempts++)
    this.log.debug({ peer: peer.id, delay }, 'reopening sync channel after delay')
    peer.reopenTimer = setTimeout(() => {
      peer.reopenTimer = undefined
      void this.openChannel(peer)
    }, delay)
    peer.reopenTimer.unref?.()
  }

  private backoff(attempts: number): number {
    const base = Math.min(this.init.redialMaxDelay, this.init.redialMinDelay * 2 ** Math.min(attempts, 30))
    // jitter so that peers that failed together do not retry in lockstep
    return Math.round(base * (0.75 + Math.random() * 0.5))
  }

  private attachChannel(peer: PeerState, stream: Stream, connection: Connection): void {
    const previous = peer.channel
    const channel = new SyncChannel({
      peerId: peer.id,
      stream,
      connection,
      maxFrameBytes: this.init.maxFrameBytes,
      maxBufferedBytes: this.init.maxBufferedBytesPerPeer,
      maxReadBufferBytes: this.init.maxStreamWindowBytes + 2 * this.init.maxFrameBytes,
      onFrames: this.onChannelFrames,
      onMisbehaviour: this.onChannelMisbehaviour,
      onClose: this.onChannelClose,
    })
    if (channel.closed) {
      return
    }
    peer.channel = channel
    if (previous !== undefined && !previous.closed) {
      // newest wins: after a reconnect race the old stream may linger on a
      // connection that is about to close; it must not carry sends any more
      this.log.debug({ peer: peer.id }, 'replacing sync channel')
      previous.abort(new MeshChannelClosedError('Replaced by a newer channel'))
    }
    this.log.debug({ peer: peer.id, direction: stream.direction }, 'sync channel open')
    if (!peer.announced) {
      peer.announced = true
      this.emit(this.connectedHandlers, 'onPeerConnected', peer.id)
    }
    this.notifyWaiters(peer)
  }

  private readonly onChannelClose = (channel: SyncChannel, err?: Error): void => {
    const peer = this.peers.get(channel.peerId)
    if (peer === undefined || peer.channel !== channel) {
      return
    }
    peer.channel = undefined
    if (peer.pendingSends === 0) {
      this.log.debug({ peer: peer.id, ...(err === undefined ? {} : errorFields(err)) }, 'sync channel closed')
    }
    if (Date.now() - channel.openedAt >= HEALTHY_CHANNEL_AGE) {
      peer.reopenAttempts = 0
    }
    if (peer.announced) {
      peer.announced = false
      this.emit(this.disconnectedHandlers, 'onPeerDisconnected', peer.id)
    }
    if (this.running && this.isOpener(peer.id) && this.hasConnection(peer)) {
      this.scheduleReopen(peer)
    }
    this.notifyWaiters(peer)
    this.maybeForget(peer)
  }

  private readonly onChannelMisbehaviour = (channel: SyncChannel, err: Error & { code: string }): void => {
    const code = err.code as MeshMisbehaviourCode
    this.log.warn({ peer: channel.peerId, code }, 'peer sent an invalid frame; aborting its sync channel')
    this.emit(this.misbehaviourHandlers, 'onPeerMisbehaved', channel.peerId, code)
  }

  private readonly onChannelFrames = (channel: SyncChannel, frames: Uint8Array[]): void => {
    const peer = this.peers.get(channel.peerId)
    if (peer === undefined || !this.running) {
      return
    }
    for (const frame of frames) {
      peer.inbox.push({ frame, channel })
      peer.inboxBytes += frame.byteLength
    }
    if (peer.inboxBytes > this.init.maxInboundQueueBytes) {
      // a slow handler: stop reading so yamux stops granting the remote send
      // window, instead of buffering without bound
      channel.pause()
    }
    if (!peer.delivering) {
      void this.deliver(peer)
    }
  }

  /**
   * Drain a peer's inbox through the frame handlers, one frame at a time.
   * Synchronous handlers are called without any await so a burst of frames is
   * handled in one go; only a handler that returns a promise is awaited.
   */
  private async deliver(peer: PeerState): Promise<void> {
    peer.delivering = true
    try {
      while (this.running && peer.inboxHead < peer.inbox.length) {
        const entry = peer.inbox[peer.inboxHead]!
        peer.inbox[peer.inboxHead] = undefined
        peer.inboxHead++
        if (peer.inboxHead >= 1024 && peer.inboxHead * 2 >= peer.inbox.length) {
          peer.inbox = peer.inbox.slice(peer.inboxHead)
          peer.inboxHead = 0
        }
        peer.inboxBytes -= entry.frame.byteLength

        if (!entry.channel.failed) {
          try {
            for (const handler of this.frameHandlers) {
              const result = handler(peer.id, entry.frame)
              if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
                await result
              }
            }
          } catch (err) {
            this.log.error(
              { peer: peer.id, bytes: entry.frame.byteLength, ...errorFields(err) },
              'frame handler failed; aborting the sync channel of this peer',
            )
            // frames queued behind this one came on the same channel and may
            // depend on it: drop them (fail() marks them undeliverable)
            entry.channel.fail(new MeshHandlerError('Frame handler failed', { cause: err }))
          }
        }

        if (peer.inboxBytes <= this.inboxLowWater) {
          // the paused channel may be an older one than the current, or the
          // current one while we still drain frames of an older one
          if (entry.channel.paused) {
            entry.channel.resume()
          }
          if (peer.channel?.paused === true) {
            peer.channel.resume()
          }
        }
      }
    } finally {
      if (peer.inboxHead >= peer.inbox.length) {
        peer.inbox = []
        peer.inboxHead = 0
        peer.inboxBytes = 0
      }
      peer.delivering = false
      // frames pushed by a resume() that re-entered during the last await
      if (this.running && peer.inboxHead < peer.inbox.length) {
        void this.deliver(peer)
      } else {
        this.maybeForget(peer)
      }
    }
  }

  private emit<A extends unknown[]>(
    handlers: Set<(...args: A) => void | Promise<void>>,
    name: string,
    ...args: A
  ): void {
    for (const handler of handlers) {
      try {
        const result = handler(...args)
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          ;(result as Promise<void>).catch((err: unknown) => {
            this.log.error({ handler: name, ...errorFields(err) }, 'event handler rejected')
          })
        }
      } catch (err) {
        this.log.error({ handler: name, ...errorFields(err) }, 'event handler threw')
      }
    }
  }

  // ------------------------------------------------------ bootstrap upkeep

  private scheduleMaintenance(delay: number): void {
    if (!this.running) {
      return
    }
    this.maintenanceTimer = setTimeout(() => {
      this.maintenanceTimer = undefined
      try {
        this.maintain()
      } catch (err) {
        this.log.error(errorFields(err), 'mesh maintenance failed')
      }
      this.scheduleMaintenance(this.init.maintenanceInterval)
    }, delay)
    this.maintenanceTimer.unref?.()
  }

  /**
   * Periodic upkeep: make sure every connected peer we are the opener for has
   * a channel (self-healing if an event was missed), then dial every allowed,
   * unconnected bootstrap peer whose backoff expired.
   */
  private maintain(): void {
    for (const remote of this.libp2p.getPeers()) {
      const id = remote.toString()
      if (!this.isOpener(id) || !this.allowed(id)) {
        continue
      }
      const peer = this.getOrCreatePeer(remote)
      if (peer.channel === undefined && !peer.opening && peer.reopenTimer === undefined) {
        void this.openChannel(peer)
      }
    }

    let list: BootstrapPeer[]
    try {
      list = this.init.bootstrap()
    } catch (err) {
      this.log.error(errorFields(err), 'bootstrap() threw')
      return
    }
    const now = Date.now()
    for (const entry of list) {
      const id = entry.peerId
      if (id === this.peerId || !this.allowed(id)) {
        continue
      }
      let remote: PeerId
      try {
        remote = peerIdFromString(id)
      } catch {
        this.log.warn({ peer: id }, 'bootstrap entry has an invalid peer id')
        continue
      }
      if (this.libp2p.getConnections(remote).length > 0) {
        continue
      }
      let state = this.dialStates.get(id)
      if (state === undefined) {
        state = { attempts: 0, nextAttemptAt: 0, inFlight: false }
        this.dialStates.set(id, state)
      }
      if (state.inFlight || now < state.nextAttemptAt) {
        continue
      }
      state.inFlight = true
      const dialState = state
      void this.dialBootstrapPeer(remote, entry.addrs).then((ok) => {
        dialState.inFlight = false
        if (ok) {
          dialState.attempts = 0
          dialState.nextAttemptAt = 0
        } else {
          dialState.nextAttemptAt = Date.now() + this.backoff(dialState.attempts++)
        }
      })
    }
  }

  /**
   * One redial attempt: the configured addresses first, then, if they fail
   * (typically because the peer restarted elsewhere), the peer's current
   * addresses according to the DHT.
   */
  private async dialBootstrapPeer(remote: PeerId, addrs: string[]): Promise<boolean> {
    const id = remote.toString()
    const targets: Multiaddr[] = []
    for (const addr of addrs) {
      try {
        targets.push(withPeerId(multiaddr(addr), id))
      } catch {
        this.log.warn({ peer: id, addr }, 'bootstrap entry has an invalid multiaddr')
      }
    }
    if (targets.length > 0) {
      try {
        await this.libp2p.dial(targets, { signal: AbortSignal.timeout(this.init.dialTimeout) })
        return true
      } catch (err) {
        this.log.debug({ peer: id, ...errorFields(err) }, 'bootstrap dial failed')
      }
    }
    if (!this.running || !this.allowed(id)) {
      return false
    }
    // the DHT is useless until we are connected to someone
    if (this.libp2p.getConnections().length === 0) {
      return false
    }
    try {
      const found = await this.findPeer(id)
      if (found.length === 0 || !this.running) {
        return false
      }
      this.log.debug({ peer: id, addrs: found }, 'dialling addresses found in the DHT')
      await this.libp2p.dial(
        found.map((a) => multiaddr(a)),
        { signal: AbortSignal.timeout(this.init.dialTimeout) },
      )
      return true
    } catch (err) {
      this.log.debug({ peer: id, ...errorFields(err) }, 'DHT fallback dial failed')
      return false
    }
  }
}

export { peerIdFromSeed }

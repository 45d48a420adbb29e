/**
 * The mesh's options: `MeshInit` with each default defined once (`DEFAULT_*`), and the one
 * place they are checked and filled in. Who may connect and whom to dial are not options but
 * a component (`PeerPolicy`), since they change while the mesh runs.
 */
import { integerOptions } from '../util/options.ts'
import { MeshError } from './errors.ts'
import { assertSeed } from './keys.ts'

/** Where a node listens for peers unless told otherwise: loopback, any free port. */
export const DEFAULT_LISTEN: readonly string[] = Object.freeze(['/ip4/127.0.0.1/tcp/0'])
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_BUFFERED_BYTES_PER_PEER = 8 * 1024 * 1024
export const DEFAULT_MAX_INBOUND_QUEUE_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024
/** Yamux refuses windows below its initial window of 256 KiB. */
export const MIN_STREAM_WINDOW_BYTES = 256 * 1024
export const DEFAULT_CHANNEL_OPEN_TIMEOUT = 10_000
export const DEFAULT_DIAL_TIMEOUT = 10_000
export const DEFAULT_FIND_PEER_TIMEOUT = 10_000
export const DEFAULT_REDIAL_MIN_DELAY = 500
export const DEFAULT_REDIAL_MAX_DELAY = 30_000
export const DEFAULT_MAINTENANCE_INTERVAL = 1_000

export interface MeshInit {
  /**
   * 32-byte Ed25519 seed. The node's key pair, and so its peer id, is derived
   * from it deterministically (see `peerIdFromSeed`).
   */
  privateKey: Uint8Array

  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0`. At least one. */
  listen: string[]

  /**
   * Protocol prefix of the bloc, e.g. `/legation/<blocid>`. The DHT runs as
   * `${protocolPrefix}/kad/1.0.0` and frames travel on
   * `${protocolPrefix}/sync/1.0.0`, so two blocs never talk to each other.
   */
  protocolPrefix: string

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
   * How often, in ms, the bootstrap peers are checked for peers to dial.
   *
   * @default 1000
   */
  maintenanceInterval?: number
}

/** `MeshInit` checked, with every default filled in. */
export interface ResolvedInit {
  readonly privateKey: Uint8Array
  readonly listen: readonly string[]
  readonly protocolPrefix: string
  readonly maxFrameBytes: number
  readonly maxBufferedBytesPerPeer: number
  readonly maxInboundQueueBytes: number
  readonly maxStreamWindowBytes: number
  readonly channelOpenTimeout: number
  readonly dialTimeout: number
  readonly findPeerTimeout: number
  readonly redialMinDelay: number
  readonly redialMaxDelay: number
  readonly maintenanceInterval: number
}

/** Check `init` once and fill in the defaults; throws `MESH_INVALID_CONFIG`. */
export function resolveInit(init: MeshInit): ResolvedInit {
  assertSeed(init.privateKey)
  const maxFrameBytes = init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES
  const numbers = integerOptions(
    'mesh',
    init,
    {
      maxFrameBytes,
      maxBufferedBytesPerPeer: DEFAULT_MAX_BUFFERED_BYTES_PER_PEER,
      // The inbound queue holds at least one whole frame.
      maxInboundQueueBytes: Math.max(DEFAULT_MAX_INBOUND_QUEUE_BYTES, maxFrameBytes),
      maxStreamWindowBytes: DEFAULT_MAX_STREAM_WINDOW_BYTES,
      channelOpenTimeout: DEFAULT_CHANNEL_OPEN_TIMEOUT,
      dialTimeout: DEFAULT_DIAL_TIMEOUT,
      findPeerTimeout: DEFAULT_FIND_PEER_TIMEOUT,
      redialMinDelay: DEFAULT_REDIAL_MIN_DELAY,
      redialMaxDelay: DEFAULT_REDIAL_MAX_DELAY,
      maintenanceInterval: DEFAULT_MAINTENANCE_INTERVAL,
    },
    {
      min: { maxStreamWindowBytes: MIN_STREAM_WINDOW_BYTES },
      fail: (problems) => new MeshError('MESH_INVALID_CONFIG', problems.join('; ')),
    },
  )
  const resolved: ResolvedInit = {
    ...numbers,
    privateKey: init.privateKey,
    listen: [...init.listen],
    protocolPrefix: init.protocolPrefix.replace(/\/+$/, ''),
  }
  if (!resolved.protocolPrefix.startsWith('/')) {
    throw new MeshError('MESH_INVALID_CONFIG', 'protocolPrefix must start with "/"')
  }
  if (resolved.listen.length === 0) {
    throw new MeshError('MESH_INVALID_CONFIG', 'listen must name at least one multiaddr')
  }
  return Object.freeze(resolved)
}

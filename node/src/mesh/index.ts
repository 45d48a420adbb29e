/**
 * Private libp2p mesh transport: certified peers only, a bloc-scoped DHT, and
 * one length-prefixed frame channel per peer. See `mesh.ts`.
 */

export {
  isMeshError,
  MESH_ERRORS,
  MeshError,
  type MeshErrorCode,
  type MeshMisbehaviourCode,
} from './errors.ts'
export type { FrameHandler, MisbehaviourHandler, PeerHandler } from './events.ts'
export { type MeshLogger, silentLogger } from './log.ts'
export {
  Mesh,
  type MeshComponents,
  mesh,
  peerIdFromSeed,
} from './mesh.ts'
export {
  DEFAULT_CHANNEL_OPEN_TIMEOUT,
  DEFAULT_DIAL_TIMEOUT,
  DEFAULT_FIND_PEER_TIMEOUT,
  DEFAULT_LISTEN,
  DEFAULT_MAINTENANCE_INTERVAL,
  DEFAULT_MAX_BUFFERED_BYTES_PER_PEER,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_INBOUND_QUEUE_BYTES,
  DEFAULT_MAX_STREAM_WINDOW_BYTES,
  DEFAULT_REDIAL_MAX_DELAY,
  DEFAULT_REDIAL_MIN_DELAY,
  type MeshInit,
} from './options.ts'
export type { BootstrapPeer, PeerPolicy } from './peer-policy.ts'

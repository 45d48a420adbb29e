/**
 * Private libp2p mesh transport: certified peers only, a bloc-scoped DHT, and
 * one length-prefixed frame channel per peer. See `mesh.ts`.
 */
export {
  MeshChannelClosedError,
  MeshError,
  MeshFrameMalformedError,
  MeshFrameTooLargeError,
  MeshHandlerError,
  MeshInvalidConfigError,
  type MeshMisbehaviourCode,
  MeshNotStartedError,
  MeshPeerNotAllowedError,
  MeshPeerNotConnectedError,
  MeshPeerNotFoundError,
} from './errors.ts'
export {
  type BootstrapPeer,
  createMesh,
  type FrameHandler,
  Mesh,
  type MeshInit,
  type MeshLogger,
  type MisbehaviourHandler,
  type PeerHandler,
  peerIdFromSeed,
} from './mesh.ts'

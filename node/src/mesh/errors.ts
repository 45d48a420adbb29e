/**
 * Errors raised by the mesh transport layer.
 *
 * Every class has a human readable `name` (as libp2p's own errors do) and a
 * stable machine readable `code`: callers and metrics should branch on `code`,
 * never on the message text, which may change.
 */

/** Base class so callers can `instanceof MeshError` for anything we throw. */
export class MeshError extends Error {
  readonly code: string

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MeshError'
    this.code = code
  }
}

/** A frame (outgoing or incoming) is larger than `maxFrameBytes`. */
export class MeshFrameTooLargeError extends MeshError {
  static readonly code = 'MESH_FRAME_TOO_LARGE'

  constructor(message = 'Frame exceeds the maximum frame size', options?: ErrorOptions) {
    super(message, MeshFrameTooLargeError.code, options)
    this.name = 'MeshFrameTooLargeError'
  }
}

/** The remote sent bytes that cannot be decoded as a length-prefixed frame. */
export class MeshFrameMalformedError extends MeshError {
  static readonly code = 'MESH_FRAME_MALFORMED'

  constructor(message = 'Malformed frame', options?: ErrorOptions) {
    super(message, MeshFrameMalformedError.code, options)
    this.name = 'MeshFrameMalformedError'
  }
}

/** The peer is not (or no longer) allowed by `isAllowedPeer`. */
export class MeshPeerNotAllowedError extends MeshError {
  static readonly code = 'MESH_PEER_NOT_ALLOWED'

  constructor(message = 'Peer is not allowed', options?: ErrorOptions) {
    super(message, MeshPeerNotAllowedError.code, options)
    this.name = 'MeshPeerNotAllowedError'
  }
}

/** There is no open sync channel to the peer and none appeared in time. */
export class MeshPeerNotConnectedError extends MeshError {
  static readonly code = 'MESH_PEER_NOT_CONNECTED'

  constructor(message = 'Peer is not connected', options?: ErrorOptions) {
    super(message, MeshPeerNotConnectedError.code, options)
    this.name = 'MeshPeerNotConnectedError'
  }
}

/** The sync channel closed before a queued frame could be handed to it. */
export class MeshChannelClosedError extends MeshError {
  static readonly code = 'MESH_CHANNEL_CLOSED'

  constructor(message = 'Sync channel closed', options?: ErrorOptions) {
    super(message, MeshChannelClosedError.code, options)
    this.name = 'MeshChannelClosedError'
  }
}

/** A frame handler registered with `onFrame` threw or rejected. */
export class MeshHandlerError extends MeshError {
  static readonly code = 'MESH_HANDLER_FAILED'

  constructor(message = 'Frame handler failed', options?: ErrorOptions) {
    super(message, MeshHandlerError.code, options)
    this.name = 'MeshHandlerError'
  }
}

/** An operation was attempted on a mesh that is not started. */
export class MeshNotStartedError extends MeshError {
  static readonly code = 'MESH_NOT_STARTED'

  constructor(message = 'Mesh is not started', options?: ErrorOptions) {
    super(message, MeshNotStartedError.code, options)
    this.name = 'MeshNotStartedError'
  }
}

/** A peer lookup through the DHT found nothing. */
export class MeshPeerNotFoundError extends MeshError {
  static readonly code = 'MESH_PEER_NOT_FOUND'

  constructor(message = 'Peer not found', options?: ErrorOptions) {
    super(message, MeshPeerNotFoundError.code, options)
    this.name = 'MeshPeerNotFoundError'
  }
}

/** A `MeshInit` option is invalid (wrong seed length, bad limits, ...). */
export class MeshInvalidConfigError extends MeshError {
  static readonly code = 'MESH_INVALID_CONFIG'

  constructor(message = 'Invalid mesh configuration', options?: ErrorOptions) {
    super(message, MeshInvalidConfigError.code, options)
    this.name = 'MeshInvalidConfigError'
  }
}

/** The codes `onPeerMisbehaved` can report. */
export type MeshMisbehaviourCode = typeof MeshFrameTooLargeError.code | typeof MeshFrameMalformedError.code

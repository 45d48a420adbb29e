/**
 * Errors raised by the mesh transport layer.
 *
 * Same shape as `node/src/errors.ts` and `protocol/src/errors.ts`: one table of stable codes
 * (match on `code`, never on the message text, which may change), one class, `cause` chained.
 * Mesh errors never reach an HTTP client as such, so they carry no `statusCode` (the problem
 * handler answers an unmapped error with `500 INTERNAL`). `docs/errors.md` describes each code;
 * `node/test/infra/errors.test.ts` checks that it does.
 *
 * @example
 * throw new MeshError('MESH_PEER_NOT_CONNECTED', `Peer ${id} is not connected`)
 * if (isMeshError(err, 'MESH_NOT_STARTED')) return
 */

import { CodedError } from '@legation/protocol'

export const MESH_ERRORS = {
  MESH_FRAME_TOO_LARGE: { message: 'Frame exceeds the maximum frame size' },
  MESH_FRAME_MALFORMED: { message: 'Malformed frame' },
  MESH_PEER_NOT_ALLOWED: { message: 'Peer is not allowed' },
  MESH_PEER_NOT_CONNECTED: { message: 'Peer is not connected' },
  MESH_CHANNEL_CLOSED: { message: 'Sync channel closed' },
  MESH_HANDLER_FAILED: { message: 'Frame handler failed' },
  MESH_NOT_STARTED: { message: 'Mesh is not started' },
  MESH_PEER_NOT_FOUND: { message: 'Peer not found' },
  MESH_INVALID_CONFIG: { message: 'Invalid mesh configuration' },
  MESH_ABORTED: { message: 'The operation was aborted' },
} as const satisfies Record<string, { message: string }>

export type MeshErrorCode = keyof typeof MESH_ERRORS

/** The codes `onPeerMisbehaved` can report: what a peer sent could not be a frame. */
export type MeshMisbehaviourCode = Extract<MeshErrorCode, 'MESH_FRAME_TOO_LARGE' | 'MESH_FRAME_MALFORMED'>

export class MeshError extends CodedError<MeshErrorCode> {
  override readonly name: string = 'MeshError'

  constructor(code: MeshErrorCode, message?: string, options?: { cause?: unknown }) {
    super(MESH_ERRORS, code, message, options)
  }
}

/** Whether `err` is a mesh error, and if codes are given, one of them. */
export function isMeshError<C extends MeshErrorCode>(
  err: unknown,
  ...codes: C[]
): err is MeshError & { code: C } {
  return err instanceof MeshError && (codes.length === 0 || (codes as MeshErrorCode[]).includes(err.code))
}

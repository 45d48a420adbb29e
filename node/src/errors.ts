/**
 * Typed errors of the node daemon.
 *
 * Same shape as `@legation/protocol`'s errors: a stable `code` (match on it, never on the
 * message), an HTTP `statusCode` for when it reaches the API (the problem handler in
 * `http/problem.ts` turns it into RFC 9457 `application/problem+json`), and a chained `cause`.
 * The table below is the single list of codes; `docs/errors.md` describes each one.
 *
 * @example
 * throw new NodeError('NOT_FOUND', 'no such citizen')
 * throw new NodeError('KEYSTORE_CORRUPT', 'key file is not JSON', { cause: err })
 */

import { CodedError } from '@legation/protocol'

export const NODE_ERRORS = {
  CONFIG_INVALID: { status: 500, message: 'node configuration is invalid' },
  KEYSTORE_LOCKED: { status: 500, message: 'key file cannot be opened: passphrase missing or wrong' },
  KEYSTORE_CORRUPT: { status: 500, message: 'key file is damaged or has been tampered with' },
  KEYSTORE_MISSING: { status: 500, message: 'key file does not exist' },
  KEYSTORE_UNREADABLE: { status: 500, message: "key file exists but cannot be read by the node's user" },
  CHARTER_FILE_MISSING: { status: 500, message: 'the configured charter file does not exist' },
  CHARTER_FILE_INVALID: {
    status: 500,
    message: 'the configured charter file is not a charter chain (canonical CBOR of SignedCharter[])',
  },
  PORT_IN_USE: { status: 500, message: 'a port the node is configured to listen on is in use' },
  VAULT_RING_MISSING: {
    status: 500,
    message: 'the store holds citizens’ keys but the key ring beside it is missing',
  },
  VAULT_RING_INVALID: {
    status: 500,
    message: 'the key ring beside the store does not open with this node’s key',
  },
  STORE_FORMAT_NEWER: {
    status: 500,
    message: 'the data directory was written by a newer version of the node (in a newer data format)',
  },
  BACKUP_INVALID: { status: 400, message: 'the file is not a backup, or its frames are damaged' },
  BACKUP_TRUNCATED: { status: 400, message: 'the backup ends before its trailer: it was cut short' },
  BACKUP_CHECKSUM_MISMATCH: {
    status: 400,
    message: 'the backup does not match its own checksum or counts: it was damaged or altered',
  },
  BACKUP_BUSY: { status: 503, message: 'no consistent snapshot could be taken now: try again' },
  RESTORE_TARGET_NOT_EMPTY: {
    status: 500,
    message: 'the data directory to restore into already holds a node’s data',
  },
  RESTORE_CATCHING_UP: {
    status: 503,
    message:
      'this node was restored from a backup and takes no writes until it has its own feed back from its peers',
  },
  OWN_FEED_CATCHING_UP: {
    status: 503,
    message:
      'a fork healed here: this node’s latest own entries wait for the version that stands, which its peers hold; it takes no writes until they apply (ask again shortly, or another node)',
  },
  NOT_FOUND: { status: 404, message: 'not found' },
  RECEIPT_PENDING: {
    status: 409,
    message: 'no checkpoint of the record’s feed covers it here yet: ask again in a few seconds',
  },
  UNAUTHENTICATED: { status: 401, message: 'request is not authenticated' },
  REQUEST_REPLAYED: {
    status: 401,
    message: 'this signed request was already used; sign the request again',
  },
  FORBIDDEN: { status: 403, message: 'not allowed for this principal' },
  NOT_CAUGHT_UP: {
    status: 503,
    message:
      'this node has just started and has not caught up with its peers yet: it serves no personal data until it knows every erasure (ask again shortly, or another node)',
  },
  PURPOSE_REQUIRED: {
    status: 400,
    message: 'an officer’s read of personal data must state its purpose (?purpose=…); it is logged',
  },
  RATE_LIMITED: { status: 429, message: 'too many requests' },
  BODY_TOO_LARGE: { status: 413, message: 'request body exceeds the size limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'request body has an unsupported content type' },
  MALFORMED_JSON: { status: 400, message: 'request body is empty or not valid JSON' },
  MALFORMED_CBOR: { status: 400, message: 'request body is empty or not canonical CBOR' },
  MALFORMED_REQUEST: { status: 400, message: 'request is malformed' },
  REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  URI_TOO_LONG: { status: 414, message: 'a path parameter is too long' },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are too large' },
  BAD_REQUEST: { status: 400, message: 'bad request' },
  VALIDATION_FAILED: { status: 400, message: 'request does not match the schema' },
  NOT_READY: { status: 503, message: 'node is not ready yet' },
  SHUTTING_DOWN: { status: 503, message: 'node is shutting down' },
  REBUILDING: {
    status: 503,
    message:
      'this node is rebuilding its state from its feeds (a fork healed, or a charter amendment voided entries): ask again shortly, or another node',
  },
  NODE_NOT_CERTIFIED: {
    status: 503,
    message: 'this node is not certified in the current charter (its state or the node was removed)',
  },
  STORAGE_FAILED: {
    status: 503,
    message: 'this node could not write to its storage and takes no writes until it is restarted',
  },
  REBUILD_LOST_OWN_ENTRIES: {
    status: 503,
    message:
      'rebuilding derived state left some of this node’s own entries unapplied: it takes no writes until an operator looks',
  },
  READ_ONLY: {
    status: 503,
    message: 'this engine is read-only (offline audit or replay): it signs and writes nothing',
  },
  WRITE_CONCERN_TIMEOUT: {
    status: 504,
    message: 'write is durable here but not enough peers acknowledged it in time',
  },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>

export type NodeErrorCode = keyof typeof NODE_ERRORS

export interface NodeErrorOptions {
  cause?: unknown
  /** Structured, non-personal details (e.g. one line per config problem) safe to show. */
  details?: readonly string[]
  /**
   * RFC 9457 extension members added to the problem answer (non-personal, safe to show),
   * e.g. the per-record results of a batch whose write concern was not met.
   */
  extensions?: Readonly<Record<string, unknown>>
}

export class NodeError extends CodedError<NodeErrorCode> {
  override readonly name: string = 'NodeError'
  readonly statusCode: number
  readonly details: readonly string[]
  readonly extensions: Readonly<Record<string, unknown>>

  constructor(code: NodeErrorCode, message?: string, options: NodeErrorOptions = {}) {
    super(NODE_ERRORS, code, message, options)
    this.statusCode = NODE_ERRORS[code].status
    this.details = options.details ?? []
    this.extensions = options.extensions ?? {}
  }
}

export function isNodeError(err: unknown): err is NodeError {
  return err instanceof NodeError
}

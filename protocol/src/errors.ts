/**
 * Typed errors of the protocol package.
 *
 * Every error carries a stable `code` (match on it, never on the message), an HTTP
 * `statusCode` for when it reaches the API, and chains its `cause`. The table below is
 * the single list of codes: `docs/errors.md` must describe each one (a test checks it).
 */

/** A table of error codes: each with its default message (and, per package, its status or exit code). */
export type ErrorTable = { readonly [code: string]: { readonly message: string } }

/**
 * The base of every coded error in the project (protocol, node, mesh, duties, CLI): a stable
 * `code` from its package's table, that code's default message unless one is given, and the
 * `cause` chained. Each package's class adds what its callers need (an HTTP status, an exit code).
 */
export class CodedError<C extends string> extends Error {
  override readonly name: string = 'CodedError'
  readonly code: C

  constructor(table: ErrorTable, code: C, message?: string, options?: { cause?: unknown }) {
    super(message ?? table[code]!.message, { cause: options?.cause })
    this.code = code
  }
}

export const PROTOCOL_ERRORS = {
  ENCODING_MALFORMED: { status: 400, message: 'bytes are not well-formed canonical CBOR' },
  ENCODING_NON_CANONICAL: { status: 400, message: 'bytes are not in canonical form' },
  ENCODING_TOO_LARGE: { status: 413, message: 'encoded object exceeds the size limit' },
  ENCODING_UNSUPPORTED_VALUE: { status: 400, message: 'value cannot be canonically encoded' },
  SCHEMA_INVALID: { status: 400, message: 'object does not match its schema' },
  KEY_INVALID: { status: 400, message: 'key is not a valid Ed25519 key' },
  SIGNATURE_INVALID: { status: 401, message: 'signature does not verify' },
  CERT_INVALID: { status: 401, message: 'certificate is not signed by a member state of the charter' },
  CERT_NOT_VALID_AT: { status: 401, message: 'certificate is not valid at that time' },
  CERT_REVOKED: { status: 401, message: 'certificate has been revoked' },
  CHARTER_INVALID: { status: 400, message: 'charter is not well-formed' },
  CHARTER_QUORUM_NOT_MET: { status: 403, message: 'charter version lacks a quorum of member signatures' },
  CHARTER_CHAIN_BROKEN: { status: 409, message: 'charter version does not follow the previous version' },
  BLOC_MISMATCH: { status: 409, message: 'object belongs to another bloc' },
  RECORD_UNAUTHORIZED: { status: 403, message: 'author may not sign this kind of record' },
  RECORD_PAYLOAD_MISMATCH: { status: 400, message: 'payload does not match the digest in the signed header' },
  RECORD_INVALID_TRANSITION: {
    status: 409,
    message: 'case transition is not allowed from the current state',
  },
  RECORD_UNKNOWN_SUBJECT: {
    status: 404,
    message: 'record refers to a citizen, case or alert that is not known',
  },
  RECORD_LEGAL_HOLD: {
    status: 409,
    message: 'the citizen’s data is held by an open case and cannot be erased on their request',
  },
  CLOCK_DRIFT: { status: 400, message: 'timestamp is too far ahead of this clock' },
  RECORD_TIME_OUT_OF_RANGE: {
    status: 400,
    message: 'the record is dated too far from this node’s clock to be accepted',
  },
  ENTRY_INVALID: { status: 400, message: 'feed entry is not valid' },
  ENTRY_CHAIN_BROKEN: { status: 409, message: 'feed entry does not follow the previous entry of its origin' },
  ENTRY_EQUIVOCATION: {
    status: 409,
    message: 'two different entries were signed for the same origin and sequence',
  },
  RECEIPT_INVALID: { status: 400, message: 'inclusion receipt does not prove what it claims' },
  ENTRY_CHARTER_UNKNOWN: { status: 409, message: 'feed entry names a charter version not known here' },
  ENTRY_AUTHORITY_WITHDRAWN: {
    status: 403,
    message: 'feed entry was signed after a charter amendment removed its node',
  },
  ENTRY_FOREIGN_CLIENT: { status: 400, message: 'entry carries document changes of another node' },
  ENTRY_REWRITE: { status: 400, message: 'entry would delete or rewrite a record' },
  REQUEST_AUTH_INVALID: { status: 401, message: 'request signature is missing, stale or invalid' },
} as const satisfies Record<string, { status: number; message: string }>

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS

export interface ProtocolErrorOptions {
  cause?: unknown
  /** Structured, non-personal details (e.g. schema paths) safe to show a client. */
  details?: readonly string[]
}

export class ProtocolError extends CodedError<ProtocolErrorCode> {
  override readonly name: string = 'ProtocolError'
  readonly statusCode: number
  readonly details: readonly string[]

  constructor(code: ProtocolErrorCode, message?: string, options: ProtocolErrorOptions = {}) {
    super(PROTOCOL_ERRORS, code, message, options)
    this.statusCode = PROTOCOL_ERRORS[code].status
    this.details = options.details ?? []
  }
}

export class EncodingError extends ProtocolError {
  override readonly name = 'EncodingError'
}
export class SchemaError extends ProtocolError {
  override readonly name = 'SchemaError'
}
export class SignatureError extends ProtocolError {
  override readonly name = 'SignatureError'
}
export class CertificateError extends ProtocolError {
  override readonly name = 'CertificateError'
}
export class CharterError extends ProtocolError {
  override readonly name = 'CharterError'
}
export class RecordError extends ProtocolError {
  override readonly name = 'RecordError'
}
export class EntryError extends ProtocolError {
  override readonly name = 'EntryError'
}
export class ClockError extends ProtocolError {
  override readonly name = 'ClockError'
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError
}

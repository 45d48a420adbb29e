/**
 * Typed errors of the admin CLI.
 *
 * Same shape as the other packages' errors: a stable `code` (scripts match on it, never on
 * the message), a default message, a chained `cause`, and here an `exitCode` instead of an
 * HTTP status. `cli.ts` prints one line, `error: <message> [<CODE>]`, and exits with
 * `exitCode`; never a stack trace for a user's mistake, never a secret.
 *
 * @example
 * throw new CliError('FILE_NOT_FOUND', `no such file: ${path}`)
 */

import { CodedError } from '@legation/protocol'

/** Exit code of a command that ran but failed. */
export const EXIT_FAILURE = 1
/** Exit code of a command line that could not be understood (commander's errors too). */
export const EXIT_USAGE = 2
/** Exit code of an audit that ran and found faults (or a bundle that does not prove them). */
export const EXIT_FINDINGS = 3

export const CLI_ERRORS = {
  USAGE: { exit: EXIT_USAGE, message: 'invalid command line' },
  NODE_URL_INVALID: { exit: EXIT_USAGE, message: 'node URL must be an http:// or https:// URL' },
  NODE_UNREACHABLE: { exit: EXIT_FAILURE, message: 'cannot reach the node' },
  NODE_REFUSED: { exit: EXIT_FAILURE, message: 'the node refused the request' },
  NODE_RESPONSE_INVALID: { exit: EXIT_FAILURE, message: 'the node sent a response the CLI cannot read' },
  FILE_NOT_FOUND: { exit: EXIT_FAILURE, message: 'file does not exist' },
  FILE_UNREADABLE: { exit: EXIT_FAILURE, message: 'file cannot be read' },
  FILE_EXISTS: { exit: EXIT_FAILURE, message: 'file already exists; refusing to overwrite it' },
  KEY_FILE_INVALID: { exit: EXIT_FAILURE, message: 'key file is not valid' },
  KEY_FILE_LOCKED: { exit: EXIT_FAILURE, message: 'key file is encrypted: passphrase missing or wrong' },
  KEY_PASSPHRASE_REQUIRED: {
    exit: EXIT_FAILURE,
    message: 'a passphrase is needed and none was given (or --insecure-plaintext for development)',
  },
  DESCRIPTOR_INVALID: { exit: EXIT_FAILURE, message: 'file is not a member descriptor' },
  DRAFT_INVALID: { exit: EXIT_FAILURE, message: 'file is not a charter draft, or the draft is not valid' },
  SIGNATURE_INVALID: { exit: EXIT_FAILURE, message: 'a signature file does not verify against the draft' },
  QUORUM_NOT_MET: { exit: EXIT_FAILURE, message: 'fewer valid signatures than the charter requires' },
  CERT_REVOKED: { exit: EXIT_FAILURE, message: 'the certificate is revoked' },
  STATE_KEY_NOT_FOUND: { exit: EXIT_FAILURE, message: 'the key file holds no key of that member state' },
  STATE_MISMATCH: {
    exit: EXIT_FAILURE,
    message: 'the certificate was issued by another member state than the one whose key signs',
  },
  CHARTER_FILE_INVALID: { exit: EXIT_FAILURE, message: 'file is not a charter chain' },
  CHARTER_REJECTED: { exit: EXIT_FAILURE, message: 'charter chain does not verify' },
  NOT_DEV_BLOC: { exit: EXIT_FAILURE, message: 'the node does not run a development bloc' },
  CONFIRMATION_REQUIRED: { exit: EXIT_USAGE, message: 'this removes data: confirm with --yes' },
  BLOC_MISMATCH: { exit: EXIT_FAILURE, message: 'key file is for another bloc than the node or charter' },
  SEED_INCOMPLETE: { exit: EXIT_FAILURE, message: 'some records were refused' },
  AUDITOR_KEY_MISMATCH: { exit: EXIT_FAILURE, message: 'the key is not the auditor key the charter names' },
  AUDIT_FINDINGS: { exit: EXIT_FINDINGS, message: 'the audit found faults' },
  STATE_FILE_INVALID: { exit: EXIT_FAILURE, message: 'the audit state file cannot be read' },
  BUNDLE_INVALID: { exit: EXIT_FAILURE, message: 'the file is not an evidence bundle' },
  BUNDLE_UNPROVEN: { exit: EXIT_FINDINGS, message: 'the bundle does not prove every finding it names' },
  RECEIPT_INVALID: { exit: EXIT_FINDINGS, message: 'the receipt does not prove what it claims' },
  RECEIPT_NOT_FINAL: { exit: EXIT_FINDINGS, message: 'the receipt’s checkpoint is not bloc-final yet' },
  TRANSITION_NOT_ALLOWED: {
    exit: EXIT_FAILURE,
    message: 'the case state machine does not allow this move from the state the case is in',
  },
  ALERT_NOT_FOUND: { exit: EXIT_FAILURE, message: 'no crisis alert matches' },
  WRITE_CONCERN_NOT_MET: {
    exit: EXIT_FAILURE,
    message: 'the record is stored, but not yet confirmed by as many other nodes as asked',
  },
  BACKUP_INVALID: { exit: EXIT_FAILURE, message: 'the file is not a backup, or its frames are damaged' },
  BACKUP_TRUNCATED: { exit: EXIT_FAILURE, message: 'the backup ends before its trailer: it was cut short' },
  BACKUP_CHECKSUM_MISMATCH: {
    exit: EXIT_FAILURE,
    message: 'the backup does not match its own checksum or counts: it was damaged or altered',
  },
  BACKUP_AUDIT_FAILED: {
    exit: EXIT_FINDINGS,
    message: 'the backup is intact but its signed history does not verify',
  },
  RESTORE_TARGET_NOT_EMPTY: {
    exit: EXIT_FAILURE,
    message: 'the data directory to restore into already holds a node’s data',
  },
  INTERNAL: { exit: EXIT_FAILURE, message: 'unexpected failure' },
} as const satisfies Record<string, { exit: number; message: string }>

export type CliErrorCode = keyof typeof CLI_ERRORS

export interface CliErrorOptions {
  cause?: unknown
  /** The node's own problem code (RFC 9457 `code`) when the node refused a request. */
  remoteCode?: string | undefined
  /** The HTTP status the node answered with. */
  status?: number | undefined
}

export class CliError extends CodedError<CliErrorCode> {
  override readonly name = 'CliError'
  readonly exitCode: number
  readonly remoteCode: string | undefined
  readonly status: number | undefined

  constructor(code: CliErrorCode, message?: string, options: CliErrorOptions = {}) {
    super(CLI_ERRORS, code, message, options)
    this.exitCode = CLI_ERRORS[code].exit
    this.remoteCode = options.remoteCode
    this.status = options.status
  }
}

export function isCliError(err: unknown): err is CliError {
  return err instanceof CliError
}

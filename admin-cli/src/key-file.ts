/**
 * Key files: the development officer's secrets a dev node writes, and the key files
 * `legation keys generate` writes. Both are JSON with keys in unpadded base64url (the node's
 * convention for binary values in files); 64-character hex is accepted too. Secret keys never
 * reach an error message or stdout.
 *
 * A development node's `<dataDir>/dev-secrets.json` (node/src/dev-bloc.ts, mode 0600):
 *
 *   { "warning": "DEVELOPMENT ONLY…", "bloc": "<hex bloc id>",
 *     "states": { "DVA": "<b64url state secret>", … }, "auditor": "<b64url secret>",
 *     "officer": { "state": "DVA", "secretKey": "<b64url secret>",
 *                  "cert": "<b64url canonical CBOR of the OfficerCertificate>" } }
 *
 * `loadKeyFile` reads `bloc` and `officer`; `loadStateKeyFile` reads `bloc` and one of `states`
 * (only for `legation officer revoke`); `loadAuditorKeyFile` reads `auditor` (only for
 * `legation audit`).
 *
 * A key file of `legation keys generate` is the node's keystore format (node/src/keystore.ts),
 * the one format for every key: the secret sealed under a passphrase (scrypt, AES-256-GCM), or
 * in plaintext for development only, under the name of its role, with public fields beside it:
 *
 *   { "v": 1, "role": "state", "keyId": "<hex>", "publicKey": "<b64url>", "state": "AT",
 *     "kdf": { … }, "cipher": "aes-256-gcm", "check", "nonce", "ciphertext", "tag" }
 *
 * An officer's adds `cert` (and `bloc`); a node's is what the node reads with `--key-file`.
 * Every reader below takes this format; the passphrase is the one given, or the environment's
 * (`LEGATION_KEY_PASSPHRASE`, `LEGATION_KEY_PASSPHRASE_FILE`: admin-cli/src/passphrase.ts).
 *
 * Earlier key files (read still, never written) were flat JSON:
 *
 *   { "type": "ed25519", "keyId": "<hex>", "publicKey": "<b64url>", "secretKey": "<b64url>" }
 *
 * optionally with a `cert` once the key is certified as an officer's. A member state's key file
 * has the same shape, with no `cert` and, optionally, the state it belongs to (and its bloc):
 *
 *   { "type": "ed25519", "state": "AT", "bloc": "<hex>"?, "publicKey": "<b64url>"?, "secretKey": "<b64url>" }
 */
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, writeSync } from 'node:fs'
import { resolve } from 'node:path'
import { openKeysSync, parseKeyFileJson, sealKeys } from '@legation/node/keystore'
import { DEFAULT_DATA_DIR, DEV_FILES } from '@legation/node/layout'
import {
  decodeCanonical,
  type Ed25519,
  equalBytes,
  fromBase64url,
  fromHex,
  generateKeyPair,
  type KeyPair,
  keyId,
  type OfficerCertificate,
  parseOfficerCertificate,
  toBase64url,
} from '@legation/protocol'
import { nativeEd25519 as nativeEd } from '@legation/protocol/native-crypto'
import { CliError } from './errors.ts'
import { givenPassphrase } from './passphrase.ts'

export { DEFAULT_DATA_DIR }
export const DEV_SECRETS_FILE = DEV_FILES.secrets
/** Owner read/write only. */
export const SECRET_FILE_MODE = 0o600

export interface LoadedKey {
  readonly keys: KeyPair
  /** The officer's certificate; null for a plain key (a citizen's). */
  readonly cert: OfficerCertificate | null
  /** The bloc and charter version the file says it belongs to, if it says. */
  readonly bloc: string | undefined
  readonly charter: string | undefined
}

/** `<dataDir>/dev-secrets.json`, where dataDir is LEGATION_DATA_DIR or the node's default. */
export function defaultDevSecretsPath(env: Readonly<Record<string, string | undefined>>): string {
  return resolve(env.LEGATION_DATA_DIR || DEFAULT_DATA_DIR, DEV_SECRETS_FILE)
}

export function readFileOrFail(path: string, what: string): Buffer {
  try {
    return readFileSync(path)
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `${what} not found: ${path}`, { cause })
    throw new CliError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${code ?? 'error'}`, { cause })
  }
}

const HEX64 = /^[0-9a-f]{64}$/
const B64URL32 = /^[A-Za-z0-9_-]{43}$/

/** 32 key bytes from base64url or hex; undefined if neither. */
function keyBytes(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string') return undefined
  try {
    if (B64URL32.test(value)) return fromBase64url(value)
    if (HEX64.test(value)) return fromHex(value)
  } catch {
    return undefined
  }
  return undefined
}

/** The key pair of `{ secretKey, publicKey? }`; the public key, when given, must match. */
function keyPairOf(ed: Ed25519, entry: Record<string, unknown>, bad: (why: string) => Error): KeyPair {
  const secret = keyBytes(entry.secretKey)
  if (!secret) throw bad('secretKey must be 32 bytes in base64url (or hex)')
  const keys = generateKeyPair(ed, secret)
  if (entry.publicKey !== undefined) {
    const pub = keyBytes(entry.publicKey)
    if (!pub) throw bad('publicKey must be 32 bytes in base64url (or hex)')
    if (!equalBytes(pub, keys.publicKey)) throw bad('publicKey is not the public key of secretKey')
  }
  return keys
}

/** The roles a key file of `keys generate` may hold a key for. */
export const KEY_ROLES = ['state', 'officer', 'node', 'auditor', 'citizen'] as const
export type KeyRole = (typeof KEY_ROLES)[number]

/** How a sealed key file is opened: this passphrase, else the environment's. */
export interface Unlock {
  passphrase?: string | null | undefined
  env?: Readonly<Record<string, string | undefined>> | undefined
}

/** True for a key file in the keystore format (`{ "v": 1, … }`), sealed or not. */
function isKeystore(top: Record<string, unknown>): boolean {
  return top.v !== undefined
}

/**
 * The key pair in a keystore-format file: the key named by its `role` (or its only key),
 * checked against the file's clear `publicKey` if it has one. Maps the keystore's codes to the
 * CLI's: a missing or wrong passphrase is KEY_FILE_LOCKED, anything else KEY_FILE_INVALID.
 */
function openKeystore(
  ed: Ed25519,
  path: string,
  text: string,
  top: Record<string, unknown>,
  unlock: Unlock,
  bad: (why: string, cause?: unknown) => CliError,
): { keys: KeyPair; role: string | undefined } {
  const passphrase =
    unlock.passphrase !== undefined && unlock.passphrase !== null
      ? unlock.passphrase
      : givenPassphrase(unlock.env ?? process.env)
  let secrets: Record<string, Uint8Array>
  try {
    secrets = openKeysSync(path, text, passphrase).keys
  } catch (cause) {
    const code = (cause as { code?: string }).code
    const message = cause instanceof Error ? cause.message : String(cause)
    if (code === 'KEYSTORE_LOCKED') {
      const hint = passphrase === null ? ' (set LEGATION_KEY_PASSPHRASE or give --passphrase-file)' : ''
      throw new CliError('KEY_FILE_LOCKED', `${message}${hint}`, { cause })
    }
    const why = message.replace(/^key file( \S+)?:? ?/, '')
    throw bad(
      code === 'KEYSTORE_CORRUPT' ? `${why} (damaged or altered: restore it from a backup)` : why,
      cause,
    )
  }
  const role = typeof top.role === 'string' ? top.role : undefined
  const names = Object.keys(secrets)
  const name = role !== undefined && names.includes(role) ? role : names.length === 1 ? names[0] : undefined
  if (name === undefined) throw bad(`holds ${names.length} keys and names none of them by its role`)
  const secret = secrets[name]!
  if (secret.length !== 32) throw bad(`the ${name} key is not 32 bytes`)
  const keys = generateKeyPair(ed, secret)
  if (top.publicKey !== undefined) {
    const pub = keyBytes(top.publicKey)
    if (!pub || !equalBytes(pub, keys.publicKey))
      throw bad('publicKey is not the public key of the sealed key')
  }
  return { keys, role }
}

export interface WriteKeyFileOptions {
  role: KeyRole
  keys: KeyPair
  /** Null: plaintext (development only; the caller warns). */
  passphrase: string | null
  /** Public fields besides role, keyId and publicKey: state, bloc, cert, … */
  header?: Record<string, unknown>
  /** scrypt cost (tests only). */
  scryptN?: number
}

/** Writes a key file in the one format (never overwriting one, mode 0600). */
export async function writeKeyFile(path: string, opts: WriteKeyFileOptions): Promise<void> {
  const header = {
    role: opts.role,
    keyId: keyId(opts.keys.publicKey),
    publicKey: toBase64url(opts.keys.publicKey),
    ...opts.header,
  }
  const text = await sealKeys({ [opts.role]: opts.keys.secretKey }, opts.passphrase, {
    header,
    ...(opts.scryptN !== undefined ? { scryptN: opts.scryptN } : {}),
  })
  writeSecretFile(path, text)
}

/** True for a key file sealed under a passphrase (false for any plaintext format, or no such file). */
export function isSealedKeyFile(path: string): boolean {
  try {
    const top = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>
    return typeof top === 'object' && top !== null && top.v !== undefined && top.plaintext !== true
  } catch {
    return false
  }
}

/** The public fields of a key file, read without its passphrase (a node's public key, for one). */
export function readKeyFileHeader(path: string): {
  role: string | undefined
  publicKey: Uint8Array
  state: string | undefined
  sealed: boolean
} {
  const { top, bad } = readJsonObject(path, 'key file')
  if (isKeystore(top)) {
    try {
      parseKeyFileJson(path, JSON.stringify(top))
    } catch (cause) {
      throw bad((cause as Error).message.replace(/^key file \S+ /, ''), cause)
    }
  }
  let pub = keyBytes(top.publicKey)
  let role = typeof top.role === 'string' ? top.role : undefined
  if (!pub && isKeystore(top) && top.plaintext === true) {
    // A plaintext key file a node wrote itself (no public fields): its one key tells.
    const { keys } = openKeystore(nativeEd, path, JSON.stringify(top), top, { passphrase: null }, bad)
    pub = keys.publicKey
    keys.secretKey.fill(0)
    const names = Object.keys(top.keys as object)
    role ??= names.length === 1 ? names[0] : undefined
  }
  if (!pub) throw bad('has no publicKey (32 bytes in base64url)')
  return {
    role,
    publicKey: pub,
    state: typeof top.state === 'string' ? top.state : undefined,
    sealed: isKeystore(top) && top.plaintext !== true,
  }
}

/** Reads an officer's (or citizen's) key file; checks that the keys and certificate belong together. */
export function loadKeyFile(ed: Ed25519, path: string, unlock: Unlock = {}): LoadedKey {
  const { top, text, bad } = readJsonObject(path, 'key file')
  // dev-secrets.json nests the officer; a generated key file is flat.
  const entry = (typeof top.officer === 'object' && top.officer !== null ? top.officer : top) as Record<
    string,
    unknown
  >
  let keys: KeyPair
  if (isKeystore(top)) {
    const opened = openKeystore(ed, path, text, top, unlock, bad)
    if (opened.role !== undefined && opened.role !== 'officer' && opened.role !== 'citizen') {
      throw bad(`a ${opened.role} key, not an officer's or a citizen's`)
    }
    keys = opened.keys
  } else keys = keyPairOf(ed, entry, bad)
  let cert: OfficerCertificate | null = null
  if (entry.cert !== undefined && entry.cert !== null) {
    if (typeof entry.cert !== 'string') throw bad('cert must be base64url canonical CBOR')
    try {
      cert = parseOfficerCertificate.parse(
        decodeCanonical(fromBase64url(entry.cert), 8192),
        'certificate',
      ) as OfficerCertificate
    } catch (cause) {
      throw bad('cert is not an officer certificate', cause)
    }
    if (!equalBytes(cert.body.officerKey, keys.publicKey)) throw bad('cert certifies another key')
  }
  const str = (v: unknown) => (typeof v === 'string' && HEX64.test(v) ? v : undefined)
  return { keys, cert, bloc: str(top.bloc) ?? cert?.body.bloc, charter: str(top.charter) }
}

/**
 * The officer certificate in a key file, read without opening the key: from a sealed file's
 * clear `cert` (checked against its clear public key), else as `loadKeyFile` does.
 */
export function loadOfficerCert(path: string): { cert: OfficerCertificate | null } {
  const { top, bad } = readJsonObject(path, 'key file')
  if (!isKeystore(top) || top.plaintext === true) return { cert: loadKeyFile(nativeEd, path).cert }
  if (typeof top.cert !== 'string') return { cert: null }
  let cert: OfficerCertificate
  try {
    cert = parseOfficerCertificate.parse(
      decodeCanonical(fromBase64url(top.cert), 8192),
      'certificate',
    ) as OfficerCertificate
  } catch (cause) {
    throw bad('cert is not an officer certificate', cause)
  }
  const pub = keyBytes(top.publicKey)
  if (!pub || !equalBytes(cert.body.officerKey, pub)) throw bad('cert certifies another key')
  return { cert }
}

const existsError = (path: string) =>
  new CliError('FILE_EXISTS', `${path} already exists; not overwriting it`)

/**
 * Refuses early, before any work that would be lost, a key file to create that exists already.
 * `writeSecretFile` refuses again when it creates the file, so a file made meanwhile is safe.
 */
export function refuseExisting(path: string): void {
  if (existsSync(path)) throw existsError(path)
}

/**
 * Creates `path` with mode 0600 and writes `text`, refusing to overwrite: a key file that
 * already exists may be the only copy of a key.
 */
export function writeSecretFile(path: string, text: string): void {
  let fd: number
  try {
    fd = openSync(path, 'wx', SECRET_FILE_MODE)
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code === 'EEXIST') throw existsError(path)
    throw new CliError('FILE_UNREADABLE', `cannot create ${path}: ${code ?? 'error'}`, { cause })
  }
  try {
    // The umask can only narrow the mode, but say it again in case the file system ignored it.
    fchmodSync(fd, SECRET_FILE_MODE)
    writeSync(fd, text)
  } finally {
    closeSync(fd)
  }
}

export interface LoadedStateKey {
  /** The member state the key signs for. */
  readonly state: string
  readonly keys: KeyPair
  /** The bloc the file says it belongs to, if it says. */
  readonly bloc: string | undefined
}

const STATE_CODE = /^[A-Z]{2,3}$/

/**
 * Reads a member state's secret key: from a development bloc's dev-secrets.json (`states`, one
 * picked by `state` unless the file holds only one), or from a single state's key file (the
 * format of `keys generate`, optionally naming its `state`; `state` must then agree, or name
 * the state when the file does not). Refuses an officer's key file (one with a certificate).
 */
export function loadStateKeyFile(
  ed: Ed25519,
  path: string,
  state: string | undefined,
  unlock: Unlock = {},
): LoadedStateKey {
  const { top, text, bad } = readJsonObject(path, 'state key file')
  const bloc = typeof top.bloc === 'string' && HEX64.test(top.bloc) ? top.bloc : undefined

  if (top.states !== undefined) {
    // A development bloc's dev-secrets.json: every member state's key, by code.
    if (typeof top.states !== 'object' || top.states === null || Array.isArray(top.states)) {
      throw bad('states must map state codes to secret keys')
    }
    const states = top.states as Record<string, unknown>
    const codes = Object.keys(states).sort()
    let code = state
    if (code === undefined) {
      if (codes.length !== 1) {
        throw new CliError(
          'USAGE',
          `${path} holds the keys of ${codes.join(', ') || 'no state'}: say which with --state`,
        )
      }
      code = codes[0]!
      if (!STATE_CODE.test(code)) throw bad(`${JSON.stringify(code)} is not a state code`)
    }
    if (!Object.hasOwn(states, code)) {
      throw new CliError(
        'STATE_KEY_NOT_FOUND',
        `${path} holds no key of ${code} (it holds ${codes.join(', ') || 'none'})`,
      )
    }
    const secret = keyBytes(states[code])
    if (!secret) throw bad(`the key of ${code} must be 32 bytes in base64url (or hex)`)
    return { state: code, keys: generateKeyPair(ed, secret), bloc }
  }

  // One key: a state's key file, or a plain one from `keys generate`.
  if (top.officer !== undefined || (top.cert !== undefined && top.cert !== null)) {
    throw bad("an officer's key file (it has a certificate), not a state key")
  }
  let keys: KeyPair
  if (isKeystore(top)) {
    const opened = openKeystore(ed, path, text, top, unlock, bad)
    if (opened.role !== undefined && opened.role !== 'state')
      throw bad(`a ${opened.role} key, not a state key`)
    keys = opened.keys
  } else keys = keyPairOf(ed, top, bad)
  let named: string | undefined
  if (top.state !== undefined) {
    if (typeof top.state !== 'string' || !STATE_CODE.test(top.state)) throw bad('state must be a state code')
    named = top.state
  }
  if (named !== undefined && state !== undefined && named !== state) {
    throw new CliError('STATE_KEY_NOT_FOUND', `${path} holds the key of ${named}, not of ${state}`)
  }
  const code = state ?? named
  if (code === undefined) {
    throw new CliError('USAGE', `${path} does not say which state its key is: say it with --state`)
  }
  return { state: code, keys, bloc }
}

/**
 * Reads the secretariat's auditor key: a development bloc's dev-secrets.json (`auditor`) or a
 * key file of `keys generate`. Refuses an officer's key file. Whether it is the charter's auditor
 * key is for the caller to check.
 */
export function loadAuditorKeyFile(ed: Ed25519, path: string, unlock: Unlock = {}): KeyPair {
  const { top, text, bad } = readJsonObject(path, 'auditor key file')
  if (isKeystore(top)) {
    const opened = openKeystore(ed, path, text, top, unlock, bad)
    if (opened.role !== undefined && opened.role !== 'auditor') {
      throw bad(`a ${opened.role} key, not the auditor's`)
    }
    return opened.keys
  }
  if (top.auditor !== undefined) {
    const secret = keyBytes(top.auditor)
    if (!secret) throw bad('auditor must be a secret key: 32 bytes in base64url (or hex)')
    return generateKeyPair(ed, secret)
  }
  if (top.officer !== undefined || (top.cert !== undefined && top.cert !== null)) {
    throw bad("an officer's key file (it has a certificate), not the auditor's")
  }
  return keyPairOf(ed, top, bad)
}

/**
 * Reads a node's key file (the one the node runs with, or one of `keys generate --role node`):
 * requests only the node's operator may make are signed with it (`legation backup`).
 */
export function loadNodeKeyFile(ed: Ed25519, path: string, unlock: Unlock = {}): KeyPair {
  const { top, text, bad } = readJsonObject(path, 'node key file')
  if (!isKeystore(top)) throw bad('not a node key file (the format the node reads with --key-file)')
  const opened = openKeystore(ed, path, text, top, unlock, bad)
  if (opened.role !== undefined && opened.role !== 'node') throw bad(`a ${opened.role} key, not a node key`)
  return opened.keys
}

/** A key file's top-level JSON object, and how to say what is wrong with it (KEY_FILE_INVALID). */
function readJsonObject(
  path: string,
  what: string,
): { top: Record<string, unknown>; text: string; bad: (why: string, cause?: unknown) => CliError } {
  const text = readFileOrFail(path, what).toString('utf8')
  const bad = (why: string, cause?: unknown) =>
    new CliError('KEY_FILE_INVALID', `${what} ${path}: ${why}`, { cause })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw bad('not JSON', cause)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object')
  return { top: json as Record<string, unknown>, text, bad }
}

/**
 * The node's secret keys at rest: one small versioned JSON file.
 *
 * With a passphrase the keys are sealed with AES-256-GCM under a key derived by scrypt
 * (N=2^15, r=8, p=1, a random 16-byte salt; a random 12-byte nonce per write):
 *
 *   { v: 1, kdf: { name: 'scrypt', N, r, p, salt }, cipher: 'aes-256-gcm', check, nonce, ciphertext, tag }
 *
 * scrypt yields 64 bytes: the first 32 are the AES key, the hash of the last 32 is stored as
 * `check`. It tells a wrong passphrase (check differs → KEYSTORE_LOCKED) apart from a damaged
 * or tampered file (check matches but the GCM tag does not → KEYSTORE_CORRUPT); the header
 * fields are the GCM additional data, so changing any of them is detected too.
 *
 * Without a passphrase (development only) the file is `{ v: 1, plaintext: true, keys }` and
 * `loadKeys` reports `encrypted: false` so that the caller can warn loudly.
 *
 * This is the one key file format of the bloc: the node reads its `node` key from it, and
 * `legation keys generate` writes state, officer, auditor and node keys in it, each under the
 * name of its role, with public fields in the clear beside the sealed keys (`role`, `keyId`,
 * `publicKey`, and `state`, `bloc`, `cert` where they apply): a tool reads a node's public key
 * or an officer's certificate without the passphrase, and checks them against the keys once
 * opened. They are not in the GCM additional data, so they may be added to a file later.
 *
 * Files are written atomically (temporary file, fsync, rename, fsync of the folder) with
 * mode 0600. Binary values are unpadded base64url.
 *
 * @example
 * await saveKeys(file, { node: nodeKeys.secretKey }, passphrase)
 * const { keys, encrypted } = await loadKeys(file, passphrase)
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  scrypt,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { NodeError } from './errors.ts'

/** scrypt cost: 2^15 × r=8 uses 32 MiB and takes ~0.1 s, the usual interactive-login setting. */
export const DEFAULT_SCRYPT_N = 2 ** 15
export const SCRYPT_R = 8
export const SCRYPT_P = 1
/** Highest cost a file may ask for: a tampered file must not make the node allocate gigabytes. */
export const MAX_SCRYPT_N = 2 ** 20
export const SALT_BYTES = 16
export const NONCE_BYTES = 12
export const KEYSTORE_FILE_MODE = 0o600
const CIPHER = 'aes-256-gcm'
const CHECK_DOMAIN = 'legation/keystore/check/v1'

export interface KeystoreOptions {
  /** scrypt cost parameter N (a power of two); lower it only in tests. @default DEFAULT_SCRYPT_N */
  scryptN?: number
}

export interface LoadedKeys {
  keys: Record<string, Uint8Array>
  /** False for a development (plaintext) key file: the caller must warn loudly. */
  encrypted: boolean
}

interface KdfParams {
  name: 'scrypt'
  N: number
  r: number
  p: number
  salt: string
}

interface SealedFile {
  v: 1
  kdf: KdfParams
  cipher: typeof CIPHER
  check: string
  nonce: string
  ciphertext: string
  tag: string
}

interface PlainFile {
  v: 1
  plaintext: true
  keys: Record<string, string>
}

const b64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
const B64URL = /^[A-Za-z0-9_-]*$/

function unb64(text: unknown, what: string): Buffer {
  if (typeof text !== 'string' || !B64URL.test(text)) {
    throw new NodeError('KEYSTORE_CORRUPT', `key file: ${what} is not base64url`)
  }
  return Buffer.from(text, 'base64url')
}

function deriveKey(passphrase: string, kdf: Omit<KdfParams, 'name' | 'salt'>, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      64,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}

function checkValue(derived: Buffer): Buffer {
  return createHash('sha256').update(CHECK_DOMAIN).update(derived.subarray(32)).digest().subarray(0, 16)
}

/** The GCM additional data: every header field, so none can be changed unnoticed. */
function aad(file: Omit<SealedFile, 'ciphertext' | 'tag'>): Buffer {
  const { v, kdf, cipher, check, nonce } = file
  return Buffer.from(JSON.stringify([v, kdf.name, kdf.N, kdf.r, kdf.p, kdf.salt, cipher, check, nonce]))
}

function encodeKeys(keys: Record<string, Uint8Array>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(keys)) {
    if (!(value instanceof Uint8Array)) throw new TypeError(`key ${name} is not a Uint8Array`)
    out[name] = b64(value)
  }
  return out
}

function decodeKeys(keys: unknown): Record<string, Uint8Array> {
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    throw new NodeError('KEYSTORE_CORRUPT', 'key file: keys is not an object')
  }
  const out: Record<string, Uint8Array> = {}
  for (const [name, value] of Object.entries(keys)) out[name] = new Uint8Array(unb64(value, `key ${name}`))
  return out
}

/** Writes `data` to `path` atomically (temp file, fsync, rename, fsync folder), mode 0600 by default. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode: number = KEYSTORE_FILE_MODE,
): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have changed the mode open() applied
    await fh.sync()
  } catch (err) {
    await fh.close()
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  // The rename is durable only once the folder entry is synced (not possible on every platform).
  try {
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  } catch {
    // best effort
  }
}

/**
 * The key file's passphrase as configured: `keyPassphrase` (LEGATION_KEY_PASSPHRASE), else the
 * first line of `keyPassphraseFile` (LEGATION_KEY_PASSPHRASE_FILE: a Docker secret, or systemd's
 * `LoadCredential=`), else none. A passphrase file that cannot be read, or whose first line is
 * empty, is CONFIG_INVALID naming the file (never its content).
 */
export async function configuredPassphrase(config: {
  keyPassphrase?: string | undefined
  keyPassphraseFile?: string | undefined
}): Promise<string | null> {
  if (config.keyPassphrase) return config.keyPassphrase
  const file = config.keyPassphraseFile
  if (!file) return null
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error'
    throw new NodeError('CONFIG_INVALID', `keyPassphraseFile: cannot read ${file} (${code})`, { cause })
  }
  const line = text.split(/\r?\n/, 1)[0] ?? ''
  if (line === '')
    throw new NodeError('CONFIG_INVALID', `keyPassphraseFile: the first line of ${file} is empty`)
  return line
}

/**
 * The text of a key file holding `keys` (name → secret bytes), with `header`'s public fields
 * (a public key, the state, a certificate, …) in the clear before the keys: they are not
 * secret, and a tool reads them without the passphrase (whoever reads them checks them against
 * the keys once opened). `passphrase === null` writes a plaintext file: for development only.
 */
export async function sealKeys(
  keys: Record<string, Uint8Array>,
  passphrase: string | null,
  options: KeystoreOptions & { header?: Record<string, unknown> } = {},
): Promise<string> {
  const encoded = encodeKeys(keys)
  const extra = { ...options.header }
  for (const own of ['v', 'plaintext', 'keys', 'kdf', 'cipher', 'check', 'nonce', 'ciphertext', 'tag']) {
    delete extra[own]
  }
  if (passphrase === null) {
    const file: PlainFile = { v: 1, plaintext: true, keys: encoded }
    return `${JSON.stringify({ v: 1, ...extra, plaintext: file.plaintext, keys: file.keys }, null, 2)}\n`
  }
  if (passphrase.length === 0) throw new NodeError('KEYSTORE_LOCKED', 'an empty passphrase is not allowed')
  const N = options.scryptN ?? DEFAULT_SCRYPT_N
  const salt = randomBytes(SALT_BYTES)
  const nonce = randomBytes(NONCE_BYTES)
  const derived = await deriveKey(passphrase, { N, r: SCRYPT_R, p: SCRYPT_P }, salt)
  const header: Omit<SealedFile, 'ciphertext' | 'tag'> = {
    v: 1,
    kdf: { name: 'scrypt', N, r: SCRYPT_R, p: SCRYPT_P, salt: b64(salt) },
    cipher: CIPHER,
    check: b64(checkValue(derived)),
    nonce: b64(nonce),
  }
  const plaintext = Buffer.from(JSON.stringify(encoded))
  const cipher = createCipheriv(CIPHER, derived.subarray(0, 32), nonce)
  cipher.setAAD(aad(header))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const file: SealedFile = { ...header, ciphertext: b64(ciphertext), tag: b64(cipher.getAuthTag()) }
  plaintext.fill(0)
  derived.fill(0)
  const { v, ...rest } = file
  return `${JSON.stringify({ v, ...extra, ...rest }, null, 2)}\n`
}

/**
 * Saves `keys` (name → secret bytes). `passphrase === null` writes a plaintext file: for
 * development blocs only.
 */
export async function saveKeys(
  path: string,
  keys: Record<string, Uint8Array>,
  passphrase: string | null,
  options: KeystoreOptions = {},
): Promise<void> {
  await writeFileAtomic(path, await sealKeys(keys, passphrase, options))
}

function parseKdf(kdf: unknown): KdfParams {
  const k = kdf as Partial<KdfParams> | null
  const ok =
    typeof k === 'object' &&
    k !== null &&
    k.name === 'scrypt' &&
    Number.isSafeInteger(k.N) &&
    k.N! >= 2 &&
    k.N! <= MAX_SCRYPT_N &&
    (k.N! & (k.N! - 1)) === 0 &&
    Number.isSafeInteger(k.r) &&
    k.r! >= 1 &&
    k.r! <= 32 &&
    Number.isSafeInteger(k.p) &&
    k.p! >= 1 &&
    k.p! <= 16 &&
    typeof k.salt === 'string'
  if (!ok) throw new NodeError('KEYSTORE_CORRUPT', 'key file: unsupported or out-of-range kdf parameters')
  return k as KdfParams
}

/** A parsed key file: plaintext keys, or what is needed to open a sealed one. */
type ParsedFile =
  | { plaintext: true; keys: Record<string, Uint8Array> }
  | {
      plaintext: false
      kdf: KdfParams
      salt: Buffer
      nonce: Buffer
      check: Buffer
      ciphertext: Buffer
      tag: Buffer
      header: Omit<SealedFile, 'ciphertext' | 'tag'>
    }

/** The JSON object of a key file (KEYSTORE_CORRUPT if it is not one of version 1). */
export function parseKeyFileJson(path: string, text: string): Record<string, unknown> {
  let file: unknown
  try {
    file = JSON.parse(text)
  } catch (cause) {
    throw new NodeError('KEYSTORE_CORRUPT', `key file ${path} is not JSON`, { cause })
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new NodeError('KEYSTORE_CORRUPT', `key file ${path} is not a JSON object`)
  }
  const obj = file as Record<string, unknown>
  if (obj.v !== 1) throw new NodeError('KEYSTORE_CORRUPT', `key file ${path} has unsupported version`)
  return obj
}

/** True if `file` (a key file's JSON) is sealed under a passphrase. */
export function isSealed(file: Record<string, unknown>): boolean {
  return file.plaintext !== true
}

function parseFile(path: string, file: Record<string, unknown>, passphrase: string | null): ParsedFile {
  if (file.plaintext === true) return { plaintext: true, keys: decodeKeys(file.keys) }
  if (passphrase === null || passphrase === '') {
    throw new NodeError('KEYSTORE_LOCKED', `key file ${path} is encrypted: a passphrase is needed`)
  }
  if (file.cipher !== CIPHER) throw new NodeError('KEYSTORE_CORRUPT', `key file ${path}: unknown cipher`)
  const kdf = parseKdf(file.kdf)
  const salt = unb64(kdf.salt, 'salt')
  const nonce = unb64(file.nonce, 'nonce')
  const check = unb64(file.check, 'check')
  const ciphertext = unb64(file.ciphertext, 'ciphertext')
  const tag = unb64(file.tag, 'tag')
  if (
    salt.length !== SALT_BYTES ||
    nonce.length !== NONCE_BYTES ||
    check.length !== 16 ||
    tag.length !== 16
  ) {
    throw new NodeError('KEYSTORE_CORRUPT', `key file ${path}: field lengths are wrong`)
  }
  const header: Omit<SealedFile, 'ciphertext' | 'tag'> = {
    v: 1,
    kdf,
    cipher: CIPHER,
    check: file.check as string,
    nonce: file.nonce as string,
  }
  return { plaintext: false, kdf, salt, nonce, check, ciphertext, tag, header }
}

/** Opens a sealed file with the key scrypt derived from the passphrase; wipes `derived`. */
function unseal(path: string, sealed: Extract<ParsedFile, { plaintext: false }>, derived: Buffer) {
  try {
    if (!timingSafeEqual(checkValue(derived), sealed.check)) {
      throw new NodeError('KEYSTORE_LOCKED', `wrong passphrase for key file ${path}`)
    }
    let plaintext: Buffer
    try {
      const decipher = createDecipheriv(CIPHER, derived.subarray(0, 32), sealed.nonce)
      decipher.setAAD(aad(sealed.header))
      decipher.setAuthTag(sealed.tag)
      plaintext = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()])
    } catch (cause) {
      throw new NodeError('KEYSTORE_CORRUPT', `key file ${path} fails its integrity check`, { cause })
    }
    try {
      return decodeKeys(JSON.parse(plaintext.toString('utf8')))
    } catch (cause) {
      if (cause instanceof NodeError) throw cause
      throw new NodeError('KEYSTORE_CORRUPT', `key file ${path}: sealed content is not JSON`, { cause })
    } finally {
      plaintext.fill(0)
    }
  } finally {
    derived.fill(0)
  }
}

/**
 * Opens the text of a key file. A plaintext file opens whatever the passphrase (with
 * `encrypted: false`); an encrypted file needs the right passphrase. Fields other than the
 * ones this module writes (a public key, the state, a certificate: see `sealKeys`) are
 * left for the caller, who must check them against the keys.
 */
export async function openKeys(path: string, text: string, passphrase: string | null): Promise<LoadedKeys> {
  const parsed = parseFile(path, parseKeyFileJson(path, text), passphrase)
  if (parsed.plaintext) return { keys: parsed.keys, encrypted: false }
  const derived = await deriveKey(passphrase!, parsed.kdf, parsed.salt)
  return { keys: unseal(path, parsed, derived), encrypted: true }
}

/** `openKeys` for callers that cannot wait (the admin CLI's key-file readers). */
export function openKeysSync(path: string, text: string, passphrase: string | null): LoadedKeys {
  const parsed = parseFile(path, parseKeyFileJson(path, text), passphrase)
  if (parsed.plaintext) return { keys: parsed.keys, encrypted: false }
  const { N, r, p } = parsed.kdf
  const derived = scryptSync(passphrase!.normalize('NFC'), parsed.salt, 64, {
    N,
    r,
    p,
    maxmem: 256 * N * r + 1024 * 1024,
  })
  return { keys: unseal(path, parsed, derived), encrypted: true }
}

/**
 * Loads a key file. A plaintext file loads whatever the passphrase (with `encrypted: false`);
 * an encrypted file needs the right passphrase.
 * Errors: KEYSTORE_MISSING, KEYSTORE_LOCKED (passphrase missing or wrong), KEYSTORE_CORRUPT.
 */
export async function loadKeys(path: string, passphrase: string | null): Promise<LoadedKeys> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NodeError('KEYSTORE_MISSING', `no key file at ${path}`, { cause })
    }
    throw cause
  }
  return openKeys(path, text, passphrase)
}

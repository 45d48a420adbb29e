/**
 * Opens the bloc's key file format in the browser (node/src/keystore.ts is the reference):
 *
 *   { v: 1, role, keyId, publicKey, cert?, …, plaintext: true, keys: { <role>: b64url } }
 *   { v: 1, role, …, kdf: { name: 'scrypt', N, r, p, salt }, cipher: 'aes-256-gcm', check, nonce, ciphertext, tag }
 *
 * A sealed file is opened with the passphrase: scrypt gives 64 bytes, the first 32 the AES-256-GCM
 * key, the SHA-256 of `legation/keystore/check/v1` and the last 32 (first 16 bytes) the `check`
 * that tells a wrong passphrase from a damaged file; every header field is the GCM additional data.
 * Nothing here leaves the page.
 */
import { fromBase64url } from '@legation/protocol'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { sha256 } from '@noble/hashes/sha2.js'

const CHECK_DOMAIN = 'legation/keystore/check/v1'

export class KeyFileError extends Error {
  override name = 'KeyFileError'
  readonly code: 'KEY_FILE_LOCKED' | 'KEY_FILE_INVALID'
  constructor(code: 'KEY_FILE_LOCKED' | 'KEY_FILE_INVALID', message: string) {
    super(message)
    this.code = code
  }
}

const invalid = (why: string) => new KeyFileError('KEY_FILE_INVALID', why)

/** True for the keystore format, sealed under a passphrase. */
export function isSealed(file: Record<string, unknown>): boolean {
  return file.v === 1 && file.plaintext !== true && typeof file.ciphertext === 'string'
}

function b64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw invalid(`${what} is missing`)
  try {
    return fromBase64url(v)
  } catch {
    throw invalid(`${what} is not base64url`)
  }
}

function decodeKeys(keys: unknown): Record<string, Uint8Array> {
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw invalid('keys is not an object')
  return Object.fromEntries(Object.entries(keys).map(([name, v]) => [name, b64(v, `key ${name}`)]))
}

/** The secret keys of a keystore-format file, by name (its role), opened with `passphrase` if sealed. */
export async function openKeyFile(
  file: Record<string, unknown>,
  passphrase: string,
): Promise<Record<string, Uint8Array>> {
  if (file.v !== 1) throw invalid('not a key file of version 1')
  if (file.plaintext === true) return decodeKeys(file.keys)
  if (file.cipher !== 'aes-256-gcm') throw invalid('unknown cipher')
  const kdf = file.kdf as { name?: unknown; N?: unknown; r?: unknown; p?: unknown; salt?: unknown } | null
  if (kdf?.name !== 'scrypt' || ![kdf.N, kdf.r, kdf.p].every((x) => Number.isSafeInteger(x)))
    throw invalid('unknown key derivation')
  const [N, r, p] = [kdf.N as number, kdf.r as number, kdf.p as number]
  // The same bounds as a node would accept: a file cannot make the page spend unbounded memory.
  if (N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16)
    throw invalid('key derivation cost out of range')
  const salt = b64(kdf.salt, 'salt')
  const nonce = b64(file.nonce, 'nonce')
  const check = b64(file.check, 'check')
  const ciphertext = b64(file.ciphertext, 'ciphertext')
  const tag = b64(file.tag, 'tag')
  if (salt.length !== 16 || nonce.length !== 12 || check.length !== 16 || tag.length !== 16)
    throw invalid('field lengths are wrong')
  const derived = await scryptAsync(passphrase.normalize('NFC'), salt, {
    N,
    r,
    p,
    dkLen: 64,
    maxmem: 2 ** 31,
  })
  const expected = sha256(
    new Uint8Array([...new TextEncoder().encode(CHECK_DOMAIN), ...derived.subarray(32)]),
  ).subarray(0, 16)
  if (!expected.every((b, i) => b === check[i])) throw new KeyFileError('KEY_FILE_LOCKED', 'wrong passphrase')
  const aad = new TextEncoder().encode(
    JSON.stringify([file.v, kdf.name, N, r, p, kdf.salt, file.cipher, file.check, file.nonce]),
  )
  const key = await crypto.subtle.importKey('raw', derived.slice(0, 32), 'AES-GCM', false, ['decrypt'])
  derived.fill(0)
  let plain: ArrayBuffer
  try {
    plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: nonce as BufferSource, additionalData: aad, tagLength: 128 },
      key,
      new Uint8Array([...ciphertext, ...tag]),
    )
  } catch {
    throw invalid('damaged or altered')
  }
  return decodeKeys(JSON.parse(new TextDecoder().decode(plain)))
}

/**
 * Ed25519 with Node's built-in OpenSSL: the node's hot path. This is the one file of
 * protocol/ that imports a Node module (node:crypto: computation, no I/O); the package's
 * browser-safe entry point does not import it — use `@legation/protocol/native-crypto`.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { type Ed25519, isStrictPublicKey } from './crypto.ts'

// DER prefixes of PKCS#8 / SPKI wrappers around raw 32-byte Ed25519 keys (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** Rebuilding a KeyObject per call halves the verify rate; keep the hot ones (LRU). */
const MAX_CACHED_KEYS = 10_000
const publicKeys = new LRUCache<string, KeyObject>({ max: MAX_CACHED_KEYS })
const privateKeys = new LRUCache<string, KeyObject>({ max: MAX_CACHED_KEYS })

function cached(cache: LRUCache<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const k = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
  let key = cache.get(k)
  if (!key) {
    key = make()
    cache.set(k, key)
  }
  return key
}

function privateKey(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== 32) throw new RangeError('Ed25519 secret key must be 32 bytes')
  return cached(privateKeys, secretKey, () =>
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' }),
  )
}

export const nativeEd25519: Ed25519 = {
  name: 'native',
  publicKey(secretKey) {
    const spki = createPublicKey(privateKey(secretKey)).export({ format: 'der', type: 'spki' })
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length))
  },
  sign(message, secretKey) {
    return new Uint8Array(sign(null, message, privateKey(secretKey)))
  },
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false
    try {
      const key = cached(publicKeys, publicKey, () => {
        // OpenSSL would accept small-order and mixed-order keys that noble refuses (crypto.ts).
        if (!isStrictPublicKey(publicKey)) throw new RangeError('public key outside the prime-order subgroup')
        return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
      })
      return verify(null, message, key, signature)
    } catch {
      return false
    }
  },
}

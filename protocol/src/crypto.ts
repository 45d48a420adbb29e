/**
 * Ed25519 behind one interface, two implementations that produce and accept the same
 * bytes (RFC 8032 signatures are deterministic): `nobleEd25519` here (pure JS, runs in
 * browsers) and `nativeEd25519` in `native-crypto.ts` (Node's OpenSSL, ~15x faster to
 * verify here). Test vectors in docs/test-vectors.json cross-check both.
 */
import { ed25519 } from '@noble/curves/ed25519.js'

export interface Ed25519 {
  readonly name: string
  /** The 32-byte public key of a 32-byte secret key (seed). */
  publicKey(secretKey: Uint8Array): Uint8Array
  /** A 64-byte signature. */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array
  /** False for any invalid signature, key or length; never throws. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
}

export const nobleEd25519: Ed25519 = {
  name: 'noble',
  publicKey: (secretKey) => ed25519.getPublicKey(secretKey),
  sign: (message, secretKey) => ed25519.sign(message, secretKey),
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false
    try {
      // zip215: false = RFC 8032 / OpenSSL acceptance rules, so both implementations agree.
      return ed25519.verify(signature, message, publicKey, { zip215: false })
    } catch {
      return false
    }
  },
}

/** 32 random bytes from the platform's CSPRNG (Web Crypto, present in Node and browsers). */
export function randomSecretKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32))
}

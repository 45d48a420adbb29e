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

// Where the two implementations differ, and how they are made to agree:
// - noble (zip215: false) checks the cofactored equation [8]SB = [8]R + [8]kA and refuses
//   small-order A; OpenSSL checks the cofactorless SB = R + kA and accepts any A it decodes
//   (with the identity as A, the signature R = identity, S = 0 verifies for every message).
// - Once A and R lie in the prime-order subgroup the two equations are equivalent. Honest keys
//   and signatures always do, so both implementations refuse anything else: A is checked once
//   per key (cached), R by noble per signature (OpenSSL's equation already implies it).

const MAX_CHECKED_KEYS = 10_000
const strictKeys = new Set<string>()

/**
 * Whether both implementations accept `publicKey`: a canonical encoding of a point of the
 * prime-order subgroup other than the identity (what every key made from a seed is).
 */
export function isStrictPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false
  const k = String.fromCharCode(...publicKey)
  if (strictKeys.has(k)) return true
  let ok = false
  try {
    const a = ed25519.Point.fromBytes(publicKey, false)
    ok = !a.is0() && a.isTorsionFree()
  } catch {
    ok = false
  }
  if (ok) {
    if (strictKeys.size >= MAX_CHECKED_KEYS) strictKeys.delete(strictKeys.values().next().value as string)
    strictKeys.add(k)
  }
  return ok
}

export const nobleEd25519: Ed25519 = {
  name: 'noble',
  publicKey: (secretKey) => ed25519.getPublicKey(secretKey),
  sign: (message, secretKey) => ed25519.sign(message, secretKey),
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false
    try {
      // zip215: false = RFC 8032 strict encodings, as OpenSSL; the rest: see above.
      return (
        isStrictPublicKey(publicKey) &&
        ed25519.verify(signature, message, publicKey, { zip215: false }) &&
        ed25519.Point.fromBytes(signature.subarray(0, 32), false).isTorsionFree()
      )
    } catch {
      return false
    }
  },
}

/** 32 random bytes from the platform's CSPRNG (Web Crypto, present in Node and browsers). */
export function randomSecretKey(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(32))
}

/**
 * Canonical encoding of everything that is hashed or signed.
 *
 * The wire form is a strict subset of CBOR with RFC 8949 §4.2.1 core deterministic
 * encoding: definite lengths, shortest integer forms, map keys (text only) sorted by
 * their encoded bytes, no floats, no tags, no undefined. Integers are safe JavaScript
 * integers. Decoding re-encodes and compares, so one value has exactly one byte string.
 * Grammar and test vectors: docs/protocol.md.
 */

import { joinedForOnce } from '#joined'
import { sha256 } from '#sha256'
import { toHex, utf8ToBytes } from './bytes.ts'
import { decodeCopy, encode, type KnownEncodings, MAX_DEPTH, withEncoded } from './cbor.ts'
import { EncodingError } from './errors.ts'

export { type KnownEncodings, MAX_DEPTH }

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue }

/** Default upper bound for one decoded object: entries are batched well below it. */
export const DEFAULT_MAX_DECODE_BYTES = 4 * 1024 * 1024

/**
 * Canonical bytes of a value (a fresh Uint8Array). Throws EncodingError
 * (ENCODING_UNSUPPORTED_VALUE) for values outside the subset.
 *
 * Map keys are text only, ordered by their encodings: shorter first, then bytewise (RFC 8949
 * §4.2.1; for text keys the length head is a prefix that grows with the length).
 */
export function encodeCanonical(value: unknown, known?: KnownEncodings): Uint8Array {
  return encode(value, known)
}

/**
 * Decodes canonical bytes. Anything else — truncated, trailing bytes, non-minimal,
 * unsorted keys, floats, tags, too deep or too large — is an EncodingError.
 */
export function decodeCanonical(bytes: Uint8Array, maxBytes = DEFAULT_MAX_DECODE_BYTES): unknown {
  return decodeCanonicalCopy(bytes, maxBytes).value
}

/**
 * `decodeCanonical`, with the decode's own copy of the bytes, into which the value's byte
 * strings are views: the bytes to keep with the value (the caller's may be a view into a
 * larger message, or a buffer that is reused).
 */
export function decodeCanonicalCopy(
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_DECODE_BYTES,
): { value: unknown; copy: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw new EncodingError('ENCODING_MALFORMED', 'expected bytes')
  if (bytes.length > maxBytes) throw new EncodingError('ENCODING_TOO_LARGE')
  return decodeCopy(bytes)
}

/**
 * Domains separate what a hash or signature is about: a signature made for one
 * kind of object never verifies as another, because the signed bytes start differently.
 */
export const DOMAINS = {
  key: 'key',
  payload: 'payload',
  record: 'record',
  certificate: 'certificate',
  revocation: 'revocation',
  charter: 'charter',
  entry: 'entry',
  receipt: 'receipt',
  placement: 'placement',
  checkpoint: 'checkpoint',
  request: 'request',
  nodeUrl: 'node-url',
  doc: 'doc',
  stateRoot: 'state-root',
  merkleLeaf: 'merkle-leaf',
  merkleNode: 'merkle-node',
} as const
export type Domain = (typeof DOMAINS)[keyof typeof DOMAINS]

const PREFIX = 'legation/v1/'
const prefixCache = new Map<string, Uint8Array>()
function prefix(use: 'sig' | 'hash', domain: Domain): Uint8Array {
  const k = `${use}/${domain}`
  let p = prefixCache.get(k)
  if (!p) {
    p = utf8ToBytes(`${PREFIX}${k}\u0000`)
    prefixCache.set(k, p)
  }
  return p
}

/**
 * The exact bytes an Ed25519 signature covers: `"legation/v1/sig/<domain>" 0x00 body`. For
 * signing or verifying (a batch's checks may wait for the verifier a moment); never stored,
 * changed or transferred: in Node the bytes are a slice of Buffer's shared pool.
 */
export function signingInput(domain: Domain, body: Uint8Array): Uint8Array {
  return joinedForOnce(prefix('sig', domain), body)
}

/** SHA-256 over `"legation/v1/hash/<domain>" 0x00 body`. */
export function domainHash(domain: Domain, ...parts: Uint8Array[]): Uint8Array {
  return sha256(prefix('hash', domain), ...parts)
}

/** The domain hash of a value's canonical bytes, hashed as they are encoded (never kept). */
export function hashOfCanonical(domain: Domain, value: unknown): Uint8Array {
  return withEncoded(value, (bytes) => domainHash(domain, bytes))
}

/** Content address (lower-case hex of the domain hash) of a value's canonical bytes. */
export function contentId(domain: Domain, value: unknown): string {
  return toHex(hashOfCanonical(domain, value))
}

/**
 * Canonical encoding of everything that is hashed or signed.
 *
 * The wire form is a strict subset of CBOR with RFC 8949 §4.2.1 core deterministic
 * encoding: definite lengths, shortest integer forms, map keys (text only) sorted by
 * their encoded bytes, no floats, no tags, no undefined. Integers are safe JavaScript
 * integers. Decoding re-encodes and compares, so one value has exactly one byte string.
 * Grammar and test vectors: docs/protocol.md.
 */

import { sha256 } from '@noble/hashes/sha2.js'
import { decode, encode } from 'cborg'
import { concatBytes, equalBytes, toHex, utf8ToBytes } from './bytes.ts'
import { EncodingError } from './errors.ts'

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
/** Nesting deeper than this is never produced by the protocol and is refused. */
export const MAX_DEPTH = 32

function check(value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', 'nesting too deep')
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', 'only safe integers are encodable')
    }
    if (Object.is(value, -0)) throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', '-0 is not encodable')
    return
  }
  if (value instanceof Uint8Array) return
  if (Array.isArray(value)) {
    for (const v of value) check(v, depth + 1)
    return
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', 'only plain objects are encodable')
    }
    for (const v of Object.values(value as object)) {
      if (v === undefined) throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', 'undefined is not encodable')
      check(v, depth + 1)
    }
    return
  }
  throw new EncodingError('ENCODING_UNSUPPORTED_VALUE', `${typeof value} is not encodable`)
}

/**
 * Canonical bytes of a value. Throws EncodingError for values outside the subset.
 *
 * Map keys are text only, and cborg's default key order (UTF-8 byte length, then bytes) is
 * then exactly RFC 8949 §4.2.1's bytewise order of the encoded keys: the length header is a
 * prefix that grows with the length. It is 3.3x faster than cborg's RFC 8949 sorter, which
 * encodes every key to compare it (a 512-record entry: 16.5 vs 54.9 ms), with the same bytes.
 */
export function encodeCanonical(value: unknown): Uint8Array {
  check(value, 0)
  const out = encode(value)
  // In Node, cborg sometimes returns a Buffer, whose slice() is a view, not a copy, and which
  // never deep-equals a Uint8Array. Hand out one type everywhere (a view: no copy).
  return out.constructor === Uint8Array ? out : new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

// Decoding is deliberately lenient about *form* (non-minimal heads, indefinite lengths): such
// bytes are well-formed CBOR, and re-encoding them tells apart NON_CANONICAL (valid CBOR, wrong
// spelling) from MALFORMED (not CBOR of our subset at all).
const DECODE_OPTIONS = {
  strict: false,
  allowIndefinite: true,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
  tags: [],
} as const

/**
 * Decodes canonical bytes. Anything else — truncated, trailing bytes, non-minimal,
 * unsorted keys, floats, tags, too deep or too large — is an EncodingError.
 */
export function decodeCanonical(bytes: Uint8Array, maxBytes = DEFAULT_MAX_DECODE_BYTES): unknown {
  if (!(bytes instanceof Uint8Array)) throw new EncodingError('ENCODING_MALFORMED', 'expected bytes')
  if (bytes.length > maxBytes) throw new EncodingError('ENCODING_TOO_LARGE')
  let value: unknown
  try {
    value = decode(bytes, DECODE_OPTIONS)
  } catch (cause) {
    throw new EncodingError('ENCODING_MALFORMED', undefined, { cause })
  }
  let again: Uint8Array
  try {
    again = encodeCanonical(value)
  } catch (cause) {
    throw new EncodingError('ENCODING_NON_CANONICAL', undefined, { cause })
  }
  if (!equalBytes(again, bytes)) throw new EncodingError('ENCODING_NON_CANONICAL')
  return value
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
  checkpoint: 'checkpoint',
  request: 'request',
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

/** The exact bytes an Ed25519 signature covers: `"legation/v1/sig/<domain>" 0x00 body`. */
export function signingInput(domain: Domain, body: Uint8Array): Uint8Array {
  return concatBytes(prefix('sig', domain), body)
}

/** SHA-256 over `"legation/v1/hash/<domain>" 0x00 body`. */
export function domainHash(domain: Domain, ...parts: Uint8Array[]): Uint8Array {
  const h = sha256.create().update(prefix('hash', domain))
  for (const p of parts) h.update(p)
  return h.digest()
}

/** Content address (lower-case hex of the domain hash) of a value's canonical bytes. */
export function contentId(domain: Domain, value: unknown): string {
  return toHex(domainHash(domain, encodeCanonical(value)))
}

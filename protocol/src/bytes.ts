/** Small byte helpers shared by the whole protocol. */
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js'
import { EncodingError } from './errors.ts'

export { concatBytes, utf8ToBytes }

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes)
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/

/** Lower-case hex only: one spelling per value, so ids compare as strings. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) {
    throw new EncodingError('ENCODING_MALFORMED', 'expected lower-case hex')
  }
  return hexToBytes(hex)
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Bytewise lexicographic order (shorter prefix first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!
  }
  return a.length - b.length
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/

export function toBase64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

export function fromBase64url(text: string): Uint8Array {
  if (typeof text !== 'string' || !B64URL_RE.test(text) || text.length % 4 === 1) {
    throw new EncodingError('ENCODING_MALFORMED', 'expected unpadded base64url')
  }
  const bin = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  // One spelling per value: reject encodings with non-zero padding bits.
  if (toBase64url(out) !== text) throw new EncodingError('ENCODING_NON_CANONICAL', 'non-canonical base64url')
  return out
}

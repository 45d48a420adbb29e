/** Small byte helpers shared by the whole protocol. */
import { concatBytes } from '@noble/hashes/utils.js'
import { base64urlOf, bytesOfBase64url, bytesOfHex, bytesOfUtf8, hexOf } from '#byte-text'
import { EncodingError } from './errors.ts'

export { concatBytes }

/** UTF-8 bytes of text (a fresh array); anything but a string is a TypeError. */
export function utf8ToBytes(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('string expected')
  return bytesOfUtf8(text)
}

export function toHex(bytes: Uint8Array): string {
  return hexOf(bytes)
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/

/** Lower-case hex only: one spelling per value, so ids compare as strings. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !HEX_RE.test(hex)) {
    throw new EncodingError('ENCODING_MALFORMED', 'expected lower-case hex')
  }
  return bytesOfHex(hex)
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

/** Unpadded base64url (RFC 4648 §5), as signed requests, receipts and JSON bodies spell bytes. */
export function toBase64url(bytes: Uint8Array): string {
  return base64urlOf(bytes)
}

/**
 * Decodes unpadded base64url. Malformed text is ENCODING_MALFORMED; text with non-zero padding
 * bits (a second spelling of the same bytes) is ENCODING_NON_CANONICAL: one spelling per value.
 */
export function fromBase64url(text: string): Uint8Array {
  checkBase64url(text)
  return bytesOfBase64url(text)
}

/** `fromBase64url`'s checks alone, for a caller that decodes the text itself. */
export function checkBase64url(text: string): void {
  if (typeof text !== 'string' || !B64URL_RE.test(text) || text.length % 4 === 1) {
    throw new EncodingError('ENCODING_MALFORMED', 'expected unpadded base64url')
  }
  // The alphabet and length are checked: the one other spelling left has non-zero padding bits
  // in its last character (the low 4 bits after 2 characters of a group, the low 2 after 3).
  const rest = text.length % 4
  if (rest !== 0 && (B64URL_VALUE.indexOf(text[text.length - 1]!) & (rest === 2 ? 0x0f : 0x03)) !== 0) {
    throw new EncodingError('ENCODING_NON_CANONICAL', 'non-canonical base64url')
  }
}

const B64URL_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

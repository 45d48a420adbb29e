/**
 * Bytes as hex and as unpadded base64url, in plain JavaScript: what `#byte-text` resolves to in
 * browsers (package.json "imports"). Node uses byte-text-native.ts, the same answers from
 * Buffer's native codecs. Inputs are checked by bytes.ts before they get here.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { base64urlnopad } from '@scure/base'

export const hexOf = (bytes: Uint8Array): string => bytesToHex(bytes)
export const bytesOfHex = (hex: string): Uint8Array => hexToBytes(hex)
export const base64urlOf = (bytes: Uint8Array): string => base64urlnopad.encode(bytes)
/** Bytes of base64url text of a valid alphabet and length, padding bits zero. */
export const bytesOfBase64url = (text: string): Uint8Array => base64urlnopad.decode(text)
const utf8 = new TextEncoder()
/** UTF-8 bytes of text, lone surrogates as U+FFFD. */
export const bytesOfUtf8 = (text: string): Uint8Array => utf8.encode(text)

/**
 * How the engine's own rows are encoded: stored records in canonical CBOR (they hold signed
 * bytes), node-local state and summaries in JSON (never signed, read back only here).
 */
import {
  decodeCanonical,
  encodeCanonical,
  type KnownEncodings,
  type SignedEntry,
  toHex,
  utf8ToBytes,
} from '@legation/protocol'
import type { StoredRecord } from './types.ts'

const text = new TextDecoder()

export const encodeJson = (v: unknown): Uint8Array => utf8ToBytes(JSON.stringify(v))
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(text.decode(b)) as T
export const decodeText = (b: Uint8Array): string => text.decode(b)

/** Largest stored record row read back (a record with its certificate, far below this). */
const MAX_STORED_RECORD_BYTES = 1024 * 1024

export function encodeStoredRecord(r: StoredRecord, known?: KnownEncodings): Uint8Array {
  return encodeCanonical({ origin: r.origin, seq: r.seq, record: r.record }, known)
}

export function decodeStoredRecord(raw: Uint8Array): StoredRecord {
  return decodeCanonical(raw, MAX_STORED_RECORD_BYTES) as StoredRecord
}

/** The payloads an entry's records name, out of a larger map (a frame's, a transaction's). */
export function payloadsOf(
  entry: SignedEntry,
  from: Map<string, Uint8Array>,
  opts: { copy?: boolean } = {},
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  for (const c of entry.body.changes) {
    for (const r of c.records) {
      if (!r.header.payload) continue
      const hex = toHex(r.header.payload)
      const p = from.get(hex)
      if (p) out.set(hex, opts.copy ? p.slice() : p)
    }
  }
  return out
}

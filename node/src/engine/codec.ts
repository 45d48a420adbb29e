/**
 * How the engine's own rows are encoded: node-local state in JSON (never signed, read back
 * only here). A doc's row is its Yjs state alone (doc-cache.ts), summaries are in
 * summary-row.ts, entries and the records in them in entry-rows.ts.
 */
import { type SignedEntry, toHex, utf8ToBytes } from '@legation/protocol'
import { NodeError } from '../errors.ts'

const text = new TextDecoder()

/** What a row that is not what its key says is (a damaged disk): `STORAGE_FAILED`. */
export const storeDamaged = (why: string) => new NodeError('STORAGE_FAILED', `the store is damaged: ${why}`)

export const encodeJson = (v: unknown): Uint8Array => utf8ToBytes(JSON.stringify(v))
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(text.decode(b)) as T
export const decodeText = (b: Uint8Array): string => text.decode(b)

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

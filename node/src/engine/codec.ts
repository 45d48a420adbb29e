/**
 * How the engine's own rows are encoded: node-local state and summaries in JSON (never signed,
 * read back only here), a doc's row as its hash and Yjs state. Entries and the records in them
 * are stored by entry-rows.ts.
 */
import { type SignedEntry, toHex, utf8ToBytes } from '@legation/protocol'
import { NodeError } from '../errors.ts'

const text = new TextDecoder()

/** What a row that is not what its key says is (a damaged disk): `STORAGE_FAILED`. */
export const storeDamaged = (why: string) => new NodeError('STORAGE_FAILED', `the store is damaged: ${why}`)

export const encodeJson = (v: unknown): Uint8Array => utf8ToBytes(JSON.stringify(v))
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(text.decode(b)) as T
export const decodeText = (b: Uint8Array): string => text.decode(b)

/** Bytes of a doc's hash at the head of its row. */
const DOC_HASH_BYTES = 32

/**
 * A doc's row: its hash, then its Yjs state. One row, so a doc is written and read as one key
 * (until data format 2 the hash had a row of its own, `dh/`: one more write per changed doc, one
 * more read per doc loaded, and ~35 bytes per citizen on disk).
 */
export function encodeDocRow(hash: Uint8Array, state: Uint8Array): Uint8Array {
  if (hash.length !== DOC_HASH_BYTES) throw new RangeError(`a doc hash is ${DOC_HASH_BYTES} bytes`)
  const row = new Uint8Array(DOC_HASH_BYTES + state.length)
  row.set(hash)
  row.set(state, DOC_HASH_BYTES)
  return row
}

/** A doc's hash and Yjs state from its row; an absent row is a doc not stored yet. */
export function decodeDocRow(row: Uint8Array | undefined): {
  hash: Uint8Array
  state: Uint8Array | undefined
} {
  if (row === undefined) return { hash: new Uint8Array(), state: undefined }
  if (row.length < DOC_HASH_BYTES) throw new RangeError('a doc row shorter than its hash')
  // The hash is kept with the cached doc: a copy, so the row it came in is not kept with it.
  return { hash: row.slice(0, DOC_HASH_BYTES), state: row.subarray(DOC_HASH_BYTES) }
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

/**
 * Data format versions of a node's store, and the migration from one to the next at start.
 *
 *   (no meta/format, or 1)  payloads, summaries and search indexes in plain form
 *   2                       citizens' data sealed at rest (vault.ts): payloads sealed under their
 *                           citizen's key, summaries and indexes without personal values
 *   3                       a doc's hash in its doc row (codec.ts `encodeDocRow`), no `dh/` rows
 *
 * From 1 to 2: every stored payload is sealed under its citizen's key (in batches, resumable:
 * a sealed payload is left as it is), then the derived state is rebuilt from the feeds (rebuild.ts,
 * the same path a charter amendment takes), so summaries and indexes are written anew, and the
 * database is compacted so that LevelDB's files drop the plain values they still held. The format
 * mark is written last: a migration cut short starts again where it stopped.
 *
 * From 2 to 3: the derived state is rebuilt from the feeds, which writes every doc row anew and
 * deletes the `dh/` rows (rebuild.ts).
 *
 * A store of a newer format than this node knows is refused (`STORE_FORMAT_NEWER`) instead of
 * being read wrongly: the node was downgraded.
 */
import { toHex } from '@legation/protocol'
import { NodeError } from '../errors.ts'
import { type BatchOp, prefixRange, type Store } from '../storage/store.ts'
import { decodeStoredRecord, decodeText } from './codec.ts'
import { K } from './keys.ts'
import { SEALED_PAYLOAD, type Vault } from './vault.ts'

export const STORE_FORMAT = 3
const BATCH = 500

/** The store's data format: 1 for a store written before formats were marked. */
export async function storeFormat(store: Store): Promise<number> {
  const raw = await store.get(K.format)
  return raw ? Number(decodeText(raw)) : 1
}

/**
 * Brings the store to STORE_FORMAT: seals its payloads and marks its derived state for a rebuild
 * (the engine rebuilds at start, then `markFormat`). Answers the format it found and how many
 * payloads it sealed.
 */
export async function migrate(store: Store, vault: Vault): Promise<{ from: number; sealed: number }> {
  const fresh = (await store.get(K.state)) === undefined
  const from = fresh ? STORE_FORMAT : await storeFormat(store)
  if (from > STORE_FORMAT) {
    throw new NodeError(
      'STORE_FORMAT_NEWER',
      `the store is in data format ${from}; this node reads up to ${STORE_FORMAT}: run the newer version`,
    )
  }
  let sealed = 0
  if (from === 2) {
    // Doc rows gain their hash (format 3): written anew by the rebuild.
    await store.write([{ type: 'put', key: K.rebuild, value: new Uint8Array([1]) }])
  }
  if (from < 2) {
    let ops: BatchOp[] = []
    for await (const [, raw] of store.range(prefixRange(K.records))) {
      const { record } = decodeStoredRecord(raw)
      const digest = record.header.payload
      if (!digest) continue
      const hex = toHex(digest)
      const stored = await store.get(K.payload(hex))
      if (!stored || stored[0] === SEALED_PAYLOAD) continue
      const value = await vault.sealPayload(record.header.subject, hex, stored, ops)
      if (value) ops.push({ type: 'put', key: K.payload(hex), value })
      sealed++
      if (ops.length >= BATCH) {
        await store.write(ops)
        vault.handed(ops)
        ops = []
      }
    }
    // Summaries and indexes are rebuilt from the feeds (they held personal values in plain form).
    ops.push({ type: 'put', key: K.rebuild, value: new Uint8Array([1]) })
    await store.write(ops)
    vault.handed(ops)
  }
  return { from, sealed }
}

/** Marks the store as of STORE_FORMAT, once its migration (and rebuild) is durable. */
export async function markFormat(store: Store): Promise<void> {
  const raw = await store.get(K.format)
  if (raw && Number(decodeText(raw)) === STORE_FORMAT) return
  await store.write([{ type: 'put', key: K.format, value: new TextEncoder().encode(String(STORE_FORMAT)) }])
}

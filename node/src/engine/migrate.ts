/**
 * Data format versions of a node's store, and the migration from one to the next at start.
 *
 *   (no meta/format, or 1)  payloads, summaries and search indexes in plain form
 *   2                       citizens' data sealed at rest (vault.ts): payloads sealed under their
 *                           citizen's key, summaries and indexes without personal values
 *   3                       a doc's hash in its doc row (codec.ts `encodeDocRow`), no `dh/` rows
 *   4                       an entry in rows cut before each record, `rec/` rows saying where a
 *                           record is instead of holding a copy (entry-rows.ts)
 *   5                       derived state in binary: summaries in canonical CBOR (summary-row.ts),
 *                           index rows empty, `rec/` keys in base64url (keys.ts), a doc row its
 *                           Yjs state alone (its hash computed when it is loaded, doc-cache.ts)
 *   6                       a doc that took one update from empty kept as that update's place in
 *                           its stored entry (entry-rows.ts `DocPlace`), not a second copy; a
 *                           payload's key its digest in base64url, its citizen in 16 bytes; ids
 *                           in the keys of data keys, summaries, docs and indexes in base64url
 *   7                       each access.logged record listed under its citizen (`acc/`), so that
 *                           a file is read without its logged reads
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
 * From 3 to 4: every entry's row is replaced by its rows (`putEntryRows`), in batches, each entry
 * in the batch that deletes its old row (so a migration cut short goes on where it stopped), and
 * the derived state is rebuilt, which writes the `rec/` rows anew (they are derived).
 *
 * From 4 to 5: the derived state is rebuilt from the feeds, which writes summaries, index rows,
 * `rec/` rows and doc rows anew in their new form (all derived).
 *
 * From 5 to 6: every payload moves to its base64url key, its citizen kept as bytes, and every
 * citizen's data key to its key with the citizen in base64url (in batches, each row's move in
 * one write); then the derived state is rebuilt from the feeds, which writes summaries, docs
 * (as places where they can be) and indexes under their new keys.
 *
 * From 6 to 7: the stored entries' rows are read once and each access.logged record found is
 * listed under its citizen (in batches; a migration cut short lists again what it had listed).
 * From an older format, the rebuild lists them.
 *
 * A store of a newer format than this node knows is refused (`STORE_FORMAT_NEWER`) instead of
 * being read wrongly: the node was downgraded. A migration writes the new format's mark before it
 * changes anything (`beginMigration`), and `meta/migrating` the format it started from, so that
 * an older node refuses a store half migrated and this one goes on where it stopped.
 */
import { decodeCanonical, recordId, type SignedRecord, toHex, utf8ToBytes } from '@legation/protocol'
import { NodeError } from '../errors.ts'
import { type BatchOp, prefixRange, type Store } from '../storage/store.ts'
import { decodeText } from './codec.ts'
import { entryKeyOf, hasRecords, putEntryRows, recordOfRow } from './entry-rows.ts'
import { idKeyPart, K } from './keys.ts'
import { INDEX_ROW } from './projections.ts'
import { compactSealed, isSealedPayload, type Vault } from './vault.ts'

export const STORE_FORMAT = 7

/** The write that marks a store as of STORE_FORMAT. */
const FORMAT_MARK: BatchOp = { type: 'put', key: K.format, value: utf8ToBytes(String(STORE_FORMAT)) }
const BATCH = 500
/** Bytes of entries rewritten per write when they are cut into rows (format 4). */
const SPLIT_BATCH_BYTES = 8 * 1024 * 1024

/** The store's data format: 1 for a store written before formats were marked. */
export async function storeFormat(store: Store): Promise<number> {
  const raw = await store.get(K.format)
  return raw ? Number(decodeText(raw)) : 1
}

/**
 * The first step of bringing a store to STORE_FORMAT, taken before its vault is read: answers
 * the format the store is in. A store older than this node's is marked as of STORE_FORMAT at
 * once, so that an older node refuses it from now on, with `meta/migrating` keeping the format
 * the migration started from until `markFormat` ends it; then the keys format 6 spells anew move
 * (payloads, citizens' data keys), since the vault reads data keys by their new keys.
 */
export async function beginMigration(store: Store): Promise<number> {
  // A rebuild deletes the feed state before it writes it again: a store stopped in between is
  // not a new one.
  const [state, rebuilding, format, started] = await store.getMany([
    K.state,
    K.rebuild,
    K.format,
    K.migrating,
  ])
  const fresh = state === undefined && rebuilding === undefined && format === undefined
  const from = fresh
    ? STORE_FORMAT
    : started !== undefined
      ? Number(decodeText(started))
      : await storeFormat(store)
  if (from > STORE_FORMAT) {
    throw new NodeError(
      'STORE_FORMAT_NEWER',
      `the store is in data format ${from}; this node reads up to ${STORE_FORMAT}: run the newer version`,
    )
  }
  if (from < STORE_FORMAT && started === undefined) {
    await store.write([FORMAT_MARK, { type: 'put', key: K.migrating, value: utf8ToBytes(String(from)) }])
  }
  if (from < 6) {
    await movePayloads(store)
    await moveCitizenKeys(store)
  }
  return from
}

/**
 * Brings the store from format `from` (`beginMigration`) to STORE_FORMAT: seals its payloads,
 * cuts its entries into rows and marks its derived state for a rebuild (the engine rebuilds at
 * start, then `markFormat`). Answers the format it found and how many payloads it sealed.
 */
export async function migrate(
  store: Store,
  vault: Vault,
  from: number,
): Promise<{ from: number; sealed: number }> {
  let sealed = 0
  if (from >= 2 && from < 6) {
    // Doc rows gain their hash (format 3), record rows become places (format 4), summaries,
    // index rows, record keys and doc rows shrink (format 5), doc rows name their update's place
    // (format 6): written anew by the rebuild.
    await store.write([{ type: 'put', key: K.rebuild, value: new Uint8Array([1]) }])
  }
  if (from < 2) {
    let ops: BatchOp[] = []
    for await (const [, raw] of store.range(prefixRange(K.records))) {
      const row = decodeCanonical(raw, MAX_RECORD_ROW_BYTES)
      // A row of format 4 was written by a rebuild, which runs only once every payload is sealed
      // (a rebuild of this migration cut short, started again).
      if (Array.isArray(row)) continue
      const { record } = row as { record: SignedRecord }
      const digest = record.header.payload
      if (!digest) continue
      const hex = toHex(digest)
      const stored = await store.get(K.payload(hex))
      if (!stored || isSealedPayload(stored)) continue
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
  if (from < 4) await splitEntries(store)
  if (from === 6) await listAccessLogs(store)
  return { from, sealed }
}

/**
 * Moves the rows under `prefix` that `moved` gives a new key (and value) to, deleting each old
 * row in the same write (format 6): a migration cut short goes on where it stopped, rows moved
 * already having keys `moved` passes over.
 */
async function moveRows(
  store: Store,
  prefix: string,
  moved: (key: string, value: Uint8Array) => BatchOp | undefined,
): Promise<void> {
  let ops: BatchOp[] = []
  for await (const [key, value] of store.range(prefixRange(prefix))) {
    const put = moved(key, value)
    if (!put) continue
    ops.push(put, { type: 'del', key })
    if (ops.length >= 2 * BATCH) {
      await store.write(ops)
      ops = []
    }
  }
  if (ops.length > 0) await store.write(ops)
}

const HEX_CITIZEN_KEY = /^(ck\/[0-9a-f]{2}\/)([0-9a-f]{32})$/
const HEX_PAYLOAD_KEY = /^pay\/[0-9a-f]{64}$/

/** Every citizen's data key, from `ck/<bucket>/<citizen in hex>` to its key now (`K.citizenKey`). */
const moveCitizenKeys = (store: Store) =>
  moveRows(store, K.citizenKeys, (key, value) => {
    const m = HEX_CITIZEN_KEY.exec(key)
    return m ? { type: 'put', key: `${m[1]}${idKeyPart(m[2]!)}`, value } : undefined
  })

/** Every payload, from its hex key to its base64url one (`K.payload`), its owner in the compact form. */
const movePayloads = (store: Store) =>
  moveRows(store, 'pay/', (key, value) =>
    HEX_PAYLOAD_KEY.test(key)
      ? { type: 'put', key: K.payload(key.slice(4)), value: compactSealed(value) }
      : undefined,
  )

/**
 * Cuts every entry kept whole (`ent/<origin>/<seq:12>`, data format 3 and before) into its rows,
 * deleting the whole one in the same write (format 4).
 */
async function splitEntries(store: Store): Promise<void> {
  let ops: BatchOp[] = []
  let bytes = 0
  for await (const [key, value] of store.range(prefixRange('ent/'))) {
    const { origin, seq, row } = entryKeyOf(key)
    if (row !== undefined) continue
    putEntryRows(ops, origin, seq, value)
    ops.push({ type: 'del', key })
    bytes += value.length
    if (bytes >= SPLIT_BATCH_BYTES) {
      await store.write(ops)
      ops = []
      bytes = 0
    }
  }
  if (ops.length > 0) await store.write(ops)
}

const ACCESS_LOGGED = utf8ToBytes('access.logged')

/**
 * Lists every stored access.logged record under its citizen (`K.accessLog`, format 7), from the
 * entries' record rows: a row that does not hold the kind's name in it is not decoded, and a
 * record not stored (in an entry a rebuild kept and has not applied again) is not listed.
 */
async function listAccessLogs(store: Store): Promise<void> {
  let found: Array<{ citizen: string; id: string }> = []
  const list = async () => {
    const stored = await hasRecords(
      store,
      found.map((r) => r.id),
    )
    const ops: BatchOp[] = []
    for (const [i, r] of found.entries())
      if (stored[i]) ops.push({ type: 'put', key: K.accessLog(r.citizen, r.id), value: INDEX_ROW })
    if (ops.length > 0) await store.write(ops)
    found = []
  }
  for await (const [key, row] of store.range(prefixRange('ent/'))) {
    if (
      !entryKeyOf(key).row ||
      Buffer.from(row.buffer, row.byteOffset, row.byteLength).indexOf(ACCESS_LOGGED) < 0
    )
      continue
    const { header } = recordOfRow(row)
    if (header.kind !== 'access.logged' || !header.subject) continue
    found.push({ citizen: header.subject, id: recordId(header) })
    if (found.length >= 2 * BATCH) await list()
  }
  await list()
}

/** Largest `rec/` row of data format 3 and before read back (a record and its place). */
const MAX_RECORD_ROW_BYTES = 1024 * 1024

/**
 * Ends a migration once it and its rebuild are durable (`meta/migrating` goes; the format mark
 * stays, written by `beginMigration`), then compacts the store, so that what the migration
 * replaced (plain values, whole entries, record copies) leaves LevelDB's files too.
 * `meta/compact` owes a compaction cut short to the next start.
 */
export async function markFormat(store: Store): Promise<void> {
  const [raw, pending, migrating] = await store.getMany([K.format, K.compact, K.migrating])
  if (!raw || Number(decodeText(raw)) !== STORE_FORMAT || migrating !== undefined) {
    await store.write([
      FORMAT_MARK,
      { type: 'del', key: K.migrating },
      { type: 'put', key: K.compact, value: new Uint8Array([1]) },
    ])
  } else if (pending === undefined) {
    return
  }
  await store.compact?.()
  await store.write([{ type: 'del', key: K.compact }])
}

/**
 * How an entry and its records are stored: once.
 *
 * An entry's signed bytes are cut before each of its records (`entryRecordStarts`, a scan of
 * CBOR heads) and kept as rows `ent/<origin>/<seq:12>/<k:5>`: row 0 holds the record count and
 * the bytes before the first record, row k the k-th record and the bytes after it up to the
 * next. The rows of an entry sort together and in order, so the entry is its rows concatenated,
 * read by one range when feeds are served or audited; a record's row starts with the record, so
 * a record is read from its own row. `rec/<id>` says where (origin, seq, index): ~30 bytes where
 * it held a second copy of the record (~650 bytes with its officer's certificate, ~320 on disk
 * after compression, a fifth of what a citizen cost).
 *
 * Store semantics (store.ts): `get`/`getMany` see a batch as soon as it is written, `range`
 * only once it is durable. So what must see an entry of a transaction not yet synced (is this
 * entry here already? what receipt has this record?) reads by key (`readEntry`, `readRecord`);
 * what serves or walks the feeds reads by range (`readEntries`), as it did.
 */
import {
  decodeCanonical,
  encodeCanonical,
  entryRecordStarts,
  entryUpdates,
  firstItemLength,
  MAX_CHANGES_PER_ENTRY,
  MAX_RECORDS_PER_CHANGE,
  type SignedEntry,
  type SignedRecord,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import { type BatchOp, prefixRange, type Store } from '../storage/store.ts'
import { storeDamaged } from './codec.ts'
import { K, seqKey } from './keys.ts'
import type { StoredRecord } from './types.ts'

/** Bytes of row 0's record count, before the entry's first bytes. */
const COUNT_BYTES = 4
/** The most records an entry can hold. */
const MAX_RECORDS_PER_ENTRY = MAX_CHANGES_PER_ENTRY * MAX_RECORDS_PER_CHANGE
/** Largest record read back from its row (a record with its certificate, far below this). */
const MAX_RECORD_BYTES = 1024 * 1024

/**
 * The puts that store an entry: its rows, cut before each record (record `index` → row
 * `index + 1`). They are views into `bytes`, which must not change afterwards. Answers where
 * the records start in `bytes` (`entryRecordStarts`).
 */
export function putEntryRows(ops: BatchOp[], origin: string, seq: number, bytes: Uint8Array): number[] {
  const starts = entryRecordStarts(bytes)
  const first = starts[0] ?? bytes.length
  const head = new Uint8Array(COUNT_BYTES + first)
  new DataView(head.buffer).setUint32(0, starts.length)
  head.set(bytes.subarray(0, first), COUNT_BYTES)
  ops.push({ type: 'put', key: K.entryRow(origin, seq, 0), value: head })
  // Views into the entry's bytes, not copies: the store holds them until its group commit hands
  // them to LevelDB (which copies them), and a store in memory keeps them. So the caller must not
  // change `bytes` afterwards; entries are fresh arrays (frames are copied where they arrive).
  for (let i = 0; i < starts.length; i++) {
    const value = bytes.subarray(starts[i], starts[i + 1] ?? bytes.length)
    ops.push({ type: 'put', key: K.entryRow(origin, seq, i + 1), value })
  }
  return starts
}

/**
 * A doc row that holds no state but says where it lies: in the stored entry `origin`/`seq`, row
 * `row`, `length` bytes from `offset`. A doc that took a single update from empty (a citizen
 * registered and not touched since: most of them) holds exactly that update, which its entry
 * stores already: a second copy cost ~140 bytes on disk a citizen, about an eighth of the store.
 * The row starts with 0x00 0x85: a Yjs state starts with its count of clients, at least 1 for a
 * doc with structs, and a doc without structs has an empty delete set (0x00 0x00).
 */
export interface DocPlace {
  origin: string
  seq: number
  row: number
  offset: number
  length: number
}

const DOC_PLACE = 0x00
const DOC_PLACE_ARRAY = 0x85

function encodeDocPlace(p: DocPlace): Uint8Array {
  const body = encodeCanonical([p.origin, p.seq, p.row, p.offset, p.length])
  const out = new Uint8Array(1 + body.length)
  out[0] = DOC_PLACE
  out.set(body, 1)
  return out
}

/** The place a doc row names, or undefined if the row is the doc's state itself. */
export function docPlaceOf(row: Uint8Array): DocPlace | undefined {
  if (row.length < 2 || row[0] !== DOC_PLACE || row[1] !== DOC_PLACE_ARRAY) return undefined
  let v: unknown
  try {
    v = decodeCanonical(row.subarray(1), 256)
  } catch {
    throw storeDamaged('a doc row names no place')
  }
  const [origin, seq, r, offset, length] = v as unknown[]
  const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0
  if (typeof origin !== 'string' || ![seq, r, offset, length].every(whole))
    throw storeDamaged('a doc row names no place')
  return { origin, seq: seq as number, row: r as number, offset: offset as number, length: length as number }
}

/** The state a doc row holds or names: the named rows are read in one batch. */
export async function docStates(
  store: Store,
  rows: ReadonlyArray<Uint8Array | undefined>,
): Promise<Array<Uint8Array | undefined>> {
  const places = rows.map((r) => (r === undefined ? undefined : docPlaceOf(r)))
  const wanted = places.flatMap((p, i) => (p ? [i] : []))
  if (wanted.length === 0) return [...rows]
  const found = await store.getMany(
    wanted.map((i) => K.entryRow(places[i]!.origin, places[i]!.seq, places[i]!.row)),
  )
  const out = [...rows]
  wanted.forEach((i, k) => {
    const p = places[i]!
    const row = found[k]
    if (row === undefined || p.offset + p.length > row.length)
      throw storeDamaged(`a doc's state is not where its row says (${p.origin}/${seqKey(p.seq)})`)
    out[i] = row.subarray(p.offset, p.offset + p.length)
  })
  return out
}

/**
 * The doc rows of an entry's changes whose doc's state to store is the change's update itself
 * (`states`: those updates, the objects the changes hold), each naming the update's place among
 * the entry's rows (`starts`: where its records start), by update.
 */
export function docPlaces(
  out: Map<Uint8Array, Uint8Array>,
  e: { origin: string; seq: number; bytes: Uint8Array; entry: Pick<SignedEntry, 'body'> },
  starts: readonly number[],
  states: ReadonlySet<Uint8Array>,
): void {
  const changes = e.entry.body.changes
  if (!changes.some((ch) => states.has(ch.update))) return
  const updates = entryUpdates(e.bytes)
  if (updates.length !== changes.length) return
  let r = 0
  changes.forEach((ch, j) => {
    const u = updates[j]!
    const at = u.byteOffset - e.bytes.byteOffset
    // The update lies in row r, r being how many records start before it (row 0: after the count).
    while (r < starts.length && starts[r]! <= at) r++
    if (!states.has(ch.update) || u.length !== ch.update.length) return
    const offset = r === 0 ? COUNT_BYTES + at : at - starts[r - 1]!
    out.set(ch.update, encodeDocPlace({ origin: e.origin, seq: e.seq, row: r, offset, length: u.length }))
  })
}

/**
 * An `ent/` key read back: `ent/<origin>/<seq:12>/<row:5>`, or `ent/<origin>/<seq:12>` for an
 * entry kept whole (data format 3 and before), whose `row` is undefined.
 */
export function entryKeyOf(key: string): { origin: string; seq: number; row: number | undefined } {
  const [, origin = '', seq, row] = key.split('/')
  return { origin, seq: Number(seq), row: row === undefined ? undefined : Number(row) }
}

/** How many record rows follow row 0, and the entry's bytes before its first record. */
function openHead(row: Uint8Array): { count: number; head: Uint8Array } {
  if (row.length < COUNT_BYTES) throw storeDamaged('an entry row 0 shorter than its count')
  const count = new DataView(row.buffer, row.byteOffset, row.byteLength).getUint32(0)
  if (count > MAX_RECORDS_PER_ENTRY) throw storeDamaged(`an entry row 0 counting ${count} records`)
  return { count, head: row.subarray(COUNT_BYTES) }
}

function join(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const p of parts) size += p.length
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** An entry's bytes as signed, written or durable; undefined if not stored. */
export async function readEntry(store: Store, origin: string, seq: number): Promise<Uint8Array | undefined> {
  const row0 = await store.get(K.entryRow(origin, seq, 0))
  if (row0 === undefined) return undefined
  const { count, head } = openHead(row0)
  const keys = Array.from({ length: count }, (_, i) => K.entryRow(origin, seq, i + 1))
  const rows = count === 0 ? [] : await store.getMany(keys)
  if (rows.some((r) => r === undefined)) throw storeDamaged(`entry ${origin}/${seqKey(seq)} lacks a row`)
  return join([head, ...(rows as Uint8Array[])])
}

/**
 * Durable entries of `origin` from seq `from` on (to `to`, inclusive, if given), in order, at
 * most `limit` (all if not given), each with its seq. An entry kept whole (data format 3 and
 * before) reads too: the offline audit reads a store its node has not migrated yet, and a
 * backup of an older node is checked before its node migrates it.
 */
export async function* readEntries(
  store: Store,
  origin: string,
  opts: { from: number; to?: number; limit?: number },
): AsyncGenerator<{ seq: number; bytes: Uint8Array }> {
  const { from, to, limit = Number.POSITIVE_INFINITY } = opts
  if (limit <= 0) return
  const prefix = K.entries(origin)
  const lt = to === undefined ? `${prefix}\uffff` : K.entryRows(origin, to + 1)
  let parts: Uint8Array[] = []
  let left = 0
  let seq = 0
  let yielded = 0
  for await (const [key, row] of store.range({ gte: `${prefix}${seqKey(from)}`, lt })) {
    if (left === 0) {
      const at = entryKeyOf(key)
      seq = at.seq
      if (at.row === undefined) {
        yield { seq, bytes: row }
        if (++yielded >= limit) return
        continue
      }
      if (key !== K.entryRow(origin, seq, 0))
        throw storeDamaged(`entry ${origin}/${seqKey(seq)} lacks its row 0`)
      const { count, head } = openHead(row)
      parts = [head]
      left = count
    } else {
      // Each row where it should be: a lost row is named, not filled by the next entry's.
      if (key !== K.entryRow(origin, seq, parts.length))
        throw storeDamaged(`entry ${origin}/${seqKey(seq)} lacks a row`)
      parts.push(row)
      left--
    }
    if (left === 0) {
      yield { seq, bytes: join(parts) }
      if (++yielded >= limit) return
    }
  }
  if (left > 0) throw storeDamaged(`entry ${origin}/${seqKey(seq)} lacks a row`)
}

/** The seq of the last entry of `origin` stored (durable) here, 0 if none. */
export async function lastEntrySeq(store: Store, origin: string): Promise<number> {
  const range = { gte: K.entries(origin), lt: `${K.entries(origin)}\uffff`, reverse: true, limit: 1 }
  for await (const [key] of store.range(range)) return entryKeyOf(key).seq
  return 0
}

/**
 * The deletes that remove an entry's durable rows (none if it is not stored): every row under
 * its prefix, whatever its row 0 says, so that no row of a damaged entry is left behind.
 */
export async function deleteEntryRows(store: Store, origin: string, seq: number): Promise<BatchOp[]> {
  const ops: BatchOp[] = []
  for await (const [key] of store.range(prefixRange(K.entryRows(origin, seq)))) ops.push({ type: 'del', key })
  return ops
}

/**
 * The rows `rec/<id>` of the records a transaction stores: where in its entry each is. Records
 * are found in the decoded entries (`entries`, as the transaction holds them) by identity.
 */
export function putRecordRefs(
  ops: BatchOp[],
  entries: Iterable<{ entry: Pick<SignedEntry, 'body'> }>,
  records: Iterable<[string, StoredRecord]>,
): void {
  const index = new Map<SignedRecord, number>()
  for (const { entry } of entries) {
    let at = 0
    for (const ch of entry.body.changes) for (const r of ch.records) index.set(r, at++)
  }
  for (const [id, r] of records) {
    const at = index.get(r.record)
    if (at === undefined)
      throw new NodeError('INTERNAL', `record ${id} is in none of the entries stored with it`)
    ops.push({ type: 'put', key: K.record(id), value: encodeCanonical([r.origin, r.seq, at]) })
  }
}

/** The record a record row (row 1 on of an entry) starts with. */
export function recordOfRow(row: Uint8Array): SignedRecord {
  return decodeCanonical(row.subarray(0, firstItemLength(row)), MAX_RECORD_BYTES) as SignedRecord
}

/** A stored record (with the entry that carries it), read by key; undefined if not stored. */
export async function readRecord(store: Store, id: string): Promise<StoredRecord | undefined> {
  const [r] = await readRecords(store, [id])
  return r
}

/** Stored records by id, in the order asked (undefined where not stored): two batched reads. */
export async function readRecords(
  store: Store,
  ids: readonly string[],
): Promise<Array<StoredRecord | undefined>> {
  const refs = (await store.getMany(ids.map(K.record))).map((raw) => raw && openRef(raw))
  const present = refs.filter((r) => r !== undefined)
  const rows = await store.getMany(present.map((r) => K.entryRow(r.origin, r.seq, r.index + 1)))
  let i = 0
  return refs.map((ref) => {
    if (ref === undefined) return undefined
    const row = rows[i++]
    if (row === undefined)
      throw storeDamaged(`record row ${ref.origin}/${seqKey(ref.seq)}/${ref.index} is missing`)
    return { origin: ref.origin, seq: ref.seq, record: recordOfRow(row) }
  })
}

/** Whether each record is stored here (one batched read of the small `rec/` rows). */
export async function hasRecords(store: Store, ids: readonly string[]): Promise<boolean[]> {
  return (await store.getMany(ids.map(K.record))).map((raw) => raw !== undefined)
}

function openRef(raw: Uint8Array): { origin: string; seq: number; index: number } {
  const ref = decodeCanonical(raw)
  if (
    !Array.isArray(ref) ||
    typeof ref[0] !== 'string' ||
    !Number.isSafeInteger(ref[1]) ||
    !Number.isSafeInteger(ref[2])
  ) {
    throw storeDamaged('a record row that is not [origin, seq, index]')
  }
  return { origin: ref[0], seq: ref[1] as number, index: ref[2] as number }
}

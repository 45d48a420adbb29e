/**
 * A transaction: what one group of local records, or one frame of remote entries, changes —
 * collected in memory, then handed to the store as ONE synced batch (durability.ts). Reads
 * within a transaction see its own writes first (`txRecord`, `txPayload`).
 */
import {
  contentsHash,
  type DocContents,
  decodeCanonical,
  docHash,
  FIELDS,
  type Hlc,
  isEmptyDoc,
  RECORDS,
  type RecordHeader,
  type SignedEntry,
  type SignedRecord,
  toHex,
  type VersionVector,
} from '@legation/protocol'
import type * as Y from 'yjs'
import type { BatchOp, Store } from '../storage/store.ts'
import { readRecord } from './entry-rows.ts'
import { K } from './keys.ts'
import type { CitizenSummary, PersistentState, StoredRecord } from './types.ts'
import type { Vault } from './vault.ts'

export interface Tx {
  /** The state as this transaction leaves it: vv, heads and hlc move with every entry applied. */
  state: {
    vv: VersionVector
    heads: Record<string, string>
    hlc: Hlc
    clocks: Record<string, Hlc>
    charters: Record<string, number>
    closed: Record<string, number>
  }
  /**
   * Entries this transaction stores, in order, with their hashes (their feed trees' leaves) and
   * decoded (whose record objects are those of `records`).
   */
  entries: Array<{ origin: string; seq: number; bytes: Uint8Array; hash: Uint8Array; entry: SignedEntry }>
  ops: BatchOp[]
  records: Map<string, StoredRecord>
  /** Payloads in plain form, by digest; sealed when the transaction is written (durability.ts). */
  payloads: Map<string, Uint8Array>
  /** The record (id and header) of payloads whose record is not in this transaction (fetched later). */
  owners: Map<string, { id: string; header: RecordHeader }>
  /** Payloads of the transaction already decoded (and checked), by digest. */
  decoded: Map<string, Record<string, unknown>>
  summaries: Map<string, CitizenSummary>
  cases: Map<string, string>
  alerts: Set<string>
  /** Citizens erased by records of this transaction: their payloads are destroyed, not stored. */
  erased: Set<string>
  docs: Map<string, TxDoc>
  /** Remote entries applied, in order, with how many of their records were new here. */
  applied: Array<{ entry: SignedEntry; bytes: Uint8Array; hash: Uint8Array; accepted: number }>
  /** The state-root accumulator before the transaction. */
  acc: Uint8Array
}

/** A doc's fields as they are read: from a Y.Map, or from contents read off an update. */
export interface FieldsRead {
  get(slot: string): string | undefined
  entries(): Iterable<[string, string]>
}

/**
 * A doc as a transaction sees it; only changed docs are hashed and written. The Y.Doc is
 * decoded when first asked for: a new citizen's doc that a replica read off its first update
 * (`readOff`) is hashed, stored and summarized from its contents, and never decoded unless a
 * later change needs it.
 */
export class TxDoc {
  /** Its hash before the transaction (empty for a new doc). */
  readonly hash: Uint8Array
  changed = false
  /**
   * The doc's Yjs state to store, when it is known without encoding the doc: a doc that was
   * empty took one update in this transaction, and that update is its whole state.
   */
  state: Uint8Array | undefined
  /** What the doc holds, when read off its update without decoding it (`readOff`), and that update. */
  #contents: DocContents | undefined
  #update: Uint8Array | undefined
  #doc: Y.Doc | undefined
  readonly #load: () => Y.Doc
  readonly #stored: boolean
  readonly #decode: (state: Uint8Array) => Y.Doc

  /**
   * `load` gives the doc as it was before the transaction (`stored`: whether it is stored);
   * `decode` makes a doc of a state this transaction gave it.
   */
  constructor(hash: Uint8Array, stored: boolean, load: () => Y.Doc, decode: (state: Uint8Array) => Y.Doc) {
    this.hash = hash
    this.#stored = stored
    this.#load = load
    this.#decode = decode
  }

  get doc(): Y.Doc {
    if (!this.#doc) {
      this.#doc = this.#update ? this.#decode(this.#update) : this.#load()
      this.#contents = undefined
      this.#update = undefined
    }
    return this.#doc
  }

  /** A doc that replaces this one (the caller says whether it changed, and its state). */
  set doc(doc: Y.Doc) {
    this.#doc = doc
    this.#contents = undefined
    this.#update = undefined
  }

  /** The Y.Doc if it was decoded already (asked for, or given), without decoding it. */
  get decoded(): Y.Doc | undefined {
    return this.#doc
  }

  /** Whether the doc holds nothing, told without decoding a doc not stored yet. */
  get empty(): boolean {
    if (this.#doc) return isEmptyDoc(this.#doc)
    return !this.#contents && !this.#stored
  }

  /** A doc not stored yet takes an update read off as `contents`: the update is its state. */
  readOff(update: Uint8Array, contents: DocContents): void {
    this.#doc = undefined
    this.#contents = contents
    this.#update = update
    this.state = update
    this.changed = true
  }

  /** Its timeline (record ids, in order). */
  records(): readonly string[] {
    return this.#contents?.records ?? this.doc.getArray<string>(RECORDS).toArray()
  }

  /** Its fields (slot → record id). */
  fields(): FieldsRead {
    return this.#contents?.fields ?? this.doc.getMap<string>(FIELDS)
  }

  /** Its hash as it is now. */
  hashNow(docId: string): Uint8Array {
    return this.#contents ? contentsHash(docId, this.#contents) : docHash(docId, this.doc)
  }
}

/** A transaction that builds on `head` (the state every earlier transaction leaves). */
export function newTx(head: PersistentState, headAcc: Uint8Array): Tx {
  return {
    state: {
      vv: { ...head.vv },
      heads: { ...head.heads },
      hlc: head.hlc,
      clocks: { ...head.clocks },
      charters: { ...head.charters },
      closed: { ...head.closed },
    },
    entries: [],
    applied: [],
    ops: [],
    records: new Map(),
    payloads: new Map(),
    owners: new Map(),
    decoded: new Map(),
    summaries: new Map(),
    cases: new Map(),
    alerts: new Set(),
    erased: new Set(),
    docs: new Map(),
    acc: headAcc,
  }
}

/** A record as the transaction sees it: its own first, then the store. */
export async function txRecord(store: Store, tx: Tx, id: string): Promise<SignedRecord | undefined> {
  const mine = tx.records.get(id)
  if (mine) return mine.record
  return (await readRecord(store, id))?.record
}

/** A record's decoded payload as the transaction sees it, if this node holds it. */
export async function txPayload(
  store: Store,
  vault: Vault,
  tx: Tx,
  record: SignedRecord,
): Promise<Record<string, unknown> | undefined> {
  const digest = record.header.payload
  if (!digest) return undefined
  const hex = toHex(digest)
  const known = tx.decoded.get(hex)
  if (known) return known
  if (tx.erased.has(record.header.subject ?? '')) return undefined
  const mine = tx.payloads.get(hex)
  const sealed = mine ? undefined : await store.get(K.payload(hex))
  const bytes = mine ?? (sealed && (await vault.openPayload(hex, sealed)))
  return bytes ? (decodeCanonical(bytes) as Record<string, unknown>) : undefined
}

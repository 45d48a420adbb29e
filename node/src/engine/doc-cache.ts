/**
 * The doc cache: citizens' Yjs docs kept decoded in memory (decoding one costs far more than
 * reading it), and the times of records their fields name (applying a local record compares
 * it with them, synchronously). Both are LRU: a doc in use stays, a doc not touched for long goes.
 *
 * Docs are bounded by count and by the memory they are estimated to hold. A citizen's doc grows
 * with every record about them, an officer's logged read among them: 5,000 docs of a hundred
 * records each would be ~350 MiB, against ~25 MiB for docs of one record.
 */
import { createDoc, docHash, loadDoc, type RecordTime } from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import type * as Y from 'yjs'
import type { Store } from '../storage/store.ts'
import { docStates, readRecords } from './entry-rows.ts'
import { K } from './keys.ts'

/** Docs kept decoded in memory. */
export const DEFAULT_DOC_CACHE = 5_000
/** Memory the decoded docs may hold, in bytes (estimated: `docMemoryBytes`). */
export const DEFAULT_DOC_CACHE_BYTES = 48 * 1024 * 1024
/**
 * Records whose time (their header's `at`) is kept in memory, for applying local records to
 * the fields that name them. Only the time: a whole header kept was ~1.2 KB of the heap a
 * record, which every collection of the young generation copied before it settled.
 */
export const DEFAULT_HEADER_CACHE = 50_000

/** The cache's sizes by default, as `integerOptions` checks them (engine.ts). */
export const DOC_CACHE_DEFAULTS = {
  docCacheSize: DEFAULT_DOC_CACHE,
  docCacheBytes: DEFAULT_DOC_CACHE_BYTES,
  headerCacheSize: DEFAULT_HEADER_CACHE,
} as const

const NO_HASH = new Uint8Array()

export interface CachedDoc {
  readonly doc: Y.Doc
  /** Its hash, from which its state-root leaf is made (empty for a doc not stored yet). */
  readonly hash: Uint8Array
  /** The length of its encoded state (0 for a doc not stored yet): what its memory is estimated from. */
  readonly bytes: number
}

/**
 * The memory a decoded doc holds, estimated from its encoded state's length. Measured with Yjs
 * 13.6 on docs shaped as ours (V8's heap after a collection, 400 docs each): ~4.3 KiB for a doc
 * of one record (167 B encoded), 7.7 KiB for ten (1.25 KB), 69 KiB for a hundred (8.3 KB).
 */
export const docMemoryBytes = (encodedBytes: number): number => 4096 + 9 * encodedBytes
/** What the cache entry of a citizen not stored yet holds, estimated: the shared empty doc is not its own. */
const ABSENT_DOC_BYTES = 128

export interface DocCacheInit {
  /** @default DEFAULT_DOC_CACHE */
  docCacheSize?: number
  /** @default DEFAULT_DOC_CACHE_BYTES */
  docCacheBytes?: number
  /** @default DEFAULT_HEADER_CACHE */
  headerCacheSize?: number
}

export interface DocCacheComponents {
  store: Store
  /** The Yjs client id this node writes docs with. */
  clientId: () => number
}

export class DocCache {
  /**
   * The doc of every citizen not stored yet: one, shared, never written; a transaction that
   * writes to a new doc takes a doc of its own (`Durability.txDoc`), and a remote update is
   * validated on a copy that replaces it anyway. A `new Y.Doc` costs ~4.6 µs, nearly all of it
   * Yjs drawing a random client id from the CSPRNG that every doc of ours then overwrites. A
   * replica's new citizen in an honest origin's shape costs none: its doc is read off its
   * update and kept as that update (`setState`) until something uses it.
   */
  readonly empty: Y.Doc = createDoc(0)
  readonly #store: Store
  readonly #clientId: () => number
  readonly #docs: LRUCache<string, CachedDoc>
  readonly #times: LRUCache<string, RecordTime>
  /**
   * Counts the changes made to the cached docs by transactions (`set`, `clear`). A doc read from
   * the store is cached only if none happened while it was read: reads load docs outside the
   * transaction lock, and a doc read before a commit, cached after it, would be the base of the
   * next transaction (a wrong state root) until it left the cache.
   */
  #generation = 0

  constructor(init: DocCacheInit, components: DocCacheComponents) {
    this.#store = components.store
    this.#clientId = components.clientId
    // A doc estimated larger than the whole budget is not cached: each use decodes it again.
    this.#docs = new LRUCache({
      max: init.docCacheSize ?? DEFAULT_DOC_CACHE,
      maxSize: init.docCacheBytes ?? DEFAULT_DOC_CACHE_BYTES,
      // A citizen not stored yet holds no doc of its own: the entry alone.
      sizeCalculation: (d) => (d.bytes === 0 ? ABSENT_DOC_BYTES : docMemoryBytes(d.bytes)),
    })
    this.#times = new LRUCache({ max: init.headerCacheSize ?? DEFAULT_HEADER_CACHE })
  }

  /** A doc, decoded (from the cache, or read and cached); the times of records it names are not read. */
  async load(docId: string): Promise<CachedDoc> {
    const cached = this.#docs.get(docId)
    if (cached) return cached
    const generation = this.#generation
    const [state] = await docStates(this.#store, [await this.#store.get(K.doc(docId))])
    const d = this.#fromRow(docId, state)
    if (generation === this.#generation) this.#docs.set(docId, d)
    return d
  }

  /**
   * Loads docs (one batched read), so that applying and validating updates can then run
   * synchronously. Answers the docs.
   */
  async prefetch(docIds: readonly string[]): Promise<Map<string, CachedDoc>> {
    const out = new Map<string, CachedDoc>()
    const missing: string[] = []
    for (const id of new Set(docIds)) {
      const d = this.#docs.get(id)
      if (d) out.set(id, d)
      else missing.push(id)
    }
    if (missing.length > 0) {
      const generation = this.#generation
      const raws = await docStates(this.#store, await this.#store.getMany(missing.map(K.doc)))
      const current = generation === this.#generation
      missing.forEach((id, i) => {
        const d = this.#fromRow(id, raws[i])
        if (current) this.#docs.set(id, d)
        out.set(id, d)
      })
    }
    return out
  }

  /**
   * The times of the records these fields of the docs name now, which applying local records
   * compares the new ones with (`applyLocal`): from the cache, or read (one batched read). Only
   * the fields the new records fill: none for a logged read, which fills none; validating a
   * remote update needs none either (`validateRemoteUpdate`).
   */
  async fieldTimes(
    wanted: Iterable<readonly [CachedDoc, Iterable<string>]>,
  ): Promise<Map<string, RecordTime>> {
    const out = new Map<string, RecordTime>()
    const need: string[] = []
    for (const [d, slots] of wanted) {
      const fields = d.doc.getMap<string>('fields')
      for (const slot of slots) {
        const id = fields.get(slot)
        if (id === undefined || out.has(id)) continue
        const t = this.#times.get(id)
        if (t) out.set(id, t)
        else need.push(id)
      }
    }
    if (need.length > 0) {
      const ids = [...new Set(need)]
      const stored = await readRecords(this.#store, ids)
      stored.forEach((r, i) => {
        if (r) out.set(ids[i]!, this.rememberTime(ids[i]!, r.record.header.at))
      })
    }
    return out
  }

  /**
   * A doc from its row, its Yjs state (none: a doc not stored yet), with its hash. Since data
   * format 5 the hash is not stored (32 bytes a citizen): it is the hash of the doc as it is
   * now, which a transaction takes out of the state root when it changes the doc, so it is
   * computed here, before any change (a few microseconds beside decoding the doc).
   */
  #fromRow(docId: string, state: Uint8Array | undefined): CachedDoc {
    if (!state) return { doc: this.empty, hash: NO_HASH, bytes: 0 }
    const doc = loadDoc(state, this.#clientId(), docId)
    return { doc, hash: docHash(docId, doc), bytes: state.length }
  }

  /** Caches a doc as a transaction left it. */
  set(docId: string, d: CachedDoc): void {
    this.#generation++
    this.#docs.set(docId, d)
  }

  /**
   * Caches a doc a transaction left as its state only (a new citizen's doc a replica read off
   * its first update): decoded when first used. Sized as if decoded, which it may soon be.
   */
  setState(docId: string, update: Uint8Array, hash: Uint8Array): void {
    // A replica's update is a view into its entry, and the entry into the frame it came in: it
    // is copied, not to keep them alive. One that is its whole buffer (an origin's new doc) is
    // kept as it is: a copy of more than 64 bytes costs ~5 µs of CPU in Node.
    const state =
      update.byteOffset === 0 && update.byteLength === update.buffer.byteLength ? update : update.slice()
    let doc: Y.Doc | undefined
    const clientId = this.#clientId
    this.set(docId, {
      get doc() {
        doc ??= loadDoc(state, clientId(), docId)
        return doc
      },
      hash,
      bytes: state.length,
    })
  }

  /** Keeps a record's time (answers what is kept). */
  rememberTime(id: string, at: number): RecordTime {
    const kept = { at }
    this.#times.set(id, kept)
    return kept
  }

  /**
   * Forgets every doc and record time (after a failed write, cached docs may be ahead of the
   * disk; before a rebuild, records of void entries must not be known).
   */
  clear(): void {
    this.#generation++
    this.#docs.clear()
    this.#times.clear()
  }
}

/**
 * The `level` store. Writes are group-committed: while one synced batch is being written,
 * later callers' operations queue up and go to disk together in the next batch, so
 * durability costs one fsync per group, not per caller (measured here: ≈ 92,000 puts/s
 * batched with sync vs ≈ 5,600/s one synced put at a time).
 *
 * It runs over any abstract-level database: `level` on disk for the product, `memory-level`
 * for `MemoryStore`, so both keep one contract (node/test/storage/compliance.ts).
 */

import { readFile } from 'node:fs/promises'
import { Level } from 'level'
import { writeFileAtomic } from '../keystore.ts'
import type { Startable } from '../service.ts'
import type { BatchOp, RangeOptions, SideFile, Store } from './store.ts'
import { memorySideFile, prefixRange } from './store.ts'

function diskSideFile(path: string): SideFile {
  return {
    read: async () => {
      try {
        return new Uint8Array(await readFile(path))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      }
    },
    write: (bytes) => writeFileAtomic(path, bytes),
  }
}

/** An iterator of abstract-level: rows a batch at a time. */
export interface LevelIterator {
  /** Up to `size` rows; none at the end. */
  nextv(size: number): Promise<Array<[string, Uint8Array]>>
  close(): Promise<void>
}

/** What the store needs of an abstract-level database (`level`, `memory-level`). */
export interface LevelDatabase {
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: string[]): Promise<Array<Uint8Array | undefined>>
  /** A read on the calling thread (abstract-level 3); only while `status` is `open`. */
  getSync?(key: string): Uint8Array | undefined
  readonly status?: string
  batch(ops: BatchOp[], opts: { sync: boolean }): Promise<void>
  open(): Promise<void>
  iterator(opts: RangeOptions & { limit: number }): LevelIterator
  close(): Promise<void>
  /** LevelDB's manual compaction (classic-level); memory-level has none. */
  compactRange?(start: string, end: string): Promise<void>
  /** LevelDB's estimate of the bytes on disk of a key range (classic-level); memory-level has none. */
  approximateSize?(start: string, end: string): Promise<number>
}

interface Pending {
  ops: readonly BatchOp[]
  /** Its place in the order of writes, to tell its overlay entries from later ones. */
  n: number
  resolve: () => void
  reject: (err: unknown) => void
}

/**
 * Reads of at most this many keys run on the calling thread. Reads on the hot path hit what was
 * just written (LevelDB's memtable) or its block cache, and cost a few microseconds; sent to
 * libuv's pool instead, each read cost ~55 µs of this thread to set up (an implicit snapshot,
 * a work item) and a hop there and back: ~10 % of a single write's CPU, ~7 reads a write. A
 * read that misses both caches blocks the event loop for one disk read.
 */
export const SYNC_READ_KEYS = 16

/**
 * Table files LevelDB keeps open. LevelDB maps each open table file into memory to read it, and
 * the pages it touched stay resident, counted in the node's RSS, until the file is closed. At
 * LevelDB's default of 1,000 files of 2 MiB that grew with the store, ~0.4 KB per citizen:
 * 195 MiB of mapped files at 400,000 citizens against 67 MiB with 100 files open
 * (`npm run bench -- --quick --only scale --citizens 400000`). With 256, a million citizens held
 * 81 MiB of mapped files, the node's binary included; a read from a table not open costs one
 * open (its index and filter blocks).
 */
export const MAX_OPEN_TABLE_FILES = 256

/**
 * Rows a range asks LevelDB for per call (after its first, which asks for one: many ranges stop
 * there). classic-level also stops a call at 16 KiB of rows; what a call saves is a promise per
 * row, which the iterator's own `next` made.
 */
const RANGE_BATCH = 1000

/**
 * Bytes of a table file's block before compression (LevelDB's default is 4 KiB). Snappy finds
 * repeats only inside a block, and neighbouring rows repeat a lot (the officer's certificate in
 * each stored record, a summary's field names): with 16 KiB blocks a store of 20,000 citizens,
 * compacted, took 1,547 B per citizen against 1,684 with 4 KiB (`rec/` 321 against 420 B).
 * Since an entry is kept in rows, one per record (~1.4 KB each), a block of 16 KiB held ~12
 * of them and paid for the officer's certificate once per 12 records: with 32 KiB, 100,000
 * citizens took 1,204 B each against 1,245 (`ent/` 357 against 387), and a citizen's file read
 * as fast (p50 3.7–4.1 ms against 3.8–4.5, alternated runs of `npm run bench -- --quick --only
 * scale --citizens 100000`). A random read decompresses one larger block, a few microseconds.
 */
export const TABLE_BLOCK_BYTES = 32 * 1024

export interface LevelStoreInit {
  /** fsync every batch. Only tests that measure something else turn this off. @default true */
  sync?: boolean
  /** The database's folder: side files go beside it (`<path>.<name>`); in memory without one. */
  path?: string
  /** @default MAX_OPEN_TABLE_FILES */
  maxOpenFiles?: number
  /** @default TABLE_BLOCK_BYTES */
  blockSize?: number
}

/** The node's store as a service: `level` on disk at `path`, opened on start, closed on stop. */
export function levelStore(init: LevelStoreInit & { path: string }): () => LevelStore {
  return () =>
    new LevelStore(
      new Level<string, Uint8Array>(init.path, {
        keyEncoding: 'utf8',
        valueEncoding: 'view',
        maxOpenFiles: init.maxOpenFiles ?? MAX_OPEN_TABLE_FILES,
        blockSize: init.blockSize ?? TABLE_BLOCK_BYTES,
      }),
      init,
    )
}

export class LevelStore implements Store, Startable {
  /** The database under the store; tests reach it to make the medium slow or failing. */
  protected readonly db: LevelDatabase
  readonly #sync: boolean
  readonly #path: string | undefined
  readonly #sideFiles = new Map<string, SideFile>()
  #queue: Pending[] = []
  /** The running group commit, if any: `close` waits for it. */
  #flushing: Promise<void> | undefined
  #written = 0
  /** Bytes of keys and values written since the store opened (store upkeep's measure). */
  #bytesWritten = 0
  /** When `write` was last called (`performance.now()`), or when the store opened. */
  #lastWriteAt = performance.now()
  /**
   * Writes not yet durable, by key (undefined: deleted), with the write that made each: reads
   * see them at once. An entry goes when that write is durable, unless a later one replaced it.
   */
  readonly #overlay = new Map<string, { value: Uint8Array | undefined; n: number }>()
  #failed: unknown

  /** Over a database that is open or opening (abstract-level defers operations until open). */
  constructor(db: LevelDatabase, init: LevelStoreInit = {}) {
    this.db = db
    this.#sync = init.sync ?? true
    this.#path = init.path
  }

  sideFile(name: string): SideFile {
    let f = this.#sideFiles.get(name)
    if (!f) {
      const path = this.#path === undefined ? undefined : `${this.#path}.${name}`
      f = path === undefined ? memorySideFile() : diskSideFile(path)
      this.#sideFiles.set(name, f)
    }
    return f
  }

  /** Opens a store at `path` at once (the offline tools' short form of `levelStore`). */
  static async open(path: string, init: LevelStoreInit = {}): Promise<LevelStore> {
    const store = levelStore({ ...init, path })()
    await store.start()
    return store
  }

  /** Opens the database (it is opening already; this waits, and reports a failure to open). */
  async start(): Promise<void> {
    await this.db.open()
  }

  stop(): Promise<void> {
    return this.close()
  }

  async get(key: string) {
    const pending = this.#overlay.get(key)
    if (pending) return pending.value
    if (this.#readsHere()) return this.db.getSync!(key) ?? undefined
    return (await this.db.get(key)) ?? undefined
  }

  async getMany(keys: readonly string[]) {
    if (keys.length <= SYNC_READ_KEYS && this.#readsHere()) {
      // Every write not yet durable is in the overlay, and nothing runs between these reads on
      // this thread: the answer is as consistent as one snapshot's.
      return keys.map((k) => {
        const pending = this.#overlay.get(k)
        return pending ? pending.value : (this.db.getSync!(k) ?? undefined)
      })
    }
    if (this.#overlay.size === 0) {
      const values = await this.db.getMany([...keys])
      return values.map((v) => v ?? undefined)
    }
    const missing = keys.filter((k) => !this.#overlay.has(k))
    const found = missing.length > 0 ? await this.db.getMany(missing) : []
    const fromDb = new Map(missing.map((k, i) => [k, found[i] ?? undefined]))
    // The overlay is read after the disk: a write made meanwhile is seen, not the older value.
    return keys.map((k) => {
      const pending = this.#overlay.get(k)
      return pending ? pending.value : fromDb.get(k)
    })
  }

  /** Whether reads can run on this thread: the database has `getSync` and is open. */
  #readsHere(): boolean {
    return this.db.getSync !== undefined && this.db.status === 'open'
  }

  write(ops: readonly BatchOp[]): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (ops.length === 0) return Promise.resolve()
    const n = ++this.#written
    let bytes = 0
    for (const op of ops) {
      this.#overlay.set(op.key, { value: op.type === 'put' ? op.value : undefined, n })
      bytes += op.key.length + (op.type === 'put' ? op.value.byteLength : 0)
    }
    this.#bytesWritten += bytes
    this.#lastWriteAt = performance.now()
    return new Promise((resolve, reject) => {
      this.#queue.push({ ops, n, resolve, reject })
      this.#flushing ??= this.#flush()
    })
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const group = this.#queue
        this.#queue = []
        const ops = group.flatMap((p) => p.ops)
        try {
          await this.db.batch(ops as BatchOp[], { sync: this.#sync })
        } catch (err) {
          // Later writes may build on this one: none of them may reach the disk now, and reads
          // go back to what the disk holds.
          this.#failed = err
          this.#overlay.clear()
          for (const p of [...group, ...this.#queue.splice(0)]) p.reject(err)
          return
        }
        for (const p of group) {
          for (const op of p.ops) if (this.#overlay.get(op.key)?.n === p.n) this.#overlay.delete(op.key)
        }
        for (const p of group) p.resolve()
      }
    } finally {
      this.#flushing = undefined
    }
  }

  async *range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    const it = this.db.iterator({ ...opts, limit: opts.limit ?? -1 })
    try {
      for (let size = 1; ; size = RANGE_BATCH) {
        const rows = await it.nextv(size)
        if (rows.length === 0) return
        yield* rows
      }
    } finally {
      await it.close()
    }
  }

  async compact(): Promise<void> {
    await this.compactRange('', '\uffff')
  }

  /** LevelDB's manual compaction of the keys in [gte, lt), once queued writes are durable. */
  async compactRange(gte: string, lt: string): Promise<void> {
    await this.#flushing
    await this.db.compactRange?.(gte, lt)
  }

  /** What has been written since the store opened: bytes of keys and values, and when last. */
  get writes(): { readonly bytes: number; readonly lastAt: number } {
    return { bytes: this.#bytesWritten, lastAt: this.#lastWriteAt }
  }

  /** LevelDB's estimate of the bytes on disk of the keys in [gte, lt); undefined in memory. */
  async approximateBytes(gte: string, lt: string): Promise<number | undefined> {
    return this.db.approximateSize?.(gte, lt)
  }

  /**
   * LevelDB's estimate of the bytes on disk holding the keys under `prefix`, compressed and
   * with their share of the tables' indexes; undefined in memory.
   */
  async bytesUnder(prefix: string): Promise<number | undefined> {
    const { gte, lt } = prefixRange(prefix)
    return this.approximateBytes(gte!, lt!)
  }

  async close() {
    // Queued writes finish before the database closes.
    await this.#flushing
    await this.db.close()
  }
}

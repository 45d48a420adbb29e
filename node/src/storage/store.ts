/**
 * Storage behind a small interface: a `level` implementation on disk (the product) and the
 * same over `memory-level` (unit tests). Keys are strings, values bytes. Every implementation
 * passes the compliance suite in node/test/storage/compliance.ts.
 *
 * `write` is atomic, and when it resolves the batch is durable. Writes become durable in the
 * order they were made. From the moment `write` is called, `get` and `getMany` see the batch
 * (read your writes: the next group of records can be built while this one is being synced);
 * `range` sees only what is durable. After a failed write a store takes no more writes.
 */

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

export interface RangeOptions {
  gte?: string
  gt?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

export interface Store {
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>
  /** Atomic; seen by get/getMany at once; durable, in call order, on resolve. */
  write(ops: readonly BatchOp[]): Promise<void>
  range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]>
  /**
   * A small file kept beside the database and replaced whole (atomically) on each write: the
   * vault's key ring (vault.ts), whose old versions must not linger as LevelDB's do.
   */
  sideFile(name: string): SideFile
  /** Rewrites the database's files so deleted and overwritten values leave them (optional). */
  compact?(): Promise<void>
  close(): Promise<void>
}

export interface SideFile {
  read(): Promise<Uint8Array | undefined>
  /** Durable when it resolves; the previous content is replaced, not kept. */
  write(bytes: Uint8Array): Promise<void>
}

/** A side file held in memory (stores in memory). */
export function memorySideFile(): SideFile {
  let content: Uint8Array | undefined
  return {
    read: async () => content,
    write: async (b) => {
      content = Uint8Array.from(b)
    },
  }
}

/** All keys starting with `prefix`. */
export function prefixRange(prefix: string, extra: Omit<RangeOptions, 'gte' | 'lt'> = {}): RangeOptions {
  return { ...extra, gte: prefix, lt: `${prefix}\uffff` }
}

/**
 * Storage behind a small interface: a `level` implementation on disk (the product) and an
 * in-memory one (unit tests). Keys are strings, values bytes.
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
  close(): Promise<void>
}

/** All keys starting with `prefix`. */
export function prefixRange(prefix: string, extra: Omit<RangeOptions, 'gte' | 'lt'> = {}): RangeOptions {
  return { ...extra, gte: prefix, lt: `${prefix}\uffff` }
}

export class MemoryStore implements Store {
  readonly #data = new Map<string, Uint8Array>()
  #closed = false

  async get(key: string) {
    this.#open()
    return this.#data.get(key)
  }

  async getMany(keys: readonly string[]) {
    this.#open()
    return keys.map((k) => this.#data.get(k))
  }

  async write(ops: readonly BatchOp[]) {
    this.#open()
    for (const op of ops) {
      if (op.type === 'put') this.#data.set(op.key, op.value)
      else this.#data.delete(op.key)
    }
  }

  async *range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    this.#open()
    let keys = [...this.#data.keys()]
      .filter(
        (k) =>
          (opts.gte === undefined || k >= opts.gte) &&
          (opts.gt === undefined || k > opts.gt) &&
          (opts.lt === undefined || k < opts.lt) &&
          (opts.lte === undefined || k <= opts.lte),
      )
      .sort()
    if (opts.reverse) keys.reverse()
    if (opts.limit !== undefined && opts.limit >= 0) keys = keys.slice(0, opts.limit)
    for (const k of keys) {
      const v = this.#data.get(k)
      if (v !== undefined) yield [k, v]
    }
  }

  async close() {
    this.#closed = true
  }

  #open() {
    if (this.#closed) throw new Error('store is closed')
  }
}

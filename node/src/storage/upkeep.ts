/**
 * Store upkeep: a compaction of the whole store once a large load of writes is over.
 *
 * LevelDB compacts as it writes, but a bulk load (a catch-up of 100,000 records, a migration,
 * a registration drive) leaves most keys under table files of the upper levels when it ends.
 * LevelDB pays that debt later, in compactions the reads set going: a table file is compacted
 * after about a hundred looks into it for keys it does not hold (`allowed_seeks`). The first
 * reads after the load then wait behind compaction writes, an officer's logged read for its
 * fsync: at a million citizens a file's p99 was 23.3 ms at rest and 17.7 ms after a restart,
 * once the reads in between had paid the debt (docs/performance-history.md).
 *
 * So when writes have paused for `idleMs` after at least `minBytes`, and at least a quarter of
 * the store's size, were written since the last compaction, the node compacts the whole store
 * while nothing asks for it. The quarter keeps the cost in proportion: a compaction rewrites the
 * whole store, so it waits until the writes since the last are a good part of it. A busy node
 * never pauses that long, and LevelDB keeps up with a steady load by itself.
 *
 * Serving a peer's catch-up counts as busy (`busy`), as writes do. Nodes that had just stopped
 * writing compacted while they served a late node its history, and the catch-up waited for
 * their compactions' CPU and disk: on the bench's two shared cores, each of four serving nodes
 * spent about 30 µs more per record caught up (docs/performance-history.md).
 *
 * It compacts in slices of about 1/32 of the store, split by key prefix, so that a stop waits for
 * one slice, not the whole (LevelDB cannot cut a compaction short, and the store does not close
 * under one).
 *
 * @example
 * const upkeep = storeUpkeep({ idleMs: 10_000 })({ store, logger })
 * await upkeep.start() // checks every idleMs / 4
 * metrics.observeStore(upkeep.stats)
 */

import { COMPONENTS } from '../logger.ts'
import type { Startable } from '../service.ts'
import { errorFields, type ServiceLogger, silentLogger } from '../util/log.ts'

/** @default 10 s without a write */
export const DEFAULT_COMPACT_IDLE_MS = 10_000
/** @default 64 MiB written since the last compaction */
export const DEFAULT_COMPACT_MIN_BYTES = 64 * 2 ** 20
/** The share of the store's size that must have been written since the last compaction. */
export const COMPACT_STORE_SHARE = 0.25
/** Pauses of `idleMs` serving (`busy`) may defer a compaction by, at most: 10 min by default. */
const BUSY_DEFERS_AT_MOST = 60
/** Slices a compaction is cut into, by size (a stop waits for one). */
const SLICES = 32
/** Key characters a prefix is split on one at a time (keys are ASCII: hex, base64url, `/`, `!`). */
const FIRST_CHAR = 0x20
const LAST_CHAR = 0x7e
/**
 * Prefixes are split at most this deep: a feed's entries share `ent/<origin>/` and the leading
 * digits of their sequence numbers. Each level costs one size estimate per character.
 */
const MAX_DEPTH = 48

export interface StoreUpkeepInit {
  /** How long writes must have paused. @default DEFAULT_COMPACT_IDLE_MS */
  idleMs?: number
  /** The least written since the last compaction, in bytes of keys and values. @default DEFAULT_COMPACT_MIN_BYTES */
  minBytes?: number
}

/** What upkeep needs of the store (`LevelStore`). */
export interface CompactableStore {
  /** Bytes of keys and values written since the store opened, and when last (`performance.now()`). */
  readonly writes: { readonly bytes: number; readonly lastAt: number }
  compactRange(gte: string, lt: string): Promise<void>
  /** Bytes on disk of the keys in [gte, lt) (LevelDB's estimate); undefined in memory. */
  approximateBytes(gte: string, lt: string): Promise<number | undefined>
}

export interface StoreUpkeepComponents {
  store: CompactableStore
  /** @default a logger that discards everything */
  logger?: ServiceLogger
}

/** What upkeep has done, for `/metrics` (`Metrics.observeStore`). */
export interface StoreUpkeepStats {
  readonly compactions: number
  readonly compacting: boolean
  /** How long the last compaction took; 0 before the first. */
  readonly lastCompactionSeconds: number
  /** Bytes of keys and values written since the last compaction began (or the store opened). */
  readonly bytesSinceCompaction: number
}

export interface StoreUpkeep extends Startable {
  readonly stats: StoreUpkeepStats
  /** Compacts the whole store now, whatever was written; waits for one running already; not once stopping. */
  compactNow(): Promise<void>
  /**
   * The node is serving a load that is not writes (a peer's catch-up): a compaction waits until
   * `idleMs` after the last of it, as after a write, up to 60 × `idleMs` after the last write.
   * One running already goes on.
   */
  busy(): void
}

export function storeUpkeep(init: StoreUpkeepInit = {}): (components: StoreUpkeepComponents) => StoreUpkeep {
  const idleMs = init.idleMs ?? DEFAULT_COMPACT_IDLE_MS
  const minBytes = init.minBytes ?? DEFAULT_COMPACT_MIN_BYTES
  if (!(idleMs > 0) || !(minBytes >= 0)) throw new RangeError('store upkeep: idleMs > 0 and minBytes >= 0')
  return (components) => new Upkeep(idleMs, minBytes, components)
}

class Upkeep implements StoreUpkeep {
  readonly #store: CompactableStore
  readonly #log: ServiceLogger
  readonly #idleMs: number
  readonly #minBytes: number
  #timer: ReturnType<typeof setInterval> | undefined
  #running: Promise<void> | undefined
  #stopping = false
  /** `writes.bytes` when the last compaction began. */
  #base = 0
  /** `writes.bytes` when the store's size was last found too large for a compaction. */
  #declinedAt = -1
  #compactions = 0
  #lastSeconds = 0
  /** When `busy` was last called (`performance.now()`). */
  #busyAt = Number.NEGATIVE_INFINITY

  constructor(idleMs: number, minBytes: number, components: StoreUpkeepComponents) {
    this.#store = components.store
    this.#log = (components.logger ?? silentLogger).child({ component: COMPONENTS.storage })
    this.#idleMs = idleMs
    this.#minBytes = minBytes
  }

  get stats(): StoreUpkeepStats {
    return {
      compactions: this.#compactions,
      compacting: this.#running !== undefined,
      lastCompactionSeconds: this.#lastSeconds,
      bytesSinceCompaction: this.#store.writes.bytes - this.#base,
    }
  }

  async start(): Promise<void> {
    this.#stopping = false
    this.#base = this.#store.writes.bytes
    this.#timer = setInterval(
      () => {
        // A size estimate that fails (the store closing, an I/O error) is retried at the next tick.
        this.#check().catch((err) =>
          this.#log.warn(errorFields(err), 'store upkeep could not check the store'),
        )
      },
      Math.max(25, this.#idleMs / 4),
    )
    this.#timer.unref()
  }

  beforeStop(): void {
    this.#stopping = true
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  async stop(): Promise<void> {
    this.beforeStop()
    await this.#running
  }

  async compactNow(): Promise<void> {
    while (this.#running) await this.#running
    if (this.#stopping) return
    await this.#compact('asked')
  }

  busy(): void {
    this.#busyAt = performance.now()
  }

  async #check(): Promise<void> {
    if (this.#running || this.#stopping) return
    const { bytes, lastAt } = this.#store.writes
    const since = bytes - this.#base
    if (since < this.#minBytes || bytes === this.#declinedAt) return
    const now = performance.now()
    if (now - lastAt < this.#idleMs) return
    // Serving defers it, but not for good: a peer that asks for history without end must not
    // keep the store's compaction debt (and its reads' latency) for ever.
    if (now - this.#busyAt < this.#idleMs && now - lastAt < BUSY_DEFERS_AT_MOST * this.#idleMs) return
    const size = (await this.#store.approximateBytes('', '\uffff')) ?? 0
    if (since < size * COMPACT_STORE_SHARE) {
      this.#declinedAt = bytes
      return
    }
    if (this.#running || this.#stopping) return
    await this.#compact('writes paused')
  }

  #compact(reason: string): Promise<void> {
    const run = this.#run(reason).finally(() => {
      this.#running = undefined
    })
    this.#running = run
    return run
  }

  async #run(reason: string): Promise<void> {
    const since = this.#store.writes.bytes - this.#base
    this.#base = this.#store.writes.bytes
    const t = performance.now()
    try {
      const total = (await this.#store.approximateBytes('', '\uffff')) ?? 0
      const slices = await this.#slices('', Math.max(1, total / SLICES), 0)
      let done = 0
      for (const [gte, lt] of slices) {
        if (this.#stopping) break
        await this.#store.compactRange(gte, lt)
        done++
      }
      const seconds = (performance.now() - t) / 1000
      const fields = {
        reason,
        writtenMiB: Math.round(since / 2 ** 20),
        storeMiB: Math.round(total / 2 ** 20),
        seconds: Number(seconds.toFixed(1)),
      }
      if (done < slices.length) {
        this.#log.info(
          { ...fields, slices: `${done}/${slices.length}` },
          'store compaction cut short by a stop',
        )
        return
      }
      this.#compactions++
      this.#lastSeconds = seconds
      this.#log.info(fields, 'compacted the store after a load of writes')
    } catch (err) {
      // It waits for as many writes again before it tries once more.
      this.#log.warn(errorFields(err), 'store compaction failed')
    }
  }

  /**
   * Ranges that together hold every key under `prefix`, each of at most about `most` bytes on
   * disk or not split further, in key order; ranges LevelDB finds empty are left out (keys
   * still only in its memtable are flushed by the first compaction).
   */
  async #slices(prefix: string, most: number, depth: number): Promise<Array<[string, string]>> {
    // [prefix, prefix + ' ') holds the key `prefix` itself; [prefix + '\x7f', prefix + '\uffff')
    // whatever lies past the printable characters.
    const edges = [prefix]
    for (let c = FIRST_CHAR; c <= LAST_CHAR + 1; c++) edges.push(prefix + String.fromCharCode(c))
    edges.push(`${prefix}\uffff`)
    const out: Array<[string, string]> = []
    for (let i = 0; i + 1 < edges.length; i++) {
      const gte = edges[i]!
      const lt = edges[i + 1]!
      const bytes = (await this.#store.approximateBytes(gte, lt)) ?? 0
      if (bytes === 0) continue
      const char = gte.length > prefix.length ? gte.charCodeAt(prefix.length) : -1
      if (bytes > most && depth < MAX_DEPTH && char >= FIRST_CHAR && char <= LAST_CHAR)
        out.push(...(await this.#slices(gte, most, depth + 1)))
      else out.push([gte, lt])
    }
    return out
  }
}

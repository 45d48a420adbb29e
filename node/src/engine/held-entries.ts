/**
 * Held entries: remote entries that arrived before their origin's previous entry or their
 * dependencies, kept (by origin and seq) until those arrive. Bounded by count and by bytes —
 * a hostile peer's 1 MiB entries would otherwise pin tens of gigabytes; past either budget an
 * entry is not held, and is fetched again later, in order. What an entry costs is counted
 * whole: its bytes, its decoded form (about as large again) and its payloads. An entry held
 * longer than `maxPendingAgeMs` is let go: a peer that never fills the gap must not pin memory
 * for good (the entry is fetched again once the gap is filled).
 */
import { payloadsOf } from './codec.ts'
import type { Prepared } from './types.ts'

/** Remote entries held at most, by count. */
export const DEFAULT_MAX_PENDING = 50_000
/** …and by bytes. */
export const DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
/** …and by age, in ms. */
export const DEFAULT_MAX_PENDING_AGE_MS = 10 * 60_000
/** How often held entries are looked over for age, at most, in ms. */
const EXPIRY_EVERY_MS = 1000

export interface HeldEntriesInit {
  /** @default DEFAULT_MAX_PENDING */
  maxPending?: number
  /** @default DEFAULT_MAX_PENDING_BYTES */
  maxPendingBytes?: number
  /** @default DEFAULT_MAX_PENDING_AGE_MS */
  maxPendingAgeMs?: number
}

/** What holding an entry costs in memory: its bytes, its decoded form, and its payloads. */
function costOf(item: Prepared, payloads: ReadonlyMap<string, Uint8Array>): number {
  let n = 2 * item.bytes.length
  for (const p of payloads.values()) n += p.length
  return n
}

interface Held extends Prepared {
  /** What it costs (costOf). */
  readonly cost: number
  /** When it was held. */
  readonly at: number
}

export class HeldEntries {
  readonly #byOrigin = new Map<string, Map<number, Held>>()
  readonly #maxCount: number
  readonly #maxBytes: number
  readonly #maxAgeMs: number
  readonly #clock: () => number
  #count = 0
  #bytes = 0
  #lastExpiry = 0

  constructor(init: HeldEntriesInit = {}, clock: () => number = Date.now) {
    this.#maxCount = init.maxPending ?? DEFAULT_MAX_PENDING
    this.#maxBytes = init.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES
    this.#maxAgeMs = init.maxPendingAgeMs ?? DEFAULT_MAX_PENDING_AGE_MS
    this.#clock = clock
  }

  get size(): number {
    return this.#count
  }

  /** What the held entries cost in memory (see costOf). */
  get bytes(): number {
    return this.#bytes
  }

  get(origin: string, seq: number): Prepared | undefined {
    return this.#byOrigin.get(origin)?.get(seq)
  }

  /** Origins with held entries, and their held entries by seq. */
  origins(): IterableIterator<[string, ReadonlyMap<number, Prepared>]> {
    this.expire()
    return this.#byOrigin.entries()
  }

  /**
   * Holds an entry unless one is held at its place or a budget is spent. It keeps its own copy
   * of its payloads; its bytes and decoded form are the entry's own (`Prepared.bytes`): nothing
   * it keeps is a view into the frame the entry came in.
   */
  hold(item: Prepared): boolean {
    const { origin, seq } = item.entry.body
    if (this.get(origin, seq)) return false
    this.expire()
    const payloads = payloadsOf(item.entry, item.payloads)
    const cost = costOf(item, payloads)
    if (this.#count >= this.#maxCount || this.#bytes + cost > this.#maxBytes) return false
    const bySeq = this.#byOrigin.get(origin) ?? new Map<number, Held>()
    this.#byOrigin.set(origin, bySeq)
    // The entry and its bytes are kept as they are: the bytes are the entry's own copy, into
    // which its decoded byte strings are views (`openEntry`), and pin no frame. (Copying the
    // decoded entry cost a buffer per byte string, ~5 % of what a catching-up node allocated.)
    bySeq.set(seq, {
      ...item,
      payloads: new Map([...payloads].map(([d, p]) => [d, p.slice()])),
      cost,
      at: this.#clock(),
    })
    this.#count++
    this.#bytes += cost
    return true
  }

  /** Lets go of entries held longer than the age allowed (looked over once a second at most). */
  expire(): void {
    const now = this.#clock()
    if (now - this.#lastExpiry < EXPIRY_EVERY_MS) return
    this.#lastExpiry = now
    for (const [origin, bySeq] of [...this.#byOrigin]) {
      for (const [seq, held] of [...bySeq]) if (now - held.at > this.#maxAgeMs) this.drop(origin, seq)
    }
  }

  drop(origin: string, seq: number): void {
    const bySeq = this.#byOrigin.get(origin)
    const held = bySeq?.get(seq)
    if (held && bySeq!.delete(seq)) {
      this.#count--
      this.#bytes -= held.cost
    }
    if (bySeq?.size === 0) this.#byOrigin.delete(origin)
  }

  /** Drops the entries of `origin` up to `seq` (applied by an earlier transaction). */
  /** Drops every held entry. */
  clear(): void {
    for (const [origin, bySeq] of [...this.#byOrigin]) for (const s of [...bySeq.keys()]) this.drop(origin, s)
  }

  dropThrough(origin: string, seq: number): void {
    const bySeq = this.#byOrigin.get(origin)
    if (!bySeq) return
    for (const s of [...bySeq.keys()]) if (s <= seq) this.drop(origin, s)
  }
}

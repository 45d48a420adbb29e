/**
 * Held entries: remote entries that arrived before their origin's previous entry or their
 * dependencies, kept (by origin and seq) until those arrive. Bounded by count and by bytes —
 * a hostile peer's 1 MiB entries would otherwise pin tens of gigabytes; past either budget an
 * entry is not held, and is fetched again later, in order.
 */
import { copyValue } from '@legation/protocol'
import { payloadsOf } from './codec.ts'
import type { Prepared } from './types.ts'

/** Remote entries held at most, by count. */
export const DEFAULT_MAX_PENDING = 50_000
/** …and by bytes. */
export const DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024

export interface HeldEntriesInit {
  /** @default DEFAULT_MAX_PENDING */
  maxPending?: number
  /** @default DEFAULT_MAX_PENDING_BYTES */
  maxPendingBytes?: number
}

export class HeldEntries {
  readonly #byOrigin = new Map<string, Map<number, Prepared>>()
  readonly #maxCount: number
  readonly #maxBytes: number
  #count = 0
  #bytes = 0

  constructor(init: HeldEntriesInit = {}) {
    this.#maxCount = init.maxPending ?? DEFAULT_MAX_PENDING
    this.#maxBytes = init.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES
  }

  get size(): number {
    return this.#count
  }

  get bytes(): number {
    return this.#bytes
  }

  get(origin: string, seq: number): Prepared | undefined {
    return this.#byOrigin.get(origin)?.get(seq)
  }

  /** Origins with held entries, and their held entries by seq. */
  origins(): IterableIterator<[string, ReadonlyMap<number, Prepared>]> {
    return this.#byOrigin.entries()
  }

  /**
   * Holds an entry unless one is held at its place or a budget is spent. It keeps its own copy
   * of its bytes, decoded form and payloads: not views into the frame it came in.
   */
  hold(item: Prepared): boolean {
    const { origin, seq } = item.entry.body
    if (this.get(origin, seq)) return false
    if (this.#count >= this.#maxCount || this.#bytes + item.bytes.length > this.#maxBytes) return false
    const bySeq = this.#byOrigin.get(origin) ?? new Map<number, Prepared>()
    this.#byOrigin.set(origin, bySeq)
    bySeq.set(seq, {
      ...item,
      bytes: item.bytes.slice(),
      entry: copyValue(item.entry),
      payloads: payloadsOf(item.entry, item.payloads, { copy: true }),
    })
    this.#count++
    this.#bytes += item.bytes.length
    return true
  }

  drop(origin: string, seq: number): void {
    const bySeq = this.#byOrigin.get(origin)
    const held = bySeq?.get(seq)
    if (held && bySeq!.delete(seq)) {
      this.#count--
      this.#bytes -= held.bytes.length
    }
    if (bySeq?.size === 0) this.#byOrigin.delete(origin)
  }

  /** Drops the entries of `origin` up to `seq` (applied by an earlier transaction). */
  dropThrough(origin: string, seq: number): void {
    const bySeq = this.#byOrigin.get(origin)
    if (!bySeq) return
    for (const s of [...bySeq.keys()]) if (s <= seq) this.drop(origin, s)
  }
}

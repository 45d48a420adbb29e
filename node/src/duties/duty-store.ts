/**
 * Persistence of duties: the duty rows, the pending markers, the done log and the discovery
 * cursor in the node's store (layout in keys.ts). Each change is one batch, so a crash leaves
 * a duty either pending with its marker or done with its log line, never half of each.
 */
import { utf8ToBytes, type VersionVector } from '@legation/protocol'
import type { BatchOp, Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import type { DutyRef } from './discovery.ts'
import { DK } from './keys.ts'
import type { DutyDone, StoredDuty } from './types.ts'

/** Duties per storage batch when one alert fans out to very many citizens. */
export const DUTIES_PER_WRITE = 4096

const enc = (v: unknown) => utf8ToBytes(JSON.stringify(v))
const dec = <T>(b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as T

export class DutyStore {
  readonly #store: Store

  constructor(store: Store) {
    this.#store = store
  }

  /** The stored cursor; on the first start over this store, `initial()` (stored at once). */
  async loadCursor(initial: () => VersionVector): Promise<VersionVector> {
    const raw = await this.#store.get(DK.cursor)
    if (raw) return dec<VersionVector>(raw)
    const cursor = initial()
    await this.saveCursor(cursor)
    return cursor
  }

  async saveCursor(cursor: VersionVector): Promise<void> {
    await this.#store.write([{ type: 'put', key: DK.cursor, value: enc(cursor) }])
  }

  /** Every duty still pending, read through the pending markers (not every duty ever). */
  async pending(): Promise<StoredDuty[]> {
    const ids: string[] = []
    for await (const [k] of this.#store.range(prefixRange(DK.pendingPrefix))) {
      ids.push(k.slice(DK.pendingPrefix.length))
    }
    const out: StoredDuty[] = []
    for (let i = 0; i < ids.length; i += DUTIES_PER_WRITE) {
      const raws = await this.#store.getMany(ids.slice(i, i + DUTIES_PER_WRITE).map(DK.duty))
      for (const r of raws) {
        const d = r && dec<StoredDuty>(r)
        if (d?.state === 'pending' && d.ref) out.push(d)
      }
    }
    return out
  }

  /** Those of `ids` not stored yet (in any state). */
  async unknown(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return []
    const known = await this.#store.getMany(ids.map(DK.duty))
    return ids.filter((_, i) => known[i] === undefined)
  }

  /** Stores new pending duties (at most DUTIES_PER_WRITE), with the cursor that found them if given. */
  async addPending(duties: ReadonlyArray<readonly [string, DutyRef]>, now: number, cursor?: VersionVector) {
    const ops: BatchOp[] = []
    for (const [id, ref] of duties) {
      const d: StoredDuty = { v: 1, id, state: 'pending', ref, discoveredAt: now }
      ops.push({ type: 'put', key: DK.duty(id), value: enc(d) })
      ops.push({ type: 'put', key: DK.pending(id), value: new Uint8Array() })
    }
    if (cursor) ops.push({ type: 'put', key: DK.cursor, value: enc(cursor) })
    await this.#store.write(ops)
  }

  /** Closes a duty: its row says who did it and when, its marker goes, the done log gains a line. */
  async close(d: StoredDuty & { doneBy: string; at: number }): Promise<void> {
    const done: DutyDone = { id: d.id, node: d.doneBy, at: d.at }
    await this.#store.write([
      { type: 'put', key: DK.duty(d.id), value: enc(d) },
      { type: 'del', key: DK.pending(d.id) },
      { type: 'put', key: DK.done(d.at, d.id), value: enc(done) },
    ])
  }

  async get(id: string): Promise<StoredDuty | undefined> {
    const raw = await this.#store.get(DK.duty(id))
    return raw ? dec<StoredDuty>(raw) : undefined
  }

  /** The most recent completions, newest first. */
  async recentDone(limit: number): Promise<DutyDone[]> {
    const out: DutyDone[] = []
    for await (const [, v] of this.#store.range(prefixRange(DK.donePrefix, { limit, reverse: true }))) {
      out.push(dec<DutyDone>(v))
    }
    return out
  }
}

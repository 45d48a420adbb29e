/**
 * The scan of stored entries for duties, behind a per-origin cursor: an entry at or below the
 * cursor was scanned already; one above it with a gap first has the gap read back from the
 * engine (entries stored while the scheduler was stopped, or before a crash). Which duties an
 * entry gives is discovery.ts's job; this file only walks entries in order.
 */
import { decodeEntry, type EntryBody, type VersionVector } from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import { type AlertArea, type DutyRef, dutiesOfEntry, refId } from './discovery.ts'

/** Entries scanned per discovery batch (one storage batch for the duties they give). */
export const ENTRIES_PER_BATCH = 256

export interface ScanContext {
  readonly now: number
  readonly maxAgeMs: number
  readonly alerts: Map<string, AlertArea>
}

export interface ScanResult {
  /** Duties found, by id. */
  readonly found: Map<string, DutyRef>
  /** The cursor after the scan (a copy; the caller stores it with the duties found). */
  readonly cursor: VersionVector
}

/**
 * Scans `bodies` (entries just stored) or, given `upTo`, every entry up to that version vector
 * (the catch-up at start), from `cursor` on.
 */
export async function scanEntries(
  engine: Engine,
  from: VersionVector,
  what: { readonly bodies: readonly EntryBody[] } | { readonly upTo: VersionVector },
  ctx: ScanContext,
): Promise<ScanResult> {
  const cursor: VersionVector = { ...from }
  const found = new Map<string, DutyRef>()
  const scan = async (body: EntryBody): Promise<void> => {
    const have = cursor[body.origin] ?? 0
    if (body.seq <= have) return
    if (body.seq > have + 1) {
      // Stored but never scanned (a crash, or entries stored while stopped): read them back.
      for await (const bytes of engine.entries(body.origin, have + 1, body.seq - have - 1)) {
        await scan(decodeEntry(bytes).body)
      }
    }
    for (const ref of await dutiesOfEntry(engine, body, ctx)) found.set(refId(ref), ref)
    cursor[body.origin] = body.seq
  }
  if ('upTo' in what) {
    for (const [origin, seq] of Object.entries(what.upTo)) {
      if (seq <= (cursor[origin] ?? 0)) continue
      const bytes = await engine.getEntryBytes(origin, seq)
      if (bytes) await scan(decodeEntry(bytes).body)
    }
  } else {
    for (const body of what.bodies) await scan(body)
  }
  return { found, cursor }
}

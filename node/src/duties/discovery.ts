/**
 * Discovery: which duties a stored entry gives rise to. Every node runs it over every entry
 * it stores (its own and its peers'), so every node derives the same duty ids; deriving one
 * twice (from the alert, then again from a late presence) is harmless because the id is the
 * same.
 *
 * - `alert.issued` → one `alert-notify` per citizen whose presence is in the alert's area:
 *   same country, same region unless the alert's region is null, presence not ended before
 *   the alert was issued.
 * - `presence.registered` → one `alert-notify` per alert issued within the window that covers
 *   the new presence (the citizen arrived in a crisis area).
 * - `case.opened` → one `route-case`.
 *
 * Records signed more than `maxAgeMs` before now create nothing: a node catching up on old
 * history must not redo the bloc's old work.
 */
import {
  decodeCanonical,
  type EntryBody,
  type RecordBody,
  recordId,
  type SignedRecord,
} from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import { alertDutyId, caseDutyId } from './ids.ts'

/** What a duty refers to. Ids only: the personal data is read when the duty is delivered. */
export type DutyRef =
  | { readonly kind: 'alert-notify'; readonly alert: string; readonly citizen: string }
  | { readonly kind: 'route-case'; readonly case: string; readonly citizen: string }

/** The part of a crisis alert that decides who is in its area. */
export interface AlertArea {
  readonly id: string
  readonly country: string
  readonly region: string | null
  /** When the alert was issued (its signed time). */
  readonly at: number
}

export interface PresenceArea {
  readonly country: string
  readonly region: string
  readonly until: number | null
}

/** Index keys read per page when an alert is matched against presences. */
export const DEFAULT_PRESENCE_PAGE = 1000

export function refId(ref: DutyRef): string {
  return ref.kind === 'alert-notify' ? alertDutyId(ref.alert, ref.citizen) : caseDutyId(ref.case)
}

/** Whether a presence falls in an alert's area and had not ended when the alert was issued. */
export function inArea(alert: AlertArea, p: PresenceArea): boolean {
  return (
    p.country === alert.country &&
    (alert.region === null || p.region === alert.region) &&
    (p.until === null || p.until >= alert.at)
  )
}

export interface DiscoveryContext {
  readonly now: number
  readonly maxAgeMs: number
  /**
   * Alerts issued within the window, by id, which a new presence is matched against. Alerts
   * found in the entry are added to it, before its presences are matched.
   */
  readonly alerts: Map<string, AlertArea>
  readonly pageSize?: number
}

export function alertArea(id: string, record: SignedRecord): AlertArea {
  const b = record.header.body as RecordBody<'alert.issued'>
  return { id, country: b.country, region: b.region, at: record.header.at }
}

/** The duties of one stored entry, in record order, each once. */
export async function dutiesOfEntry(
  engine: Engine,
  body: EntryBody,
  ctx: DiscoveryContext,
): Promise<DutyRef[]> {
  const out: DutyRef[] = []
  const oldest = ctx.now - ctx.maxAgeMs
  const records = body.changes.flatMap((c) => c.records).filter((r) => r.header.at >= oldest)
  // Alerts first, so that a presence registered in the same entry sees them.
  for (const r of records) {
    if (r.header.kind !== 'alert.issued') continue
    const alert = alertArea(recordId(r.header), r)
    ctx.alerts.set(alert.id, alert)
    out.push(...(await alertDuties(engine, alert, ctx.pageSize)))
  }
  for (const r of records) {
    if (r.header.kind === 'presence.registered') {
      out.push(...(await presenceDuties(engine, r, ctx.alerts.values(), oldest)))
    } else if (r.header.kind === 'case.opened') {
      out.push({ kind: 'route-case', case: recordId(r.header), citizen: r.header.subject! })
    }
  }
  return out
}

/** Every citizen currently present in the alert's area, by the presence index. */
export async function alertDuties(
  engine: Engine,
  alert: AlertArea,
  pageSize = DEFAULT_PRESENCE_PAGE,
): Promise<DutyRef[]> {
  const out: DutyRef[] = []
  const prefix = engine.blindPrefix('pres', alert.country)
  let after: string | undefined
  for (;;) {
    const page = await engine.indexKeys(prefix, pageSize, after)
    for (const citizen of page) {
      const s = await engine.getSummary(citizen)
      if (s?.presence && inArea(alert, s.presence))
        out.push({ kind: 'alert-notify', alert: alert.id, citizen })
    }
    if (page.length < pageSize) return out
    after = page[page.length - 1]
  }
}

/** A newly registered presence against the recent alerts whose area covers it. */
async function presenceDuties(
  engine: Engine,
  record: SignedRecord,
  alerts: Iterable<AlertArea>,
  oldest: number,
): Promise<DutyRef[]> {
  const citizen = record.header.subject!
  const presence = await presenceOf(engine, record)
  if (!presence) return []
  const out: DutyRef[] = []
  for (const a of alerts) {
    if (a.at >= oldest && inArea(a, presence)) out.push({ kind: 'alert-notify', alert: a.id, citizen })
  }
  return out
}

/** Where a presence record puts the citizen: its payload, or the summary if the payload is gone. */
async function presenceOf(engine: Engine, record: SignedRecord): Promise<PresenceArea | undefined> {
  const until = (record.header.body as RecordBody<'presence.registered'>).until
  const digest = record.header.payload
  const bytes = digest ? await engine.getPayload(digest) : undefined
  if (bytes) {
    const p = decodeCanonical(bytes) as { country?: unknown; region?: unknown }
    if (typeof p.country === 'string' && typeof p.region === 'string') {
      return { country: p.country, region: p.region, until }
    }
  }
  return (await engine.getSummary(record.header.subject!))?.presence ?? undefined
}

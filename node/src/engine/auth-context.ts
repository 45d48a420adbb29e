/**
 * The authorization context: the facts the protocol's record rules read (a citizen's
 * nationality, a case's type and state, whether an alert exists, revocations), fetched for a
 * whole group of records in one batched read and kept current as the group's records are
 * accepted (a registration, then its case, in one group).
 */
import {
  OPEN_CASE_STATES,
  type RecordBody,
  type RecordContext,
  type RecordHeader,
  type SignedRecord,
} from '@legation/protocol'
import type { Store } from '../storage/store.ts'
import { decodeText } from './codec.ts'
import { K } from './keys.ts'
import { emptySummary, noteInSummary, summaryOf } from './projections.ts'
import { decodeSummaryRow } from './summary-row.ts'
import type { Trust } from './trust.ts'
import type { Tx } from './tx.ts'
import type { CitizenSummary } from './types.ts'

export interface GroupContext extends RecordContext {
  /** Makes an accepted record visible to the group's later records. */
  note(id: string, h: RecordHeader): void
}

export async function groupContext(
  store: Store,
  trust: Trust,
  tx: Tx,
  records: readonly SignedRecord[],
  cached: (citizen: string) => CitizenSummary | undefined = () => undefined,
): Promise<GroupContext> {
  const subjects = [...new Set(records.flatMap((r) => (r.header.subject ? [r.header.subject] : [])))]
  // Summaries in memory are taken as copies this group may change (`note`); the others are read.
  const summaries = new Map<string, CitizenSummary>()
  for (const c of subjects) {
    const s = cached(c)
    if (s) summaries.set(c, { ...s, cases: { ...s.cases }, welfare: { ...s.welfare } })
  }
  const unread = subjects.filter((c) => !summaries.has(c))
  const caseRefs = [...new Set(records.flatMap((r) => caseRefOf(r.header) ?? []))]
  const alertRefs = [
    ...new Set(
      records.flatMap((r) =>
        r.header.kind === 'welfare.checkin' ? [(r.header.body as RecordBody<'welfare.checkin'>).alert] : [],
      ),
    ),
  ]
  const [sums, owners, alertMarks] = await Promise.all([
    store.getMany(unread.map(K.summary)),
    store.getMany(caseRefs.map(K.case)),
    store.getMany(alertRefs.map(K.alert)),
  ])
  unread.forEach((c, i) => {
    const raw = sums[i]
    if (raw) summaries.set(c, summaryOf(c, decodeSummaryRow(raw)))
  })
  const caseOwners = new Map<string, string>()
  caseRefs.forEach((c, i) => {
    const raw = owners[i]
    if (raw) caseOwners.set(c, decodeText(raw))
  })
  const alerts = new Set(alertRefs.filter((_, i) => alertMarks[i] !== undefined))
  const summary = (c: string) => tx.summaries.get(c) ?? summaries.get(c)
  return {
    nationality: (c) => summary(c)?.nationality ?? undefined,
    caseOf: (caseId) => {
      const owner = tx.cases.get(caseId) ?? caseOwners.get(caseId)
      const c = owner ? summary(owner)?.cases[caseId] : undefined
      return owner && c ? { type: c.type, subject: owner, state: c.state } : undefined
    },
    hasAlert: (a) => tx.alerts.has(a) || alerts.has(a),
    openCases: (citizen) =>
      Object.values(summary(citizen)?.cases ?? {}).filter((c) => OPEN_CASE_STATES.has(c.state)).length,
    revokedAt: (certId, state) => trust.revokedAt(certId, state),
    note: (id, h) => {
      if (h.kind === 'alert.issued') tx.alerts.add(id)
      if (h.kind === 'case.opened') tx.cases.set(id, h.subject!)
      if (h.subject === null) return
      // The summary read for this group is this group's alone: it moves into the transaction,
      // where `summary` finds it from now on, rather than being copied (a copy per logged read).
      const read = summaries.get(h.subject)
      summaries.delete(h.subject)
      const s = tx.summaries.get(h.subject) ?? read ?? emptySummary()
      noteInSummary(s, id, h)
      tx.summaries.set(h.subject, s)
    },
  }
}

function caseRefOf(h: RecordHeader): string | undefined {
  if (h.kind === 'case.transition') return (h.body as RecordBody<'case.transition'>).case
  if (h.kind === 'document.attested') return (h.body as RecordBody<'document.attested'>).case ?? undefined
  return undefined
}

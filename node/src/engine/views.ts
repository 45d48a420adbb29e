/**
 * Read-side views built from a citizen's doc, the records it names and their payloads:
 * profile, timeline, presence abroad, cases, welfare per crisis alert. Personal data
 * appears only here, on its way to an authorized reader.
 */
import {
  ALERTS_DOC,
  type CaseState,
  type CaseType,
  decodeCanonical,
  encodeCanonical,
  foldIdentity,
  keyId,
  type RecordBody,
  type SignedRecord,
  signerOf,
  toBase64url,
  toHex,
} from '@legation/protocol'
import type { CitizenSummary, Engine } from './engine.ts'

export interface TimelineItem {
  id: string
  kind: string
  at: number
  /** 'citizen' or the officer's state code. */
  by: string
  origin: string
  seq: number
}

export interface CaseView {
  id: string
  citizen: string
  type: CaseType
  state: CaseState
  opened: number
  updated: number
  history: Array<{ id: string; from: CaseState; to: CaseState; at: number; by: string }>
  details?: string
}

export interface CitizenView {
  id: string
  nationality: string | null
  names: unknown
  birth: unknown
  travelDocument: unknown
  contact: unknown
  presence: { country: string; region: string; from: number; until: number | null } | null
  cases: CaseView[]
  welfare: Array<{ alert: string; status: 'safe' | 'needs-help' }>
  /** The citizen's personal data was erased (citizen.erased): only the signed history is left. */
  erased: boolean
  timeline: TimelineItem[]
}

/** One officer's read of a citizen's personal data, as the node that served it logged it. */
export interface AccessLogItem {
  /** The access.logged record's id (its receipt proves it is in the node's feed). */
  id: string
  at: number
  officer: string
  state: string
  purpose: string
  shown: string
  case: string | null
  /** The node that served the read and signed the record. */
  node: string
}

function signer(r: SignedRecord): string {
  return r.cert ? r.cert.body.state : 'citizen'
}

async function payloadOf(engine: Engine, r: SignedRecord): Promise<Record<string, unknown> | undefined> {
  if (!r.header.payload) return undefined
  const bytes = await engine.getPayload(r.header.payload)
  return bytes ? (decodeCanonical(bytes) as Record<string, unknown>) : undefined
}

type Item = TimelineItem & { record: SignedRecord }

/** Every record of a doc, oldest first: for a citizen, the file and every logged read of it. */
export async function timeline(engine: Engine, docId: string): Promise<Item[]> {
  return itemsOf(engine, await engine.docRecords(docId))
}

/**
 * A citizen's file, oldest first, without the reads of it: a file read often holds far more
 * logged reads than anything else, and they are not read (`withoutListedReads`). One not listed
 * yet is read, and left out by its kind.
 */
async function fileTimeline(engine: Engine, citizen: string): Promise<Item[]> {
  const items = await itemsOf(engine, await engine.fileRecords(citizen))
  return items.filter((i) => i.kind !== 'access.logged')
}

async function itemsOf(engine: Engine, ids: readonly string[]): Promise<Item[]> {
  const items: Item[] = []
  // One batched read for them all.
  for (const [i, r] of (await engine.getRecords(ids)).entries()) {
    if (!r) continue
    const id = ids[i]!
    items.push({
      id,
      kind: r.record.header.kind,
      at: r.record.header.at,
      by: signer(r.record),
      origin: r.origin,
      seq: r.seq,
      record: r.record,
    })
  }
  return items.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

export async function citizenView(engine: Engine, id: string): Promise<CitizenView | undefined> {
  const summary = await engine.getSummary(id)
  if (!summary || summary.nationality === null) return undefined
  // Reads of the file are in its access log, not its timeline.
  const items = await fileTimeline(engine, id)
  const byId = new Map(items.map((i) => [i.id, i.record]))
  // Identity under the rule (only the nationality state changes it), as the summary has it.
  const identity = foldIdentity(
    items.map((i) => ({ id: i.id, header: i.record.header, signer: signerOf(i.record) })),
  )
  // The parts mostly come from one record (the registration): its payload is opened once.
  const payloads = new Map<string, Promise<Record<string, unknown> | undefined>>()
  const field = async (part: 'names' | 'birth' | 'travelDocument' | 'contact') => {
    const rid = identity?.[part]
    const r = rid ? byId.get(rid) : undefined
    if (!rid || !r) return null
    if (!payloads.has(rid)) payloads.set(rid, payloadOf(engine, r))
    return (await payloads.get(rid))?.[part] ?? null
  }
  const cases: CaseView[] = []
  for (const caseId of Object.keys(summary.cases)) {
    const c = await caseFromItems(caseId, id, summary, items, engine)
    if (c) cases.push(c)
  }
  return {
    id,
    nationality: summary.nationality,
    names: await field('names'),
    birth: await field('birth'),
    travelDocument: await field('travelDocument'),
    contact: await field('contact'),
    presence: summary.presence,
    cases,
    welfare: Object.entries(summary.welfare).map(([alert, status]) => ({ alert, status })),
    erased: engine.isErased(id),
    timeline: items.map(({ record: _r, ...rest }) => rest),
  }
}

/** Everything the bloc holds about a citizen, for them to take away (`citizenExport`). */
export interface CitizenExport {
  format: 'legation-citizen-export/1'
  citizen: string
  bloc: string
  /** The charter version in force at the node that made the export. */
  charter: string
  node: string
  exportedAt: number
  /** The file as an officer would see it, decrypted. */
  file: CitizenView
  /**
   * Every signed record about the citizen, as signed (canonical CBOR, base64url), with its payload
   * as stored (its hash is the digest the record signs) and decoded: the proof of the file.
   */
  records: Array<{
    id: string
    kind: string
    at: number
    origin: string
    seq: number
    record: string
    payload: string | null
    decoded: unknown
  }>
  accessLog: AccessLogItem[]
}

/** Everything the node holds about a citizen, decrypted, with the signed records that prove it. */
export async function citizenExport(engine: Engine, id: string): Promise<CitizenExport | undefined> {
  const file = await citizenView(engine, id)
  if (!file) return undefined
  const records: CitizenExport['records'] = []
  // Every record of the doc, the logged reads among them: the export's access log.
  const all = await timeline(engine, id)
  for (const i of all) {
    const payload = i.record.header.payload ? await engine.getPayload(i.record.header.payload) : undefined
    records.push({
      id: i.id,
      kind: i.kind,
      at: i.at,
      origin: i.origin,
      seq: i.seq,
      record: toBase64url(encodeCanonical(i.record)),
      payload: payload ? toBase64url(payload) : null,
      decoded: payload ? jsonBytes(decodeCanonical(payload)) : null,
    })
  }
  return {
    format: 'legation-citizen-export/1',
    citizen: id,
    bloc: engine.bloc,
    charter: engine.charter.hash,
    node: engine.nodeId,
    exportedAt: Date.now(),
    file,
    records,
    accessLog: accessLogOf(all),
  }
}

/**
 * Who read the citizen's personal data, when, why and what it showed, oldest first: from the
 * citizen's doc itself, not from the list of reads kept to skip them (`acc/`), so that no read is
 * left out whatever becomes of that list. A doc's reads are most of it when it is large.
 */
export async function accessLog(engine: Engine, citizen: string): Promise<AccessLogItem[]> {
  return accessLogOf(await timeline(engine, citizen))
}

/** The logged reads among a doc's items, oldest first as they come. */
function accessLogOf(items: readonly Item[]): AccessLogItem[] {
  const out: AccessLogItem[] = []
  for (const i of items) {
    if (i.kind !== 'access.logged') continue
    const b = i.record.header.body as RecordBody<'access.logged'>
    out.push({
      id: i.id,
      at: i.at,
      officer: b.officer,
      state: b.state,
      purpose: b.purpose,
      shown: b.shown,
      case: b.case,
      node: keyId(i.record.header.author),
    })
  }
  return out
}

async function caseFromItems(
  caseId: string,
  citizen: string,
  summary: CitizenSummary,
  items: Item[],
  engine: Engine,
): Promise<CaseView | undefined> {
  const c = summary.cases[caseId]
  const opened = items.find((i) => i.id === caseId)
  if (!c || !opened) return undefined
  const history = items
    .filter(
      (i) =>
        i.kind === 'case.transition' &&
        (i.record.header.body as RecordBody<'case.transition'>).case === caseId,
    )
    .map((i) => {
      const b = i.record.header.body as RecordBody<'case.transition'>
      return { id: i.id, from: b.from, to: b.to, at: i.at, by: i.by }
    })
  const details = (await payloadOf(engine, opened.record))?.details
  const view: CaseView = { id: caseId, citizen, ...c, history }
  if (typeof details === 'string') view.details = details
  return view
}

export async function caseView(engine: Engine, caseId: string): Promise<CaseView | undefined> {
  const citizen = await engine.caseCitizen(caseId)
  if (!citizen) return undefined
  const summary = await engine.getSummary(citizen)
  if (!summary) return undefined
  return caseFromItems(caseId, citizen, summary, await fileTimeline(engine, citizen), engine)
}

export interface AlertView {
  id: string
  country: string
  region: string | null
  severity: string
  title: string
  message: string
  issuedAt: number
  issuedBy: string
}

export async function alerts(engine: Engine): Promise<AlertView[]> {
  const items = await timeline(engine, ALERTS_DOC)
  return items.map((i) => alertFrom(i.id, i.record)).reverse()
}

function alertFrom(id: string, r: SignedRecord): AlertView {
  const b = r.header.body as RecordBody<'alert.issued'>
  return { id, ...b, issuedAt: r.header.at, issuedBy: signer(r) }
}

export async function alertView(engine: Engine, id: string): Promise<AlertView | undefined> {
  const r = await engine.getRecord(id)
  return r && r.record.header.kind === 'alert.issued' ? alertFrom(id, r.record) : undefined
}

export interface WelfareBoard {
  alert: AlertView
  counts: { safe: number; needsHelp: number; notHeard: number }
  safe: string[]
  needsHelp: string[]
  notHeard: string[]
}

/** The crisis dashboard: every citizen present where the alert applies, by welfare status. */
export async function welfareBoard(
  engine: Engine,
  alertId: string,
  limit = 10_000,
): Promise<WelfareBoard | undefined> {
  const alert = await alertView(engine, alertId)
  if (!alert) return undefined
  const board: WelfareBoard = {
    alert,
    counts: { safe: 0, needsHelp: 0, notHeard: 0 },
    safe: [],
    needsHelp: [],
    notHeard: [],
  }
  for (const citizen of await engine.indexKeys(engine.blindPrefix('pres', alert.country), limit)) {
    const s = await engine.getSummary(citizen)
    if (!s?.presence || (alert.region !== null && s.presence.region !== alert.region)) continue
    if (s.presence.until !== null && s.presence.until < alert.issuedAt) continue
    const status = s.welfare[alertId]
    if (status === 'safe') board.safe.push(citizen)
    else if (status === 'needs-help') board.needsHelp.push(citizen)
    else board.notHeard.push(citizen)
  }
  board.counts = {
    safe: board.safe.length,
    needsHelp: board.needsHelp.length,
    notHeard: board.notHeard.length,
  }
  return board
}

/** A record as JSON: bytes as base64url (keys, signatures) or hex (digests). */
export function renderRecord(id: string, r: { origin: string; seq: number; record: SignedRecord }) {
  const h = r.record.header
  return {
    id,
    kind: h.kind,
    bloc: h.bloc,
    charter: h.charter,
    subject: h.subject,
    at: h.at,
    author: toBase64url(h.author),
    signedBy: signer(r.record),
    body: jsonBytes(h.body),
    payloadDigest: h.payload ? toHex(h.payload) : null,
    sig: toBase64url(r.record.sig),
    origin: r.origin,
    seq: r.seq,
  }
}

function jsonBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return toHex(v)
  if (Array.isArray(v)) return v.map(jsonBytes)
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonBytes(x)]))
  return v
}

export { jsonBytes }

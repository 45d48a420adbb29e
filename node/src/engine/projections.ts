/**
 * Projections: a citizen's summary (nationality, presence, cases, welfare) derived from their
 * merged doc, and the secondary indexes that follow it (`ix/...`, by travel document too).
 * Written in the same batch as the entries that changed the doc, so a restart reads them back.
 *
 * At rest a summary holds no personal value: the presence is kept as the id of the record whose
 * (sealed) payload holds it (`r`), read back when the summary is; the travel document and the
 * country of presence only as the blind tokens their index keys hold (vault.ts). What stays
 * plain is what the signed headers already say (nationality, cases, welfare status). Nothing is
 * sealed twice, and an erasure needs nothing more than the payloads' key gone.
 */
import {
  decodeCanonical,
  foldIdentity,
  type IdentityRecord,
  type RecordBody,
  type RecordHeader,
  type SignedRecord,
  signerOf,
  toHex,
} from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import type { Store } from '../storage/store.ts'
import { DEFAULT_DOC_CACHE } from './doc-cache.ts'
import { readRecord } from './entry-rows.ts'
import { K } from './keys.ts'
import { withoutListedReads } from './reads.ts'
import { decodeSummaryRow, encodeSummaryRow, indexKeysOf, type StoredSummary } from './summary-row.ts'
import { type Tx, txPayload, txRecord } from './tx.ts'
import type { CitizenSummary } from './types.ts'
import type { Vault } from './vault.ts'

export interface ProjectionsInit {
  /** Summaries kept in memory. @default DEFAULT_DOC_CACHE */
  summaryCacheSize?: number
}

/** Docs of at most this many records are read whole for the identity rule (`#identityRecords`). */
const READ_ALL_UP_TO = 16

export class Projections {
  readonly #store: Store
  readonly #vault: Vault
  readonly #cache: LRUCache<string, CitizenSummary>
  /** Moved by every change of what the cache holds (`remember`, `forget`, `clear`). */
  #generation = 0

  constructor(init: ProjectionsInit, components: { store: Store; vault: Vault }) {
    this.#store = components.store
    this.#vault = components.vault
    this.#cache = new LRUCache({ max: init.summaryCacheSize ?? DEFAULT_DOC_CACHE })
  }

  async get(citizen: string): Promise<CitizenSummary | undefined> {
    const cached = this.#cache.get(citizen)
    if (cached) return cached
    const generation = this.#generation
    const raw = await this.#store.get(K.summary(citizen))
    if (!raw) return undefined
    const stored = decodeSummaryRow(raw)
    const s = await this.#withPersonal(stored, summaryOf(citizen, stored))
    // Cached only if no transaction wrote summaries meanwhile: one read before a commit and
    // cached after it would stand for the newer summary, and the next transaction would take
    // its index keys for the ones to replace (the newer ones left behind).
    if (generation === this.#generation) this.#cache.set(citizen, s)
    return s
  }

  /** The stored summaries' plain parts (no personal value read back): what a rewrite needs. */
  async #plain(citizens: readonly string[]): Promise<Map<string, Pick<CitizenSummary, 'ix'>>> {
    const out = new Map<string, Pick<CitizenSummary, 'ix'>>()
    const missing: string[] = []
    for (const c of citizens) {
      const cached = this.#cache.get(c)
      if (cached) out.set(c, cached)
      else missing.push(c)
    }
    const raws = await this.#store.getMany(missing.map(K.summary))
    for (const [i, c] of missing.entries()) {
      const raw = raws[i]
      if (raw) out.set(c, { ix: indexKeysOf(c, decodeSummaryRow(raw)) })
    }
    return out
  }

  /** The summary memory holds of a citizen, if it holds one: not to be changed. */
  cached(citizen: string): CitizenSummary | undefined {
    return this.#cache.get(citizen)
  }

  /** Forgets what memory holds of an erased citizen. */
  forget(citizen: string): void {
    this.#generation++
    this.#cache.delete(citizen)
  }

  /**
   * A summary with the presence in force read back from its record's payload. The travel
   * document is not: no reader of a summary needs it (a file takes it from the registration it
   * shows), and reading it cost a file three store reads and a decryption more.
   */
  async #withPersonal({ r }: StoredSummary, s: CitizenSummary): Promise<CitizenSummary> {
    if (r.pres) {
      const found = await this.#storedPayload(r.pres)
      if (found) s.presence = presenceOf(found.record, found.payload)
    }
    return s
  }

  async #storedPayload(id: string) {
    const stored = await readRecord(this.#store, id)
    if (!stored) return undefined
    const { record } = stored
    const digest = record.header.payload
    if (!digest) return undefined
    const hex = toHex(digest)
    const sealed = await this.#store.get(K.payload(hex))
    const plain = sealed && (await this.#vault.openPayload(hex, sealed))
    return plain && { record, payload: decodeCanonical(plain) as Record<string, unknown> }
  }

  /** Caches the summaries a transaction wrote (once it is handed to the store). */
  remember(tx: Tx): void {
    // A transaction that wrote no summary (logged reads only) leaves the reads in flight alone.
    if (tx.summaries.size > 0) this.#generation++
    for (const [c, s] of tx.summaries) this.#cache.set(c, s)
  }

  clear(): void {
    this.#generation++
    this.#cache.clear()
  }

  /** Derives the summaries of these citizens from the transaction's docs, with their index changes. */
  async update(tx: Tx, citizens: readonly string[]): Promise<void> {
    const previous = await this.#plain(citizens)
    for (const c of citizens) await this.#resummarize(tx, c, previous.get(c))
  }

  /**
   * The citizen's registrations and updates among the doc's records, without reading the reads
   * logged of the citizen (`withoutListedReads`): a change to a file read 3,000 times read 3,000
   * records to find its few registrations. A small doc (a new citizen's) is read whole: one
   * range read would cost more than its few records.
   */
  async #identityRecords(tx: Tx, citizen: string): Promise<IdentityRecord[]> {
    const ids = tx.docs.get(citizen)!.records()
    const rest = ids.length <= READ_ALL_UP_TO ? ids : await withoutListedReads(this.#store, citizen, ids)
    return identityRecordsOf(rest, (id) => txRecord(this.#store, tx, id))
  }

  #payload(tx: Tx, record: SignedRecord | undefined) {
    return record && txPayload(this.#store, this.#vault, tx, record)
  }

  async #resummarize(
    tx: Tx,
    citizen: string,
    previous: Pick<CitizenSummary, 'ix'> | undefined,
  ): Promise<void> {
    const record = (id: string) => txRecord(this.#store, tx, id)
    const fields = tx.docs.get(citizen)!.fields()
    const s = emptySummary()
    const refs: StoredSummary['r'] = {}
    let travelDocument: string | undefined
    // Nationality and identity: the citizen's registrations and updates folded under the rule
    // (only the nationality state changes them), not the doc's newest-wins slots.
    const identity = foldIdentity(await this.#identityRecords(tx, citizen))
    if (identity) {
      s.nationality = identity.nationality
      const p = await this.#payload(tx, await record(identity.travelDocument))
      const doc = p?.travelDocument as { number?: string } | undefined
      if (doc?.number) travelDocument = doc.number
    }
    const pres = fields.get('presence')
    if (pres) {
      const r = await record(pres)
      const p = await this.#payload(tx, r)
      if (r && p) {
        s.presence = presenceOf(r, p)
        refs.pres = pres
      }
    }
    for (const [slot, id] of fields.entries()) {
      if (slot.startsWith('welfare:')) {
        const r = await record(id)
        if (r) s.welfare[slot.slice(8)] = (r.header.body as RecordBody<'welfare.checkin'>).status
      } else if (slot.startsWith('case:')) {
        const caseId = slot.slice(5)
        const opened = await record(caseId)
        const latest = id === caseId ? opened : await record(id)
        if (opened && latest) {
          s.cases[caseId] = {
            type: (opened.header.body as RecordBody<'case.opened'>).caseType,
            state:
              latest.header.kind === 'case.transition'
                ? (latest.header.body as RecordBody<'case.transition'>).to
                : 'submitted',
            opened: opened.header.at,
            updated: latest.header.at,
          }
        }
      }
    }
    const tokens: StoredSummary['t'] = {}
    if (travelDocument) tokens.td = this.#vault.indexToken('td', travelDocument)
    if (s.presence) tokens.pres = this.#vault.indexToken('pres', s.presence.country)
    const stored: StoredSummary = {
      nationality: s.nationality,
      cases: s.cases,
      welfare: s.welfare,
      r: refs,
      t: tokens,
    }
    s.ix = indexKeysOf(citizen, stored)
    const oldIx = new Set(previous?.ix ?? [])
    const newIx = new Set(s.ix)
    for (const k of oldIx) if (!newIx.has(k)) tx.ops.push({ type: 'del', key: k })
    for (const k of newIx) if (!oldIx.has(k)) tx.ops.push({ type: 'put', key: k, value: INDEX_ROW })
    tx.ops.push({ type: 'put', key: K.summary(citizen), value: encodeSummaryRow(stored) })
    tx.summaries.set(citizen, s)
  }
}

function presenceOf(r: SignedRecord, p: Record<string, unknown>): NonNullable<CitizenSummary['presence']> {
  const b = r.header.body as RecordBody<'presence.registered'>
  return { country: p.country as string, region: p.region as string, from: b.from, until: b.until }
}

/** The citizen's registration and update records, as the identity rule reads them. */
export async function identityRecordsOf(
  ids: readonly string[],
  record: (id: string) => Promise<SignedRecord | undefined>,
): Promise<IdentityRecord[]> {
  const out: IdentityRecord[] = []
  for (const id of new Set(ids)) {
    const r = await record(id)
    if (r && (r.header.kind === 'citizen.registered' || r.header.kind === 'citizen.updated')) {
      out.push({ id, header: r.header, signer: signerOf(r) })
    }
  }
  return out
}

/** An index row holds nothing: what an index answers is in its key. */
export const INDEX_ROW = new Uint8Array(0)

/** A stored summary as the engine reads it, its personal values not read back (null). */
export function summaryOf(citizen: string, stored: StoredSummary): CitizenSummary {
  return {
    nationality: stored.nationality,
    presence: null,
    cases: stored.cases,
    welfare: stored.welfare,
    ix: indexKeysOf(citizen, stored),
  }
}

export function emptySummary(): CitizenSummary {
  return { nationality: null, presence: null, cases: {}, welfare: {}, ix: [] }
}

/** What authorization needs to see of a record accepted earlier in the same group. */
export function noteInSummary(s: CitizenSummary, id: string, h: RecordHeader): void {
  // Accepted, so allowed: a first registration, or the nationality state's own.
  if (h.kind === 'citizen.registered')
    s.nationality = (h.body as RecordBody<'citizen.registered'>).nationality
  if (h.kind === 'case.opened') {
    s.cases[id] = {
      type: (h.body as RecordBody<'case.opened'>).caseType,
      state: 'submitted',
      opened: h.at,
      updated: h.at,
    }
  }
  if (h.kind === 'case.transition') {
    const b = h.body as RecordBody<'case.transition'>
    const c = s.cases[b.case]
    if (c) s.cases[b.case] = { ...c, state: b.to, updated: h.at }
  }
}

/**
 * The local writer: records submitted by clients, verified, queued and written by group
 * commit. Everything that arrived while the previous group was being made durable goes into
 * ONE signed feed entry and ONE synced batch. A submission is acknowledged, with a signed
 * receipt, only once its batch is on disk, and its entry is handed to listeners (the mesh)
 * only then too: store before send.
 *
 * Record-time policy lives here too: a record dated too far from this node's clock is refused
 * where it is first accepted (replicas never re-check it, to converge).
 */
import {
  ALERTS_DOC,
  type Authority,
  applyLocal,
  authorizeInContext,
  type Change,
  decodeEntry,
  type Ed25519,
  type EntryBody,
  encodeCanonical,
  entryHash,
  fromHex,
  hlcTick,
  isEmptyDoc,
  type KeyPair,
  type KnownEncodings,
  MAX_CHANGES_PER_ENTRY,
  MAX_ENTRY_BYTES,
  MAX_RECORDS_PER_CHANGE,
  newDocUpdate,
  openPayload,
  ProtocolError,
  RecordError,
  recordSlots,
  type SignedRecord,
  sealEntry,
  toHex,
  unsafeDisplayText,
  type VersionVector,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { Store } from '../storage/store.ts'
import { groupContext } from './auth-context.ts'
import type { DocCache } from './doc-cache.ts'
import type { Durability } from './durability.ts'
import { hasRecords, readEntry, readRecord } from './entry-rows.ts'
import type { Projections } from './projections.ts'
import type { Receipts } from './receipts.ts'
import type { Trust } from './trust.ts'
import type { EngineObserver, EntryListener, Submission, SubmitOutcome, Verification } from './types.ts'

/** Most records in one entry; a larger group is split over several entries. */
export const DEFAULT_MAX_RECORDS_PER_ENTRY = 512
/**
 * Payload bytes one entry may carry. Payloads travel with their entry in one sync frame
 * (4 MiB at most, MAX_FRAME_BYTES): an entry (≤ 1 MiB) and its payloads must always fit.
 */
export const DEFAULT_MAX_ENTRY_PAYLOAD_BYTES = 2 * 1024 * 1024
/** Room kept in an entry for its envelope and each record's Yjs update (measured ≈ 60 B each). */
const ENTRY_MARGIN_BYTES = 64 * 1024
const UPDATE_ALLOWANCE_BYTES = 256
/**
 * How far a record's signing time (`at`) may be from this node's clock when a client submits
 * it. Ahead: a record dated in the future would win its slots over newer ones. Behind, for an
 * officer: a revoked officer's key could sign records dated before the revocation; 10 minutes
 * bounds how long that stays possible. A citizen may sign offline (a check-in in a crisis).
 */
export const DEFAULT_RECORD_MAX_AHEAD_MS = 2 * 60_000
export const DEFAULT_OFFICER_RECORD_MAX_AGE_MS = 10 * 60_000
export const DEFAULT_CITIZEN_RECORD_MAX_AGE_MS = 7 * 24 * 3_600_000

export interface LocalWriterInit {
  /** @default DEFAULT_MAX_RECORDS_PER_ENTRY */
  maxRecordsPerEntry?: number
  /** @default DEFAULT_RECORD_MAX_AHEAD_MS */
  recordMaxAheadMs?: number
  /** @default DEFAULT_OFFICER_RECORD_MAX_AGE_MS */
  officerRecordMaxAgeMs?: number
  /** @default DEFAULT_CITIZEN_RECORD_MAX_AGE_MS */
  citizenRecordMaxAgeMs?: number
}

export interface LocalWriterComponents {
  store: Store
  ed: Ed25519
  keys: KeyPair
  nodeId: string
  clientId: () => number
  clock: () => number
  trust: Trust
  durability: Durability
  docs: DocCache
  /** Summaries in memory: a group reads from the store only those it lacks. */
  projections: Pick<Projections, 'cached'>
  receipts: Receipts
  observer: EngineObserver
  recordBytes: KnownEncodings & WeakMap<object, Uint8Array>
  /** Hands a durable entry to the engine's listeners. */
  emit: EntryListener
}

/** A verified submission waiting for its group. */
interface Queued {
  queuedAt: number
  sub: Submission
  /** The record's encoded size, to fill entries up to what peers accept. */
  size: number
  /** The payload, decoded when it was checked (derived views read it). */
  payload: Record<string, unknown> | null
  id: string
  authority: Authority
  /** Whether the writer reads the receipt (a client does; a logged read does not). */
  receipt: boolean
  resolve: (o: SubmitOutcome) => void
}

export class LocalWriter {
  readonly #c: LocalWriterComponents
  readonly #maxPerEntry: number
  readonly #maxAheadMs: number
  readonly #officerMaxAgeMs: number
  readonly #citizenMaxAgeMs: number
  #queue: Queued[] = []
  #scheduled = false
  /** The last group handed to the transaction queue. */
  #last: Promise<void> = Promise.resolve()

  constructor(init: LocalWriterInit, components: LocalWriterComponents) {
    this.#c = components
    this.#maxPerEntry = init.maxRecordsPerEntry ?? DEFAULT_MAX_RECORDS_PER_ENTRY
    this.#maxAheadMs = init.recordMaxAheadMs ?? DEFAULT_RECORD_MAX_AHEAD_MS
    this.#officerMaxAgeMs = init.officerRecordMaxAgeMs ?? DEFAULT_OFFICER_RECORD_MAX_AGE_MS
    this.#citizenMaxAgeMs = init.citizenRecordMaxAgeMs ?? DEFAULT_CITIZEN_RECORD_MAX_AGE_MS
  }

  /**
   * Queues verified submissions; each resolves once durable (or refused). `receipts`: whether
   * the writer reads their receipts, whose signature is then made while the entry is synced.
   */
  enqueue(
    subs: readonly Submission[],
    verified: readonly Verification[],
    receipts = true,
  ): Promise<SubmitOutcome[]> {
    return Promise.all(
      subs.map((sub, i) => {
        const v = verified[i]!
        if (!v.ok) return this.refuse(null, v.error)
        let payload: Record<string, unknown> | null = null
        if (sub.bytes) this.#c.recordBytes.set(v.record, sub.bytes)
        try {
          this.#checkTime(v.record, v.authority)
          // Under the charter in force, whatever version the record names.
          if (v.record.cert) this.#c.trust.assertOfficerInForce(v.record.cert)
          if (v.record.header.payload !== null) {
            if (!sub.payload)
              throw new RecordError('RECORD_PAYLOAD_MISMATCH', 'the record’s payload is missing')
            payload = openPayload(v.record.header, sub.payload)
          } else if (sub.payload) {
            throw new RecordError('RECORD_PAYLOAD_MISMATCH', 'a payload was sent for a record without one')
          }
          // Text people will read, checked here and not on replicas (protocol/src/display.ts).
          const unsafe =
            unsafeDisplayText(v.record.header.body, 'body') ?? unsafeDisplayText(payload, 'payload')
          if (unsafe) {
            throw new RecordError('SCHEMA_INVALID', `${unsafe}: control or invisible characters`, {
              details: [
                `${unsafe}: must not hold control characters or characters that hide or reorder text`,
              ],
            })
          }
        } catch (err) {
          return this.refuse(v.id, err)
        }
        return new Promise<SubmitOutcome>((resolve) => {
          this.#queue.push({
            queuedAt: performance.now(),
            sub,
            size: sub.bytes?.length ?? encodeCanonical(sub.record).length,
            payload,
            id: v.id,
            authority: v.authority,
            receipt: receipts,
            resolve,
          })
          this.#schedule()
        })
      }),
    )
  }

  /** Waits until every queued record is written (or refused). */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#scheduled) await this.#last
  }

  refuse(id: string | null, err: unknown): SubmitOutcome {
    // Anything but a refusal of the record itself is this node's failure, not the client's.
    const error =
      err instanceof ProtocolError || err instanceof NodeError
        ? err
        : new NodeError('INTERNAL', 'the record could not be stored', { cause: err })
    this.#c.observer.rejected?.(error.code)
    return { ok: false, id, error }
  }

  /** Refuses a record dated too far from this node's clock. */
  #checkTime(record: SignedRecord, authority: Authority): void {
    const now = this.#c.clock()
    const at = record.header.at
    // A registration fixes a citizen's nationality: whoever signs it may date it no further back
    // than an officer (an older date would put it before the citizen's real first registration).
    const officer = authority.type === 'officer' || record.header.kind === 'citizen.registered'
    if (at > now + this.#maxAheadMs) {
      throw new RecordError('RECORD_TIME_OUT_OF_RANGE', 'the record is dated in the future')
    }
    if (at < now - (officer ? this.#officerMaxAgeMs : this.#citizenMaxAgeMs)) {
      throw new RecordError(
        'RECORD_TIME_OUT_OF_RANGE',
        `${record.header.kind === 'citizen.registered' ? 'a registration' : officer ? 'an officer’s record' : 'a citizen’s record'} dated ${Math.round((now - at) / 60_000)} minutes ago`,
      )
    }
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    this.#last = this.#c.durability.exclusive(async () => {
      this.#scheduled = false
      const group = this.#takeGroup()
      if (this.#queue.length > 0) this.#schedule()
      try {
        await this.#append(group)
      } catch (err) {
        // A storage failure: nothing of this group is acknowledged, and cached docs may be ahead of disk.
        this.#c.docs.clear()
        for (const v of group) v.resolve(this.refuse(v.id, err))
      }
    })
  }

  /**
   * The longest prefix of the queue that makes one entry every peer accepts: at most
   * MAX_RECORDS_PER_CHANGE records for one doc, MAX_CHANGES_PER_ENTRY docs, MAX_ENTRY_BYTES in
   * all, and payloads that fit one frame with it. An entry a peer refused would stop this
   * node's whole feed there (each entry chains to the previous), so this is never exceeded.
   * A prefix keeps the queue's order: a check-in never overtakes the alert it answers.
   */
  #takeGroup(): Queued[] {
    const perDoc = new Map<string, number>()
    let bytes = ENTRY_MARGIN_BYTES
    let payloadBytes = 0
    let n = 0
    for (const v of this.#queue) {
      const doc = v.sub.record.header.subject ?? ALERTS_DOC
      const inDoc = (perDoc.get(doc) ?? 0) + 1
      const b = bytes + v.size + UPDATE_ALLOWANCE_BYTES
      const pb = payloadBytes + (v.sub.payload?.length ?? 0)
      const docs = perDoc.size + (inDoc === 1 ? 1 : 0)
      const full =
        n >= this.#maxPerEntry ||
        inDoc > MAX_RECORDS_PER_CHANGE ||
        docs > MAX_CHANGES_PER_ENTRY ||
        b > MAX_ENTRY_BYTES ||
        pb > DEFAULT_MAX_ENTRY_PAYLOAD_BYTES
      if (full && n > 0) break
      perDoc.set(doc, inDoc)
      bytes = b
      payloadBytes = pb
      n++
    }
    return this.#queue.splice(0, n)
  }

  async #append(group: Queued[]): Promise<void> {
    const c = this.#c
    const tx = c.durability.newTx()
    const accepted: Queued[] = []
    const done: Array<() => void> = []
    const seenInGroup = new Set<string>()
    // The fields each doc's new records fill: applying them compares each with the record it
    // names now. A logged read fills none, so a read of a file reads no header to log it.
    const slots = new Map<string, Set<string>>()
    for (const v of group) {
      const docId = v.sub.record.header.subject ?? ALERTS_DOC
      for (const slot of recordSlots(v.sub.record.header, v.id)) {
        const set = slots.get(docId) ?? new Set<string>()
        slots.set(docId, set.add(slot))
      }
    }
    // One round of batched reads for the whole group, all at once: copies already stored, the
    // facts authorization reads, and the docs the records go to with the times of records those fields name.
    const [existing, ctx, times] = await Promise.all([
      hasRecords(
        c.store,
        group.map((v) => v.id),
      ),
      groupContext(
        c.store,
        c.trust,
        tx,
        group.map((v) => v.sub.record),
        (citizen) => c.projections.cached(citizen),
      ),
      c.docs
        .prefetch([...new Set(group.map((v) => v.sub.record.header.subject ?? ALERTS_DOC))])
        .then((docs) => c.docs.fieldTimes([...slots].map(([docId, s]) => [docs.get(docId)!, s] as const))),
    ])
    for (const [i, v] of group.entries()) {
      if (existing[i] || seenInGroup.has(v.id)) {
        done.push(() => void this.#duplicate(v))
        continue
      }
      try {
        authorizeInContext(v.sub.record, v.authority, ctx)
      } catch (err) {
        v.resolve(this.refuse(v.id, err))
        continue
      }
      seenInGroup.add(v.id)
      accepted.push(v)
      tx.records.set(v.id, { origin: c.nodeId, seq: 0, record: v.sub.record })
      if (v.sub.payload) {
        const hex = toHex(v.sub.record.header.payload!)
        tx.payloads.set(hex, v.sub.payload)
        if (v.payload) tx.decoded.set(hex, v.payload)
      }
      // Keep the context current within the group: a registration then a case, say.
      ctx.note(v.id, v.sub.record.header)
    }
    if (accepted.length === 0) {
      // A copy's receipt claims its entry is durable: answer once all before it is.
      void c.durability.durable.then(() => {
        for (const d of done) d()
      })
      return
    }
    const byDoc = new Map<string, Queued[]>()
    for (const v of accepted) {
      const doc = v.sub.record.header.subject ?? ALERTS_DOC
      const list = byDoc.get(doc) ?? []
      list.push(v)
      byDoc.set(doc, list)
    }
    const changes: Change[] = []
    for (const [docId, list] of byDoc) {
      const records = list.map((v) => ({ id: v.id, header: v.sub.record.header }))
      const timeOf = (id: string) => tx.records.get(id)?.record.header ?? times.get(id)
      let d = await c.durability.txDoc(tx, docId, c.clientId())
      // A doc not stored yet (a new citizen's) takes its first update without a Y.Doc.
      const written = d.empty && !d.decoded ? newDocUpdate(c.clientId(), records, timeOf) : undefined
      let update: Uint8Array
      if (written) {
        d.readOff(written.update, written.contents)
        update = written.update
      } else {
        d = await c.durability.txDoc(tx, docId, c.clientId(), true)
        const empty = isEmptyDoc(d.doc)
        d.changed = true
        update = applyLocal(d.doc, records, timeOf)
        d.state = empty ? update : undefined
      }
      changes.push({ doc: docId, update, records: list.map((v) => v.sub.record) })
    }
    const head = c.durability.head
    const seq = (head.vv[c.nodeId] ?? 0) + 1
    const hlc = hlcTick(head.hlc, c.clock())
    // Peers defer an entry dated outside this node's certificate: one stamped there (its clock
    // up to a drift ahead of the physical one) must not be written, or it would never spread.
    if (!c.trust.nodeValidAt(c.nodeId, hlc[0])) {
      throw new NodeError('NODE_NOT_CERTIFIED', 'this node’s certificate is not valid at its clock')
    }
    const deps: VersionVector = {}
    for (const [o, s] of Object.entries(head.vv)) if (o !== c.nodeId && s > 0) deps[o] = s
    const body: EntryBody = {
      v: 1,
      bloc: c.trust.bloc,
      origin: c.nodeId,
      seq,
      prev: head.heads[c.nodeId] ? fromHex(head.heads[c.nodeId]!) : null,
      hlc: [hlc[0], hlc[1]],
      // The version in force here: peers judge the entry and its records under it.
      charter: c.trust.charter.hash,
      deps,
      changes,
    }
    const { entry, bytes, hash: entryHashBytes } = sealEntry(c.ed, body, c.keys.secretKey, c.recordBytes)
    if (bytes.length > MAX_ENTRY_BYTES) {
      // #takeGroup's budget was wrong: refuse the group rather than store an entry peers refuse.
      throw new NodeError(
        'INTERNAL',
        `entry of ${bytes.length} bytes is over the ${MAX_ENTRY_BYTES}-byte limit`,
      )
    }
    const hash = toHex(entryHashBytes)
    for (const [id, r] of tx.records) {
      r.seq = seq
      // The fields these records now fill: this node's next write to those docs compares with
      // their times. A peer's records are not kept so (catch-up would keep one for each record),
      // nor records that fill no field (each logged read is one); a write after them reads the
      // few it needs (DocCache.fieldTimes).
      if (recordSlots(r.record.header, id).length > 0) c.docs.rememberTime(id, r.record.header.at)
    }
    tx.state.vv[c.nodeId] = seq
    tx.state.heads[c.nodeId] = hash
    tx.state.hlc = hlc
    tx.state.clocks[c.nodeId] = hlc
    tx.entries.push({ origin: c.nodeId, seq, bytes, hash: entryHashBytes, entry })
    const { durable } = await c.durability.finish(tx)
    // The receipts' signature is made while the batch is synced: one client writing one record
    // at a time would otherwise wait for it after the sync, when this thread was idle during
    // it. It is handed out only once the entry is durable.
    let sig: string | undefined
    try {
      if (accepted.some((v) => v.receipt)) sig = c.receipts.presign(c.nodeId, seq, hash)
    } catch {
      // Made when the reply reads the receipt instead, failing there as it did before: the
      // transaction is committed, and its outcome must still be answered below.
    }
    // Acknowledged, and sent to peers, only once on disk. The transaction queue is free
    // meanwhile: the next group is being built while this one is synced.
    void durable.then(
      () => {
        if (sig !== undefined) c.receipts.keep(c.nodeId, seq, sig)
        const now = performance.now()
        for (const v of accepted) {
          v.resolve({
            ok: true,
            id: v.id,
            receipt: c.receipts.receipt(v.id, c.nodeId, seq, hash),
            duplicate: false,
          })
          c.observer.writeLatency?.((now - v.queuedAt) / 1000)
        }
        c.observer.accepted?.('client', accepted.length)
        c.observer.entryAppended?.(entry)
        for (const d of done) d()
        c.emit(entry, bytes, tx.payloads, entryHashBytes)
      },
      (err: unknown) => {
        for (const v of accepted) v.resolve(this.refuse(v.id, err))
        for (const d of done) d()
      },
    )
  }

  /** A record already stored: answered with the receipt of the entry that carries it. */
  async #duplicate(v: Queued): Promise<void> {
    const c = this.#c
    const failure = c.durability.failure
    if (failure) return v.resolve(this.refuse(v.id, failure))
    const r = await readRecord(c.store, v.id)
    if (!r) return v.resolve(this.refuse(v.id, new NodeError('INTERNAL', 'a stored record vanished')))
    const entryBytes = await readEntry(c.store, r.origin, r.seq)
    const hash = entryBytes ? toHex(entryHash(decodeEntry(entryBytes).body)) : ''
    v.resolve({
      ok: true,
      id: v.id,
      receipt: c.receipts.receipt(v.id, r.origin, r.seq, hash),
      duplicate: true,
    })
  }
}

/**
 * The engine: a node's state machine.
 *
 * - Local writes: records submitted by clients are verified (outside the lock), then
 *   grouped — everything that arrived while the previous group was being made durable goes
 *   into ONE signed feed entry and ONE synced storage batch (group commit). A submission is
 *   acknowledged only after that batch is on disk, and the entry is handed to listeners
 *   (the mesh) only after that too: store before send.
 * - Remote entries: verified, applied in causal order (held until their origin's previous
 *   entry and their dependencies are here), their Yjs updates validated on throw-away copies.
 *   Two different entries for one (origin, seq) are kept as evidence and the origin is
 *   quarantined.
 * - Derived state (doc hashes, the state-root accumulator, summaries, indexes, version
 *   vector) is written in the same batch as the entry, so a restart reads it back instead
 *   of replaying history.
 */
import {
  ALERTS_DOC,
  type Authority,
  accumulate,
  applyLocal,
  authorizeInContext,
  BoundedSet,
  type CaseState,
  type CaseType,
  CertificateError,
  type CertifiedNode,
  type Change,
  type CharterView,
  compareHlc,
  copyValue,
  decodeCanonical,
  decodeEntry,
  depsSatisfied,
  docHash,
  type Ed25519,
  EMPTY_ACCUMULATOR,
  type EntryBody,
  EntryError,
  encodeCanonical,
  encodeDoc,
  entryHash,
  equalBytes,
  fromHex,
  HLC_ZERO,
  type Hlc,
  hlcReceive,
  hlcTick,
  isEquivocation,
  type KeyPair,
  type KnownEncodings,
  type KnownRecord,
  keyId,
  loadDoc,
  MAX_CHANGES_PER_ENTRY,
  MAX_ENTRY_BYTES,
  MAX_RECORDS_PER_CHANGE,
  openEntry,
  openPayload,
  ProtocolError,
  parseRevocation,
  type RecordBody,
  type RecordContext,
  RecordError,
  type RecordHeader,
  type Revocation,
  SignatureError,
  type SignedCharter,
  type SignedEntry,
  type SignedReceipt,
  type SignedRecord,
  sealEntry,
  signReceipt,
  stateRoot,
  toBase64url,
  toHex,
  utf8ToBytes,
  type VerifyContext,
  type VersionVector,
  validateRemoteUpdate,
  verifyCharterChain,
  verifyEntrySignature,
  verifyOpenedEntry,
  verifyRecord,
  verifyRevocation,
} from '@legation/protocol'
import type * as Y from 'yjs'
import type { SigCheck, Verifier } from '../crypto/verifier.ts'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import { K, seqKey } from './keys.ts'

/** The node id of a read-only engine (it authors nothing). */
export const READ_ONLY_NODE = 'read-only'

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
/** Docs kept decoded in memory. */
export const DEFAULT_DOC_CACHE = 5_000
/**
 * Remote entries held while waiting for their predecessors or dependencies, by count and by
 * bytes (a hostile peer's 1 MiB entries would otherwise pin tens of gigabytes). Past either,
 * entries are dropped and fetched again later, in order.
 */
export const DEFAULT_MAX_PENDING = 50_000
export const DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024

export interface Submission {
  readonly record: SignedRecord
  readonly payload: Uint8Array | null
  /**
   * The canonical bytes the caller decoded `record` from, if it did: the entry and the stored
   * record take them as they are instead of encoding the record again.
   */
  readonly bytes?: Uint8Array
}

/** What a node signs to say it stored a record durably, at a place in its feed. */
export interface Receipt {
  readonly record: string
  readonly node: string
  readonly origin: string
  readonly seq: number
  /** Hex hash of the entry that carries the record. */
  readonly entry: string
  /** Base64url signature of `node` over `{ node, origin, seq, entry }` (receipt domain, docs/protocol.md). */
  readonly sig: string
}

export type SubmitOutcome =
  | { readonly ok: true; readonly id: string; readonly receipt: Receipt; readonly duplicate: boolean }
  | { readonly ok: false; readonly id: string | null; readonly error: ProtocolError | NodeError }

export type RemoteResult = 'applied' | 'duplicate' | 'pending' | 'equivocation' | 'quarantined'

export interface EngineObserver {
  accepted?(source: 'client' | 'peer', n: number): void
  rejected?(code: string): void
  entryAppended?(entry: SignedEntry): void
  entryReceived?(result: RemoteResult | 'invalid'): void
  /** Seconds from a record's arrival to its durable acknowledgement. */
  writeLatency?(seconds: number): void
}

export interface EngineInit {
  store: Store
  /** The signature implementation: native in the node. */
  ed: Ed25519
  /** This node's key; omitted for a read-only engine (offline audit and replay). */
  nodeKeys?: KeyPair
  /** The charter chain, genesis first. */
  charter: readonly SignedCharter[]
  /** @default Date.now */
  clock?: () => number
  observer?: EngineObserver
  /** @default DEFAULT_MAX_RECORDS_PER_ENTRY */
  maxRecordsPerEntry?: number
  /** @default DEFAULT_DOC_CACHE */
  docCacheSize?: number
  /** Batched signature verification (worker threads); inline when omitted. */
  verifier?: Verifier
  /** Remote entries held for their predecessors, at most. @default DEFAULT_MAX_PENDING */
  maxPending?: number
  /** …and their bytes, at most. @default DEFAULT_MAX_PENDING_BYTES */
  maxPendingBytes?: number
}

/** What a received entry is, before it is verified. */
export interface EntryHead {
  readonly origin: string
  readonly seq: number
  /** The entry's hash (what a receipt signs). */
  readonly hash: Uint8Array
  /** Physical part of its hybrid logical clock, in ms. */
  readonly time: number
}

/** A remote entry decoded and verified (entry and record signatures), ready to apply. */
interface Prepared {
  readonly entry: SignedEntry
  readonly bytes: Uint8Array
  readonly hash: Uint8Array
  readonly payloads: Map<string, Uint8Array>
  /** The ids of the entry's records, in order. */
  readonly ids: readonly string[]
}

type Verification =
  | { readonly ok: true; readonly record: SignedRecord; readonly id: string; readonly authority: Authority }
  | { readonly ok: false; readonly error: ProtocolError }

function asProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError
    ? err
    : new ProtocolError('ENTRY_INVALID', 'record refused', { cause: err })
}

export interface CaseSummary {
  type: CaseType
  state: CaseState
  opened: number
  updated: number
}

/** A citizen's derived summary: what indexes and authorization read. Node-local. */
export interface CitizenSummary {
  nationality: string | null
  travelDocument: string | null
  presence: { country: string; region: string; from: number; until: number | null } | null
  cases: Record<string, CaseSummary>
  welfare: Record<string, 'safe' | 'needs-help'>
  /** Index keys this summary put, to remove them when it changes. */
  ix: string[]
}

interface PersistentState {
  vv: VersionVector
  heads: Record<string, string>
  acc: string
  hlc: Hlc
}

interface StoredRecord {
  origin: string
  seq: number
  record: SignedRecord
}

interface Verified {
  queuedAt: number
  sub: Submission
  /** The record's encoded size, to fill entries up to what peers accept. */
  size: number
  /** The payload, decoded when it was checked (derived views read it). */
  payload: Record<string, unknown> | null
  id: string
  authority: Authority
  resolve: (o: SubmitOutcome) => void
}

interface Tx {
  /** The state as this transaction leaves it: vv, heads and hlc move with every entry applied. */
  state: { vv: VersionVector; heads: Record<string, string>; hlc: Hlc }
  /** Entries this transaction stores, in order. */
  entries: Array<{ origin: string; seq: number; bytes: Uint8Array }>
  ops: BatchOp[]
  records: Map<string, StoredRecord>
  payloads: Map<string, Uint8Array>
  /** Payloads of the transaction already decoded (and checked), by digest. */
  decoded: Map<string, Record<string, unknown>>
  summaries: Map<string, CitizenSummary>
  cases: Map<string, string>
  alerts: Set<string>
  docs: Map<string, TxDoc>
  /** Remote entries applied, in order, with how many of their records were new here. */
  applied: Array<{ entry: SignedEntry; bytes: Uint8Array; accepted: number }>
  acc: Uint8Array
}

/** A doc as a transaction sees it; only changed docs are hashed and written. */
interface TxDoc {
  doc: Y.Doc
  /** Its hash before the transaction (empty for a new doc). */
  hash: Uint8Array
  changed: boolean
}

const enc = (v: unknown) => utf8ToBytes(JSON.stringify(v))
const dec = <T>(b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as T

export class Engine {
  readonly nodeId: string
  readonly #store: Store
  readonly #ed: Ed25519
  readonly #keys: KeyPair | undefined
  readonly #clock: () => number
  readonly #observer: EngineObserver
  readonly #maxPerEntry: number
  readonly #docCacheSize: number
  #charters: CharterView[]
  #chain: SignedCharter[]
  /** What is on disk: the version vector, heads and root peers and clients are told. */
  #state: PersistentState
  #acc: Uint8Array
  /**
   * What the next entry builds on: the durable state plus every transaction handed to the
   * store and not yet on disk (group commit overlaps one group's fsync with the next group).
   */
  #head: PersistentState
  #headAcc: Uint8Array
  /** Settles when everything handed to the store so far is durable (or has failed). */
  #durable: Promise<void> = Promise.resolve()
  /** Set once a write failed: the engine takes no writes until the node restarts. */
  #failure: NodeError | undefined
  readonly #docs = new Map<string, { doc: Y.Doc; hash: Uint8Array }>()
  readonly #summaries = new Map<string, CitizenSummary>()
  #lock: Promise<unknown> = Promise.resolve()
  #localQueue: Verified[] = []
  #localScheduled = false
  /** Remote entries held until their predecessor and dependencies are here, by origin and seq. */
  readonly #pending = new Map<string, Map<number, Prepared>>()
  #pendingSize = 0
  #pendingBytes = 0
  readonly #maxPending: number
  readonly #maxPendingBytes: number
  readonly #quarantined = new Map<string, number>()
  readonly #listeners = new Set<
    (entry: SignedEntry, bytes: Uint8Array, payloads: Map<string, Uint8Array>) => void
  >()
  /** Revocations by `<state>/<certId>` (the earliest one, where a state revoked twice). */
  readonly #revocations = new Map<string, Revocation>()
  readonly #verifyCtx: VerifyContext
  readonly #verifiedCerts = new BoundedSet(10_000)
  /** Canonical bytes of records submitted as bytes, until the records themselves are gone. */
  readonly #recordBytes = new WeakMap<object, Uint8Array>()
  readonly #verifier: (checks: readonly SigCheck[]) => Promise<boolean[]>
  #closed = false

  private constructor(init: EngineInit, charters: CharterView[], state: PersistentState) {
    this.#store = init.store
    this.#ed = init.ed
    this.#keys = init.nodeKeys
    this.nodeId = init.nodeKeys ? keyId(init.nodeKeys.publicKey) : READ_ONLY_NODE
    this.#clock = init.clock ?? Date.now
    this.#observer = init.observer ?? {}
    this.#maxPerEntry = init.maxRecordsPerEntry ?? DEFAULT_MAX_RECORDS_PER_ENTRY
    this.#docCacheSize = init.docCacheSize ?? DEFAULT_DOC_CACHE
    this.#maxPending = init.maxPending ?? DEFAULT_MAX_PENDING
    this.#maxPendingBytes = init.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES
    this.#charters = charters
    this.#chain = [...init.charter]
    this.#verifyCtx = {
      ed: this.#ed,
      charter: (h) => this.charterByHash(h),
      verifiedCerts: this.#verifiedCerts,
    }
    this.#verifier = init.verifier
      ? (checks) => init.verifier!.verify(checks)
      : async (checks) => checks.map((c) => this.#ed.verify(c.sig, c.message, c.key))
    this.#state = state
    this.#acc = fromHex(state.acc)
    this.#head = state
    this.#headAcc = this.#acc
  }

  /** Opens the engine over a store: reads derived state back, replays nothing. */
  static async open(init: EngineInit): Promise<Engine> {
    const stored = await init.store.get(K.charter)
    let chain = [...init.charter]
    if (stored) {
      const have = decodeCanonical(stored, 16 * 1024 * 1024) as SignedCharter[]
      if (have.length > chain.length) chain = have // amendments received earlier win over an older file
    }
    const charters = verifyCharterChain(init.ed, chain)
    const raw = await init.store.get(K.state)
    const state: PersistentState = raw
      ? dec<PersistentState>(raw)
      : { vv: {}, heads: {}, acc: toHex(EMPTY_ACCUMULATOR), hlc: HLC_ZERO }
    const engine = new Engine({ ...init, charter: chain }, charters, state)
    // A node the charter no longer certifies (its state expelled, it removed) still starts: it
    // serves what it holds and takes no writes (NODE_NOT_CERTIFIED). One never certified does not.
    if (init.nodeKeys && !charters.some((c) => c.nodes.has(engine.nodeId))) {
      throw new ProtocolError('CHARTER_INVALID', 'this node is not certified in the charter')
    }
    if (!stored || chain.length !== init.charter.length) {
      await init.store.write([{ type: 'put', key: K.charter, value: encodeCanonical(chain) }])
    }
    for await (const [, value] of init.store.range(prefixRange(K.revocations))) {
      const rev = decodeCanonical(value) as Revocation
      engine.#revocations.set(`${rev.body.state}/${rev.body.cert}`, rev)
    }
    // Quarantines outlive restarts: they are read back from the equivocation evidence.
    const prefix = K.evidence('equivocation', '')
    for await (const [key] of init.store.range(prefixRange(prefix))) {
      const [origin, seq] = key.slice(prefix.length).split('/')
      const from = Number(seq)
      if (origin && Number.isSafeInteger(from)) {
        const q = engine.#quarantined.get(origin)
        if (q === undefined || from < q) engine.#quarantined.set(origin, from)
      }
    }
    return engine
  }

  // ---- Read side ----

  get bloc(): string {
    return this.#charters[0]!.bloc
  }

  /** The current charter version. */
  get charter(): CharterView {
    return this.#charters[this.#charters.length - 1]!
  }

  get charterChain(): readonly SignedCharter[] {
    return this.#chain
  }

  get clientId(): number {
    return this.charter.nodes.get(this.nodeId)?.clientId ?? this.#selfClientId()
  }

  #selfClientId(): number {
    if (!this.#keys) return 0 // read-only: never writes a doc
    for (let i = this.#charters.length - 1; i >= 0; i--) {
      const n = this.#charters[i]!.nodes.get(this.nodeId)
      if (n) return n.clientId
    }
    throw new ProtocolError('CHARTER_INVALID', 'this node is not certified in the charter')
  }

  versionVector(): VersionVector {
    return { ...this.#state.vv }
  }

  stateRoot(): string {
    return stateRoot(this.#acc)
  }

  quarantined(): ReadonlyMap<string, number> {
    return this.#quarantined
  }

  pendingCount(): number {
    return this.#pendingSize
  }

  charterByHash(hash: string): CharterView | undefined {
    return this.#charters.find((c) => c.hash === hash)
  }

  onEntry(
    listener: (entry: SignedEntry, bytes: Uint8Array, payloads: Map<string, Uint8Array>) => void,
  ): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async getEntryBytes(origin: string, seq: number): Promise<Uint8Array | undefined> {
    return this.#store.get(K.entry(origin, seq))
  }

  /** Entries of `origin` from `fromSeq` on, in order, at most `limit`. */
  async *entries(origin: string, fromSeq: number, limit: number): AsyncIterable<Uint8Array> {
    for await (const [, v] of this.#store.range({
      gte: K.entry(origin, fromSeq),
      lt: `${K.entries(origin)}\uffff`,
      limit,
    })) {
      yield v
    }
  }

  async getRecord(id: string): Promise<StoredRecord | undefined> {
    const raw = await this.#store.get(K.record(id))
    return raw ? decodeStoredRecord(raw) : undefined
  }

  async getPayload(digest: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#store.get(K.payload(toHex(digest)))
  }

  /** Digests of payloads that stored records name but this node lacks, at most `limit`. */
  async missingPayloads(limit: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for await (const [k] of this.#store.range(prefixRange(K.missingAll, { limit }))) {
      out.push(fromHex(k.slice(K.missingAll.length)))
    }
    return out
  }

  /**
   * Stores payloads fetched by digest: each must be one a stored record names and lacks, and
   * match that record's signed digest and its kind's schema. The citizen's derived summary
   * follows (a travel document number, a presence). Answers how many were stored; the rest
   * (not missing here, or not matching) are ignored.
   */
  storePayloads(payloads: ReadonlyArray<{ d: Uint8Array; p: Uint8Array }>): Promise<number> {
    return this.#exclusive(async () => {
      const wanted = payloads.map(({ d }) => toHex(d))
      const owners = await this.#store.getMany(wanted.map(K.missing))
      const tx = this.#newTx()
      const citizens = new Set<string>()
      for (const [i, { p }] of payloads.entries()) {
        const owner = owners[i]
        if (!owner) continue
        const stored = await this.getRecord(new TextDecoder().decode(owner))
        if (!stored) continue
        try {
          openPayload(stored.record.header, p)
        } catch {
          continue // a peer's bad copy: another peer may hold the right one
        }
        tx.payloads.set(wanted[i]!, p)
        tx.ops.push({ type: 'del', key: K.missing(wanted[i]!) })
        if (stored.record.header.subject) citizens.add(stored.record.header.subject)
      }
      if (tx.payloads.size === 0) return 0
      for (const [digest, p] of tx.payloads) tx.ops.push({ type: 'put', key: K.payload(digest), value: p })
      await this.#prefetchDocs([...citizens])
      for (const c of citizens) await this.#txDoc(tx, c, this.clientId)
      const previous = await this.#summariesOf([...citizens])
      for (const c of citizens) await this.#resummarize(tx, c, previous.get(c))
      await this.#store.write(tx.ops)
      for (const [c, s] of tx.summaries) this.#cacheSummary(c, s)
      return tx.payloads.size
    })
  }

  async getSummary(citizen: string): Promise<CitizenSummary | undefined> {
    const cached = this.#summaries.get(citizen)
    if (cached) return cached
    const raw = await this.#store.get(K.summary(citizen))
    if (!raw) return undefined
    const s = dec<CitizenSummary>(raw)
    this.#cacheSummary(citizen, s)
    return s
  }

  async caseCitizen(caseId: string): Promise<string | undefined> {
    const raw = await this.#store.get(K.case(caseId))
    return raw ? new TextDecoder().decode(raw) : undefined
  }

  async hasAlert(id: string): Promise<boolean> {
    return (await this.#store.get(K.alert(id))) !== undefined
  }

  /** The doc's record ids, deduplicated. */
  async docRecords(docId: string): Promise<string[]> {
    const d = await this.#loadDoc(docId)
    return [...new Set(d.doc.getArray<string>('records').toArray())]
  }

  async docFields(docId: string): Promise<Record<string, string>> {
    const d = await this.#loadDoc(docId)
    return Object.fromEntries(d.doc.getMap<string>('fields').entries())
  }

  /** Keys of an index prefix (e.g. `ix/nat/AT/`), after `after`, at most `limit`. */
  async indexKeys(prefix: string, limit: number, after?: string): Promise<string[]> {
    const out: string[] = []
    const opts = after
      ? { gt: `${prefix}${after}`, lt: `${prefix}\uffff`, limit }
      : prefixRange(prefix, { limit })
    for await (const [k] of this.#store.range(opts)) out.push(k.slice(prefix.length))
    return out
  }

  // ---- Local writes ----

  /**
   * Verifies and accepts records from clients. Resolves per record once it is durable
   * (or refused). Records already known resolve with their original receipt.
   */
  async submit(subs: readonly Submission[]): Promise<SubmitOutcome[]> {
    const certified = this.#keys !== undefined && this.charter.nodes.has(this.nodeId)
    if (this.#closed || !certified || this.#failure) {
      // Expelled or removed by the charter: what it acknowledged could reach no other node.
      const error =
        this.#failure ?? (this.#closed ? new NodeError('SHUTTING_DOWN') : new NodeError('NODE_NOT_CERTIFIED'))
      return subs.map(() => ({ ok: false, id: null, error }))
    }
    const verified = await this.#verifyMany(subs.map((s) => s.record))
    return Promise.all(
      subs.map((sub, i) => {
        const v = verified[i]!
        if (!v.ok) return this.#refuse(null, v.error)
        let payload: Record<string, unknown> | null = null
        if (sub.bytes) this.#recordBytes.set(v.record, sub.bytes)
        try {
          this.#checkTime(v.record, v.authority)
          if (v.record.header.payload !== null) {
            if (!sub.payload)
              throw new RecordError('RECORD_PAYLOAD_MISMATCH', 'the record’s payload is missing')
            payload = openPayload(v.record.header, sub.payload)
          } else if (sub.payload) {
            throw new RecordError('RECORD_PAYLOAD_MISMATCH', 'a payload was sent for a record without one')
          }
        } catch (err) {
          return this.#refuse(v.id, err)
        }
        return new Promise<SubmitOutcome>((resolve) => {
          this.#localQueue.push({
            queuedAt: performance.now(),
            sub,
            size: sub.bytes?.length ?? encodeCanonical(sub.record).length,
            payload,
            id: v.id,
            authority: v.authority,
            resolve,
          })
          this.#scheduleLocal()
        })
      }),
    )
  }

  /** Refuses a record dated too far from this node's clock (DEFAULT_RECORD_MAX_AHEAD_MS …). */
  #checkTime(record: SignedRecord, authority: Authority): void {
    const now = this.#clock()
    const at = record.header.at
    const maxAge =
      authority.type === 'officer' ? DEFAULT_OFFICER_RECORD_MAX_AGE_MS : DEFAULT_CITIZEN_RECORD_MAX_AGE_MS
    if (at > now + DEFAULT_RECORD_MAX_AHEAD_MS) {
      throw new RecordError('RECORD_TIME_OUT_OF_RANGE', 'the record is dated in the future')
    }
    if (at < now - maxAge) {
      throw new RecordError(
        'RECORD_TIME_OUT_OF_RANGE',
        `${authority.type === 'officer' ? 'an officer' : 'a citizen'}’s record dated ${Math.round((now - at) / 60_000)} minutes ago`,
      )
    }
  }

  /**
   * Verifies many records with one batch of signature checks (on worker threads when the
   * batch is large). Each record is first checked with a deferring Ed25519 that notes every
   * (signature, message, key) it is asked about and answers "valid"; the noted checks then
   * run for real, and a record stands only if all of its checks pass. Certificates it would
   * have cached as verified are cached only then.
   */
  async #verifyMany(values: readonly unknown[]): Promise<Verification[]> {
    const pending: Array<{ result: Verification; checks: SigCheck[]; certs: string[] }> = []
    for (const value of values) {
      const checks: SigCheck[] = []
      const certs: string[] = []
      const deferred = this.#deferred(checks)
      const real = this.#verifiedCerts
      const staged = { has: (k: string) => real.has(k), add: (k: string) => void certs.push(k) } as BoundedSet
      let result: Verification
      try {
        result = {
          ok: true,
          ...verifyRecord({ ...this.#verifyCtx, ed: deferred, verifiedCerts: staged }, value, this.bloc),
        }
      } catch (err) {
        result = { ok: false, error: asProtocolError(err) }
      }
      pending.push({ result, checks, certs })
    }
    const all = pending.flatMap((p) => (p.result.ok ? p.checks : []))
    const outcomes = await this.#verifier(all)
    let k = 0
    return pending.map((p) => {
      if (!p.result.ok) return p.result
      const mine = outcomes.slice(k, k + p.checks.length)
      k += p.checks.length
      const failed = mine.indexOf(false)
      if (failed === 0)
        return {
          ok: false,
          error: new SignatureError('SIGNATURE_INVALID', 'record signature does not verify'),
        }
      if (failed > 0)
        return {
          ok: false,
          error: new ProtocolError('CERT_INVALID', 'certificate is not signed by its state key'),
        }
      for (const c of p.certs) this.#verifiedCerts.add(c)
      return p.result
    })
  }

  #refuse(id: string | null, err: unknown): SubmitOutcome {
    // Anything but a refusal of the record itself is this node's failure, not the client's.
    const error =
      err instanceof ProtocolError || err instanceof NodeError
        ? err
        : new NodeError('INTERNAL', 'the record could not be stored', { cause: err })
    this.#observer.rejected?.(error.code)
    return { ok: false, id, error }
  }

  #scheduleLocal(): void {
    if (this.#localScheduled) return
    this.#localScheduled = true
    void this.#exclusive(async () => {
      this.#localScheduled = false
      const group = this.#takeGroup()
      if (this.#localQueue.length > 0) this.#scheduleLocal()
      try {
        await this.#appendLocal(group)
      } catch (err) {
        // A storage failure: nothing of this group is acknowledged, and cached docs may be ahead of disk.
        this.#docs.clear()
        this.#summaries.clear()
        for (const v of group) v.resolve(this.#refuse(v.id, err))
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
  #takeGroup(): Verified[] {
    const perDoc = new Map<string, number>()
    let bytes = ENTRY_MARGIN_BYTES
    let payloadBytes = 0
    let n = 0
    for (const v of this.#localQueue) {
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
    return this.#localQueue.splice(0, n)
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn)
    this.#lock = run.catch(() => undefined)
    return run
  }

  async #appendLocal(group: Verified[]): Promise<void> {
    const tx = this.#newTx()
    const accepted: Verified[] = []
    const done: Array<() => void> = []
    const seenInGroup = new Set<string>()
    // One round of batched reads for the whole group, all at once: copies already stored, the
    // facts authorization reads, and the docs (with the headers they name) the records go to.
    const [existing, ctx] = await Promise.all([
      this.#store.getMany(group.map((v) => K.record(v.id))),
      this.#context(
        tx,
        group.map((v) => v.sub.record),
      ),
      this.#prefetchDocs([...new Set(group.map((v) => v.sub.record.header.subject ?? ALERTS_DOC))]),
    ])
    for (const [i, v] of group.entries()) {
      if (existing[i] !== undefined || seenInGroup.has(v.id)) {
        done.push(() => void this.#duplicate(v))
        continue
      }
      try {
        authorizeInContext(v.sub.record, v.authority, ctx)
      } catch (err) {
        v.resolve(this.#refuse(v.id, err))
        continue
      }
      seenInGroup.add(v.id)
      accepted.push(v)
      tx.records.set(v.id, { origin: this.nodeId, seq: 0, record: v.sub.record })
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
      void this.#durable.then(() => {
        for (const d of done) d()
      })
      return
    }
    const byDoc = new Map<string, Verified[]>()
    for (const v of accepted) {
      const doc = v.sub.record.header.subject ?? ALERTS_DOC
      const list = byDoc.get(doc) ?? []
      list.push(v)
      byDoc.set(doc, list)
    }
    const changes: Change[] = []
    for (const [docId, list] of byDoc) {
      const d = await this.#txDoc(tx, docId, this.clientId)
      d.changed = true
      const update = applyLocal(
        d.doc,
        list.map((v) => ({ id: v.id, header: v.sub.record.header })),
        (id) => tx.records.get(id)?.record.header ?? this.#headerSync(id),
      )
      changes.push({ doc: docId, update, records: list.map((v) => v.sub.record) })
    }
    const seq = (this.#head.vv[this.nodeId] ?? 0) + 1
    const hlc = hlcTick(this.#head.hlc, this.#clock())
    const deps: VersionVector = {}
    for (const [o, s] of Object.entries(this.#head.vv)) if (o !== this.nodeId && s > 0) deps[o] = s
    const body: EntryBody = {
      v: 1,
      bloc: this.bloc,
      origin: this.nodeId,
      seq,
      prev: this.#head.heads[this.nodeId] ? fromHex(this.#head.heads[this.nodeId]!) : null,
      hlc: [hlc[0], hlc[1]],
      deps,
      changes,
    }
    const sealed = sealEntry(this.#ed, body, this.#keys!.secretKey, this.#recordBytes)
    const { entry, bytes } = sealed
    if (bytes.length > MAX_ENTRY_BYTES) {
      // #takeGroup's budget was wrong: refuse the group rather than store an entry peers refuse.
      throw new Error(`entry of ${bytes.length} bytes is over the ${MAX_ENTRY_BYTES}-byte limit`)
    }
    const hash = toHex(sealed.hash)
    for (const r of tx.records.values()) r.seq = seq
    tx.state.vv[this.nodeId] = seq
    tx.state.heads[this.nodeId] = hash
    tx.state.hlc = hlc
    tx.entries.push({ origin: this.nodeId, seq, bytes })
    const { durable } = await this.#finishTx(tx)
    // Acknowledged, and sent to peers, only once on disk. The lock is free meanwhile: the next
    // group is being built while this one is synced.
    void durable.then(
      () => {
        const now = performance.now()
        for (const v of accepted) {
          v.resolve({
            ok: true,
            id: v.id,
            receipt: this.#receipt(v.id, this.nodeId, seq, hash),
            duplicate: false,
          })
          this.#observer.writeLatency?.((now - v.queuedAt) / 1000)
        }
        this.#observer.accepted?.('client', accepted.length)
        this.#observer.entryAppended?.(entry)
        for (const d of done) d()
        this.#emit(entry, bytes, tx.payloads)
      },
      (err: unknown) => {
        for (const v of accepted) v.resolve(this.#refuse(v.id, err))
        for (const d of done) d()
      },
    )
  }

  async #duplicate(v: Verified): Promise<void> {
    if (this.#failure) return v.resolve(this.#refuse(v.id, this.#failure))
    const r = await this.getRecord(v.id)
    if (!r) return v.resolve(this.#refuse(v.id, new ProtocolError('ENTRY_INVALID', 'record vanished')))
    const entryBytes = await this.#store.get(K.entry(r.origin, r.seq))
    const hash = entryBytes ? toHex(entryHash(decodeEntry(entryBytes).body)) : ''
    v.resolve({ ok: true, id: v.id, receipt: this.#receipt(v.id, r.origin, r.seq, hash), duplicate: true })
  }

  /**
   * A receipt for a record: this node's signature over the entry that carries it (the
   * entry commits to all its records), signed once per entry.
   */
  #receipt(record: string, origin: string, seq: number, entry: string): Receipt {
    const key = `${origin}/${seq}`
    let sig = this.#receiptSigs.get(key)
    if (!sig) {
      sig = toBase64url(this.signReceipt(origin, seq, fromHex(entry)).sig)
      this.#receiptSigs.set(key, sig)
      if (this.#receiptSigs.size > 1024) this.#receiptSigs.delete(this.#receiptSigs.keys().next().value!)
    }
    return { record, node: this.nodeId, origin, seq, entry, sig }
  }

  readonly #receiptSigs = new Map<string, string>()

  /** This node's signed statement that it stored entry (origin, seq) durably. */
  signReceipt(origin: string, seq: number, entry: Uint8Array): SignedReceipt {
    if (!this.#keys) throw new ProtocolError('ENTRY_INVALID', 'a read-only engine signs nothing')
    return signReceipt(this.#ed, { node: this.nodeId, origin, seq, entry }, this.#keys.secretKey)
  }

  #emit(entry: SignedEntry, bytes: Uint8Array, payloads: Map<string, Uint8Array>): void {
    for (const l of this.#listeners) {
      try {
        l(entry, bytes, payloads)
      } catch {
        // A listener's failure is its own; the entry is durable either way.
      }
    }
  }

  // ---- Remote entries ----

  /**
   * Applies an entry received from a peer (any origin: entries are self-authenticating).
   * `payloads` maps payload digest (hex) to bytes for the entry's records.
   * Throws a ProtocolError if the entry is invalid (the caller drops and scores the peer).
   */
  async applyRemote(bytes: Uint8Array, payloads: Map<string, Uint8Array> = new Map()): Promise<RemoteResult> {
    const [result] = await this.applyRemoteMany([bytes], payloads)
    if (result instanceof ProtocolError) throw result
    return result!
  }

  /**
   * Applies entries received together (one sync frame), in order, and answers per entry:
   * its result, or the ProtocolError that refused it (a refused entry that its origin signed
   * is kept as evidence).
   *
   * Decoding and every signature check of the frame (one batch, on worker threads when large)
   * run as soon as it arrives, while earlier frames are still being applied: the frame takes
   * its place in the engine's queue first, so frames apply in arrival order. The entries that
   * are ready then go to disk in one transaction — one synced write per frame, not per entry.
   */
  async applyRemoteMany(
    list: readonly Uint8Array[],
    payloads: Map<string, Uint8Array> = new Map(),
    /**
     * Called once the frame is decoded, before it is verified and applied: what each entry is,
     * in the frame's order (null for one that does not decode).
     */
    onRead?: (entries: ReadonlyArray<EntryHead | null>) => void,
  ): Promise<Array<RemoteResult | ProtocolError>> {
    if (this.#failure) throw this.#failure
    const prepared = this.#prepareMany(list, payloads, onRead)
    // Nothing may be left unhandled while the frame waits for its turn.
    prepared.catch(() => undefined)
    const { results, durable } = await this.#exclusive(async () => this.#applyPrepared(await prepared))
    // A result claims the entry is stored (a receipt is signed for it): only once it is durable.
    await durable
    if (this.#failure) throw this.#failure
    for (const r of results) this.#observer.entryReceived?.(r instanceof ProtocolError ? 'invalid' : r)
    return results
  }

  /** Decodes entries and verifies all their signatures, entries' and records', in one batch. */
  async #prepareMany(
    list: readonly Uint8Array[],
    payloads: Map<string, Uint8Array>,
    onRead?: (entries: ReadonlyArray<EntryHead | null>) => void,
  ): Promise<Array<Prepared | RemoteResult | ProtocolError>> {
    const out: Array<Prepared | RemoteResult | ProtocolError> = []
    const read: Array<{ i: number; o: ReturnType<typeof openEntry> }> = []
    for (const [i, bytes] of list.entries()) {
      try {
        read.push({ i, o: openEntry(bytes) })
      } catch (err) {
        out[i] = asProtocolError(err)
      }
    }
    if (onRead) {
      const heads: Array<EntryHead | null> = list.map(() => null)
      for (const { i, o } of read) {
        const b = o.entry.body
        heads[i] = { origin: b.origin, seq: b.seq, hash: o.hash, time: b.hlc[0] }
      }
      onRead(heads)
    }
    const opened: Array<{
      i: number
      entry: SignedEntry
      bytes: Uint8Array
      hash: Uint8Array
      checks: SigCheck[]
    }> = []
    for (const { i, o } of read) {
      const bytes = list[i]!
      try {
        const b = o.entry.body
        // Relays deliver most entries more than once: a byte-identical copy needs no verification.
        if (b.seq <= (this.#head.vv[b.origin] ?? 0)) {
          const mine = await this.#store.get(K.entry(b.origin, b.seq))
          if (mine && equalBytes(mine, bytes)) {
            out[i] = 'duplicate'
            continue
          }
        }
        // The entry's own signature joins the batch: checked later with the records'.
        const checks: SigCheck[] = []
        verifyOpenedEntry(this.#deferred(checks), o, this.bloc, this.#charters)
        opened.push({ i, entry: o.entry, bytes, hash: o.hash, checks })
      } catch (err) {
        // Unsigned or not by a certified node: nothing to keep as anyone's evidence.
        out[i] = asProtocolError(err)
      }
    }
    const records = opened.map((o) => o.entry.body.changes.flatMap((c) => c.records))
    const [entrySigs, verified] = await Promise.all([
      this.#verifier(opened.flatMap((o) => o.checks)),
      this.#verifyMany(records.flat()),
    ])
    let k = 0
    let e = 0
    for (const [n, o] of opened.entries()) {
      const mine = verified.slice(k, k + records[n]!.length)
      k += records[n]!.length
      const sigsOk = entrySigs.slice(e, e + o.checks.length).every(Boolean)
      e += o.checks.length
      if (!sigsOk) {
        out[o.i] = new SignatureError('SIGNATURE_INVALID', 'entry signature does not verify')
        continue
      }
      const bad = mine.find((v) => !v.ok)
      if (bad && !bad.ok) {
        // Signed by a certified node and still refused: keep it as evidence for the secretariat.
        await this.#refusedEvidence(o.bytes, o.entry.body.origin, o.entry.body.seq, o.hash, bad.error)
        out[o.i] = bad.error
        continue
      }
      out[o.i] = {
        entry: o.entry,
        bytes: o.bytes,
        hash: o.hash,
        payloads,
        ids: mine.map((v) => (v.ok ? v.id : '')),
      }
    }
    return out
  }

  /** An Ed25519 that notes each verification asked of it and answers "valid" for now. */
  #deferred(checks: SigCheck[]): Ed25519 {
    return {
      name: 'deferred',
      publicKey: (k) => this.#ed.publicKey(k),
      sign: (m, k) => this.#ed.sign(m, k),
      verify: (sig, message, key) => {
        checks.push({ sig, message, key })
        return true
      },
    }
  }

  /**
   * Applies prepared entries in order, in one transaction (under the lock). An entry applies
   * whole or not at all (see #applyToTx), so a refused one is kept as evidence and skipped,
   * and the transaction goes on with the rest.
   */
  async #applyPrepared(
    items: ReadonlyArray<Prepared | RemoteResult | ProtocolError>,
  ): Promise<{ results: Array<RemoteResult | ProtocolError>; durable: Promise<void> }> {
    const tx = this.#newTx()
    const results: Array<RemoteResult | ProtocolError> = []
    for (const item of items) {
      if (!isPrepared(item)) {
        results.push(item)
        continue
      }
      try {
        results.push(await this.#place(tx, item))
      } catch (err) {
        await this.#refused(item, err)
        results.push(asProtocolError(err))
      }
    }
    const { durable } = await this.#commitRemote(tx)
    return { results, durable }
  }

  async #refused(item: Prepared, err: unknown): Promise<void> {
    const b = item.entry.body
    await this.#refusedEvidence(item.bytes, b.origin, b.seq, item.hash, err)
  }

  /**
   * Decides what an entry is — a copy, an equivocation, held, or next in its origin's feed —
   * and applies it to the transaction when it is next, with any held entries it releases.
   */
  async #place(tx: Tx, item: Prepared): Promise<RemoteResult> {
    const b = item.entry.body
    const have = tx.state.vv[b.origin] ?? 0
    if (b.seq <= have) {
      const mine =
        tx.entries.find((e) => e.origin === b.origin && e.seq === b.seq)?.bytes ??
        (await this.#store.get(K.entry(b.origin, b.seq)))
      if (mine && !equalBytes(mine, item.bytes)) {
        const other = decodeEntry(mine)
        if (!equalBytes(entryHash(other.body), entryHash(b))) {
          await this.#recordEquivocation(other, item.entry)
          return 'equivocation'
        }
      }
      return 'duplicate'
    }
    const q = this.#quarantined.get(b.origin)
    if (q !== undefined && b.seq >= q) return 'quarantined'
    const held = this.#pending.get(b.origin)?.get(b.seq)
    if (held && !equalBytes(held.bytes, item.bytes)) {
      await this.#recordEquivocation(held.entry, item.entry)
      return 'equivocation'
    }
    if (b.seq > have + 1 || !depsSatisfied(b.deps, tx.state.vv)) {
      if (
        !held &&
        this.#pendingSize < this.#maxPending &&
        this.#pendingBytes + item.bytes.length <= this.#maxPendingBytes
      ) {
        const byOrigin = this.#pending.get(b.origin) ?? new Map<number, Prepared>()
        this.#pending.set(b.origin, byOrigin)
        // Its own copy of its bytes and decoded form: not views into the frame it came in.
        byOrigin.set(b.seq, {
          ...item,
          bytes: item.bytes.slice(),
          entry: copyValue(item.entry),
          payloads: payloadsOf(item.entry, item.payloads, { copy: true }),
        })
        this.#pendingSize++
        this.#pendingBytes += item.bytes.length
      }
      return 'pending'
    }
    await this.#applyToTx(tx, item)
    await this.#releaseHeld(tx)
    return 'applied'
  }

  /** Applies held entries that the transaction made ready (their predecessor, their deps). */
  async #releaseHeld(tx: Tx): Promise<void> {
    for (let progress = true; progress && this.#pendingSize > 0; ) {
      progress = false
      for (const [origin, bySeq] of this.#pending) {
        const have = tx.state.vv[origin] ?? 0
        for (const seq of bySeq.keys()) {
          // Held entries an earlier transaction applied.
          if (seq <= (this.#head.vv[origin] ?? 0)) this.#dropHeld(origin, seq)
        }
        const q = this.#quarantined.get(origin)
        const next = bySeq.get(have + 1)
        if (!next || (q !== undefined && have + 1 >= q) || !depsSatisfied(next.entry.body.deps, tx.state.vv))
          continue
        try {
          // Dropped from the held set once the transaction is durable (#commitRemote).
          await this.#applyToTx(tx, next)
          progress = true
        } catch (err) {
          this.#dropHeld(origin, have + 1)
          await this.#refused(next, err)
          this.#observer.entryReceived?.('invalid')
        }
      }
    }
  }

  #dropHeld(origin: string, seq: number): void {
    const bySeq = this.#pending.get(origin)
    const held = bySeq?.get(seq)
    if (held && bySeq!.delete(seq)) {
      this.#pendingSize--
      this.#pendingBytes -= held.bytes.length
    }
    if (bySeq?.size === 0) this.#pending.delete(origin)
  }

  /** Validates one ready entry and adds its records, docs and place in the feed to the transaction. */
  async #applyToTx(tx: Tx, item: Prepared): Promise<void> {
    const { entry, bytes, payloads, ids } = item
    const b = entry.body
    const prevHash = tx.state.heads[b.origin]
    if (b.seq === 1 ? b.prev !== null : b.prev === null || toHex(b.prev) !== prevHash) {
      throw new EntryError('ENTRY_CHAIN_BROKEN', 'entry does not follow its origin’s previous entry')
    }
    const origin = this.certifiedNode(b.origin)!
    const mine = new Map<string, SignedRecord>()
    const found = new Map<string, Uint8Array>()
    const decoded = new Map<string, Record<string, unknown>>()
    let n = 0
    for (const change of b.changes) {
      for (const rec of change.records) {
        const id = ids[n++]!
        if ((rec.header.subject ?? ALERTS_DOC) !== change.doc) {
          throw new EntryError('ENTRY_INVALID', 'record filed under another document')
        }
        mine.set(id, rec)
        const digest = rec.header.payload
        if (digest) {
          const hex = toHex(digest)
          const p = payloads.get(hex)
          if (p) {
            decoded.set(hex, openPayload(rec.header, p))
            found.set(hex, p)
          }
        }
      }
    }
    const known = (id: string): KnownRecord | undefined => {
      const h = mine.get(id)?.header ?? tx.records.get(id)?.record.header ?? this.#headerSync(id)
      return h ? { subject: h.subject, header: h } : undefined
    }
    // Records stored earlier (the updates may point at them): load their headers.
    await this.#prefetchDocs(b.changes.map((c) => c.doc))
    // Every change is validated before the transaction takes any of them: an entry applies whole.
    const next = new Map<TxDoc, Y.Doc>()
    for (const change of b.changes) {
      const current = await this.#txDoc(tx, change.doc, this.clientId)
      const staged = next.get(current) ?? current.doc
      const doc = validateRemoteUpdate(staged, change.doc, change.update, origin.clientId, known)
      doc.clientID = this.clientId
      next.set(current, doc)
    }
    for (const [current, doc] of next) {
      current.doc = doc
      current.changed = true
    }
    // A record relayed twice (two nodes accepted the same signed record) keeps its first place.
    const fresh = [...mine.keys()].filter((id) => !tx.records.has(id))
    const stored = await this.#store.getMany(fresh.map(K.record))
    let accepted = 0
    for (const [i, id] of fresh.entries()) {
      if (stored[i] !== undefined) continue
      const r = mine.get(id)!
      accepted++
      tx.records.set(id, { origin: b.origin, seq: b.seq, record: r })
      const h = r.header
      if (h.payload) {
        const hex = toHex(h.payload)
        const p = found.get(hex)
        if (p) {
          tx.payloads.set(hex, p)
          tx.decoded.set(hex, decoded.get(hex)!)
        }
        // Fetched by digest later (any node must serve any citizen in full).
        else tx.ops.push({ type: 'put', key: K.missing(hex), value: utf8ToBytes(id) })
      }
      if (h.kind === 'alert.issued') tx.alerts.add(id)
      if (h.kind === 'case.opened') tx.cases.set(id, h.subject!)
    }
    const hlc = hlcReceive(tx.state.hlc, b.hlc as Hlc, Math.max(this.#clock(), b.hlc[0]))
    if (compareHlc(hlc, tx.state.hlc) > 0) tx.state.hlc = hlc
    tx.state.vv[b.origin] = b.seq
    tx.state.heads[b.origin] = toHex(item.hash)
    tx.entries.push({ origin: b.origin, seq: b.seq, bytes })
    tx.applied.push({ entry, bytes, accepted })
  }

  /**
   * Hands a transaction of remote entries to the store; once it is durable, tells listeners of
   * each entry, in order. Answers when that is (with no entries: when all before is durable).
   */
  async #commitRemote(tx: Tx): Promise<{ durable: Promise<void> }> {
    if (tx.entries.length === 0) return { durable: this.#durable }
    const { durable } = await this.#finishTx(tx)
    for (const { entry } of tx.applied) this.#dropHeld(entry.body.origin, entry.body.seq)
    return {
      durable: durable.then(() => {
        for (const { accepted } of tx.applied) this.#observer.accepted?.('peer', accepted)
        for (const { entry, bytes } of tx.applied) this.#emit(entry, bytes, payloadsOf(entry, tx.payloads))
      }),
    }
  }

  /** A node as the latest charter version that certifies it has it (an expelled node included). */
  certifiedNode(nodeId: string): CertifiedNode | undefined {
    for (let i = this.#charters.length - 1; i >= 0; i--) {
      const n = this.#charters[i]!.nodes.get(nodeId)
      if (n) return n
    }
    return undefined
  }

  async #recordEquivocation(a: SignedEntry, b: SignedEntry): Promise<void> {
    const origin = a.body.origin
    const seq = a.body.seq
    const prev = this.#quarantined.get(origin)
    if (prev !== undefined && prev <= seq) return
    this.#quarantined.set(origin, seq)
    await this.#store.write([
      {
        type: 'put',
        key: K.evidence('equivocation', `${origin}/${seqKey(seq)}`),
        value: encodeCanonical({ origin, seq, a, b }),
      },
    ])
    this.#observer.rejected?.('ENTRY_EQUIVOCATION')
    const [ea, eb] = [encodeCanonical(a), encodeCanonical(b)]
    for (const l of this.#evidenceListeners) l(ea, eb)
  }

  readonly #evidenceListeners = new Set<(a: Uint8Array, b: Uint8Array) => void>()

  /** Called with both entries whenever this node finds (or learns of) an equivocation. */
  onEvidence(listener: (a: Uint8Array, b: Uint8Array) => void): () => void {
    this.#evidenceListeners.add(listener)
    return () => this.#evidenceListeners.delete(listener)
  }

  /**
   * Checks equivocation evidence gossiped by a peer: two validly signed, different entries
   * for one (origin, seq). Quarantines the origin from that seq on; throws if it is not proof.
   */
  async applyEvidence(aBytes: Uint8Array, bBytes: Uint8Array): Promise<void> {
    const a = decodeEntry(aBytes)
    const b = decodeEntry(bBytes)
    verifyEntrySignature(this.#ed, a, this.bloc, this.#charters)
    verifyEntrySignature(this.#ed, b, this.bloc, this.#charters)
    if (!isEquivocation(a, b)) throw new EntryError('ENTRY_INVALID', 'evidence is not an equivocation')
    await this.#exclusive(() => this.#recordEquivocation(a, b))
  }

  async #refusedEvidence(
    bytes: Uint8Array,
    origin: string,
    seq: number,
    hash: Uint8Array,
    err: unknown,
  ): Promise<void> {
    this.#observer.entryReceived?.('invalid')
    const code = err instanceof ProtocolError ? err.code : 'INTERNAL'
    this.#observer.rejected?.(code)
    await this.storeEvidence('refused', `${origin}/${seqKey(seq)}/${toHex(hash)}`, { code, entry: bytes })
  }

  /** Evidence of an invalid signed entry from a peer, kept for the secretariat. */
  async storeEvidence(kind: string, id: string, value: unknown): Promise<void> {
    await this.#store.write([{ type: 'put', key: K.evidence(kind, id), value: encodeCanonical(value) }])
  }

  async *evidence(limit = 1000): AsyncIterable<[string, Uint8Array]> {
    yield* this.#store.range(prefixRange('evid/', { limit }))
  }

  // ---- Transactions ----

  #newTx(): Tx {
    return {
      state: { vv: { ...this.#head.vv }, heads: { ...this.#head.heads }, hlc: this.#head.hlc },
      entries: [],
      applied: [],
      ops: [],
      records: new Map(),
      payloads: new Map(),
      decoded: new Map(),
      summaries: new Map(),
      cases: new Map(),
      alerts: new Set(),
      docs: new Map(),
      acc: this.#headAcc,
    }
  }

  async #txDoc(tx: Tx, docId: string, clientId: number): Promise<TxDoc> {
    let d = tx.docs.get(docId)
    if (!d) {
      const loaded = await this.#loadDoc(docId)
      d = { doc: loaded.doc, hash: loaded.hash, changed: false }
      d.doc.clientID = clientId
      tx.docs.set(docId, d)
    }
    return d
  }

  async #loadDoc(docId: string): Promise<{ doc: Y.Doc; hash: Uint8Array }> {
    const cached = this.#docs.get(docId)
    if (cached) return cached
    const [state, hash] = await this.#store.getMany([K.doc(docId), K.docHash(docId)])
    const entry = { doc: loadDoc(state, this.clientId, docId), hash: hash ?? new Uint8Array() }
    this.#cacheDoc(docId, entry)
    return entry
  }

  readonly #headers = new Map<string, RecordHeader>()

  /**
   * Loads docs (one batched read) and the headers of the stored records they name, so that
   * applying and validating updates can run synchronously.
   */
  async #prefetchDocs(docIds: readonly string[]): Promise<void> {
    const missing = [...new Set(docIds)].filter((id) => !this.#docs.has(id))
    if (missing.length > 0) {
      const raws = await this.#store.getMany(missing.flatMap((id) => [K.doc(id), K.docHash(id)]))
      missing.forEach((id, i) => {
        const state = raws[2 * i]
        this.#cacheDoc(id, {
          doc: loadDoc(state, this.clientId, id),
          hash: raws[2 * i + 1] ?? new Uint8Array(),
        })
      })
    }
    const need = new Set<string>()
    for (const id of docIds) {
      for (const rid of this.#docs.get(id)!.doc.getArray<string>('records').toArray()) {
        if (!this.#headers.has(rid)) need.add(rid)
      }
    }
    if (need.size === 0) return
    const ids = [...need]
    const raws = await this.#store.getMany(ids.map(K.record))
    raws.forEach((raw, i) => {
      if (raw) this.#rememberHeader(ids[i]!, decodeStoredRecord(raw).record.header)
    })
  }

  #cacheDoc(id: string, entry: { doc: Y.Doc; hash: Uint8Array }): void {
    this.#docs.delete(id)
    this.#docs.set(id, entry)
    if (this.#docs.size > this.#docCacheSize) this.#docs.delete(this.#docs.keys().next().value!)
  }

  #rememberHeader(id: string, h: RecordHeader): void {
    // A copy: the decoded header's bytes are views into its whole entry, which must not be kept.
    this.#headers.set(id, copyValue(h))
    if (this.#headers.size > 50_000) this.#headers.delete(this.#headers.keys().next().value!)
  }

  #headerSync(id: string): RecordHeader | undefined {
    return this.#headers.get(id)
  }

  /**
   * Hands a transaction to the store as one synced batch and moves the working state to it at
   * once: the next transaction builds on it while this one is synced. Answers a promise that
   * settles when it is durable (then the durable state moves too); only then may anything be
   * acknowledged or sent. A failed write stops the engine (#fail).
   */
  async #finishTx(tx: Tx): Promise<{ durable: Promise<void> }> {
    const ops = tx.ops
    for (const e of tx.entries) ops.push({ type: 'put', key: K.entry(e.origin, e.seq), value: e.bytes })
    for (const [id, r] of tx.records) {
      ops.push({ type: 'put', key: K.record(id), value: encodeStoredRecord(r, this.#recordBytes) })
      this.#rememberHeader(id, r.record.header)
    }
    for (const [digest, p] of tx.payloads) ops.push({ type: 'put', key: K.payload(digest), value: p })
    let acc = tx.acc
    const changed = [...tx.docs].filter(([, d]) => d.changed)
    const newHashes = new Map<string, Uint8Array>()
    for (const [docId, d] of changed) {
      const h = docHash(docId, d.doc)
      newHashes.set(docId, h)
      acc = accumulate(acc, docId, d.hash.length ? d.hash : undefined, h)
      ops.push({ type: 'put', key: K.doc(docId), value: encodeDoc(d.doc) })
      ops.push({ type: 'put', key: K.docHash(docId), value: h })
    }
    // Summaries and indexes follow the merged docs.
    const citizens = changed.map(([docId]) => docId).filter((d) => d !== ALERTS_DOC)
    const previous = await this.#summariesOf(citizens)
    for (const c of citizens) await this.#resummarize(tx, c, previous.get(c))
    for (const [caseId, citizen] of tx.cases)
      ops.push({ type: 'put', key: K.case(caseId), value: utf8ToBytes(citizen) })
    for (const a of tx.alerts) ops.push({ type: 'put', key: K.alert(a), value: new Uint8Array([1]) })
    const state: PersistentState = {
      vv: tx.state.vv,
      heads: tx.state.heads,
      acc: toHex(acc),
      hlc: compareHlc(tx.state.hlc, this.#head.hlc) > 0 ? tx.state.hlc : this.#head.hlc,
    }
    ops.push({ type: 'put', key: K.state, value: enc(state) })
    const written = this.#store.write(ops)
    this.#head = state
    this.#headAcc = acc
    for (const [docId, d] of changed) this.#cacheDoc(docId, { doc: d.doc, hash: newHashes.get(docId)! })
    for (const [c, s] of tx.summaries) this.#cacheSummary(c, s)
    const durable = written.then(
      () => {
        this.#state = state
        this.#acc = acc
      },
      (err: unknown) => {
        this.#fail(err)
        throw this.#failure
      },
    )
    this.#durable = durable.catch(() => undefined)
    return { durable }
  }

  /** A write failed: nothing more is written or acknowledged until the node restarts. */
  #fail(err: unknown): void {
    this.#failure ??= new NodeError('STORAGE_FAILED', undefined, { cause: err })
  }

  /** Why this engine takes no more writes (its storage failed), or undefined. */
  get failure(): NodeError | undefined {
    return this.#failure
  }

  #cacheSummary(citizen: string, s: CitizenSummary): void {
    this.#summaries.set(citizen, s)
    if (this.#summaries.size > this.#docCacheSize)
      this.#summaries.delete(this.#summaries.keys().next().value!)
  }

  // ---- Derived state: summaries and indexes ----

  async #txRecord(tx: Tx, id: string): Promise<SignedRecord | undefined> {
    return tx.records.get(id)?.record ?? (await this.getRecord(id))?.record
  }

  async #txPayload(tx: Tx, record: SignedRecord): Promise<Record<string, unknown> | undefined> {
    const digest = record.header.payload
    if (!digest) return undefined
    const hex = toHex(digest)
    const known = tx.decoded.get(hex)
    if (known) return known
    const bytes = tx.payloads.get(hex) ?? (await this.#store.get(K.payload(hex)))
    return bytes ? (decodeCanonical(bytes) as Record<string, unknown>) : undefined
  }

  /** Stored summaries of many citizens in one batched read (cache first). */
  async #summariesOf(citizens: readonly string[]): Promise<Map<string, CitizenSummary>> {
    const out = new Map<string, CitizenSummary>()
    const missing: string[] = []
    for (const c of citizens) {
      const cached = this.#summaries.get(c)
      if (cached) out.set(c, cached)
      else missing.push(c)
    }
    const raws = await this.#store.getMany(missing.map(K.summary))
    missing.forEach((c, i) => {
      const raw = raws[i]
      if (raw) out.set(c, dec<CitizenSummary>(raw))
    })
    return out
  }

  async #resummarize(tx: Tx, citizen: string, previous: CitizenSummary | undefined): Promise<void> {
    const d = tx.docs.get(citizen)!
    const fields = d.doc.getMap<string>('fields')
    const s: CitizenSummary = {
      nationality: null,
      travelDocument: null,
      presence: null,
      cases: {},
      welfare: {},
      ix: [],
    }
    const reg = fields.get('registration')
    if (reg) {
      const r = await this.#txRecord(tx, reg)
      if (r) s.nationality = (r.header.body as RecordBody<'citizen.registered'>).nationality
    }
    const td = fields.get('travelDocument')
    if (td) {
      const r = await this.#txRecord(tx, td)
      const p = r && (await this.#txPayload(tx, r))
      const doc = p?.travelDocument as { number?: string } | undefined
      if (doc?.number) s.travelDocument = doc.number
    }
    const pres = fields.get('presence')
    if (pres) {
      const r = await this.#txRecord(tx, pres)
      const p = r && (await this.#txPayload(tx, r))
      if (r && p) {
        const b = r.header.body as RecordBody<'presence.registered'>
        s.presence = {
          country: p.country as string,
          region: p.region as string,
          from: b.from,
          until: b.until,
        }
      }
    }
    for (const [slot, id] of fields.entries()) {
      if (slot.startsWith('welfare:')) {
        const r = await this.#txRecord(tx, id)
        if (r) s.welfare[slot.slice(8)] = (r.header.body as RecordBody<'welfare.checkin'>).status
      } else if (slot.startsWith('case:')) {
        const caseId = slot.slice(5)
        const opened = await this.#txRecord(tx, caseId)
        const latest = id === caseId ? opened : await this.#txRecord(tx, id)
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
    const ix: string[] = []
    if (s.nationality) ix.push(`ix/nat/${s.nationality}/${citizen}`)
    if (s.travelDocument) ix.push(`ix/td/${s.travelDocument}/${citizen}`)
    if (s.presence) ix.push(`ix/pres/${s.presence.country}/${citizen}`)
    for (const [caseId, c] of Object.entries(s.cases)) {
      ix.push(`ix/case/${c.state}/${caseId}`)
      if (s.nationality) ix.push(`ix/ncase/${s.nationality}/${c.state}/${caseId}`)
    }
    s.ix = ix
    const old = previous
    const oldIx = new Set(old?.ix ?? [])
    const newIx = new Set(ix)
    for (const k of oldIx) if (!newIx.has(k)) tx.ops.push({ type: 'del', key: k })
    for (const k of newIx)
      if (!oldIx.has(k)) tx.ops.push({ type: 'put', key: k, value: utf8ToBytes(citizen) })
    tx.ops.push({ type: 'put', key: K.summary(citizen), value: enc(s) })
    tx.summaries.set(citizen, s)
  }

  /**
   * The facts authorization reads, fetched for a whole group of records in one batch, and
   * kept current as the group's records are accepted (a registration, then its case).
   */
  async #context(
    tx: Tx,
    records: readonly SignedRecord[],
  ): Promise<RecordContext & { note(id: string, h: RecordHeader): void }> {
    const subjects = [...new Set(records.flatMap((r) => (r.header.subject ? [r.header.subject] : [])))]
    const caseRefs = [...new Set(records.flatMap((r) => caseRefOf(r.header) ?? []))]
    const alertRefs = [
      ...new Set(
        records.flatMap((r) =>
          r.header.kind === 'welfare.checkin' ? [(r.header.body as RecordBody<'welfare.checkin'>).alert] : [],
        ),
      ),
    ]
    const [sums, owners, alertMarks] = await Promise.all([
      this.#store.getMany(subjects.map(K.summary)),
      this.#store.getMany(caseRefs.map(K.case)),
      this.#store.getMany(alertRefs.map(K.alert)),
    ])
    const summaries = new Map<string, CitizenSummary>()
    subjects.forEach((c, i) => {
      const raw = sums[i]
      if (raw) summaries.set(c, dec<CitizenSummary>(raw))
    })
    const caseOwners = new Map<string, string>()
    caseRefs.forEach((c, i) => {
      const raw = owners[i]
      if (raw) caseOwners.set(c, new TextDecoder().decode(raw))
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
      revokedAt: (certId, state) => this.#revocations.get(`${state}/${certId}`)?.body.at,
      note: (id, h) => {
        if (h.kind === 'alert.issued') tx.alerts.add(id)
        if (h.kind === 'case.opened') tx.cases.set(id, h.subject!)
        if (h.subject === null) return
        const s = tx.summaries.get(h.subject) ?? structuredClone(summaries.get(h.subject)) ?? emptySummary()
        noteInSummary(s, id, h)
        tx.summaries.set(h.subject, s)
      },
    }
  }

  /** The revocations this node knows, the earliest per certificate. */
  revocations(): Revocation[] {
    return [...this.#revocations.values()]
  }

  /**
   * Adds a revocation of an officer certificate. It must be signed by the current key of the
   * member state it names (a rotated-out key revokes nothing), and counts only against that
   * state's certificates. Answers the revocation in force for that certificate and whether
   * this one changed what the node refuses (new, or earlier than the one known). Throws a
   * ProtocolError if it is not valid.
   */
  async addRevocation(value: unknown): Promise<{ added: boolean; revocation: Revocation }> {
    const rev = parseRevocation.parse(value, 'revocation') as Revocation
    if (rev.body.bloc !== this.bloc) throw new CertificateError('BLOC_MISMATCH', 'revocation of another bloc')
    // One in force from the same time or earlier makes this one moot, whatever key signed it
    // (a peer resends revocations made before a state rotated its key).
    const known = this.#revocations.get(`${rev.body.state}/${rev.body.cert}`)
    if (known && known.body.at <= rev.body.at) return { added: false, revocation: known }
    const member = this.charter.members.get(rev.body.state)
    if (!member) throw new CertificateError('CERT_INVALID', `${rev.body.state} is not a member state`)
    verifyRevocation(this.#ed, rev, member.stateKey)
    const key = `${rev.body.state}/${rev.body.cert}`
    return this.#exclusive(async () => {
      const known = this.#revocations.get(key)
      if (known && known.body.at <= rev.body.at) return { added: false, revocation: known }
      await this.#store.write([
        { type: 'put', key: K.revocation(rev.body.state, rev.body.cert), value: encodeCanonical(rev) },
      ])
      this.#revocations.set(key, rev)
      return { added: true, revocation: rev }
    })
  }

  /** Adopts a longer, valid charter chain (an amendment received from anyone). */
  async adoptCharter(chain: readonly SignedCharter[]): Promise<boolean> {
    if (chain.length <= this.#chain.length) return false
    const views = verifyCharterChain(this.#ed, chain)
    if (views[0]!.bloc !== this.bloc) throw new ProtocolError('BLOC_MISMATCH')
    for (let i = 0; i < this.#charters.length; i++) {
      if (views[i]!.hash !== this.#charters[i]!.hash) {
        throw new ProtocolError('CHARTER_CHAIN_BROKEN', 'chain does not extend ours')
      }
    }
    await this.#store.write([{ type: 'put', key: K.charter, value: encodeCanonical(chain) }])
    this.#chain = [...chain]
    this.#charters = views
    return true
  }

  /** Waits for in-flight writes, then refuses new ones. The store is the caller's to close. */
  async close(): Promise<void> {
    this.#closed = true
    while (this.#localQueue.length > 0 || this.#localScheduled) await this.#lock
    await this.#lock
    await this.#durable
  }
}

function caseRefOf(h: RecordHeader): string | undefined {
  if (h.kind === 'case.transition') return (h.body as RecordBody<'case.transition'>).case
  if (h.kind === 'document.attested') return (h.body as RecordBody<'document.attested'>).case ?? undefined
  return undefined
}

/** What authorization needs to see of a record accepted earlier in the same group. */
function noteInSummary(s: CitizenSummary, id: string, h: RecordHeader): void {
  if (h.kind === 'citizen.registered' && s.nationality === null) {
    s.nationality = (h.body as RecordBody<'citizen.registered'>).nationality
  }
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

function emptySummary(): CitizenSummary {
  return { nationality: null, travelDocument: null, presence: null, cases: {}, welfare: {}, ix: [] }
}

/** The payloads an entry's records name, out of a larger map (a frame's, a transaction's). */
function payloadsOf(
  entry: SignedEntry,
  from: Map<string, Uint8Array>,
  opts: { copy?: boolean } = {},
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>()
  for (const c of entry.body.changes) {
    for (const r of c.records) {
      if (!r.header.payload) continue
      const hex = toHex(r.header.payload)
      const p = from.get(hex)
      if (p) out.set(hex, opts.copy ? p.slice() : p)
    }
  }
  return out
}

function isPrepared(item: Prepared | RemoteResult | ProtocolError): item is Prepared {
  return typeof item === 'object' && !(item instanceof ProtocolError)
}

function encodeStoredRecord(r: StoredRecord, known: KnownEncodings): Uint8Array {
  return encodeCanonical({ origin: r.origin, seq: r.seq, record: r.record }, known)
}

function decodeStoredRecord(raw: Uint8Array): StoredRecord {
  return decodeCanonical(raw, 1024 * 1024) as StoredRecord
}

/**
 * Transactions and durability. Each transaction — a group of local records, or a frame of
 * remote entries — goes to the store as ONE synced batch with everything derived from it
 * (records, payloads, docs, summaries, indexes, the feed state), so a restart
 * reads state back instead of replaying history.
 *
 * Group commit overlaps one transaction's fsync with building the next: `head` is what the
 * next transaction builds on (every batch handed to the store), `state` what is on disk (what
 * peers and clients are told). Nothing is acknowledged or sent before its batch is durable.
 * A failed write stops the engine (fail-stop): nothing more is written until a restart.
 */
import {
  ALERTS_DOC,
  accumulate,
  compareHlc,
  createDoc,
  decodeEntry,
  EMPTY_ACCUMULATOR,
  encodeDoc,
  fromHex,
  HLC_ZERO,
  type Hlc,
  loadDoc,
  toHex,
  utf8ToBytes,
} from '@legation/protocol'
import { Mutex } from 'async-mutex'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { decodeJson, decodeText, encodeJson } from './codec.ts'
import type { DocCache } from './doc-cache.ts'
import { docPlaces, putEntryRows, putRecordRefs, readEntry, readRecord } from './entry-rows.ts'
import type { FeedTrees } from './feed-trees.ts'
import { K } from './keys.ts'
import { INDEX_ROW, type Projections } from './projections.ts'
import { newTx, type Tx, TxDoc, txRecord } from './tx.ts'
import type { PersistentState } from './types.ts'
import type { Vault } from './vault.ts'

/** Payloads of these kinds are kept for the retention period only (`retentionMs`). */
export const RETAINED_KINDS: ReadonlySet<string> = new Set(['presence.registered', 'welfare.checkin'])

export interface DurabilityComponents {
  /**
   * How long payloads of RETAINED_KINDS are kept after their record was signed (0: for ever):
   * older ones are erased by `sweepRetention` and never stored again.
   */
  retentionMs?: number
  clock?: () => number
  store: Store
  /** Seals payloads and derived personal values at rest; erases citizens. */
  vault: Vault
  /** The feeds' Merkle trees, extended with every transaction's entries. */
  trees: FeedTrees
  docs: DocCache
  projections: Projections
}

export class Durability {
  readonly #store: Store
  readonly #vault: Vault
  readonly #retentionMs: number
  readonly #clock: () => number
  readonly #docs: DocCache
  readonly #projections: Projections
  readonly #trees: FeedTrees
  /** One transaction is built at a time; the store syncs the previous one meanwhile. */
  readonly #mutex = new Mutex()
  #state: PersistentState = { vv: {}, heads: {}, acc: toHex(EMPTY_ACCUMULATOR), hlc: HLC_ZERO }
  #acc: Uint8Array = EMPTY_ACCUMULATOR
  #head: PersistentState = this.#state
  #headAcc: Uint8Array = EMPTY_ACCUMULATOR
  /** Settles when everything handed to the store so far is durable (or has failed). */
  #durable: Promise<void> = Promise.resolve()
  #failure: NodeError | undefined

  constructor(components: DurabilityComponents) {
    this.#store = components.store
    this.#vault = components.vault
    this.#retentionMs = components.retentionMs ?? 0
    this.#clock = components.clock ?? Date.now
    this.#docs = components.docs
    this.#projections = components.projections
    this.#trees = components.trees
  }

  /** Where personal data is sealed: rebuild and fetched payloads seal through it too. */
  get vault(): Vault {
    return this.#vault
  }

  /** Reads the feed state back from the store. */
  async load(): Promise<void> {
    const raw = await this.#store.get(K.state)
    if (!raw) return
    this.#state = decodeJson<PersistentState>(raw)
    // A store written before origins' clocks were kept: read each origin's last entry, so the
    // rule that an origin's clock increases holds from the first entry received after it.
    if (!this.#state.clocks) {
      const clocks: Record<string, Hlc> = {}
      for (const [origin, seq] of Object.entries(this.#state.vv)) {
        const bytes = await readEntry(this.#store, origin, seq)
        if (bytes) clocks[origin] = decodeEntry(bytes).body.hlc as Hlc
      }
      this.#state = { ...this.#state, clocks }
    }
    // Each feed's tree: its right edge read back, or built once for an older store.
    await this.#trees.load(this.#state.vv)
    this.#acc = fromHex(this.#state.acc)
    this.#head = this.#state
    this.#headAcc = this.#acc
  }

  /**
   * Forgets the feed state and every cached doc and summary (their stored keys are the caller's
   * to delete), so that the feeds can be applied again from the first entry (rebuild.ts). Feeds
   * closed stay closed: the void entries that closed them may be gone from the store.
   */
  reset(): void {
    const closed = this.#state.closed ?? {}
    this.#state = { vv: {}, heads: {}, acc: toHex(EMPTY_ACCUMULATOR), hlc: HLC_ZERO, closed }
    this.#acc = EMPTY_ACCUMULATOR
    this.#head = this.#state
    this.#headAcc = this.#acc
    this.#trees.reset()
    this.#docs.clear()
    this.#projections.clear()
  }

  /** What is on disk: the version vector, heads and root that peers and clients are told. */
  get state(): PersistentState {
    return this.#state
  }

  get acc(): Uint8Array {
    return this.#acc
  }

  /** What the next transaction builds on: the durable state plus every batch not yet synced. */
  get head(): PersistentState {
    return this.#head
  }

  /** Why the engine takes no more writes (its storage failed), or undefined. */
  get failure(): NodeError | undefined {
    return this.#failure
  }

  /** Settles once everything handed to the store so far is durable (never rejects). */
  get durable(): Promise<void> {
    return this.#durable
  }

  /** Runs `fn` alone: transactions are built one at a time, in the order they asked. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.runExclusive(fn)
  }

  /** Waits until no transaction is being built and everything handed over is durable. */
  async idle(): Promise<void> {
    await this.#mutex.waitForUnlock()
    await this.#durable
  }

  newTx(): Tx {
    return newTx(this.#head, this.#headAcc)
  }

  /**
   * Hands a transaction to the store as one synced batch and moves `head` to it at once.
   * Answers a promise that settles when it is durable (then `state` moves too); only then may
   * anything be acknowledged or sent. A failed write stops the engine.
   */
  async finish(tx: Tx): Promise<{ durable: Promise<void> }> {
    const ops = tx.ops
    const changed = [...tx.docs].filter(([, d]) => d.changed)
    // A doc whose state is one change's update is stored as that update's place in its entry.
    const states = new Set(changed.flatMap(([, d]) => (d.state ? [d.state] : [])))
    const places = new Map<Uint8Array, Uint8Array>()
    for (const e of tx.entries) {
      const starts = putEntryRows(ops, e.origin, e.seq, e.bytes)
      if (states.size > 0) docPlaces(places, e, starts, states)
    }
    const trees = this.#trees.extend(tx.entries, ops)
    putRecordRefs(ops, tx.entries, tx.records)
    await this.#erasures(tx)
    await this.sealPayloads(tx)
    let acc = tx.acc
    const docRows = new Map<TxDoc, { hash: Uint8Array; bytes: number }>()
    for (const [docId, d] of changed) {
      // A writer takes a doc of its own (txDoc with write): the shared one stays empty for all.
      if (d.decoded === this.#docs.empty) throw new Error(`doc ${docId} changed on the shared empty doc`)
      const h = d.hashNow(docId)
      const state = d.state ?? encodeDoc(d.doc)
      docRows.set(d, { hash: h, bytes: state.length })
      acc = accumulate(acc, docId, d.hash.length ? d.hash : undefined, h)
      ops.push({ type: 'put', key: K.doc(docId), value: (d.state && places.get(d.state)) || state })
    }
    // Summaries and indexes follow the merged docs — but for docs only a logged read changed:
    // an access.logged record sets no field, so their summaries stay as they are. A logged read
    // is listed under its citizen, so that the file is read without its reads (views.ts).
    const onlyReads = new Set<string>()
    const other = new Set<string>()
    for (const [id, { record }] of tx.records) {
      const s = record.header.subject
      if (!s) continue
      if (record.header.kind === 'access.logged') {
        onlyReads.add(s)
        ops.push({ type: 'put', key: K.accessLog(s, id), value: INDEX_ROW })
      } else {
        other.add(s)
      }
    }
    const unchanged = (d: string) => onlyReads.has(d) && !other.has(d)
    // What the authorization context noted of those is not a summary to cache.
    for (const d of onlyReads) if (unchanged(d)) tx.summaries.delete(d)
    await this.#projections.update(
      tx,
      changed.map(([docId]) => docId).filter((d) => d !== ALERTS_DOC && !unchanged(d)),
    )
    for (const [caseId, citizen] of tx.cases)
      ops.push({ type: 'put', key: K.case(caseId), value: utf8ToBytes(citizen) })
    for (const a of tx.alerts) ops.push({ type: 'put', key: K.alert(a), value: new Uint8Array([1]) })
    const state: PersistentState = {
      vv: tx.state.vv,
      heads: tx.state.heads,
      acc: toHex(acc),
      hlc: compareHlc(tx.state.hlc, this.#head.hlc) > 0 ? tx.state.hlc : this.#head.hlc,
      clocks: tx.state.clocks,
      charters: tx.state.charters,
      closed: tx.state.closed,
    }
    ops.push({ type: 'put', key: K.state, value: encodeJson(state) })
    const written = this.#store.write(ops)
    this.#vault.handed(ops)
    this.#trees.commit(trees)
    this.#head = state
    this.#headAcc = acc
    for (const [docId, d] of changed) {
      const { hash, bytes } = docRows.get(d)!
      // A doc read off its update is cached as that update, decoded if it is used again.
      if (d.decoded) this.#docs.set(docId, { doc: d.decoded, hash, bytes })
      else this.#docs.setState(docId, d.state!, hash)
    }
    this.#projections.remember(tx)
    const durable = written.then(
      () => {
        this.#state = state
        this.#acc = acc
      },
      (err: unknown) => {
        this.fail(err)
        throw this.#failure
      },
    )
    // Once the keys are wrapped anew, the ring's retired keys are destroyed (`idle` waits).
    const settled = tx.erased.size > 0 ? durable.then(() => this.#vault.retire()) : durable
    this.#durable = settled.catch(() => undefined)
    return { durable }
  }

  /**
   * Puts the transaction's payloads sealed under their citizens' keys. A payload of an erased
   * citizen is not stored, and no longer wanted from peers: no peer can bring it back.
   */
  async sealPayloads(tx: Tx): Promise<void> {
    const owners = new Map(tx.owners)
    const subjects: string[] = []
    // Records of citizens erased earlier, relayed late: their payloads are never fetched.
    const lateForErased: string[] = []
    for (const [id, { record }] of tx.records) {
      const h = record.header
      if (h.subject) subjects.push(h.subject)
      if (!h.payload) continue
      const hex = toHex(h.payload)
      owners.set(hex, { id, header: h })
      if (h.subject && !tx.payloads.has(hex) && this.#vault.isErased(h.subject)) lateForErased.push(hex)
    }
    for (const hex of lateForErased) tx.ops.push({ type: 'del', key: K.missing(hex) })
    await this.#vault.prefetch(subjects)
    const cutoff = this.#retentionMs > 0 ? this.#clock() - this.#retentionMs : undefined
    for (const [digest, p] of tx.payloads) {
      const owner = owners.get(digest)
      if (owner === undefined) continue
      const retained = RETAINED_KINDS.has(owner.header.kind) && owner.header.subject !== null
      // Past its retention period already (a stale peer's copy): erased here, never stored.
      const expired = retained && cutoff !== undefined && owner.header.at < cutoff
      const sealed = expired
        ? undefined
        : await this.#vault.sealPayload(owner.header.subject, digest, p, tx.ops)
      if (!sealed) {
        tx.ops.push({ type: 'del', key: K.missing(digest) })
        continue
      }
      tx.ops.push({ type: 'put', key: K.payload(digest), value: sealed })
      if (retained) {
        tx.ops.push({
          type: 'put',
          key: K.retained(owner.header.at, digest),
          value: utf8ToBytes(`${owner.header.subject} ${owner.id}`),
        })
      }
    }
  }

  /**
   * Applies the erasure records of the transaction: the citizen's key is destroyed and every
   * payload of theirs deleted in the same batch; summaries and indexes follow (projections).
   */
  async #erasures(tx: Tx): Promise<void> {
    for (const [id, { record }] of tx.records) {
      if (record.header.kind !== 'citizen.erased') continue
      const citizen = record.header.subject!
      tx.erased.add(citizen)
      // The vault reads its keys by range, which sees only what is durable.
      await this.#durable
      await this.#vault.erase(citizen, id, tx.ops)
      this.#projections.forget(citizen)
      const ids =
        tx.docs.get(citizen)?.records() ??
        (await this.#docs.load(citizen)).doc.getArray<string>('records').toArray()
      for (const rid of new Set(ids)) {
        const r = await txRecord(this.#store, tx, rid)
        const digest = r?.header.payload
        if (!digest) continue
        const hex = toHex(digest)
        tx.payloads.delete(hex)
        tx.ops.push({ type: 'del', key: K.payload(hex) }, { type: 'del', key: K.missing(hex) })
      }
    }
  }

  /**
   * Erases the payloads of presence registrations and crisis check-ins signed more than the
   * retention period before `now` — but a presence still in force (the one the citizen's doc
   * names, open-ended or ending later). Answers how many were erased. The signed records stay.
   */
  async sweepRetention(now = this.#clock(), limit = 10_000): Promise<number> {
    if (this.#retentionMs <= 0) return 0
    return this.exclusive(async () => {
      const ops: BatchOp[] = []
      let erased = 0
      const range = { gte: K.retainedAll, lt: K.retainedBefore(now - this.#retentionMs), limit }
      for await (const [key, value] of this.#store.range(range)) {
        const [citizen, id] = decodeText(value).split(' ') as [string, string]
        const fields = (await this.#docs.load(citizen)).doc.getMap<string>('fields')
        if (fields.get('presence') === id) {
          const stored = await readRecord(this.#store, id)
          const until = stored && (stored.record.header.body as { until: number | null }).until
          if (until === null || (typeof until === 'number' && until > now)) continue
        }
        const digest = key.slice(key.lastIndexOf('/') + 1)
        ops.push({ type: 'del', key: K.payload(digest) }, { type: 'del', key })
        erased++
      }
      if (ops.length > 0) await this.#store.write(ops)
      return erased
    })
  }

  /** A write failed: nothing more is written or acknowledged until the node restarts. */
  fail(err: unknown): void {
    this.#failure ??=
      err instanceof NodeError && err.code === 'REBUILD_LOST_OWN_ENTRIES'
        ? err
        : new NodeError('STORAGE_FAILED', undefined, { cause: err })
  }

  /**
   * A transaction's doc, loaded (and cached) on first use, with this node's client id. A doc not
   * stored yet is the cache's shared empty doc (`DocCache.empty`), to be read only: `write` asks
   * for one this transaction may write to.
   */
  async txDoc(tx: Tx, docId: string, clientId: number, write = false): Promise<TxDoc> {
    let d = tx.docs.get(docId)
    if (!d) {
      const loaded = await this.#docs.load(docId)
      const empty = this.#docs.empty
      d = new TxDoc(
        loaded.hash,
        loaded.bytes > 0,
        () => {
          const doc = loaded.doc
          if (doc !== empty) doc.clientID = clientId
          return doc
        },
        (state) => loadDoc(state, clientId, docId),
      )
      tx.docs.set(docId, d)
    }
    if (write && d.doc === this.#docs.empty) d.doc = createDoc(clientId, docId)
    return d
  }
}

/**
 * Remote application: entries received from peers (any origin — entries are
 * self-authenticating, so any node may relay any other's).
 *
 * A frame is decoded and every signature in it (entries' and records') checked in one batch
 * as soon as it arrives, while earlier frames are still being applied; it takes its place in
 * the transaction queue first, so frames apply in arrival order. Each entry is then a copy,
 * an equivocation, held (its predecessor or dependencies are not here yet), or next in its
 * origin's feed: applied whole or not at all, its Yjs updates validated on staged copies of
 * the docs. The ready entries of a frame go to disk in one transaction.
 */
import {
  ALERTS_DOC,
  compareHlc,
  DEFAULT_MAX_DRIFT_MS,
  type DocContents,
  decodeEntry,
  depsSatisfied,
  type Ed25519,
  EntryError,
  entryCharter,
  entryHash,
  equalBytes,
  type Hlc,
  hlcReceive,
  isEmptyDoc,
  type KnownEncodings,
  type KnownRecord,
  loadDoc,
  newDocContents,
  openEntry,
  openPayload,
  ProtocolError,
  recordEncodings,
  SignatureError,
  type SignedRecord,
  toHex,
  utf8ToBytes,
  validateRemoteUpdate,
  verifyOpenedEntry,
  withdrawnAt,
} from '@legation/protocol'
import type * as Y from 'yjs'
import type { SigCheck } from '../crypto/verifier.ts'
import type { Store } from '../storage/store.ts'
import type { BatchVerifier } from './batch-verifier.ts'
import { payloadsOf } from './codec.ts'
import type { DocCache } from './doc-cache.ts'
import type { Durability } from './durability.ts'
import { hasRecords, readEntry } from './entry-rows.ts'
import type { Evidence } from './evidence.ts'
import type { HeldEntries } from './held-entries.ts'
import { K } from './keys.ts'
import type { Trust } from './trust.ts'
import type { Tx, TxDoc } from './tx.ts'
import {
  asProtocolError,
  type EngineObserver,
  type EntryHead,
  type EntryListener,
  type Prepared,
  type RemoteResult,
} from './types.ts'

export interface RemoteApplierInit {
  /**
   * How far ahead of this node's clock an entry's clock may be. Further ahead, it waits: one
   * node with a runaway clock must not drag every node's clock forward (docs/protocol.md § HLC).
   * @default DEFAULT_MAX_DRIFT_MS
   */
  maxClockDriftMs?: number
}

export interface RemoteApplierComponents {
  store: Store
  ed: Ed25519
  clock: () => number
  clientId: () => number
  trust: Trust
  durability: Durability
  docs: DocCache
  held: HeldEntries
  evidence: Evidence
  verify: BatchVerifier
  observer: EngineObserver
  emit: EntryListener
}

type Item = Prepared | RemoteResult | ProtocolError

/** A doc's change validated, waiting for the whole entry: a Y.Doc, or contents read off a first update. */
type Staged =
  | { doc: Y.Doc; state: Uint8Array | undefined; contents?: undefined }
  | { doc?: undefined; state: Uint8Array; contents: DocContents }

export class RemoteApplier {
  readonly #c: RemoteApplierComponents
  /** Settles when the last frame received is verified and has queued for its transaction. */
  #order: Promise<void> = Promise.resolve()
  readonly #maxDriftMs: number

  constructor(init: RemoteApplierInit, components: RemoteApplierComponents) {
    this.#c = components
    this.#maxDriftMs = init.maxClockDriftMs ?? DEFAULT_MAX_DRIFT_MS
  }

  /** Whether an entry's clock is too far ahead of this node's to apply it now. */
  #early(item: Prepared): boolean {
    return item.entry.body.hlc[0] - this.#c.clock() > this.#maxDriftMs
  }

  /**
   * Applies entries received together (one sync frame), in order, and answers per entry: its
   * result, or the ProtocolError that refused it. `onRead` is told what each entry is as soon
   * as the frame is decoded (null for one that does not decode).
   */
  async applyMany(
    list: readonly Uint8Array[],
    payloads: Map<string, Uint8Array>,
    onRead?: (entries: ReadonlyArray<EntryHead | null>) => void,
  ): Promise<Array<RemoteResult | ProtocolError>> {
    const c = this.#c
    if (c.durability.failure) throw c.durability.failure
    const prepared = this.#prepare(list, payloads, onRead)
    // Nothing may be left unhandled while the frame waits for its turn.
    prepared.catch(() => undefined)
    // Frames join the transaction queue in the order they came, each once its signatures are
    // checked: holding the queue while a frame was verified made local writes (and every later
    // frame) wait for checks that need no transaction. The next frame's turn is chained after
    // this one's, and this one's call to the queue is registered first, so it queues first.
    const turn = this.#order
      .then(() => prepared)
      .then(
        () => undefined,
        () => undefined,
      )
    const applied = turn.then(() => c.durability.exclusive(async () => this.#applyPrepared(await prepared)))
    this.#order = turn
    const { results, durable } = await applied
    // A result claims the entry is stored (a receipt is signed for it): only once it is durable.
    await durable
    if (c.durability.failure) throw c.durability.failure
    for (const r of results) c.observer.entryReceived?.(r instanceof ProtocolError ? 'invalid' : r)
    return results
  }

  /** Decodes entries and verifies all their signatures, entries' and records', in one batch. */
  async #prepare(
    list: readonly Uint8Array[],
    payloads: Map<string, Uint8Array>,
    onRead?: (entries: ReadonlyArray<EntryHead | null>) => void,
  ): Promise<Item[]> {
    const c = this.#c
    const out: Item[] = []
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
      o: ReturnType<typeof openEntry>
      bytes: Uint8Array
      checks: SigCheck[]
    }> = []
    for (const { i, o } of read) {
      // The entry's own copy of its bytes (openEntry's), not a view into the frame.
      const bytes = o.bytes
      try {
        const b = o.entry.body
        // Relays deliver most entries more than once: a byte-identical copy needs no verification.
        if (b.seq <= (c.durability.head.vv[b.origin] ?? 0)) {
          const mine = await readEntry(c.store, b.origin, b.seq)
          if (mine && equalBytes(mine, bytes)) {
            out[i] = 'duplicate'
            continue
          }
        }
        // It names a charter version not known here: the amendment (that admits its node,
        // renews it, or rotates a key) has not reached this node yet. Not applied now, not held
        // against the sender; asked for again later.
        if (!entryCharter(b, c.trust.versions)) {
          out[i] = 'deferred'
          continue
        }
        // The entry's own signature joins the batch: checked later with the records'.
        const checks: SigCheck[] = []
        verifyOpenedEntry(c.verify.deferred(checks), o, c.trust.bloc, c.trust.versions)
        opened.push({ i, o, bytes, checks })
      } catch (err) {
        // Unsigned or not by a certified node: nothing to keep as anyone's evidence.
        out[i] = asProtocolError(err)
      }
    }
    const records = opened.map(({ o }) => o.entry.body.changes.flatMap((ch) => ch.records))
    // Headers and certificates are hashed and checked as the entry's bytes hold them.
    const known: KnownEncodings = new WeakMap()
    for (const { o, bytes } of opened) recordEncodings(o.entry, bytes, known)
    const [entrySigs, verified] = await Promise.all([
      c.verify.check(opened.flatMap((o) => o.checks)),
      c.verify.records(records.flat(), undefined, known),
    ])
    let k = 0
    let e = 0
    for (const [n, { i, o, bytes, checks }] of opened.entries()) {
      const mine = verified.slice(k, k + records[n]!.length)
      k += records[n]!.length
      const sigsOk = entrySigs.slice(e, e + checks.length).every(Boolean)
      e += checks.length
      if (!sigsOk) {
        out[i] = new SignatureError('SIGNATURE_INVALID', 'entry signature does not verify')
        continue
      }
      const bad = mine.find((v) => !v.ok)
      if (bad && !bad.ok) {
        // Signed by a certified node and still refused: keep it as evidence for the secretariat.
        await c.evidence.refused(bytes, o.entry.body.origin, o.entry.body.seq, o.hash, bad.error)
        out[i] = bad.error
        continue
      }
      out[i] = { entry: o.entry, bytes, hash: o.hash, payloads, ids: mine.map((v) => (v.ok ? v.id : '')) }
    }
    return out
  }

  /**
   * Applies prepared entries in order, in one transaction (inside the transaction queue). A
   * refused entry is kept as evidence and skipped; the transaction goes on with the rest.
   */
  async #applyPrepared(
    items: readonly Item[],
  ): Promise<{ results: Array<RemoteResult | ProtocolError>; durable: Promise<void> }> {
    const tx = this.#c.durability.newTx()
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
    const { durable } = await this.#commit(tx)
    return { results, durable }
  }

  #refused(item: Prepared, err: unknown): Promise<void> {
    const b = item.entry.body
    return this.#c.evidence.refused(item.bytes, b.origin, b.seq, item.hash, err)
  }

  /**
   * Decides what an entry is — a copy, an equivocation, held, or next in its origin's feed —
   * and applies it to the transaction when it is next, with any held entries it releases.
   */
  async #place(tx: Tx, item: Prepared): Promise<RemoteResult> {
    const c = this.#c
    const b = item.entry.body
    const have = tx.state.vv[b.origin] ?? 0
    if (b.seq <= have) {
      const mine =
        tx.entries.find((e) => e.origin === b.origin && e.seq === b.seq)?.bytes ??
        (await readEntry(c.store, b.origin, b.seq))
      if (mine && !equalBytes(mine, item.bytes)) {
        const other = decodeEntry(mine)
        if (!equalBytes(entryHash(other.body), entryHash(b))) {
          await c.evidence.equivocation(other, item.entry)
          return 'equivocation'
        }
      }
      return 'duplicate'
    }
    if (c.evidence.blocked(b.origin, b.seq, toHex(item.hash))) return 'quarantined'
    if (await this.#withdrawn(tx, item)) return 'withdrawn'
    // Stamped too far ahead: not applied now, not held against anyone.
    if (this.#early(item)) return 'deferred'
    const held = c.held.get(b.origin, b.seq)
    if (held && !equalBytes(held.bytes, item.bytes)) {
      await c.evidence.equivocation(held.entry, item.entry)
      return 'equivocation'
    }
    // Next in its feed but chained to another entry than the one held here at seq − 1: its origin
    // forked its feed before this entry. Not the relay's fault; the other version is asked for
    // (catch-up), which proves the fork (an equivocation) and lets it heal.
    if (b.seq === have + 1 && b.seq > 1 && b.prev !== null && toHex(b.prev) !== tx.state.heads[b.origin]) {
      return 'forked'
    }
    if (b.seq > have + 1 || !depsSatisfied(b.deps, tx.state.vv, this.#ends(tx))) {
      c.held.hold(item)
      return 'pending'
    }
    await this.#applyToTx(tx, item)
    await this.#releaseHeld(tx)
    return 'applied'
  }

  /**
   * Whether the entry was signed after a charter amendment removed its node (docs/protocol.md
   * § Charter versions): void on every node that knows the amendment, whichever peer relayed
   * it — the relay may not have had the amendment yet, so it is not blamed. The first such
   * entry next in its feed closes the feed there for good (kept as evidence): entries that
   * depend on later ones are applied on what is held, so the bloc does not wait on them.
   */
  async #withdrawn(tx: Tx, item: Prepared): Promise<boolean> {
    const c = this.#c
    const b = item.entry.body
    const closed = tx.state.closed[b.origin]
    if (closed !== undefined) return b.seq > closed
    if (withdrawnAt(b, c.trust.versions) === undefined) return false
    if (b.seq === (tx.state.vv[b.origin] ?? 0) + 1) {
      tx.state.closed[b.origin] = b.seq - 1
      c.held.dropThrough(b.origin, Number.MAX_SAFE_INTEGER)
      await this.#refused(item, new EntryError('ENTRY_AUTHORITY_WITHDRAWN'))
    }
    return true
  }

  /** Where feeds end early: closed by an amendment, or cut after an equivocation. */
  #ends(tx: Tx): Record<string, number> {
    const cuts = this.#c.evidence.cuts()
    return Object.keys(cuts).length === 0 ? tx.state.closed : { ...tx.state.closed, ...cuts }
  }

  /** Applies held entries that the transaction made ready (their predecessor, their deps). */
  async #releaseHeld(tx: Tx): Promise<void> {
    const c = this.#c
    for (let progress = true; progress && c.held.size > 0; ) {
      progress = false
      for (const [origin, bySeq] of [...c.held.origins()]) {
        // Held entries an earlier transaction applied.
        c.held.dropThrough(origin, c.durability.head.vv[origin] ?? 0)
        const have = tx.state.vv[origin] ?? 0
        const next = bySeq.get(have + 1)
        if (
          !next ||
          c.evidence.blocked(origin, have + 1, toHex(next.hash)) ||
          !depsSatisfied(next.entry.body.deps, tx.state.vv, this.#ends(tx))
        )
          continue
        try {
          // Dropped from the held set once the transaction is handed to the store (#commit).
          await this.#applyToTx(tx, next)
          progress = true
        } catch (err) {
          c.held.drop(origin, have + 1)
          await this.#refused(next, err)
          c.observer.entryReceived?.('invalid')
        }
      }
    }
  }

  /** Validates one ready entry and adds its records, docs and place in the feed to the transaction. */
  async #applyToTx(tx: Tx, item: Prepared): Promise<void> {
    const c = this.#c
    const { entry, bytes, payloads, ids } = item
    const b = entry.body
    const prevHash = tx.state.heads[b.origin]
    if (b.seq === 1 ? b.prev !== null : b.prev === null || toHex(b.prev) !== prevHash) {
      throw new EntryError('ENTRY_CHAIN_BROKEN', 'entry does not follow its origin’s previous entry')
    }
    const origin = c.trust.certifiedNode(b.origin)!
    const last = tx.state.clocks[b.origin]
    if (last && compareHlc(b.hlc as Hlc, last) <= 0) {
      throw new EntryError('ENTRY_INVALID', 'an origin’s entry clock must increase from entry to entry')
    }
    // Verified under the version it names (#prepare), which cannot go back to an older one.
    const charterIndex = entryCharter(b, c.trust.versions)!.index
    if (charterIndex < (tx.state.charters[b.origin] ?? 0)) {
      throw new EntryError('ENTRY_INVALID', 'an origin’s entry names an older charter version than before')
    }
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
        c.trust.checkRecordUnder(rec, charterIndex)
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
    // An update's structs may name only this entry's own records (as an honest origin's do), so
    // whether it is valid depends on the entry and its causal past: on no cache, and not on
    // which other entries this node applied first or put in this transaction.
    const known = (id: string): KnownRecord | undefined => {
      const h = mine.get(id)?.header
      return h ? { subject: h.subject, header: h } : undefined
    }
    await c.docs.prefetch(b.changes.map((ch) => ch.doc))
    // Every change is validated before the transaction takes any of them: an entry applies whole.
    const clientId = c.clientId()
    const next = new Map<TxDoc, Staged>()
    for (const change of b.changes) {
      const current = await c.durability.txDoc(tx, change.doc, clientId)
      const prev = next.get(current)
      // A new citizen's first update, as an honest origin writes it, is read off its structs: no
      // Y.Doc is built, hashed and cached for it (`newDocContents`).
      const contents =
        !prev && current.empty ? newDocContents(change.doc, change.update, origin.clientId, known) : undefined
      if (contents) {
        next.set(current, { contents, state: change.update })
        continue
      }
      const staged = !prev
        ? current.doc
        : prev.contents === undefined
          ? prev.doc
          : loadDoc(prev.state, clientId, change.doc)
      const doc = validateRemoteUpdate(staged, change.doc, change.update, origin.clientId, known)
      doc.clientID = clientId
      // A doc that was empty holds the update and nothing else: the update is its state.
      next.set(current, { doc, state: isEmptyDoc(staged) ? change.update : undefined })
    }
    for (const [current, staged] of next) {
      if (staged.contents !== undefined) {
        current.readOff(staged.state, staged.contents)
        continue
      }
      current.doc = staged.doc
      current.state = staged.state
      current.changed = true
    }
    // A record relayed twice (two nodes accepted the same signed record) keeps its first place.
    const fresh = [...mine.keys()].filter((id) => !tx.records.has(id))
    const stored = await hasRecords(c.store, fresh)
    let accepted = 0
    for (const [i, id] of fresh.entries()) {
      if (stored[i]) continue
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
    // The entry is within the drift allowed (#early): the local clock moves at most that far
    // ahead of the physical one (the floor only keeps a clock that stepped back from refusing it).
    const now = Math.max(c.clock(), b.hlc[0] - this.#maxDriftMs)
    const hlc = hlcReceive(tx.state.hlc, b.hlc as Hlc, now, this.#maxDriftMs)
    if (compareHlc(hlc, tx.state.hlc) > 0) tx.state.hlc = hlc
    tx.state.vv[b.origin] = b.seq
    tx.state.heads[b.origin] = toHex(item.hash)
    tx.state.clocks[b.origin] = b.hlc as Hlc
    tx.state.charters[b.origin] = charterIndex
    tx.entries.push({ origin: b.origin, seq: b.seq, bytes, hash: item.hash, entry })
    tx.applied.push({ entry, bytes, hash: item.hash, accepted })
  }

  /**
   * Hands a transaction of remote entries to the store; once it is durable, tells listeners of
   * each entry, in order. Answers when that is (with no entries: when all before is durable).
   */
  async #commit(tx: Tx): Promise<{ durable: Promise<void> }> {
    const c = this.#c
    // Nothing to store unless a feed was closed (#withdrawn).
    const closed = Object.keys(tx.state.closed).length !== Object.keys(c.durability.head.closed ?? {}).length
    if (tx.entries.length === 0 && !closed) return { durable: c.durability.durable }
    const { durable } = await c.durability.finish(tx)
    for (const { entry } of tx.applied) c.held.drop(entry.body.origin, entry.body.seq)
    return {
      durable: durable.then(() => {
        for (const { accepted } of tx.applied) c.observer.accepted?.('peer', accepted)
        for (const { entry, bytes, hash } of tx.applied)
          c.emit(entry, bytes, payloadsOf(entry, tx.payloads), hash)
      }),
    }
  }
}

function isPrepared(item: Item): item is Prepared {
  return typeof item === 'object' && !(item instanceof ProtocolError)
}

/**
 * The engine: a node's state machine, as one service made of small parts.
 *
 * - `LocalWriter` (local-writer.ts): client records, verified outside the transaction queue,
 *   then group-committed — one signed feed entry and one synced batch per group.
 * - `RemoteApplier` (remote-apply.ts): peers' entries, verified a frame at a time in one batch,
 *   applied in causal order; `HeldEntries` keeps those that came early, `Evidence` what proves
 *   an equivocation or was refused.
 * - `Durability` (durability.ts): transactions to disk, group commit, fail-stop on a failed write.
 * - `Trust` (trust.ts): the charter chain and revocations — also what HTTP authentication asks.
 * - `DocCache`, `Projections`, `groupContext`: docs in memory, summaries and indexes, the facts
 *   authorization reads.
 *
 * Store before send: an entry reaches listeners (the mesh) only once it is durable here.
 *
 * @example
 * const e = engine({ charter })({ store, ed: nativeEd25519, nodeKeys })
 * await e.start()
 * const [outcome] = await e.submit([{ record, payload }])
 * await e.stop()
 */
import {
  type CertifiedNode,
  type CharterView,
  DEFAULT_MAX_DRIFT_MS,
  type Ed25519,
  type KeyPair,
  keyId,
  leafHash,
  openEntry,
  openPayload,
  type ProtocolError,
  type Revocation,
  type SignedCharter,
  type SignedEntry,
  type SignedPlacement,
  type SignedReceipt,
  stateRoot,
  toHex,
  type VersionVector,
  verifyInclusion,
} from '@legation/protocol'
import type { Verifier } from '../crypto/verifier.ts'
import { NodeError } from '../errors.ts'
import type { Store } from '../storage/store.ts'
import { integerOptions } from '../util/options.ts'
import { AuditView } from './audit-view.ts'
import { BatchVerifier } from './batch-verifier.ts'
import { decodeText } from './codec.ts'
import { DEFAULT_DOC_CACHE, DEFAULT_HEADER_CACHE, DocCache, type DocCacheInit } from './doc-cache.ts'
import { Durability } from './durability.ts'
import { Evidence } from './evidence.ts'
import { FeedTrees } from './feed-trees.ts'
import { forksNeedRebuild } from './forks.ts'
import {
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_BYTES,
  HeldEntries,
  type HeldEntriesInit,
} from './held-entries.ts'
import { K } from './keys.ts'
import {
  DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
  DEFAULT_MAX_RECORDS_PER_ENTRY,
  DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
  DEFAULT_RECORD_MAX_AHEAD_MS,
  LocalWriter,
  type LocalWriterInit,
} from './local-writer.ts'
import { Projections } from './projections.ts'
import { EngineReads } from './reads.ts'
import { needsRebuild, rebuild } from './rebuild.ts'
import { Receipts } from './receipts.ts'
import { RemoteApplier, type RemoteApplierInit } from './remote-apply.ts'
import { Trust } from './trust.ts'
import type {
  EngineObserver,
  EntryHead,
  EntryListener,
  RemoteResult,
  Submission,
  SubmitOutcome,
} from './types.ts'

export { DEFAULT_DOC_CACHE, DEFAULT_HEADER_CACHE } from './doc-cache.ts'
export { DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, DEFAULT_MAX_PENDING_BYTES } from './held-entries.ts'
export {
  DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
  DEFAULT_MAX_ENTRY_PAYLOAD_BYTES,
  DEFAULT_MAX_RECORDS_PER_ENTRY,
  DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
  DEFAULT_RECORD_MAX_AHEAD_MS,
} from './local-writer.ts'
export type { Trust } from './trust.ts'
export type {
  CaseSummary,
  CitizenSummary,
  EngineObserver,
  EntryHead,
  Receipt,
  RemoteResult,
  Submission,
  SubmitOutcome,
} from './types.ts'

/** The node id of a read-only engine (it authors nothing). */
export const READ_ONLY_NODE = 'read-only'

export interface EngineInit extends LocalWriterInit, HeldEntriesInit, DocCacheInit, RemoteApplierInit {
  /** The charter chain this node starts with, genesis first (a longer stored one wins). */
  charter: readonly SignedCharter[]
}

export interface EngineComponents {
  store: Store
  /** The signature implementation: native in the node. */
  ed: Ed25519
  /** This node's key; omitted for a read-only engine (offline audit and replay). */
  nodeKeys?: KeyPair | undefined
  /** Batched signature verification on worker threads; inline when omitted. */
  verifier?: Verifier | undefined
  /** @default Date.now */
  clock?: () => number
  observer?: EngineObserver
}

/** The engine as a service: `engine(init)(components)`, then `start()`. */
export function engine(init: EngineInit): (components: EngineComponents) => Engine {
  const checked: EngineInit = {
    ...integerOptions('engine', init, {
      maxRecordsPerEntry: DEFAULT_MAX_RECORDS_PER_ENTRY,
      recordMaxAheadMs: DEFAULT_RECORD_MAX_AHEAD_MS,
      officerRecordMaxAgeMs: DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
      citizenRecordMaxAgeMs: DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
      docCacheSize: DEFAULT_DOC_CACHE,
      headerCacheSize: DEFAULT_HEADER_CACHE,
      maxPending: DEFAULT_MAX_PENDING,
      maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
      maxPendingAgeMs: DEFAULT_MAX_PENDING_AGE_MS,
      maxClockDriftMs: DEFAULT_MAX_DRIFT_MS,
    }),
    charter: init.charter,
  }
  return (components) => new Engine(checked, components)
}

export class Engine extends EngineReads {
  readonly nodeId: string
  readonly #keys: KeyPair | undefined
  readonly #trust: Trust
  readonly #durability: Durability
  readonly #held: HeldEntries
  readonly #evidence: Evidence
  readonly #verify: BatchVerifier
  readonly #receipts: Receipts
  readonly #writer: LocalWriter | undefined
  readonly #remote: RemoteApplier
  readonly #listeners = new Set<EntryListener>()
  readonly #clock: () => number
  readonly #audit: AuditView
  readonly #observer: EngineObserver
  #started = false
  #stopped = false
  /** Feeds found to hold the bloc-final version of a fork, by `<origin>/<final size>` (forks.ts). */
  readonly #forksChecked = new Set<string>()
  /** Set while the derived state is rebuilt (rebuild.ts): writes and peers' entries wait for it. */
  #rebuilding: Promise<void> | undefined

  constructor(init: EngineInit, components: EngineComponents) {
    const { store, ed } = components
    const clock = components.clock ?? Date.now
    const observer = components.observer ?? {}
    const docs = new DocCache(init, { store, clientId: () => this.clientId })
    const projections = new Projections({ summaryCacheSize: init.docCacheSize }, { store })
    super(store, docs, projections)
    this.#clock = clock
    this.#observer = observer
    this.#keys = components.nodeKeys
    this.nodeId = this.#keys ? keyId(this.#keys.publicKey) : READ_ONLY_NODE
    // Canonical bytes of records submitted as bytes, kept until the records themselves are gone.
    const recordBytes = new WeakMap<object, Uint8Array>()
    const clientId = () => this.clientId
    const emit: EntryListener = (entry, bytes, payloads) => this.#emit(entry, bytes, payloads)
    this.#trust = new Trust({ store, ed }, init.charter)
    const trees = new FeedTrees(store)
    this.#durability = new Durability({
      store,
      docs: this.docs,
      projections: this.projections,
      recordBytes,
      trees,
    })
    this.#audit = new AuditView({
      ed,
      keys: components.nodeKeys,
      nodeId: this.nodeId,
      trees,
      durableSizes: () => this.#durability.state.vv,
      bloc: () => this.bloc,
      charter: () => this.charter,
      stateRoot: () => this.stateRoot(),
    })
    this.#held = new HeldEntries(init, clock)
    this.#evidence = new Evidence({ store, ed, trust: this.#trust, observer })
    this.#verify = new BatchVerifier({ ed, trust: this.#trust, verifier: components.verifier })
    this.#receipts = new Receipts({ ed, keys: this.#keys, nodeId: this.nodeId })
    const parts = {
      store,
      ed,
      clock,
      clientId,
      trust: this.#trust,
      durability: this.#durability,
      docs: this.docs,
    }
    this.#writer = this.#keys
      ? new LocalWriter(init, {
          ...parts,
          keys: this.#keys,
          nodeId: this.nodeId,
          receipts: this.#receipts,
          observer,
          recordBytes,
          emit,
        })
      : undefined
    this.#remote = new RemoteApplier(init, {
      ...parts,
      held: this.#held,
      evidence: this.#evidence,
      verify: this.#verify,
      observer,
      emit,
    })
  }

  /** Opens the engine over a store: `engine(init)(components)` started. */
  static async open(opts: EngineInit & EngineComponents): Promise<Engine> {
    const e = engine(opts)(opts)
    await e.start()
    return e
  }

  /** Reads the charter, revocations, feed state and quarantines back; replays nothing. */
  async start(): Promise<void> {
    if (this.#started) return
    // A node the charter no longer certifies (its state expelled, it removed) still starts: it
    // serves what it holds and takes no writes (NODE_NOT_CERTIFIED). One never certified does not.
    await this.#trust.load(this.#keys ? this.nodeId : undefined)
    await this.#durability.load()
    await this.#evidence.load()
    // A rebuild was interrupted, or an amendment adopted just before a stop voids entries held.
    await this.#rebuildIfNeeded()
    this.#started = true
  }

  /** Waits for in-flight writes, then refuses new ones. The store is the caller's to close. */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#writer?.drain()
    await this.#durability.idle()
    await this.#trust.idle()
  }

  /** @deprecated the same as `stop()`. */
  close(): Promise<void> {
    return this.stop()
  }

  // ---- Trust ----

  /** Who holds authority: the charter chain and revocations (HTTP authentication asks it too). */
  get trust(): Trust {
    return this.#trust
  }

  get bloc(): string {
    return this.#trust.bloc
  }

  /** The charter version in force. */
  get charter(): CharterView {
    return this.#trust.charter
  }

  get charterChain(): readonly SignedCharter[] {
    return this.#trust.chain
  }

  charterByHash(hash: string): CharterView | undefined {
    return this.#trust.charterByHash(hash)
  }

  /** A node as the latest charter version that certifies it has it (an expelled node included). */
  certifiedNode(nodeId: string): CertifiedNode | undefined {
    return this.#trust.certifiedNode(nodeId)
  }

  revocations(): Revocation[] {
    return this.#trust.revocations()
  }

  /** See `Trust.addRevocation`. */
  addRevocation(value: unknown): Promise<{ added: boolean; revocation: Revocation }> {
    return this.#trust.addRevocation(value)
  }

  /** Adopts a longer, valid charter chain (an amendment received from anyone). */
  async adoptCharter(chain: readonly SignedCharter[]): Promise<boolean> {
    const adopted = await this.#trust.adoptCharter(chain)
    // It may remove a node whose later entries this node applied before it knew.
    if (adopted) await this.#rebuildIfNeeded()
    return adopted
  }

  /**
   * Rebuilds the derived state from the stored feeds if entries applied here are void under the
   * charter known now (rebuild.ts). Answers whether it did. A rebuild that cannot bring this
   * node's own feed back whole stops its writes (REBUILD_LOST_OWN_ENTRIES).
   */
  async #rebuildIfNeeded(): Promise<boolean> {
    if (this.#rebuilding) {
      await this.#rebuilding
      return this.#rebuildIfNeeded()
    }
    if (this.#durability.failure) return false
    const forks = {
      store: this.store,
      evidence: this.#evidence,
      audit: this.#audit,
      vv: () => this.#durability.state.vv,
      checked: this.#forksChecked,
    }
    if (
      !(await needsRebuild(this.store, this.#durability.state, this.#trust.versions)) &&
      !(this.#evidence.equivocations().size > 0 && (await forksNeedRebuild(forks)))
    ) {
      return false
    }
    const run = rebuild({
      store: this.store,
      durability: this.#durability,
      held: this.#held,
      versions: () => this.#trust.versions,
      apply: (list, payloads) => this.#remote.applyMany(list, payloads),
      cuts: () => this.#evidence.cuts(),
      self: this.#keys ? this.nodeId : undefined,
    })
      .then((report) => this.#observer.rebuilt?.(report))
      .catch((err: unknown) => {
        this.#durability.fail(err)
      })
    this.#rebuilding = run.finally(() => {
      this.#rebuilding = undefined
    })
    await this.#rebuilding
    return true
  }

  /**
   * A bloc-final checkpoint of `origin`'s feed (the witness found it cosigned by a quorum of
   * states): where that origin equivocated, the version it holds stands, and a node that holds
   * another heals (forks.ts).
   */
  async setFinal(origin: string, size: number, root: Uint8Array): Promise<void> {
    if (this.#evidence.setFinal(origin, size, root) && this.#evidence.equivocations().has(origin)) {
      await this.#rebuildIfNeeded()
    }
  }

  /**
   * Where `origin` equivocated at q ≤ `size` and this node holds the tree of that size: the entry
   * hash its tree holds at q and the proof of it — which version a checkpoint of `size` keeps.
   */
  async forkProof(
    origin: string,
    size: number,
  ): Promise<{ seq: number; entry: Uint8Array; path: Uint8Array[] } | undefined> {
    const q = this.#evidence.equivocations().get(origin)
    if (q === undefined || q > size || (this.#durability.state.vv[origin] ?? 0) < size) return undefined
    const bytes = await this.store.get(K.entry(origin, q))
    if (!bytes) return undefined
    return { seq: q, entry: openEntry(bytes).hash, path: await this.#audit.inclusionProof(origin, q, size) }
  }

  /**
   * A bloc-final checkpoint of `origin` (`size`, `root`) with the proof of the entry it holds at
   * the origin's fork: that version stands (forks.ts). Answers whether the proof was new and held.
   */
  async pinFork(
    origin: string,
    size: number,
    root: Uint8Array,
    fork: { seq: number; entry: Uint8Array; path: readonly Uint8Array[] },
  ): Promise<boolean> {
    if (this.#evidence.pinned(origin)) return false
    if (!verifyInclusion(leafHash(fork.entry), fork.seq - 1, size, fork.path, root)) return false
    await this.setFinal(origin, size, root)
    if (!(await this.#evidence.pin(origin, fork.seq, fork.entry))) return false
    await this.#rebuildIfNeeded()
    return true
  }

  /** This node's Yjs client id (0 for a read-only engine, which writes no doc). */
  get clientId(): number {
    return this.#keys ? (this.#trust.certifiedNode(this.nodeId)?.clientId ?? 0) : 0
  }

  // ---- State ----

  versionVector(): VersionVector {
    return { ...this.#durability.state.vv }
  }

  stateRoot(): string {
    return stateRoot(this.#durability.acc)
  }

  /** Why this engine takes no more writes (its storage failed), or undefined. */
  get failure(): NodeError | undefined {
    return this.#durability.failure
  }

  quarantined(): ReadonlyMap<string, number> {
    return this.#evidence.quarantined()
  }

  /** Each origin found equivocating, and the first seq it equivocated at. */
  equivocations(): ReadonlyMap<string, number> {
    return this.#evidence.equivocations()
  }

  /**
   * Feeds that end here for good, by their last valid seq: the next entry was signed after a
   * charter amendment removed the node (ENTRY_AUTHORITY_WITHDRAWN). Nothing later is asked for.
   */
  closedFeeds(): Readonly<Record<string, number>> {
    return this.#durability.head.closed ?? {}
  }

  pendingCount(): number {
    return this.#held.size
  }

  /** Called with each entry once it is durable here: this node's own and peers' it applied. */
  onEntry(listener: EntryListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit(entry: SignedEntry, bytes: Uint8Array, payloads: Map<string, Uint8Array>): void {
    // Entries applied again by a rebuild are not news: peers have them.
    if (this.#rebuilding) return
    for (const l of this.#listeners) {
      try {
        l(entry, bytes, payloads)
      } catch {
        // A listener's failure is its own; the entry is durable either way.
      }
    }
  }

  // ---- Writes ----

  /**
   * Verifies and accepts records from clients. Resolves per record once it is durable
   * (or refused). Records already known resolve with their original receipt.
   */
  async submit(subs: readonly Submission[]): Promise<SubmitOutcome[]> {
    // Writes wait for a rebuild: their entry builds on the state it restores.
    if (this.#rebuilding) await this.#rebuilding
    const failure = this.#durability.failure
    // In the charter in force, and within its certificate's window: peers refuse entries dated
    // outside it.
    const certified =
      this.#trust.charter.nodes.has(this.nodeId) && this.#trust.nodeValidAt(this.nodeId, this.#clock())
    if (this.#stopped || !this.#writer || !certified || failure) {
      // Expelled or removed by the charter: what it acknowledged could reach no other node.
      const error =
        failure ??
        (this.#stopped
          ? new NodeError('SHUTTING_DOWN')
          : this.#writer
            ? new NodeError('NODE_NOT_CERTIFIED')
            : new NodeError('READ_ONLY'))
      return subs.map(() => ({ ok: false, id: null, error }))
    }
    return this.#writer.enqueue(subs, await this.#verify.records(subs.map((s) => s.record)))
  }

  /** This node's signed statement that it stored entry (origin, seq) durably. */
  signReceipt(origin: string, seq: number, entry: Uint8Array): SignedReceipt {
    return this.#receipts.sign(origin, seq, entry)
  }

  /** This node's signed statement that a record is carried by entry (origin, seq) of hash `entry`. */
  signPlacement(record: string, origin: string, seq: number, entry: Uint8Array): SignedPlacement {
    return this.#receipts.place(record, origin, seq, entry)
  }

  /**
   * Applies an entry received from a peer. `payloads` maps payload digest (hex) to bytes for
   * the entry's records. Throws a ProtocolError if the entry is invalid (the caller drops and
   * scores the peer).
   */
  async applyRemote(bytes: Uint8Array, payloads: Map<string, Uint8Array> = new Map()): Promise<RemoteResult> {
    const [result] = await this.applyRemoteMany([bytes], payloads)
    if (typeof result !== 'string') throw result
    return result!
  }

  /**
   * Applies entries received together (one sync frame), in order, and answers per entry: its
   * result, or the ProtocolError that refused it (a refused entry its origin signed is kept as
   * evidence). `onRead` is told what each entry is once the frame is decoded, before it is
   * verified and applied (null for one that does not decode).
   */
  async applyRemoteMany(
    list: readonly Uint8Array[],
    payloads: Map<string, Uint8Array> = new Map(),
    onRead?: (entries: ReadonlyArray<EntryHead | null>) => void,
  ): Promise<Array<RemoteResult | ProtocolError>> {
    // Peers' entries wait for a rebuild: they build on the state it restores.
    if (this.#rebuilding) return this.#rebuilding.then(() => this.applyRemoteMany(list, payloads, onRead))
    const results = await this.#remote.applyMany(list, payloads, onRead)
    // An equivocation found, or entries of an equivocating origin applied: its fork may heal now.
    if (this.#evidence.equivocations().size > 0) {
      await this.#durability.durable
      await this.#rebuildIfNeeded()
    }
    return results
  }

  /**
   * Stores payloads fetched by digest: each must be one a stored record names and lacks, and
   * match that record's signed digest and its kind's schema. The citizen's derived summary
   * follows (a travel document number, a presence). Answers how many were stored; the rest
   * (not missing here, or not matching) are ignored.
   */
  storePayloads(payloads: ReadonlyArray<{ d: Uint8Array; p: Uint8Array }>): Promise<number> {
    return this.#durability.exclusive(async () => {
      const wanted = payloads.map(({ d }) => toHex(d))
      const owners = await this.store.getMany(wanted.map(K.missing))
      const tx = this.#durability.newTx()
      const citizens = new Set<string>()
      for (const [i, { p }] of payloads.entries()) {
        const owner = owners[i]
        if (!owner) continue
        const stored = await this.getRecord(decodeText(owner))
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
      await this.docs.prefetch([...citizens])
      for (const c of citizens) await this.#durability.txDoc(tx, c, this.clientId)
      await this.projections.update(tx, [...citizens])
      await this.store.write(tx.ops)
      this.projections.remember(tx)
      return tx.payloads.size
    })
  }

  // ---- Audit ----

  /** Feed trees, proofs and this node's signed checkpoint, for the secretariat's auditor. */
  get audit(): AuditView {
    return this.#audit
  }

  // ---- Evidence ----

  /** Called with both entries whenever this node finds (or learns of) an equivocation. */
  onEvidence(listener: (a: Uint8Array, b: Uint8Array) => void): () => void {
    return this.#evidence.onEvidence(listener)
  }

  /**
   * Checks equivocation evidence gossiped by a peer: two validly signed, different entries
   * for one (origin, seq). Quarantines the origin from that seq on; throws if it is not proof.
   */
  async applyEvidence(a: Uint8Array, b: Uint8Array): Promise<void> {
    // Known already (a peer resends what every node gossips): no signature checked again.
    if (this.#evidence.knows(a)) return
    const [ea, eb] = this.#evidence.check(a, b)
    await this.#durability.exclusive(() => this.#evidence.equivocation(ea, eb))
    await this.#durability.durable
    await this.#rebuildIfNeeded()
  }

  /** Evidence of an invalid signed entry from a peer, kept for the secretariat. */
  storeEvidence(kind: string, id: string, value: unknown): Promise<void> {
    return this.#evidence.store(kind, id, value)
  }

  evidence(limit?: number, after?: string): AsyncIterable<[string, Uint8Array]> {
    return this.#evidence.list(limit, after)
  }
}

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
  type ProtocolError,
  type Revocation,
  type SignedCharter,
  type SignedEntry,
  type SignedPlacement,
  type SignedReceipt,
  stateRoot,
  submittedEncodings,
  type VersionVector,
} from '@legation/protocol'
import { RestoreFence } from '../backup/restore-fence.ts'
import type { Verifier } from '../crypto/verifier.ts'
import { NodeError } from '../errors.ts'
import type { Store } from '../storage/store.ts'
import { integerOptions } from '../util/options.ts'
import { type AccessRead, accessRecords } from './access-records.ts'
import { AuditView } from './audit-view.ts'
import { BatchVerifier } from './batch-verifier.ts'
import { DOC_CACHE_DEFAULTS, DocCache, type DocCacheInit } from './doc-cache.ts'
import { Durability } from './durability.ts'
import { Evidence } from './evidence.ts'
import { FeedTrees } from './feed-trees.ts'
import { storeFetchedPayloads } from './fetched-payloads.ts'
import { Healing } from './healing.ts'
import {
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_BYTES,
  HeldEntries,
  type HeldEntriesInit,
} from './held-entries.ts'
import {
  DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
  DEFAULT_MAX_RECORDS_PER_ENTRY,
  DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
  DEFAULT_RECORD_MAX_AHEAD_MS,
  LocalWriter,
  type LocalWriterInit,
} from './local-writer.ts'
import { beginMigration, markFormat, migrate, STORE_FORMAT } from './migrate.ts'
import { Projections } from './projections.ts'
import { EngineReads } from './reads.ts'
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
import { Vault } from './vault.ts'

export type { AccessRead } from './access-records.ts'
export { DEFAULT_DOC_CACHE, DEFAULT_DOC_CACHE_BYTES, DEFAULT_HEADER_CACHE } from './doc-cache.ts'
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
  /**
   * How long payloads of presence registrations and crisis check-ins are kept (0: for ever):
   * swept every RETENTION_SWEEP_MS (docs/privacy.md § Retention). @default 0
   */
  retentionMs?: number
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
      ...DOC_CACHE_DEFAULTS,
      maxPending: DEFAULT_MAX_PENDING,
      maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
      maxPendingAgeMs: DEFAULT_MAX_PENDING_AGE_MS,
      maxClockDriftMs: DEFAULT_MAX_DRIFT_MS,
    }),
    charter: init.charter,
    retentionMs: init.retentionMs ?? 0,
  }
  return (components) => new Engine(checked, components)
}

/** How often a node erases payloads past their retention period. */
export const RETENTION_SWEEP_MS = 60 * 60_000

export class Engine extends EngineReads {
  readonly nodeId: string
  readonly #keys: KeyPair | undefined
  readonly #ed: Ed25519
  readonly #retentionMs: number | undefined
  #retentionTimer: NodeJS.Timeout | undefined
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
  readonly #healing: Healing
  /** Set on a store restored from a backup until the node has its own feed back (restore-fence.ts). */
  readonly restore: RestoreFence

  constructor(init: EngineInit, components: EngineComponents) {
    const { store, ed } = components
    const clock = components.clock ?? Date.now
    const observer = components.observer ?? {}
    const docs = new DocCache(init, { store, clientId: () => this.clientId })
    // Personal data at rest is sealed under keys derived from the node's own secret key; a
    // read-only engine (an audit's replay) seals under keys that die with the process.
    const vault = components.nodeKeys
      ? new Vault(components.nodeKeys.secretKey, { store })
      : Vault.ephemeral(store)
    const projections = new Projections({ summaryCacheSize: init.docCacheSize }, { store, vault })
    super(store, docs, projections, vault)
    this.#ed = ed
    this.#retentionMs = init.retentionMs
    this.#clock = clock
    this.#observer = observer
    this.#keys = components.nodeKeys
    this.nodeId = this.#keys ? keyId(this.#keys.publicKey) : READ_ONLY_NODE
    // Canonical bytes of records submitted as bytes, kept until the records themselves are gone.
    const recordBytes = new WeakMap<object, Uint8Array>()
    const clientId = () => this.clientId
    const emit: EntryListener = (entry, bytes, payloads, hash) => this.#emit(entry, bytes, payloads, hash)
    this.#trust = new Trust({ store, ed }, init.charter)
    this.restore = new RestoreFence(store)
    const trees = new FeedTrees(store)
    this.#durability = new Durability({
      store,
      vault,
      retentionMs: init.retentionMs ?? 0,
      clock,
      docs: this.docs,
      projections: this.projections,
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
          projections: this.projections,
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
    this.#healing = new Healing({
      store,
      durability: this.#durability,
      held: this.#held,
      trust: this.#trust,
      evidence: this.#evidence,
      audit: this.#audit,
      observer,
      apply: (list, payloads) => this.#remote.applyMany(list, payloads),
      self: this.#keys ? this.nodeId : undefined,
      fence: this.restore,
      clock,
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
    // An older store: keys moved before the vault reads them, payloads sealed, derived state
    // rebuilt below (migrate.ts).
    const from = await beginMigration(this.store)
    await this.vault.load()
    const migrated = await migrate(this.store, this.vault, from)
    await this.#durability.load()
    await this.#evidence.load()
    // A rebuild was interrupted, or an amendment adopted just before a stop voids entries held.
    await this.#healing.ifNeeded()
    await markFormat(this.store)
    if (migrated.from < STORE_FORMAT) {
      this.#observer.migrated?.({ from: migrated.from, to: STORE_FORMAT, sealed: migrated.sealed })
    }
    await this.restore.load()
    await this.#healing.holdOwn()
    this.#started = true
    if ((this.#retentionMs ?? 0) > 0 && this.#keys) {
      const sweep = () => {
        this.sweepRetention().catch(() => undefined)
      }
      sweep()
      this.#retentionTimer = setInterval(sweep, RETENTION_SWEEP_MS)
      this.#retentionTimer.unref()
    }
  }

  /** Waits for in-flight writes, then refuses new ones. The store is the caller's to close. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#retentionTimer)
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
    if (adopted) await this.#healing.ifNeeded()
    return adopted
  }

  /**
   * Where forks heal and the derived state is rebuilt (healing.ts): the witness tells it of
   * bloc-final checkpoints (`setFinal`, `pinFork`) and asks it for fork proofs (`forkProof`);
   * `rebuilding` is set while records, docs and indexes are partial.
   */
  get healing(): Healing {
    return this.#healing
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

  #emit(entry: SignedEntry, bytes: Uint8Array, payloads: Map<string, Uint8Array>, hash: Uint8Array): void {
    // Entries applied again by a rebuild are not news: peers have them.
    if (this.#healing.replaying) return
    for (const l of this.#listeners) {
      try {
        l(entry, bytes, payloads, hash)
      } catch {
        // A listener's failure is its own; the entry is durable either way.
      }
    }
  }

  // ---- Writes ----

  /**
   * Erases the payloads of presence registrations and crisis check-ins older than the retention
   * period (but a presence in force); answers how many. Runs every RETENTION_SWEEP_MS by itself.
   */
  sweepRetention(now?: number): Promise<number> {
    // Not during a rebuild: a presence in force is read from the docs it rebuilds.
    return this.#healing.outside(() => this.#durability.sweepRetention(now))
  }

  /**
   * Logs officers' reads of citizens' personal data: one `access.logged` record per citizen
   * shown, signed by this node, in its feed (replicated, in the feed's Merkle tree like any
   * record) and durable before the caller shows anything. Throws if it cannot be logged.
   */
  async logAccess(reads: readonly AccessRead[]): Promise<void> {
    if (reads.length === 0) return
    const keys = this.#keys
    if (!keys) throw new NodeError('NODE_NOT_CERTIFIED', 'a read-only engine logs no reads')
    const at = this.#clock()
    const subs = accessRecords(this.#ed, keys, { bloc: this.bloc, charter: this.charter.hash }, at, reads)
    // Signed just now with this node's own key: their signatures are not verified.
    const signedHere = new Set(subs.map((s) => s.record.sig))
    for (const out of await this.#submit(subs, signedHere)) if (!out.ok) throw out.error
  }

  /** Verifies and accepts client records: each resolves once durable, or refused (one known: its receipt). */
  submit(subs: readonly Submission[]): Promise<SubmitOutcome[]> {
    return this.#submit(subs)
  }

  /** Writes wait for a rebuild, and a rebuild for them: their entry builds on the state. */
  #submit(subs: readonly Submission[], signedHere?: ReadonlySet<Uint8Array>): Promise<SubmitOutcome[]> {
    return this.#healing.outside(() => this.#accept(subs, signedHere))
  }

  async #accept(subs: readonly Submission[], signedHere?: ReadonlySet<Uint8Array>): Promise<SubmitOutcome[]> {
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
    // Restored from a backup: a write now could reuse a sequence number peers hold (restore-fence.ts).
    if (this.restore.pending) {
      const error = this.restore.error()
      return subs.map(() => ({ ok: false, id: null, error }))
    }
    const records = subs.map((s) => s.record)
    const verified = await this.#verify.records(records, signedHere, submittedEncodings(subs))
    return this.#writer.enqueue(subs, verified, signedHere === undefined) // logged reads: no receipt
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
    // Peers' entries wait for a rebuild, and a rebuild for them: they build on the state.
    const results = await this.#healing.outside(() => this.#remote.applyMany(list, payloads, onRead))
    // An equivocation found, or entries of an equivocating origin applied: its fork may heal now.
    await this.#healing.afterApply(results.includes('equivocation'))
    return results
  }

  /**
   * Stores payloads fetched by digest: each must be one a stored record names and lacks, and
   * match that record's signed digest and its kind's schema. The citizen's derived summary
   * follows (a travel document number, a presence). Answers how many were stored; the rest
   * (not missing here, or not matching) are ignored.
   */
  storePayloads(payloads: ReadonlyArray<{ d: Uint8Array; p: Uint8Array }>): Promise<number> {
    const c = {
      store: this.store,
      durability: this.#durability,
      docs: this.docs,
      projections: this.projections,
    }
    return this.#healing.outside(() =>
      storeFetchedPayloads(c, (id) => this.getRecord(id), this.clientId, payloads),
    )
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
    await this.#healing.ifNeeded()
  }

  /** The proofs of the forks known here (both entries of each), at most `limit`. */
  equivocationProofs(limit: number): Promise<Array<{ a: Uint8Array; b: Uint8Array }>> {
    return this.#evidence.equivocationProofs(limit)
  }

  /** Evidence of an invalid signed entry from a peer, kept for the secretariat. */
  storeEvidence(kind: string, id: string, value: unknown): Promise<void> {
    return this.#evidence.store(kind, id, value)
  }

  evidence(limit?: number, after?: string): AsyncIterable<[string, Uint8Array]> {
    return this.#evidence.list(limit, after)
  }
}

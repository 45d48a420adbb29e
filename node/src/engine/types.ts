/**
 * The engine's vocabulary: what clients submit and get back, what peers' entries become, and
 * the derived facts (summaries) that authorization and indexes read. Shared by the engine's
 * parts; the public ones are re-exported from `engine.ts`.
 */
import {
  type Authority,
  type CaseState,
  type CaseType,
  type Hlc,
  ProtocolError,
  type SignedEntry,
  type SignedRecord,
  type VersionVector,
} from '@legation/protocol'
import type { NodeError } from '../errors.ts'
import type { RebuildReport } from './rebuild.ts'

export interface Submission {
  readonly record: SignedRecord
  readonly payload: Uint8Array | null
  /**
   * The canonical bytes the caller decoded `record` from, if it did: the entry and the stored
   * record take them as they are instead of encoding the record again, and the record's header
   * and certificate are checked and hashed as they hold them. They must be `record`'s.
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

/**
 * What became of a peer's entry. `deferred`: its clock is further ahead of this node's than the
 * drift allowed (a runaway clock): not applied now, and fetched again once this clock catches up.
 */
export type RemoteResult =
  | 'applied'
  | 'duplicate'
  | 'pending'
  | 'deferred'
  | 'equivocation'
  | 'quarantined'
  /** Signed after a charter amendment removed its node: void, kept as evidence, sender not blamed. */
  | 'withdrawn'
  /** Chained to another entry at seq − 1 than the one held here: its origin forked (sender not blamed). */
  | 'forked'

export interface EngineObserver {
  accepted?(source: 'client' | 'peer', n: number): void
  rejected?(code: string): void
  entryAppended?(entry: SignedEntry): void
  entryReceived?(result: RemoteResult | 'invalid'): void
  /** Seconds from a record's arrival to its durable acknowledgement. */
  writeLatency?(seconds: number): void
  /** Signed evidence kept for the secretariat: `equivocation`, `refused`. */
  evidenceStored?(kind: string): void
  /** The derived state was rebuilt from the feeds (rebuild.ts): each feed's length before and after. */
  rebuilt?(report: RebuildReport): void
  /** The store was migrated to a newer data format at start (migrate.ts). */
  migrated?(report: { from: number; to: number; sealed: number }): void
}

/** Called with each entry once it is durable here (the mesh pushes it to peers). */
export type EntryListener = (
  entry: SignedEntry,
  bytes: Uint8Array,
  payloads: Map<string, Uint8Array>,
  /** The entry's hash (what a receipt signs). */
  hash: Uint8Array,
) => void

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
export interface Prepared {
  readonly entry: SignedEntry
  /** The entry's own copy of its bytes (`openEntry`'s), into which `entry`'s byte strings are views. */
  readonly bytes: Uint8Array
  readonly hash: Uint8Array
  readonly payloads: Map<string, Uint8Array>
  /** The ids of the entry's records, in order. */
  readonly ids: readonly string[]
}

export type Verification =
  | { readonly ok: true; readonly record: SignedRecord; readonly id: string; readonly authority: Authority }
  | { readonly ok: false; readonly error: ProtocolError }

export interface CaseSummary {
  type: CaseType
  state: CaseState
  opened: number
  updated: number
}

/** A citizen's derived summary: what indexes and authorization read. Node-local. */
export interface CitizenSummary {
  nationality: string | null
  /** Where the citizen is, from the presence registration in force (its payload, sealed). */
  presence: { country: string; region: string; from: number; until: number | null } | null
  cases: Record<string, CaseSummary>
  welfare: Record<string, 'safe' | 'needs-help'>
  /** Index keys this summary put, to remove them when it changes. */
  ix: string[]
}

/** The feed state written with every transaction: a restart reads it back. */
export interface PersistentState {
  vv: VersionVector
  heads: Record<string, string>
  acc: string
  hlc: Hlc
  /** Each origin's last entry clock: an origin's clock must increase. Absent in older stores. */
  clocks?: Record<string, Hlc>
  /**
   * The place in the charter chain of the version each origin's last entry names: an origin's
   * entries never name an older version than before. Absent in older stores (taken as genesis).
   */
  charters?: Record<string, number>
  /**
   * Origins whose feed ends here for good, by their last valid seq: the next entry was signed
   * after a charter amendment removed the node. A dependency on such an origin is met by what
   * is held of it. Absent in older stores.
   */
  closed?: Record<string, number>
}

export interface StoredRecord {
  origin: string
  seq: number
  record: SignedRecord
}

/** Anything refused as a record or entry, as the ProtocolError a client or peer is told. */
export function asProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError
    ? err
    : new ProtocolError('ENTRY_INVALID', 'record refused', { cause: err })
}

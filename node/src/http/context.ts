/** What the HTTP routes are given. Built once by `buildApp`. */
import type { Ed25519, Revocation } from '@legation/protocol'
import type { Engine, Receipt } from '../engine/engine.ts'
import type { WitnessedCheckpoint } from '../witness/witness.ts'

export interface PeerStatus {
  peerId: string
  nodeId: string | null
  state: string | null
  connected: boolean
  versionVector: Record<string, number>
  /** Entries this node has that the peer is known not to have. */
  lag: number
}

/** Replication hooks the mesh provides; absent on a node running alone. */
export interface Replication {
  peers(): PeerStatus[]
  /**
   * Resolves with signed receipts from at least `k` other nodes that stored the records,
   * or rejects with WRITE_CONCERN_TIMEOUT.
   */
  awaitReceipts(recordIds: readonly string[], k: number, timeoutMs: number): Promise<Receipt[]>
  /** The engine adopted a newer charter: drop expelled peers, tell the others. */
  charterChanged(): Promise<void>
  /** Revocations new to this node: tell every peer. */
  revocationsAdded(list: readonly Revocation[]): void
}

export interface HttpContext {
  engine: Engine
  ed: Ed25519
  now: () => number
  replication?: Replication | undefined
  /**
   * Whether personal data may be served: false while a node that just started has not yet
   * caught up with any peer (it may not know of an erasure yet). Absent: always.
   */
  personalDataServable?: (() => boolean) | undefined
  /** Checkpoints checked and cosigned by this node (absent in tests that build no witness). */
  witness?:
    | { checkpoints(): Array<{ origin: string; latest?: WitnessedCheckpoint; final?: WitnessedCheckpoint }> }
    | undefined
  writeConcernTimeoutMs: number
  /** Node facts shown at /v1/node. */
  node: { peerId: string; name: string; state: string; version: string }
  isReady: () => boolean
  /** A backup of this node's store as it is now (backup/snapshot.ts); absent: no backups here. */
  backup?: (() => AsyncIterable<Uint8Array>) | undefined
  /**
   * True once the node has begun to stop: every route but `/health` and `/metrics` answers
   * 503 SHUTTING_DOWN instead of reaching the engine. @default never stopping
   */
  isStopping?: (() => boolean) | undefined
}

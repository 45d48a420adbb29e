/**
 * The shapes the scheduler's parts share: a completion as peers announce it, a duty as it is
 * stored, a duty as it waits in memory, and the structural logger they all write to.
 */
import type { DutyRef } from './discovery.ts'

/** A peer's statement that a duty is done (or closed as skipped). Carried by the sync protocol. */
export interface DutyDone {
  readonly id: string
  /** Node id of the node that did it. */
  readonly node: string
  /** When it was done (that node's clock, ms). */
  readonly at: number
}

/** The key of `DutyWebhooks.cases` whose queue takes the cases of every state not named. */
export const EVERY_STATE = '*'

export interface DutyWebhooks {
  /** Receives every `alert-notify` delivery. */
  alerts?: string
  /**
   * Per member-state code: the queue that receives `route-case` for that state's nationals;
   * under EVERY_STATE (`*`), the queue for every state not named.
   */
  cases?: Readonly<Record<string, string>>
}

/** `skipped`: closed without delivery by an earlier version of the node (no webhook); now handed on instead. */
export type DutyState = 'pending' | 'done' | 'skipped'

/** A duty as stored under `duty/<id>`. */
export interface StoredDuty {
  v: 1
  id: string
  state: DutyState
  /** What it is about; null when this node only heard from a peer that it was done. */
  ref: DutyRef | null
  discoveredAt: number | null
  /** The node that delivered (or skipped) it. */
  doneBy?: string
  at?: number
  /** Why it was skipped, e.g. `no-webhook`. */
  reason?: string
}

/** A duty known here and not done yet, with what ownership and retries need. */
export interface PendingDuty {
  readonly id: string
  readonly ref: DutyRef
  readonly discoveredAt: number | null
  /** Candidate nodes in rendezvous order, and the charter version they were ranked for. */
  rank: readonly string[]
  rankedFor: string
  /** The owner at the last tick, to notice takeovers. */
  owner: string | undefined
  attempts: number
  nextAt: number
  inFlight: boolean
  /** No webhook here for it: this node leaves it to the next of its ranking (options.ts `handOnMs`). */
  notHere: boolean
}

export function newPending(id: string, ref: DutyRef, discoveredAt: number | null): PendingDuty {
  return {
    id,
    ref,
    discoveredAt,
    rank: [],
    rankedFor: '',
    owner: undefined,
    attempts: 0,
    nextAt: 0,
    inFlight: false,
    notHere: false,
  }
}

export type { ServiceLogger as DutyLogger } from '../util/log.ts'
export { errorFields, silentLogger } from '../util/log.ts'

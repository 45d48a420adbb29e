/**
 * Who owns a duty now: the first node of the duty's rendezvous ranking (ids.ts) that is this
 * node or one it is connected to. Rankings cover the charter's certified nodes and are cached
 * per charter version; the live set is asked for afresh each time it is needed, so when the
 * owner drops out of it the next node of the ranking owns the duty.
 */
import type { Engine } from '../engine/engine.ts'
import { rankNodes } from './ids.ts'
import { type DutyLogger, errorFields, type PendingDuty } from './types.ts'

export interface OwnershipComponents {
  readonly engine: Engine
  /** Node ids of the nodes this node is connected to now, not including itself. */
  readonly liveNodes: () => readonly string[]
  readonly log: DutyLogger
}

export class Ownership {
  readonly #engine: Engine
  readonly #liveNodes: () => readonly string[]
  readonly #log: DutyLogger

  constructor(components: OwnershipComponents) {
    this.#engine = components.engine
    this.#liveNodes = components.liveNodes
    this.#log = components.log
  }

  get nodeId(): string {
    return this.#engine.nodeId
  }

  /** The nodes connected now; none (this node alone) if the live set cannot be read. */
  live(): Set<string> {
    try {
      return new Set(this.#liveNodes())
    } catch (err) {
      this.#log.error({ ...errorFields(err, { message: false }) }, 'liveNodes() threw; acting as if alone')
      return new Set()
    }
  }

  /** This duty's owner among this node and the live nodes (certified ones only). */
  ownerOf(p: PendingDuty, live: ReadonlySet<string>): string | undefined {
    const charter = this.#engine.charter
    if (p.rankedFor !== charter.hash) {
      p.rank = rankNodes(p.id, [...charter.nodes.keys(), this.nodeId])
      p.rankedFor = charter.hash
    }
    return p.rank.find((n) => n === this.nodeId || live.has(n))
  }

  /** This node's place among the live candidates of the duty's ranking: 0 for its owner. */
  rankOf(p: PendingDuty, live: ReadonlySet<string>): number {
    this.ownerOf(p, live)
    let r = 0
    for (const n of p.rank) {
      if (n === this.nodeId) return r
      if (live.has(n)) r++
    }
    return r
  }

  isMine(p: PendingDuty, live: ReadonlySet<string>): boolean {
    return this.ownerOf(p, live) === this.nodeId
  }
}

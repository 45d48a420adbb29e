/**
 * Completions between nodes: the `dutyDone` sync message. A node that did a duty tells every
 * connected peer; a peer that (re)connects is told the recent completions, so a node that was
 * away does not redo them. The scheduler registers the handler built here with the sync
 * registrar; replication only frames and schema-checks the messages.
 */
import type { Engine } from '../engine/engine.ts'
import type { SyncHandler } from '../replication/registrar.ts'
import type { DutyDone, DutyLogger } from './types.ts'
import { errorFields } from './types.ts'

/** Completions sent to a peer that connects: enough to cover a node away for a while. */
export const RECENT_DONE_ON_CONNECT = 1000

const DUTY_ID = /^[0-9a-f]{64}$/

/** Checks a `DutyDone` received from a peer. */
export function isDutyDone(v: unknown): v is DutyDone {
  if (typeof v !== 'object' || v === null) return false
  const d = v as Record<string, unknown>
  return (
    typeof d.id === 'string' &&
    DUTY_ID.test(d.id) &&
    typeof d.node === 'string' &&
    d.node.length > 0 &&
    d.node.length <= 128 &&
    typeof d.at === 'number' &&
    Number.isFinite(d.at) &&
    d.at >= 0
  )
}

export interface DutyDoneHandlerComponents {
  readonly engine: Engine
  readonly onAnnounced: (done: DutyDone) => Promise<void>
  readonly recentDone: (limit: number) => Promise<DutyDone[]>
  readonly log: DutyLogger
}

/** The registrar handler for `dutyDone` messages. */
export function dutyDoneHandler(c: DutyDoneHandlerComponents): SyncHandler<'dutyDone'> {
  return {
    async onMessage(msg) {
      // Claims arrive over the peer's authenticated channel; only certified nodes count.
      for (const d of msg.done) if (c.engine.charter.nodes.has(d.node)) await c.onAnnounced(d)
    },
    async onConnect() {
      try {
        // Each duty once: a peer refuses a message that names one twice.
        const done = [...new Map((await c.recentDone(RECENT_DONE_ON_CONNECT)).map((d) => [d.id, d])).values()]
        return done.length > 0 ? { t: 'dutyDone', done } : undefined
      } catch (err) {
        c.log.error({ ...errorFields(err, { message: false }) }, 'could not read recent duties for a peer')
        return undefined
      }
    },
  }
}

/**
 * The duty scheduler's options: each default defined once, and every option checked once, at
 * construction, with every problem in one `NodeError('CONFIG_INVALID')` (a node with a bad
 * webhook must refuse to start, not fail its first delivery).
 */
import { NodeError } from '../errors.ts'
import { integerOptions } from '../util/options.ts'
import type { DutyWebhooks } from './types.ts'

export const DEFAULT_TICK_MS = 500
export const DEFAULT_RETRY_MIN_MS = 500
export const DEFAULT_RETRY_MAX_MS = 30_000
export const DEFAULT_MAX_IN_FLIGHT = 16
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000
export const DEFAULT_START_DELAY_MS = 2000
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_HAND_ON_MS = 30_000

export interface DutySchedulerInit {
  /**
   * How often ownership is recomputed against the live set and due deliveries start. A dead
   * owner's duties move within one tick of the mesh noticing it is gone.
   * @default DEFAULT_TICK_MS (500)
   */
  tickMs?: number
  /** First retry delay after a failed delivery; doubles per attempt. @default DEFAULT_RETRY_MIN_MS (500) */
  retryMinMs?: number
  /** Longest retry delay. @default DEFAULT_RETRY_MAX_MS (30 000) */
  retryMaxMs?: number
  /** Deliveries in flight at once. @default DEFAULT_MAX_IN_FLIGHT (16) */
  maxInFlight?: number
  /** A delivery not answered in this time failed (and is retried). @default DEFAULT_REQUEST_TIMEOUT_MS (5000) */
  requestTimeoutMs?: number
  /**
   * No delivery starts until this long after `start()`. A node that has just started sees no
   * peers yet and would otherwise claim every pending duty; this leaves the mesh time to
   * connect and peers time to tell it what they did meanwhile.
   * @default DEFAULT_START_DELAY_MS (2000)
   */
  startDelayMs?: number
  /**
   * Records signed longer ago than this create no duties (a node catching up does not redo
   * old work), and a new presence is matched against alerts issued within it.
   * @default DEFAULT_MAX_AGE_MS (7 days)
   */
  maxAgeMs?: number
  /**
   * How long each node of a duty's ranking waits for the nodes ranked above it before it
   * delivers the duty itself: the node ranked r among the live ones may deliver from
   * `discovered + r · handOnMs`. A node with no webhook for a duty, or whose deliveries keep
   * failing, so hands it on to the next instead of dropping it (a delivery twice is harmless:
   * the receiver deduplicates on the idempotency key).
   * @default DEFAULT_HAND_ON_MS (30 000)
   */
  handOnMs?: number
  /**
   * Where deliveries go. A duty whose webhook is not configured here is handed on to the next
   * node of its ranking (`handOnMs`), never closed: a node without a state's queue leaves that
   * state's cases to nodes that have it.
   * @default {} (everything is skipped)
   */
  webhooks?: DutyWebhooks
}

/** The options with their defaults applied, checked. */
export type DutyOptions = Required<Readonly<DutySchedulerInit>>

/** Applies the defaults and checks every option; throws `CONFIG_INVALID` listing every problem. */
export function dutyOptions(init: DutySchedulerInit): DutyOptions {
  const numbers = integerOptions(
    'duties',
    init,
    {
      tickMs: DEFAULT_TICK_MS,
      retryMinMs: DEFAULT_RETRY_MIN_MS,
      retryMaxMs: DEFAULT_RETRY_MAX_MS,
      maxInFlight: DEFAULT_MAX_IN_FLIGHT,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      startDelayMs: DEFAULT_START_DELAY_MS,
      maxAgeMs: DEFAULT_MAX_AGE_MS,
      handOnMs: DEFAULT_HAND_ON_MS,
    },
    { min: { startDelayMs: 0 } },
  )
  const webhooks = init.webhooks ?? {}
  checkWebhooks(webhooks)
  return { ...numbers, webhooks }
}

function checkWebhooks(w: DutyWebhooks): void {
  const problems: string[] = []
  const check = (name: string, url: unknown) => {
    let ok = false
    try {
      const u = new URL(String(url))
      ok = typeof url === 'string' && (u.protocol === 'http:' || u.protocol === 'https:')
    } catch {}
    // The URL itself is not repeated: it may carry a token.
    if (!ok) problems.push(`${name}: not an http(s) URL`)
  }
  if (w.alerts !== undefined) check('webhooks.alerts', w.alerts)
  for (const [state, url] of Object.entries(w.cases ?? {})) check(`webhooks.cases.${state}`, url)
  if (problems.length > 0) {
    throw new NodeError('CONFIG_INVALID', 'duty webhooks are invalid', { details: problems })
  }
}

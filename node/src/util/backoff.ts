/**
 * Exponential backoff with jitter: the one place that says how long to wait before trying
 * again (a redial, a reopened stream, a duty's delivery).
 *
 * The delay doubles per attempt from `minMs` up to `maxMs`; jitter keeps nodes that failed
 * together from retrying in lockstep. "Equal jitter" (the default) waits at least half the
 * step, so a retry never comes at once after a failure.
 *
 * @example
 * const delay = backoffDelay(attempt, { minMs: 500, maxMs: 30_000 })
 */
export interface BackoffOptions {
  /** Delay of the first retry (attempt 0), in ms. */
  readonly minMs: number
  /** Longest delay, in ms. */
  readonly maxMs: number
  /** Source of randomness in [0, 1). @default Math.random */
  readonly random?: () => number
}

/** The delay, in ms, before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const step = Math.min(opts.maxMs, opts.minMs * 2 ** Math.min(Math.max(attempt, 0), 30))
  const r = (opts.random ?? Math.random)()
  return Math.round(step / 2 + (r * step) / 2)
}

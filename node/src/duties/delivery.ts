/**
 * Delivery of one duty to its webhook: an HTTP POST of JSON with `Idempotency-Key: <duty id>`
 * (the receiver drops a second delivery of the same duty), 2xx is done, anything else is
 * retried after an exponential backoff with jitter. What the body says is read from the engine
 * when it is sent, never stored with the duty, so erased personal data is never delivered.
 */

import type { RecordBody } from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import { alertView, citizenView } from '../engine/views.ts'
import { backoffDelay } from '../util/backoff.ts'
import { DutyError, isDutyError } from './errors.ts'
import type { DutyWebhooks, PendingDuty } from './types.ts'
import { EVERY_STATE } from './types.ts'

export interface DeliveryComponents {
  readonly engine: Engine
  readonly webhooks: DutyWebhooks
  readonly fetch: typeof fetch
  /** Jitter source in [0, 1). */
  readonly random: () => number
}

export interface DeliveryInit {
  readonly requestTimeoutMs: number
  readonly retryMinMs: number
  readonly retryMaxMs: number
}

/** How an attempt ended. `reason` is short and non-personal: it goes to the log. */
export type Outcome =
  | { readonly result: 'delivered' }
  | { readonly result: 'skipped'; readonly reason: string }
  | { readonly result: 'failed'; readonly reason: string }
  /** Stopped while in flight: the duty stays pending, on disk. */
  | { readonly result: 'aborted' }

type Target =
  | { readonly skip: string }
  | { readonly url: string; readonly body: Record<string, unknown>; readonly skip?: undefined }

export class Delivery {
  readonly #c: DeliveryComponents
  readonly #init: DeliveryInit

  constructor(components: DeliveryComponents, init: DeliveryInit) {
    this.#c = components
    this.#init = init
  }

  /** One attempt at delivering `p`; never rejects. */
  async attempt(p: PendingDuty, signal: AbortSignal): Promise<Outcome> {
    let target: Target
    try {
      target = await this.#target(p)
    } catch (err) {
      return { result: 'failed', reason: isDutyError(err) ? err.message : errorCode(err) }
    }
    if (target.skip !== undefined) return { result: 'skipped', reason: target.skip }
    try {
      const res = await this.#c.fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': p.id },
        body: JSON.stringify(target.body),
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#init.requestTimeoutMs)]),
      })
      await res.arrayBuffer().catch(() => undefined) // read to the end, so the connection is reused
      if (res.status >= 200 && res.status < 300) return { result: 'delivered' }
      return { result: 'failed', reason: `status ${res.status}` }
    } catch (err) {
      if (signal.aborted) return { result: 'aborted' }
      return { result: 'failed', reason: errorCode(err) }
    }
  }

  /** How long to wait after failed attempt number `attempts` (1 for the first). */
  retryDelay(attempts: number): number {
    return backoffDelay(attempts - 1, {
      minMs: this.#init.retryMinMs,
      maxMs: this.#init.retryMaxMs,
      random: this.#c.random,
    })
  }

  /** Where the duty goes and what it says, read from the engine now. */
  async #target(p: PendingDuty): Promise<Target> {
    const { engine, webhooks } = this.#c
    const ref = p.ref
    if (ref.kind === 'alert-notify') {
      const url = webhooks.alerts
      if (!url) return { skip: 'no-webhook' }
      const alert = await alertView(engine, ref.alert)
      if (!alert) throw new DutyError('DUTY_DATA_UNAVAILABLE', 'alert not stored here')
      const citizen = await citizenView(engine, ref.citizen)
      if (!citizen) throw new DutyError('DUTY_DATA_UNAVAILABLE', 'citizen not registered here')
      const { id, country, region, severity, title, message } = alert
      return {
        url,
        body: {
          kind: ref.kind,
          duty: p.id,
          alert: { id, country, region, severity, title, message },
          citizen: ref.citizen,
          contact: citizen.contact,
        },
      }
    }
    const nationality = (await engine.getSummary(ref.citizen))?.nationality
    if (!nationality) throw new DutyError('DUTY_DATA_UNAVAILABLE', 'citizen not registered here')
    const cases = webhooks.cases
    const url = cases && (Object.hasOwn(cases, nationality) ? cases[nationality] : cases[EVERY_STATE])
    if (!url) return { skip: 'no-webhook' }
    const opened = await engine.getRecord(ref.case)
    if (opened?.record.header.kind !== 'case.opened') {
      throw new DutyError('DUTY_DATA_UNAVAILABLE', 'case not stored here')
    }
    return {
      url,
      body: {
        kind: ref.kind,
        duty: p.id,
        case: ref.case,
        citizen: ref.citizen,
        caseType: (opened.record.header.body as RecordBody<'case.opened'>).caseType,
        nationality,
      },
    }
  }
}

/** A short, non-personal reason for a failure (never a message that could quote a URL). */
function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause as { code?: unknown } | undefined
    if (typeof cause?.code === 'string') return cause.code
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timeout'
    return err.name
  }
  return 'error'
}

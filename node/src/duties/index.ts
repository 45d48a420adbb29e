/**
 * Duties: work done once across the bloc by whichever live node the rendezvous rule picks.
 * See README.md.
 *
 * @example
 * import { dutyScheduler } from './duties/index.ts'
 * const duties = dutyScheduler({ webhooks })({ engine, store, registrar, logger })
 * await duties.start()
 */

export { isDutyDone, RECENT_DONE_ON_CONNECT } from './announcements.ts'
export {
  type AlertArea,
  alertDuties,
  type DutyRef,
  dutiesOfEntry,
  inArea,
  type PresenceArea,
  refId,
} from './discovery.ts'
export { DUTY_ERRORS, DutyError, type DutyErrorCode, isDutyError } from './errors.ts'
export {
  alertDutyId,
  caseDutyId,
  DUTY_KINDS,
  type DutyKind,
  dutyId,
  dutyOwner,
  dutyWeight,
  rankNodes,
} from './ids.ts'
export { DK as DUTY_KEYS } from './keys.ts'
export {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_RETRY_MIN_MS,
  DEFAULT_START_DELAY_MS,
  DEFAULT_TICK_MS,
  type DutySchedulerInit,
} from './options.ts'
export {
  DUTIES_COMPONENT,
  type DutyComponents,
  DutyScheduler,
  type DutySchedulerStatus,
  dutyScheduler,
} from './scheduler.ts'
export {
  type DutyDone,
  type DutyLogger,
  type DutyState,
  type DutyWebhooks,
  EVERY_STATE,
  type StoredDuty,
} from './types.ts'

/**
 * Duties: work done once across the bloc by whichever live node the rendezvous rule picks.
 * See README.md.
 *
 * @example
 * import { DutyScheduler } from './duties/index.ts'
 * const duties = new DutyScheduler({ engine, store, liveNodes, announce, logger }, { webhooks })
 * await duties.start()
 */
export {
  type AlertArea,
  alertDuties,
  type DutyRef,
  dutiesOfEntry,
  inArea,
  type PresenceArea,
  refId,
} from './discovery.ts'
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
  DUTIES_COMPONENT,
  type DutyComponents,
  type DutyDone,
  type DutyLogger,
  DutyScheduler,
  type DutySchedulerInit,
  type DutySchedulerStatus,
  type DutyState,
  type DutyWebhooks,
  dutyScheduler,
  isDutyDone,
  type StoredDuty,
} from './scheduler.ts'

/**
 * What can go wrong inside the duty scheduler, as a table of stable codes (the shape of
 * `protocol/src/errors.ts`). These errors never reach HTTP: they decide whether a delivery is
 * retried and give the log line its `reason`. Invalid options are `NodeError('CONFIG_INVALID')`,
 * since the node refuses to start with them. `docs/errors.md` (section duties) lists every code;
 * `node/test/duties/errors.test.ts` keeps the two in step.
 *
 * @example
 * throw new DutyError('DUTY_DATA_UNAVAILABLE', 'alert not stored here')
 */
import { CodedError } from '@legation/protocol'

export const DUTY_ERRORS = {
  DUTY_DATA_UNAVAILABLE: { message: 'the data this delivery needs is not stored on this node yet' },
} as const satisfies Record<string, { message: string }>

export type DutyErrorCode = keyof typeof DUTY_ERRORS

export class DutyError extends CodedError<DutyErrorCode> {
  override readonly name = 'DutyError'

  constructor(code: DutyErrorCode, message?: string, options?: { cause?: unknown }) {
    super(DUTY_ERRORS, code, message, options)
  }
}

export function isDutyError(err: unknown): err is DutyError {
  return err instanceof DutyError
}

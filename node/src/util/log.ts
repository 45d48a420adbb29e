/**
 * What a service needs of a logger. Structural, so services depend on no logging library: the
 * node's pino logger satisfies it, tests pass `silentLogger`. Personal data and frame contents
 * are never logged; an error is logged by its name and code (`errorFields`).
 */
export interface ServiceLogger {
  child(bindings: Record<string, unknown>): ServiceLogger
  debug(obj: Record<string, unknown>, msg?: string): void
  info(obj: Record<string, unknown>, msg?: string): void
  warn(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
}

export const noop = (): void => {}

/** A logger that discards everything. */
export const silentLogger: ServiceLogger = {
  child: () => silentLogger,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
}

/**
 * An error as log fields, under `err`: its name, its code, and its message unless told not to
 * (`message: false` where a message could quote a webhook URL, which may carry a token).
 */
export function errorFields(err: unknown, opts: { message?: boolean } = {}): Record<string, unknown> {
  if (!(err instanceof Error))
    return { err: { name: 'unknown', ...(opts.message === false ? {} : { message: String(err) }) } }
  const code = (err as { code?: unknown }).code
  return {
    err: {
      name: err.name,
      ...(opts.message === false ? {} : { message: err.message }),
      ...(typeof code === 'string' ? { code } : {}),
    },
  }
}

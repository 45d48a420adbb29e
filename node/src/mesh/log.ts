/**
 * What the mesh needs of a logger, and how it logs an error. Kept structural so the mesh
 * depends on no logging library (a pino logger satisfies it). Frame contents are never
 * logged, only sizes and peer ids.
 */

/** Minimal structural logger; a pino logger satisfies it. */
export interface MeshLogger {
  child(bindings: Record<string, unknown>): MeshLogger
  debug(obj: Record<string, unknown>, msg?: string): void
  info(obj: Record<string, unknown>, msg?: string): void
  warn(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
}

export const noop = (): void => {}

/** A logger that discards everything. */
export const silentLogger: MeshLogger = {
  child: () => silentLogger,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
}

/** The `err` field of a log entry: name, message and code, never a frame. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { err: { name: err.name, message: err.message, ...(code === undefined ? {} : { code }) } }
  }
  return { err: String(err) }
}

/**
 * The node's one root logger (pino). Services take `logger.child({ component: COMPONENTS.x })`;
 * fastify gets it as `loggerInstance`. Secrets and citizens' personal data are redacted by path
 * before anything is written (invariant 7: personal data never reaches a log).
 *
 * @example
 * const logger = createLogger(config)
 * const log = logger.child({ component: COMPONENTS.mesh })
 * log.warn({ peer, code: err.code }, 'dropped stream from misbehaving peer')
 */
import { type DestinationStream, type Logger, pino } from 'pino'
import type { LogLevel } from './config.ts'

/** Component names for `logger.child({ component })`: one constant, never retyped. */
export const COMPONENTS = {
  duties: 'duties',
  node: 'node',
  http: 'http',
  engine: 'engine',
  mesh: 'mesh',
  storage: 'storage',
  replication: 'replication',
  nodeUrls: 'node-urls',
} as const
export type Component = (typeof COMPONENTS)[keyof typeof COMPONENTS]

/** Field names that hold secrets or personal data wherever they appear. */
export const REDACTED_FIELDS = [
  // secrets
  'secretKey',
  'passphrase',
  'keyPassphrase',
  'privateKey',
  // personal data (record payloads and the profile fields inside them)
  'payload',
  'names',
  'birth',
  'contact',
  'travelDocument',
  'address',
  'email',
  'phone',
] as const

/**
 * How deep a field is searched for. pino's redaction works on explicit paths, so each field
 * is listed at depths 0..REDACT_DEPTH (`names`, `*.names`, `*.*.names`, …).
 */
export const REDACT_DEPTH = 3

export const REDACT_CENSOR = '[redacted]'

export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_FIELDS.flatMap((f) => Array.from({ length: REDACT_DEPTH + 1 }, (_, d) => '*.'.repeat(d) + f)),
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["legation-certificate"]',
]

export interface LoggerConfig {
  readonly log: { readonly level: LogLevel | string }
}

/**
 * The root logger. `destination` defaults to stdout; tests pass an in-memory stream.
 */
export function createLogger(config: LoggerConfig, destination?: DestinationStream): Logger {
  const options = {
    level: config.log.level,
    redact: { paths: [...REDACT_PATHS], censor: REDACT_CENSOR },
    serializers: { err: pino.stdSerializers.err },
  }
  return destination ? pino(options, destination) : pino(options)
}

export type { Logger }

/**
 * Loading the configuration: defaults → JSON config file (`--config <file>` or
 * `LEGATION_CONFIG`) → `LEGATION_*` environment → flags, later wins. The merged result is
 * validated once against the schema; every problem is reported in one
 * `NodeError('CONFIG_INVALID')` naming the path, the problem and where the value came from.
 * The result is deep-frozen.
 *
 * This is the only module that reads the environment, and only through its `env` argument.
 */
import { isAbsolute, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'
import { NodeError } from '../errors.ts'
import { type Config, ConfigSchema } from './schema.ts'
import { CONFIG_ENV, PATH_SETTINGS, SETTINGS } from './settings.ts'
import {
  coerce,
  fromEnv,
  fromFile,
  fromFlags,
  isPlainObject,
  readConfigFile,
  type Sourced,
} from './sources.ts'

export interface LoadConfigInput {
  /** Command-line arguments without the node binary and script (`process.argv.slice(2)`). */
  argv?: readonly string[]
  /** Usually `process.env`; unknown `LEGATION_*` variables are ignored. */
  env?: Readonly<Record<string, string | undefined>>
  /** Relative paths given in the environment or as flags are resolved against it. */
  cwd: string
}

function describe(e: ValueError): string {
  const s = e.schema as Record<string, unknown>
  switch (e.type) {
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be <= ${s.maximum}`
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be >= ${s.minimum}`
    case ValueErrorType.Integer:
      return typeof e.value === 'string' ? `must be an integer, got "${e.value}"` : 'must be an integer'
    case ValueErrorType.Boolean:
      return typeof e.value === 'string' ? `must be true or false, got "${e.value}"` : 'must be true or false'
    case ValueErrorType.String:
      return 'must be a string'
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters`
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters`
    case ValueErrorType.Array:
      return 'must be a list of strings'
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${s.maxItems} items`
    case ValueErrorType.Union: {
      const options = (s.anyOf as { const?: unknown }[]).map((o) => o.const).join(', ')
      return `must be one of ${options}`
    }
    default:
      return e.message
  }
}

/** `/p2p/listen/1` → `p2p.listen[1]`. */
function dottedPath(pointer: string): { path: string; leaf: string } {
  const parts = pointer.split('/').filter((p) => p.length > 0)
  let path = ''
  const leaf: string[] = []
  for (const p of parts) {
    if (/^\d+$/.test(p)) path += `[${p}]`
    else {
      path += path ? `.${p}` : p
      leaf.push(p)
    }
  }
  return { path, leaf: leaf.join('.') }
}

function setAt(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let o = target
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(o[k])) o[k] = {}
    o = o[k] as Record<string, unknown>
  }
  o[keys[keys.length - 1]!] = value
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * Loads, merges, validates and freezes the configuration.
 * Relative paths are resolved against `cwd`, or against the config file's folder for values
 * that come from the file. Throws `NodeError('CONFIG_INVALID')` listing every problem (also in
 * `details`, one line each).
 */
export function loadConfig(input: LoadConfigInput): Readonly<Config> {
  const { argv = [], env = {}, cwd } = input
  const problems: string[] = []

  const flags = fromFlags(argv, cwd, problems)
  const merged = new Map<string, Sourced>()
  const configFile = flags.configFile ?? env[CONFIG_ENV]
  if (configFile !== undefined && configFile !== '') {
    const file = resolve(cwd, configFile)
    const json = readConfigFile(file, problems)
    if (json !== undefined) fromFile(json, [], file, merged, problems)
  }
  for (const [k, v] of fromEnv(env, cwd)) merged.set(k, v)
  for (const [k, v] of flags.values) merged.set(k, v)

  const config: Record<string, unknown> = {}
  const sources = new Map<string, string>()
  for (const s of SETTINGS) {
    const given = merged.get(s.path)
    let value: unknown
    if (given) {
      value = coerce(s, given.value)
      if (PATH_SETTINGS.has(s.path) && typeof value === 'string' && value !== '' && !isAbsolute(value)) {
        value = resolve(given.base, value)
      }
      sources.set(s.path, given.from)
    } else if (s.path === 'dev') {
      // A development bloc is the default only when no charter is configured.
      const charter = merged.get('charterFile')
      value = charter === undefined || charter.value === ''
      sources.set(s.path, 'default')
    } else if (s.schema.default !== undefined) {
      value = structuredClone(s.schema.default)
      if (PATH_SETTINGS.has(s.path)) value = resolve(cwd, value as string)
      sources.set(s.path, 'default')
    } else {
      continue
    }
    setAt(config, s.keys, value)
  }
  // Groups whose settings are all optional exist even when none is set.
  ;(config as { duties?: unknown }).duties ??= {}
  for (const e of Value.Errors(ConfigSchema, config)) {
    const { path, leaf } = dottedPath(e.path)
    problems.push(`${path}: ${describe(e)} (from ${sources.get(leaf) ?? 'default'})`)
  }
  const listen = (config.p2p as { listen?: unknown }).listen
  if (Array.isArray(listen)) {
    listen.forEach((addr, i) => {
      if (typeof addr !== 'string' || addr === '') return
      try {
        multiaddr(addr)
      } catch (err) {
        const why = (err as Error).message
        problems.push(`p2p.listen[${i}]: not a valid multiaddr: ${why} (from ${sources.get('p2p.listen')})`)
      }
    })
  }

  // Across settings: a write waits for receipts up to its timeout, and peers sign receipts only
  // for entries within the window, so a shorter window would time out writes that could succeed.
  const windowMs = (config.replication as { receiptWindowMs?: unknown } | undefined)?.receiptWindowMs
  const timeoutMs = config.writeConcernTimeoutMs
  if (typeof windowMs === 'number' && typeof timeoutMs === 'number' && windowMs < timeoutMs) {
    problems.push(
      `replication.receiptWindowMs: must be >= writeConcernTimeoutMs (${timeoutMs}) (from ${sources.get('replication.receiptWindowMs')})`,
    )
  }

  if (problems.length > 0) {
    throw new NodeError(
      'CONFIG_INVALID',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
      { details: problems },
    )
  }
  return deepFreeze(config as Config)
}

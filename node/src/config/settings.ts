/**
 * The settings table, derived from the schema: each leaf's dotted path, its environment
 * variable and its flag. Names are never written by hand, so a new setting in the schema is
 * settable everywhere at once: `http.rateLimit.max` is `LEGATION_HTTP_RATE_LIMIT_MAX` and
 * `--http-rate-limit-max`.
 */
import type { TSchema } from '@sinclair/typebox'
import { NodeError } from '../errors.ts'
import { ConfigSchema } from './schema.ts'

export const ENV_PREFIX = 'LEGATION_'
/** Environment variable naming the JSON config file (the `--config` flag wins over it). */
export const CONFIG_ENV = 'LEGATION_CONFIG'
export const CONFIG_FLAG = 'config'

export type LeafType = 'integer' | 'boolean' | 'string' | 'string[]' | 'enum'

export interface Setting {
  /** Dotted path, e.g. `http.rateLimit.max`. */
  readonly path: string
  readonly keys: readonly string[]
  readonly type: LeafType
  readonly env: string
  /** Flag name without dashes, or null when the setting has no flag. */
  readonly flag: string | null
  readonly schema: TSchema
  readonly description: string
}

/** Settings whose values are relative paths resolved against the cwd (or the config file's folder). */
export const PATH_SETTINGS = new Set(['dataDir', 'charterFile', 'keyFile', 'keyPassphraseFile'])
/** Secrets: a flag would show them in `ps`. */
const NO_FLAG = new Set(['keyPassphrase'])

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()

function leafType(s: TSchema): LeafType {
  if (s.type === 'integer') return 'integer'
  if (s.type === 'boolean') return 'boolean'
  if (s.type === 'string') return 'string'
  if (s.type === 'array') return 'string[]'
  if (Array.isArray(s.anyOf)) return 'enum'
  throw new NodeError('CONFIG_INVALID', `config schema: unsupported setting type ${JSON.stringify(s)}`)
}

function collect(schema: TSchema, keys: string[], out: Setting[]): void {
  for (const [key, sub] of Object.entries(schema.properties as Record<string, TSchema>)) {
    const path = [...keys, key]
    if (sub.type === 'object') {
      collect(sub, path, out)
      continue
    }
    const dotted = path.join('.')
    out.push({
      path: dotted,
      keys: path,
      type: leafType(sub),
      env: ENV_PREFIX + path.map(snake).join('_'),
      flag: NO_FLAG.has(dotted) ? null : path.map(kebab).join('-'),
      schema: sub,
      description: typeof sub.description === 'string' ? sub.description : '',
    })
  }
}

export const SETTINGS: readonly Setting[] = (() => {
  const out: Setting[] = []
  collect(ConfigSchema, [], out)
  return out
})()

export const BY_PATH: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.path, s]))
export const BY_FLAG: ReadonlyMap<string, Setting> = new Map(
  SETTINGS.filter((s) => s.flag).map((s) => [s.flag!, s]),
)

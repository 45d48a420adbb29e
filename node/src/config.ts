/**
 * The node's configuration: one TypeBox schema with defaults, loaded in one place.
 *
 * Load order, later wins: defaults → JSON config file (`--config <file>` or `LEGATION_CONFIG`)
 * → `LEGATION_*` environment variables → command-line flags. Every setting's environment
 * variable and flag is derived from its path: `http.port` is `LEGATION_HTTP_PORT` and
 * `--http-port`, `p2p.listen` is `LEGATION_P2P_LISTEN` (comma-separated) and `--p2p-listen`
 * (repeatable). The merged result is validated once; every problem is reported in one
 * `NodeError('CONFIG_INVALID')` naming the path, the problem and where the value came from.
 * The result is deep-frozen.
 *
 * This is the only module that reads the environment, and only through its `env` argument.
 *
 * @example
 * const config = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() })
 * config.http.port // 8080
 */
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'
import { NodeError } from './errors.ts'

export const DEFAULT_DATA_DIR = './.legation/node'
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 8080
/** 1 MiB: a batch of signed records with payloads fits well below it. */
export const DEFAULT_HTTP_BODY_LIMIT = 1024 * 1024
/** Requests per minute per client address. */
export const DEFAULT_HTTP_RATE_LIMIT_MAX = 600
export const DEFAULT_P2P_LISTEN: readonly string[] = Object.freeze(['/ip4/127.0.0.1/tcp/0'])
export const DEFAULT_P2P_BOOTSTRAP = true
export const DEFAULT_P2P_BAN_MS = 30_000
export const DEFAULT_LOG_LEVEL = 'info'
export const DEFAULT_FAULT_INJECTION = false
export const DEFAULT_WRITE_CONCERN_TIMEOUT_MS = 5000

export const ENV_PREFIX = 'LEGATION_'
/** Environment variable naming the JSON config file (the `--config` flag wins over it). */
export const CONFIG_ENV = 'LEGATION_CONFIG'
export const CONFIG_FLAG = 'config'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const MAX_BODY_LIMIT = 64 * 1024 * 1024

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({
      minLength: 1,
      default: DEFAULT_DATA_DIR,
      description: 'Folder of the node store, its keys and (in development) the generated bloc',
    }),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, default: DEFAULT_HTTP_HOST, description: 'HTTP listen address' }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: DEFAULT_HTTP_PORT,
          description: 'HTTP listen port (0: any free port)',
        }),
        bodyLimit: Type.Integer({
          minimum: 1024,
          maximum: MAX_BODY_LIMIT,
          default: DEFAULT_HTTP_BODY_LIMIT,
          description: 'Largest accepted request body, in bytes',
        }),
        rateLimit: Type.Object(
          {
            max: Type.Integer({
              minimum: 1,
              default: DEFAULT_HTTP_RATE_LIMIT_MAX,
              description: 'Requests per minute per client',
            }),
          },
          { additionalProperties: false },
        ),
        trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f.:/]+$' }), {
          maxItems: 32,
          default: [],
          description:
            'Addresses or CIDR ranges of reverse proxies in front of the node: their X-Forwarded-For names the client (per-client rate limit); empty: the connecting address is the client',
        }),
      },
      { additionalProperties: false },
    ),
    p2p: Type.Object(
      {
        listen: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
          maxItems: 16,
          default: DEFAULT_P2P_LISTEN,
          description: 'libp2p listen multiaddrs',
        }),
        bootstrap: Type.Boolean({
          default: DEFAULT_P2P_BOOTSTRAP,
          description: 'Dial the addresses the charter lists for the other nodes',
        }),
        bootstrapPeers: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
          maxItems: 256,
          default: [],
          description: 'Dial only these peer ids from the charter (empty: all certified nodes)',
        }),
        banMs: Type.Integer({
          minimum: 0,
          maximum: 86_400_000,
          default: DEFAULT_P2P_BAN_MS,
          description: 'How long a peer that sent invalid data stays disconnected, in ms',
        }),
      },
      { additionalProperties: false },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          LOG_LEVELS.map((l) => Type.Literal(l)),
          { default: DEFAULT_LOG_LEVEL, description: 'pino log level' },
        ),
      },
      { additionalProperties: false },
    ),
    dev: Type.Boolean({
      description: 'Allow a generated development bloc (default: true when no charterFile is set)',
    }),
    charterFile: Type.Optional(
      Type.String({ minLength: 1, description: 'Charter chain file (canonical CBOR of SignedCharter[])' }),
    ),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'The node key file (keystore)' })),
    /** Environment or config file only: a flag would show it in `ps`. */
    keyPassphrase: Type.Optional(
      Type.String({ minLength: 1, description: 'Passphrase of the key file (environment only)' }),
    ),
    faultInjection: Type.Boolean({
      default: DEFAULT_FAULT_INJECTION,
      description: 'Test only: enable the fault-injection control routes',
    }),
    duties: Type.Object(
      {
        alertWebhook: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description: 'URL that receives crisis-alert notifications (one per citizen)',
          }),
        ),
        caseWebhook: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'URL of the case queue that receives new cases (the body names the nationality state)',
          }),
        ),
      },
      { additionalProperties: false },
    ),
    writeConcernTimeoutMs: Type.Integer({
      minimum: 1,
      maximum: 600_000,
      default: DEFAULT_WRITE_CONCERN_TIMEOUT_MS,
      description: 'How long a write waits for peer receipts when the client asks for them',
    }),
  },
  { additionalProperties: false },
)

export type Config = Static<typeof ConfigSchema>

// ---- Settings table, derived from the schema ----

type LeafType = 'integer' | 'boolean' | 'string' | 'string[]' | 'enum'

interface Setting {
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
const PATH_SETTINGS = new Set(['dataDir', 'charterFile', 'keyFile'])
const NO_FLAG = new Set(['keyPassphrase'])

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()

function leafType(s: TSchema): LeafType {
  if (s.type === 'integer') return 'integer'
  if (s.type === 'boolean') return 'boolean'
  if (s.type === 'string') return 'string'
  if (s.type === 'array') return 'string[]'
  if (Array.isArray(s.anyOf)) return 'enum'
  throw new Error(`config schema: unsupported setting type ${JSON.stringify(s)}`)
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

const BY_PATH = new Map(SETTINGS.map((s) => [s.path, s]))
const BY_FLAG = new Map(SETTINGS.filter((s) => s.flag).map((s) => [s.flag!, s]))

/** The flags and environment variables, one per line, for `--help`. */
export function configUsage(): string {
  const rows: [string, string][] = [[`--${CONFIG_FLAG} <file>`, `JSON config file (env ${CONFIG_ENV})`]]
  for (const s of SETTINGS) {
    const flag = !s.flag
      ? '(no flag)'
      : s.type === 'boolean'
        ? `--[no-]${s.flag}`
        : `--${s.flag} <${s.type === 'string[]' ? 'a,b,…' : 'value'}>`
    const def = s.schema.default === undefined ? '' : ` [default: ${JSON.stringify(s.schema.default)}]`
    rows.push([flag, `${s.description}${def} (env ${s.env})`])
  }
  const width = Math.max(...rows.map(([f]) => f.length))
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join('\n')
}

// ---- Loading ----

export interface LoadConfigInput {
  /** Command-line arguments without the node binary and script (`process.argv.slice(2)`). */
  argv?: readonly string[]
  /** Usually `process.env`; unknown `LEGATION_*` variables are ignored. */
  env?: Readonly<Record<string, string | undefined>>
  /** Relative paths given in the environment or as flags are resolved against it. */
  cwd: string
}

interface Sourced {
  value: unknown
  /** Human-readable origin, used in error messages: `LEGATION_HTTP_PORT`, `--http-port`, … */
  from: string
  /** Folder that a relative path value is relative to. */
  base: string
}

const TRUE = new Set(['true', '1', 'yes', 'on'])
const FALSE = new Set(['false', '0', 'no', 'off'])
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/** Turns a string from the environment, a flag or the file into the setting's type where it can. */
function coerce(setting: Setting, value: unknown): unknown {
  if (typeof value !== 'string') return value
  const text = value.trim()
  switch (setting.type) {
    case 'integer':
      return NUMERIC.test(text) ? Number(text) : value
    case 'boolean':
      if (TRUE.has(text.toLowerCase())) return true
      if (FALSE.has(text.toLowerCase())) return false
      return value
    case 'string[]':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    default:
      return value
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Flattens the config file into settings; unknown keys and misplaced objects are problems. */
function fromFile(
  value: unknown,
  prefix: string[],
  file: string,
  out: Map<string, Sourced>,
  problems: string[],
): void {
  const where = prefix.length === 0 ? '(top level)' : prefix.join('.')
  if (!isPlainObject(value)) {
    problems.push(`${where}: must be an object (from config file ${file})`)
    return
  }
  for (const [key, v] of Object.entries(value)) {
    const path = [...prefix, key]
    const dotted = path.join('.')
    if (BY_PATH.has(dotted)) {
      out.set(dotted, { value: v, from: `config file ${file}`, base: dirname(file) })
    } else if (SETTINGS.some((s) => s.path.startsWith(`${dotted}.`))) {
      fromFile(v, path, file, out, problems)
    } else {
      problems.push(`${dotted}: unknown setting (from config file ${file})`)
    }
  }
}

interface ParsedFlags {
  configFile: string | undefined
  values: Map<string, Sourced>
}

function fromFlags(argv: readonly string[], cwd: string, problems: string[]): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    [CONFIG_FLAG]: { type: 'string' },
  }
  for (const s of SETTINGS) {
    if (!s.flag) continue
    options[s.flag] =
      s.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: s.type === 'string[]' }
  }
  // Non-strict with tokens, so that every unknown flag is reported, not just the first.
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    allowNegative: true,
    tokens: true,
  })
  const values = new Map<string, Sourced>()
  const lists = new Map<string, string[]>()
  let configFile: string | undefined
  let afterUnknown = false
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue
    if (t.kind === 'positional') {
      if (!afterUnknown) problems.push(`unexpected argument "${t.value}"`)
      afterUnknown = false
      continue
    }
    afterUnknown = false
    const setting = BY_FLAG.get(t.name)
    if (t.name !== CONFIG_FLAG && !setting) {
      problems.push(`unknown flag ${t.rawName} (see --help for the flags)`)
      afterUnknown = !t.inlineValue
      continue
    }
    if (setting?.type === 'boolean') {
      const negated = t.rawName.startsWith('--no-')
      if (negated && t.value !== undefined) {
        problems.push(`${t.rawName}: takes no value`)
        continue
      }
      const v = negated ? false : t.value === undefined ? true : coerce(setting, t.value)
      values.set(setting.path, { value: v, from: t.rawName, base: cwd })
      continue
    }
    if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
      problems.push(`${t.rawName}: needs a value`)
      continue
    }
    if (!setting) {
      configFile = t.value
      continue
    }
    if (setting.type === 'string[]') {
      const list = lists.get(setting.path) ?? []
      list.push(...(coerce(setting, t.value) as string[]))
      lists.set(setting.path, list)
      values.set(setting.path, { value: list, from: `--${setting.flag}`, base: cwd })
    } else {
      values.set(setting.path, { value: t.value, from: t.rawName, base: cwd })
    }
  }
  return { configFile, values }
}

function fromEnv(env: Readonly<Record<string, string | undefined>>, cwd: string): Map<string, Sourced> {
  const out = new Map<string, Sourced>()
  for (const s of SETTINGS) {
    const v = env[s.env]
    if (v !== undefined) out.set(s.path, { value: v, from: s.env, base: cwd })
  }
  return out
}

function readConfigFile(file: string, problems: string[]): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    problems.push(`config file ${file}: cannot be read (${code})`)
    return undefined
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    problems.push(`config file ${file}: not valid JSON (${(err as Error).message})`)
    return undefined
  }
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

  if (problems.length > 0) {
    throw new NodeError(
      'CONFIG_INVALID',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
      { details: problems },
    )
  }
  return deepFreeze(config as Config)
}

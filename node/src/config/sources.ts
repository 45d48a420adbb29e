/**
 * Where settings come from: the JSON config file, the `LEGATION_*` environment and the
 * command-line flags, each read into `path → value` with where the value came from (for the
 * error messages). Values stay as given, strings from the environment and flags included;
 * `coerce` turns them into the setting's type just before validation.
 */
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { BY_FLAG, BY_PATH, CONFIG_FLAG, SETTINGS, type Setting } from './settings.ts'

export interface Sourced {
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
export function coerce(setting: Setting, value: unknown): unknown {
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Flattens the config file into settings; unknown keys and misplaced objects are problems. */
export function fromFile(
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

export interface ParsedFlags {
  configFile: string | undefined
  values: Map<string, Sourced>
}

export function fromFlags(argv: readonly string[], cwd: string, problems: string[]): ParsedFlags {
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

export function fromEnv(
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Map<string, Sourced> {
  const out = new Map<string, Sourced>()
  for (const s of SETTINGS) {
    const v = env[s.env]
    if (v !== undefined) out.set(s.path, { value: v, from: s.env, base: cwd })
  }
  return out
}

export function readConfigFile(file: string, problems: string[]): unknown {
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

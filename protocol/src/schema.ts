/** Schema checking with TypeBox: compiled once, every problem reported by path. */
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { SchemaError } from './errors.ts'

export interface Parser<T extends TSchema> {
  readonly schema: T
  /** Returns the value typed, or throws SchemaError listing up to 10 failing paths. */
  parse(value: unknown, what?: string): Static<T>
  is(value: unknown): value is Static<T>
}

export function parser<T extends TSchema>(schema: T): Parser<T> {
  // TypeBox checks `uniqueItems` by hashing every item with a general-purpose hash (about a
  // fifth of a record's verification time). Our unique arrays hold a few literals: compile the
  // schema without the keyword and check those arrays with a Set instead.
  const uniquePaths: UniquePath[] = []
  const compiled = TypeCompiler.Compile(withoutUniqueItems(schema, [], uniquePaths))
  const duplicates = (value: unknown): string[] =>
    uniquePaths.flatMap((path) =>
      arraysAt(value, path)
        .filter(([, items]) => new Set(items.map(itemKey)).size !== items.length)
        .map(([at]) => `${at}: Expected array to contain unique items`),
    )
  return {
    schema,
    is: (value): value is Static<T> =>
      compiled.Check(value) && uniquePaths.every((p) => allUniqueAt(value, p, 0)),
    parse(value, what = 'object') {
      if (compiled.Check(value)) {
        // Every record is checked: the common case (all unique) allocates nothing.
        if (uniquePaths.every((path) => allUniqueAt(value, path, 0))) return value
        const dup = duplicates(value)
        if (dup.length === 0) return value
        throw new SchemaError('SCHEMA_INVALID', `${what} does not match its schema`, {
          details: dup.slice(0, 10),
        })
      }
      const details: string[] = []
      for (const e of compiled.Errors(value)) {
        details.push(`${e.path || '/'}: ${e.message}`)
        if (details.length >= 10) break
      }
      throw new SchemaError('SCHEMA_INVALID', `${what} does not match its schema`, { details })
    },
  }
}

/** A path to arrays that must hold unique items: property names, `*` for every array item. */
type UniquePath = readonly string[]

/** A copy of the schema without `uniqueItems`, noting where the keyword was. */
function withoutUniqueItems(schema: TSchema, path: string[], found: UniquePath[]): TSchema {
  // An exact copy, symbol keys (TypeBox's Kind) included.
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(schema)) as TSchema
  if (copy.uniqueItems === true) {
    found.push(path)
    delete copy.uniqueItems
  }
  if (copy.properties && typeof copy.properties === 'object') {
    copy.properties = Object.fromEntries(
      Object.entries(copy.properties as Record<string, TSchema>).map(([k, s]) => [
        k,
        withoutUniqueItems(s, [...path, k], found),
      ]),
    )
  }
  if (copy.items && !Array.isArray(copy.items))
    copy.items = withoutUniqueItems(copy.items, [...path, '*'], found)
  for (const key of ['anyOf', 'allOf', 'oneOf'] as const) {
    if (Array.isArray(copy[key]))
      copy[key] = copy[key].map((s: TSchema) => withoutUniqueItems(s, path, found))
  }
  return copy
}

/** The arrays at `path` in a value that passed the schema, with their JSON pointer. */
function arraysAt(value: unknown, path: UniquePath, at = ''): Array<[string, unknown[]]> {
  if (path.length === 0) return Array.isArray(value) ? [[at, value]] : []
  const [head, ...rest] = path as [string, ...string[]]
  if (head === '*') {
    return Array.isArray(value) ? value.flatMap((v, i) => arraysAt(v, rest, `${at}/${i}`)) : []
  }
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, head)) return []
  return arraysAt((value as Record<string, unknown>)[head], rest, `${at}/${head}`)
}

/** Whether every array at `path` in a value holds unique items (what `duplicates` lists). */
function allUniqueAt(value: unknown, path: UniquePath, depth: number): boolean {
  if (depth === path.length) return !Array.isArray(value) || uniqueItems(value)
  const head = path[depth]!
  if (head === '*') {
    if (!Array.isArray(value)) return true
    for (const v of value) if (!allUniqueAt(v, path, depth + 1)) return false
    return true
  }
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, head)) return true
  return allUniqueAt((value as Record<string, unknown>)[head], path, depth + 1)
}

function uniqueItems(items: readonly unknown[]): boolean {
  if (items.length < 2) return true
  // A few strings or numbers (our unique arrays: roles, purposes, field names): compared in place.
  if (items.length <= 16) {
    let plain = true
    for (const x of items) if (typeof x !== 'string' && typeof x !== 'number') plain = false
    if (plain) {
      for (let i = 1; i < items.length; i++) {
        // As a Set compares (0 is -0; NaN, which no schema of ours lets through, aside).
        for (let j = 0; j < i; j++) if (items[i] === items[j]) return false
      }
      return true
    }
  }
  return new Set(items.map(itemKey)).size === items.length
}

function itemKey(item: unknown): unknown {
  if (item instanceof Uint8Array) return `bytes:${Array.from(item).join(',')}`
  if (item !== null && typeof item === 'object') return JSON.stringify(item)
  return item
}

// Building blocks shared by every schema.
export const Bytes = (n: number) => Type.Uint8Array({ minByteLength: n, maxByteLength: n })
export const PublicKey = Bytes(32)
export const Signature = Bytes(64)
export const Digest = Bytes(32)
/** A content id: 64 lower-case hex chars. */
export const Id = Type.String({ pattern: '^[0-9a-f]{64}$' })
/** A key id: 32 lower-case hex chars. */
export const KeyIdString = Type.String({ pattern: '^[0-9a-f]{32}$' })
/** A member state's code, ISO 3166-1 alpha-2 or alpha-3 style. */
export const StateCode = Type.String({ pattern: '^[A-Z]{2,3}$' })
/** Milliseconds since the Unix epoch. */
export const Millis = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 })
/** Text of at most `maxLength` characters. What may be in it where people read it: display.ts. */
export const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength })

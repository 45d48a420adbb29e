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
  const compiled = TypeCompiler.Compile(schema)
  return {
    schema,
    is: (value): value is Static<T> => compiled.Check(value),
    parse(value, what = 'object') {
      if (compiled.Check(value)) return value
      const details: string[] = []
      for (const e of compiled.Errors(value)) {
        details.push(`${e.path || '/'}: ${e.message}`)
        if (details.length >= 10) break
      }
      throw new SchemaError('SCHEMA_INVALID', `${what} does not match its schema`, { details })
    },
  }
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
export const Text = (maxLength: number) => Type.String({ minLength: 1, maxLength })

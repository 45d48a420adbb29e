/**
 * The schema parser's own check of unique items (TypeBox's is compiled out, see schema.ts): it
 * refuses exactly the arrays a Set would find a duplicate in, at any depth, and names where.
 */
import { Type } from '@sinclair/typebox'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { SchemaError } from '../src/errors.ts'
import { parser } from '../src/schema.ts'

const Item = Type.Union([Type.String(), Type.Number(), Type.Uint8Array()])
const schema = Type.Object({
  top: Type.Array(Item, { uniqueItems: true }),
  rows: Type.Array(Type.Object({ tags: Type.Array(Item, { uniqueItems: true }) })),
})
const p = parser(schema)

const key = (x: unknown) => (x instanceof Uint8Array ? `b:${[...x].join(',')}` : x)
const unique = (xs: readonly unknown[]) => new Set(xs.map(key)).size === xs.length
const item = fc.oneof(
  fc.constantFrom('a', 'b', 'c', ''),
  fc.constantFrom(0, -0, 1, 2.5),
  fc.uint8Array({ maxLength: 2 }),
)

describe('schema: unique items', () => {
  it('refuses exactly the arrays that hold an item twice, at the top and in nested rows', () => {
    fc.assert(
      fc.property(
        fc.array(item, { maxLength: 20 }),
        fc.array(fc.array(item, { maxLength: 20 }), { maxLength: 4 }),
        (top, rows) => {
          const value = { top, rows: rows.map((tags) => ({ tags })) }
          const ok = unique(top) && rows.every(unique)
          expect(p.is(value)).toBe(ok)
          if (ok) {
            expect(p.parse(value)).toBe(value)
            return
          }
          let err: SchemaError | undefined
          try {
            p.parse(value)
          } catch (e) {
            err = e as SchemaError
          }
          const where = [
            ...(unique(top) ? [] : ['/top']),
            ...rows.flatMap((r, i) => (unique(r) ? [] : [`/rows/${i}/tags`])),
          ]
          expect(err?.details).toEqual(
            where.slice(0, 10).map((w) => `${w}: Expected array to contain unique items`),
          )
        },
      ),
      { numRuns: 500 },
    )
  })
})

/**
 * Numbers in a request are finite. ajv, coercing query strings, turns `limit=Infinity` or
 * `limit=1e999` into Infinity and lets it pass `type: integer` and `maximum`
 * (ajv-validator/ajv#2212, fastify/fastify#6718), and JSON.parse reads `1e999` in a body as
 * Infinity too: a search would then answer every hit. Checked once for every route, after
 * validation, instead of in each handler.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { NodeError } from '../errors.ts'

/** How deep a body is searched for numbers: every number a route reads sits above this. */
const MAX_DEPTH = 4

/**
 * The path of the first number in `value` that is not finite, or undefined. Byte strings (a CBOR
 * body's) are skipped: they hold bytes, not numbers a route reads, and walking them key by key
 * cost a batch of 500 records more than its decoding. The path is spelled only once found.
 */
function nonFinite(value: unknown, depth: number): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : ''
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object' || value instanceof Uint8Array)
    return undefined
  for (const k in value) {
    if (!Object.hasOwn(value, k)) continue
    const found = nonFinite((value as Record<string, unknown>)[k], depth + 1)
    if (found !== undefined) return `/${k}${found}`
  }
  return undefined
}

export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const at = (part: string, value: unknown) => {
      const found = nonFinite(value, 0)
      return found === undefined ? undefined : `${part}${found}`
    }
    const where = at('querystring', request.query) ?? at('params', request.params) ?? at('body', request.body)
    if (where) {
      throw new NodeError('VALIDATION_FAILED', undefined, { details: [`${where}: must be a finite number`] })
    }
  })
}

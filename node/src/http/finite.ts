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

function nonFinite(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path
  if (depth >= MAX_DEPTH || value === null || typeof value !== 'object') return undefined
  for (const [k, v] of Object.entries(value)) {
    const found = nonFinite(v, `${path}/${k}`, depth + 1)
    if (found) return found
  }
  return undefined
}

export function refuseNonFiniteNumbers(app: FastifyInstance): void {
  app.addHook('preHandler', async (request: FastifyRequest) => {
    const where =
      nonFinite(request.query, 'querystring', 0) ??
      nonFinite(request.params, 'params', 0) ??
      nonFinite(request.body, 'body', 0)
    if (where) {
      throw new NodeError('VALIDATION_FAILED', undefined, { details: [`${where}: must be a finite number`] })
    }
  })
}

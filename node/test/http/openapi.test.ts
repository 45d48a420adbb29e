/** The OpenAPI document describes every route's answers, its errors, and how to sign. */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testApp } from './helpers.ts'

interface Operation {
  security?: Array<Record<string, string[]>>
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>
}
type Doc = {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown>; securitySchemes?: Record<string, Record<string, string>> }
}

let app: FastifyInstance
let doc: Doc
beforeAll(async () => {
  app = (await testApp()).app
  doc = (await app.inject({ url: '/openapi.json' })).json()
})
afterAll(() => app.close())

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
  )

/** Routes an anonymous caller may not use. */
const SIGNED_ONLY = [
  'GET /v1/citizens',
  'GET /v1/citizens/{id}',
  'GET /v1/citizens/{id}/access-log',
  'POST /v1/node/backup',
  'GET /v1/citizens/{id}/export',
  'GET /v1/cases',
  'GET /v1/cases/{id}',
  'GET /v1/alerts/{id}/welfare',
  'GET /v1/alerts/{id}/welfare/events',
  'GET /v1/audit/evidence',
  'GET /v1/audit/checkpoint',
  'GET /v1/audit/checkpoints',
  'GET /v1/audit/feeds',
  'GET /v1/audit/feeds/{origin}/inclusion',
  'GET /v1/audit/feeds/{origin}/consistency',
  'GET /v1/audit/feeds/{origin}/entries',
]

describe('GET /openapi.json', () => {
  it('declares the signed-request scheme', () => {
    const scheme = doc.components.securitySchemes?.legationSignature
    expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization' })
    expect(scheme!.description).toContain('docs/api.md')
  })

  it('gives every route a schema for its success answer', () => {
    expect(operations().length).toBeGreaterThanOrEqual(16)
    for (const { route, op } of operations()) {
      const ok = op.responses['200'] ?? op.responses['201']
      expect(ok?.content, `${route}: success schema`).toBeDefined()
      const [media] = Object.values(ok!.content!)
      expect(media!.schema, `${route}: success schema`).toBeDefined()
    }
    expect(doc.paths['/metrics']!.get!.responses['200']!.content).toEqual({
      'text/plain': { schema: { type: 'string' } },
    })
  })

  it('gives every route problem+json error answers that reference the shared Problem schema', () => {
    expect(doc.components.schemas.Problem).toMatchObject({ required: ['type', 'title', 'status', 'code'] })
    for (const { route, op } of operations()) {
      const errors = Object.entries(op.responses).filter(([status]) => Number(status) >= 400)
      expect(errors.length, `${route}: error answers`).toBeGreaterThan(0)
      expect(Object.keys(op.responses), `${route}: 401 and 500`).toEqual(
        expect.arrayContaining(['401', '500']),
      )
      for (const [status, res] of errors) {
        const schema = res.content?.['application/problem+json']?.schema
        expect(schema, `${route} ${status}`).toBeDefined()
        if (status !== '504')
          expect(schema, `${route} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' })
      }
    }
  })

  it('lists the statuses each kind of route can answer', () => {
    const statuses = (route: string) => {
      const [method, path] = route.split(' ')
      return Object.keys(doc.paths[path!]![method!.toLowerCase()]!.responses)
    }
    expect(statuses('POST /v1/records')).toEqual(
      expect.arrayContaining([
        '200',
        '201',
        '400',
        '401',
        '403',
        '404',
        '409',
        '413',
        '415',
        '429',
        '500',
        '503',
        '504',
      ]),
    )
    expect(statuses('POST /v1/records/batch')).toEqual(
      expect.arrayContaining(['200', '400', '401', '413', '429', '500', '503', '504']),
    )
    expect(statuses('GET /v1/citizens/{id}')).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '429', '500', '503']),
    )
    // The 504 of a write keeps the per-record results.
    const timeout = doc.paths['/v1/records/batch']!.post!.responses['504']!.content![
      'application/problem+json'
    ]!.schema as { properties: Record<string, unknown> }
    expect(Object.keys(timeout.properties)).toEqual(expect.arrayContaining(['code', 'results']))
  })

  it('marks which routes need a signature and which take one optionally', () => {
    for (const { route, op } of operations()) {
      if (SIGNED_ONLY.includes(route)) {
        expect(op.security, route).toEqual([{ legationSignature: [] }])
      } else {
        expect(op.security, route).toEqual([{}, { legationSignature: [] }])
      }
    }
  })
})

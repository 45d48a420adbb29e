/** A stopping node takes no new work: 503 SHUTTING_DOWN before the engine is reached. */
import { toSubmission } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

describe('a node that is stopping', () => {
  it('answers writes, reads and /ready with 503 SHUTTING_DOWN, and still serves /health and /metrics', async () => {
    let stopping = false
    const { app, engine, bloc } = await testApp({ isStopping: () => stopping })
    apps.push(app)
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)

    stopping = true
    const root = engine.stateRoot()
    const reg = registration(bloc.officer('AAA'))
    const requests = [
      { method: 'POST' as const, url: '/v1/records', payload: toSubmission(reg) },
      { method: 'POST' as const, url: '/v1/records/batch', payload: { records: [toSubmission(reg)] } },
      { method: 'GET' as const, url: '/v1/alerts' },
      { method: 'GET' as const, url: '/ready' },
    ]
    for (const req of requests) {
      const res = await app.inject(req)
      expect({ url: req.url, status: res.statusCode, code: res.json().code }).toEqual({
        url: req.url,
        status: 503,
        code: 'SHUTTING_DOWN',
      })
      expect(res.headers['content-type']).toContain('application/problem+json')
      expect(res.json().title).toBe('The node is shutting down')
    }
    expect(engine.stateRoot()).toBe(root) // the record never reached the engine
    expect((await app.inject({ url: '/health' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200)
  })
})

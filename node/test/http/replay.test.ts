/** A signed state-changing request is accepted once; GETs may be repeated. */
import { DEFAULT_MAX_SKEW_MS, LegationClient, toSubmission } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ReplayGuard } from '../../src/http/replay.ts'
import { registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})
async function setup() {
  const t = await testApp()
  apps.push(t.app)
  return t
}

type Signer = { sign(req: { method: string; path: string; body?: Uint8Array }): Record<string, string> }
function signedPost(client: Signer, path: string, body: unknown) {
  const raw = Buffer.from(JSON.stringify(body))
  const headers: Record<string, string> = {
    ...client.sign({ method: 'POST', path, body: raw }),
    'content-type': 'application/json',
  }
  return { method: 'POST' as const, url: path, headers, payload: raw }
}

describe('replayed signed requests', () => {
  it('refuses a signed POST sent a second time with 401 REQUEST_REPLAYED; signed anew it is accepted', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const reg = registration(officer)
    const request = signedPost(officer, '/v1/records', toSubmission(reg))

    const first = await app.inject(request)
    expect(first.statusCode).toBe(201)
    const replayed = await app.inject(request)
    expect(replayed.statusCode).toBe(401)
    expect(replayed.headers['content-type']).toContain('application/problem+json')
    expect(replayed.json()).toMatchObject({ status: 401, code: 'REQUEST_REPLAYED' })

    // The same submission, signed again, is the idempotent duplicate it always was.
    const resigned = await app.inject(signedPost(officer, '/v1/records', toSubmission(reg)))
    expect(resigned.statusCode).toBe(200)
    expect(resigned.json().status).toBe('duplicate')
  })

  it('lets a signed GET be sent again (reads change nothing)', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const path = '/v1/cases?state=submitted'
    const request = { method: 'GET' as const, url: path, headers: officer.sign({ method: 'GET', path }) }
    expect((await app.inject(request)).statusCode).toBe(200)
    expect((await app.inject(request)).statusCode).toBe(200)
  })

  it('does not use up a signature the node refused for another reason', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const request = signedPost(officer, '/v1/records', { record: 'AAAA', unknown: 1 })
    for (let i = 0; i < 2; i++) {
      const res = await app.inject(request)
      expect(res.statusCode).toBe(400)
      expect(res.json().code).toBe('VALIDATION_FAILED')
    }
  })

  it('the SDK never signs two identical requests alike, even within one millisecond', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const frozen = Date.now()
    const client = new LegationClient({
      ed: officer.ed,
      bloc: officer.bloc,
      charter: officer.charter,
      keys: officer.keys,
      cert: officer.cert,
      clock: () => frozen,
    })
    const sub = toSubmission(registration(officer))
    const a = signedPost(client, '/v1/records', sub)
    const b = signedPost(client, '/v1/records', sub)
    expect(a.headers.authorization).not.toBe(b.headers.authorization)
    expect((await app.inject(a)).statusCode).toBe(201)
    expect((await app.inject(b)).statusCode).toBe(200) // a duplicate, not a replay
  })
})

describe('ReplayGuard', () => {
  const T = 1_000_000

  it('accepts an id once', () => {
    const guard = new ReplayGuard()
    guard.check('a', T, T)
    expect(() => guard.check('a', T, T + 1000)).toThrow(expect.objectContaining({ code: 'REQUEST_REPLAYED' }))
    guard.check('b', T, T + 1000)
  })

  it('forgets ids once their signature is too old for the skew check to accept', () => {
    const guard = new ReplayGuard()
    guard.check('a', T, T)
    guard.check('b', T + 10, T + 10)
    expect(guard.size).toBe(2)
    guard.check('c', T + DEFAULT_MAX_SKEW_MS + 5, T + DEFAULT_MAX_SKEW_MS + 5)
    expect(guard.size).toBe(2) // 'a' is gone: a request signed at T is now refused as stale
  })

  it('stays within its capacity, and then refuses what it can no longer check rather than accept a replay', () => {
    const guard = new ReplayGuard({ capacity: 2 })
    guard.check('a', T, T)
    guard.check('b', T + 1, T + 1)
    guard.check('c', T + 2, T + 2) // 'a' is forgotten to make room
    expect(guard.size).toBe(2)
    expect(() => guard.check('a', T, T + 3)).toThrow(expect.objectContaining({ code: 'REQUEST_REPLAYED' }))
    guard.check('d', T + 3, T + 3) // a fresh request is still accepted
    expect(guard.size).toBe(2)
  })
})

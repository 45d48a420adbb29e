/**
 * A caller who may not see something gets the same answer whether or not it exists, so that
 * ids cannot be probed: anonymous → 401, another citizen's record or case → 404 like an unknown id.
 */
import { toSubmission } from '@legation/protocol'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

type Signer = { sign(req: { method: string; path: string }): Record<string, string> }
const get = (path: string, signer?: Signer) => ({
  method: 'GET' as const,
  url: path,
  headers: signer ? signer.sign({ method: 'GET', path }) : {},
})
/** What the caller learns: everything but `instance` (the path they asked for). */
function seen(res: LightMyRequestResponse) {
  const { instance: _, ...rest } = res.json()
  return { status: res.statusCode, ...rest }
}

async function withData() {
  const t = await testApp()
  apps.push(t.app)
  const officer = t.bloc.officer('AAA')
  const reg = registration(officer)
  const opened = officer.record(
    'case.opened',
    reg.citizenId,
    { caseType: 'lost-passport' },
    { salt: officer.salt(), details: 'stolen' },
  )
  const alert = officer.record('alert.issued', null, {
    country: 'KE',
    region: null,
    severity: 'warning',
    title: 'Unrest',
    message: 'Stay indoors',
  })
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/records/batch',
    payload: { records: [reg, opened, alert].map(toSubmission) },
  })
  expect(res.json().results.map((r: { status: string }) => r.status)).toEqual([
    'accepted',
    'accepted',
    'accepted',
  ])
  return { ...t, officer, reg, opened, alert, owner: t.bloc.citizen(reg.citizenKeys) }
}

const UNKNOWN_ID = 'ab'.repeat(32)

describe('GET /v1/records/{id} does not tell strangers which ids exist', () => {
  it('anonymous: 401 alike for a known record about a citizen and an unknown id; alerts are public', async () => {
    const { app, reg, alert } = await withData()
    const known = await app.inject(get(`/v1/records/${reg.id}`))
    const unknown = await app.inject(get(`/v1/records/${UNKNOWN_ID}`))
    expect(known.statusCode).toBe(401)
    expect(known.json().code).toBe('UNAUTHENTICATED')
    expect(seen(unknown)).toEqual(seen(known))
    expect((await app.inject(get(`/v1/records/${alert.id}`))).statusCode).toBe(200)
  })

  it('another citizen: 404 alike for someone else’s record and an unknown id', async () => {
    const { app, bloc, reg, opened } = await withData()
    const stranger = bloc.citizen()
    const others = await app.inject(get(`/v1/records/${reg.id}`, stranger))
    const othersCase = await app.inject(get(`/v1/records/${opened.id}`, stranger))
    const unknown = await app.inject(get(`/v1/records/${UNKNOWN_ID}`, stranger))
    expect(others.statusCode).toBe(404)
    expect(others.json().code).toBe('NOT_FOUND')
    expect(seen(othersCase)).toEqual(seen(others))
    expect(seen(unknown)).toEqual(seen(others))
  })

  it('the citizen and officers still read it', async () => {
    const { app, officer, owner, reg } = await withData()
    for (const who of [owner, officer]) {
      const res = await app.inject(get(`/v1/records/${reg.id}`, who))
      expect(res.statusCode).toBe(200)
      expect(res.json().id).toBe(reg.id)
    }
  })
})

describe('GET /v1/cases/{id} does not tell strangers which ids exist', () => {
  it('anonymous: 401 alike for a known case and an unknown id', async () => {
    const { app, opened } = await withData()
    const known = await app.inject(get(`/v1/cases/${opened.id}`))
    const unknown = await app.inject(get(`/v1/cases/${UNKNOWN_ID}`))
    expect(known.statusCode).toBe(401)
    expect(seen(unknown)).toEqual(seen(known))
  })

  it('another citizen: 404 alike for someone else’s case and an unknown id', async () => {
    const { app, bloc, opened } = await withData()
    const stranger = bloc.citizen()
    const others = await app.inject(get(`/v1/cases/${opened.id}`, stranger))
    const unknown = await app.inject(get(`/v1/cases/${UNKNOWN_ID}`, stranger))
    expect(others.statusCode).toBe(404)
    expect(others.json().code).toBe('NOT_FOUND')
    expect(seen(unknown)).toEqual(seen(others))
  })

  it('the case’s citizen and officers still read it', async () => {
    const { app, officer, owner, opened } = await withData()
    for (const who of [owner, officer]) {
      const res = await app.inject(get(`/v1/cases/${opened.id}?purpose=case-processing`, who))
      expect(res.statusCode).toBe(200)
      expect(res.json()).toMatchObject({ id: opened.id, state: 'submitted' })
    }
  })
})

/**
 * The live crisis dashboard (routes/alert-events.ts) over a real socket: officers only, with a
 * purpose; the board first, then again when a check-in is stored; at most a few streams per
 * client; every stream ended when the node stops.
 */
import { certificateId, encodeCanonical, signRevocation, toBase64url, toSubmission } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_STREAMS_PER_CLIENT } from '../../src/http/routes/alert-events.ts'
import { ed, registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

type Signer = { sign(req: { method: string; path: string }): Record<string, string> }

/** Reads server-sent events from a response body, one at a time. */
function events(res: Response) {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  return {
    async next(): Promise<{ event: string; data: unknown } | null> {
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = block.split('\n')
          const name = lines.find((l) => l.startsWith('event: '))?.slice(7)
          const data = lines.find((l) => l.startsWith('data: '))?.slice(6)
          if (name && data !== undefined) return { event: name, data: JSON.parse(data) }
          continue // retry field, heartbeat comment
        }
        const { done, value } = await reader.read()
        if (done) return null
        buffer += decoder.decode(value, { stream: true })
      }
    },
    cancel: () => reader.cancel(),
  }
}

async function setup() {
  const t = await testApp()
  apps.push(t.app)
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 })
  const officer = t.bloc.officer('AAA')
  const regs = [registration(officer), registration(officer)]
  const alert = officer.record('alert.issued', null, {
    country: 'KE',
    region: null,
    severity: 'warning',
    title: 'Unrest',
    message: 'Stay indoors',
  })
  const presences = regs.map((r) =>
    officer.record(
      'presence.registered',
      r.citizenId,
      { from: 0, until: null },
      { salt: officer.salt(), country: 'KE', region: 'Nairobi' },
    ),
  )
  const batch = [...regs, alert, ...presences].map(toSubmission)
  const res = await t.app.inject({ method: 'POST', url: '/v1/records/batch', payload: { records: batch } })
  expect(res.statusCode).toBe(200)
  const path = `/v1/alerts/${alert.id}/welfare/events?purpose=crisis-response`
  const get = (who: Signer | null, p = path) =>
    fetch(`${url}${p}`, { headers: who ? who.sign({ method: 'GET', path: p }) : {} })
  return { ...t, url, officer, regs, alert, path, get }
}

describe('GET /v1/alerts/{id}/welfare/events', () => {
  it('is for officers who state a purpose, about an alert that exists', async () => {
    const { bloc, officer, regs, alert, get } = await setup()
    const anonymous = await get(null)
    expect([anonymous.status, ((await anonymous.json()) as { code: string }).code]).toEqual([
      401,
      'UNAUTHENTICATED',
    ])
    const citizen = await get(bloc.citizen(regs[0]!.citizenKeys))
    expect([citizen.status, ((await citizen.json()) as { code: string }).code]).toEqual([403, 'FORBIDDEN'])
    const noPurpose = await get(officer, `/v1/alerts/${alert.id}/welfare/events`)
    expect(((await noPurpose.json()) as { code: string }).code).toBe('PURPOSE_REQUIRED')
    const unknown = await get(officer, `/v1/alerts/${'0'.repeat(64)}/welfare/events?purpose=crisis-response`)
    expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([404, 'NOT_FOUND'])
  })

  it('sends the board, then again when a check-in is stored, and logs who it showed', async () => {
    const { app, bloc, officer, regs, alert, get } = await setup()
    const res = await get(officer)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    const stream = events(res)
    const first = (await stream.next()) as { event: string; data: { counts: unknown } }
    expect(first.event).toBe('board')
    expect(first.data.counts).toEqual({ safe: 0, needsHelp: 0, notHeard: 2 })

    const citizen = bloc.citizen(regs[1]!.citizenKeys)
    const checkin = citizen.record('welfare.checkin', citizen.id, { alert: alert.id, status: 'safe' })
    const posted = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(checkin) })
    expect(posted.statusCode).toBe(201)
    const second = (await stream.next()) as { event: string; data: { counts: unknown; safe: string[] } }
    expect(second.event).toBe('board')
    expect(second.data.counts).toEqual({ safe: 1, needsHelp: 0, notHeard: 1 })
    expect(second.data.safe).toEqual([citizen.id])
    await stream.cancel()

    // The officer's read is in the citizens' access logs, with its purpose.
    const log = await app.inject({
      url: `/v1/citizens/${citizen.id}/access-log`,
      headers: citizen.sign({ method: 'GET', path: `/v1/citizens/${citizen.id}/access-log` }),
    })
    expect(log.statusCode).toBe(200)
    const entries = log.json().reads as Array<{ purpose: string; shown: string }>
    expect(entries.map((e) => [e.purpose, e.shown])).toContainEqual(['crisis-response', 'welfare-list'])
  })

  it('ends the stream with a problem once the officer’s certificate is revoked', async () => {
    const { app, bloc, officer, regs, alert, get } = await setup()
    const stream = events(await get(officer))
    expect((await stream.next())?.event).toBe('board')
    const revocation = signRevocation(
      ed,
      {
        type: 'revocation',
        bloc: bloc.bloc,
        state: 'AAA',
        cert: certificateId(officer.cert!),
        at: Date.now(),
        reason: 'key-compromise',
      },
      bloc.stateKeys.AAA!.secretKey,
    )
    const revoked = await app.inject({
      method: 'POST',
      url: '/v1/revocations',
      payload: { revocation: toBase64url(encodeCanonical(revocation)) },
    })
    expect(revoked.statusCode).toBe(201)
    // The next change would be pushed: the officer's authority is checked first.
    const citizen = bloc.citizen(regs[0]!.citizenKeys)
    const checkin = citizen.record('welfare.checkin', citizen.id, { alert: alert.id, status: 'safe' })
    await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(checkin) })
    const ended = (await stream.next()) as { event: string; data: { code: string } }
    expect(ended.event).toBe('problem')
    expect(ended.data.code).toBe('CERT_REVOKED')
    expect(await stream.next()).toBeNull()
  })

  it('holds a bounded number of streams per client, and ends them all when the node stops', async () => {
    const { app, officer, get } = await setup()
    const streams = []
    for (let i = 0; i < DEFAULT_MAX_STREAMS_PER_CLIENT; i++) {
      const res = await get(officer)
      expect(res.status).toBe(200)
      const s = events(res)
      expect((await s.next())?.event).toBe('board')
      streams.push(s)
    }
    const over = await get(officer)
    expect([over.status, ((await over.json()) as { code: string }).code]).toEqual([429, 'RATE_LIMITED'])
    // A stream closed by its client frees its place.
    await streams.pop()!.cancel()
    await expect
      .poll(async () => {
        const res = await get(officer)
        if (res.status === 200) streams.push(events(res))
        else await res.body?.cancel()
        return res.status
      })
      .toBe(200)

    // Stopping ends every stream (what was sent before stays readable), and the close completes.
    await app.close()
    for (const s of streams) {
      let e = await s.next()
      while (e?.event === 'board') e = await s.next()
      expect(e).toBeNull()
    }
  })
})

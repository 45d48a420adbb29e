import {
  certificateId,
  encodeCanonical,
  type LegationClient,
  type Revocation,
  signRevocation,
  toBase64url,
} from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { ed, registration } from '../fixtures.ts'
import { testApp, toSubmission } from './helpers.ts'

let close: (() => Promise<unknown>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

function revoke(
  bloc: Awaited<ReturnType<typeof testApp>>['bloc'],
  officer: LegationClient,
  by: string,
  at: number,
): Revocation {
  return signRevocation(
    ed,
    {
      type: 'revocation',
      bloc: bloc.bloc,
      state: by,
      cert: certificateId(officer.cert!),
      at,
      reason: 'key-compromise',
    },
    bloc.stateKeys[by]!.secretKey,
  )
}

describe('revocations', () => {
  it('refuses a revoked officer’s records from the revocation on, and lists the revocation', async () => {
    const { app, bloc } = await testApp()
    close = () => app.close()
    const officer = bloc.officer('AAA')
    const colleague = bloc.officer('AAA')
    const before = registration(officer)
    expect(
      (await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(before) })).statusCode,
    ).toBe(201)

    const at = Date.now()
    const rev = revoke(bloc, officer, 'AAA', at)
    const post = (r: Revocation) =>
      app.inject({
        method: 'POST',
        url: '/v1/revocations',
        payload: { revocation: toBase64url(encodeCanonical(r)) },
      })
    const first = await post(rev)
    expect(first.statusCode).toBe(201)
    expect(first.json()).toMatchObject({ cert: certificateId(officer.cert!), state: 'AAA', at })
    // The same again changes nothing.
    expect((await post(rev)).statusCode).toBe(200)

    const after = registration(officer)
    const refused = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(after) })
    expect(refused.statusCode).toBe(401)
    expect(refused.json().code).toBe('CERT_REVOKED')
    // Another officer of the same state is not affected.
    const other = await app.inject({
      method: 'POST',
      url: '/v1/records',
      payload: toSubmission(registration(colleague)),
    })
    expect(other.statusCode).toBe(201)

    const list = await app.inject({ method: 'GET', url: '/v1/revocations' })
    expect(list.json().revocations).toEqual([
      expect.objectContaining({ cert: certificateId(officer.cert!), at }),
    ])
  })

  it('does not let another member state revoke an officer, nor a forged revocation in', async () => {
    const { app, bloc } = await testApp()
    close = () => app.close()
    const officer = bloc.officer('AAA')
    const post = (r: Revocation) =>
      app.inject({
        method: 'POST',
        url: '/v1/revocations',
        payload: { revocation: toBase64url(encodeCanonical(r)) },
      })
    // Signed by BBB for AAA's officer: kept as BBB's, and AAA's officer still signs.
    expect((await post(revoke(bloc, officer, 'BBB', Date.now() - 1000))).statusCode).toBe(201)
    expect(
      (await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(registration(officer)) }))
        .statusCode,
    ).toBe(201)
    // Claims to be AAA's but signed with BBB's key.
    const forged = {
      ...revoke(bloc, officer, 'BBB', Date.now()),
      body: { ...revoke(bloc, officer, 'BBB', 0).body, state: 'AAA' },
    }
    const res = await post(forged)
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('CERT_INVALID')
    // Malformed.
    const bad = await app.inject({ method: 'POST', url: '/v1/revocations', payload: { revocation: 'AAAA' } })
    expect(bad.statusCode).toBe(400)
    expect((await app.inject({ method: 'GET', url: '/v1/revocations' })).json().revocations).toHaveLength(1)
  })

  it('lets a revoked officer read nothing: citizens, a citizen’s file, welfare — at once, every route', async () => {
    const { app, bloc } = await testApp()
    close = () => app.close()
    const officer = bloc.officer('AAA')
    const colleague = bloc.officer('AAA')
    const reg = registration(officer)
    const alert = officer.record('alert.issued', null, {
      country: 'KE',
      region: null,
      severity: 'warning',
      title: 'Unrest',
      message: 'Stay indoors',
    })
    const stored = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [reg, alert].map(toSubmission) },
    })
    expect(stored.statusCode).toBe(200)
    const paths = [
      `/v1/citizens/${reg.citizenId}?purpose=consular-assistance`,
      '/v1/citizens?nationality=AAA&purpose=consular-assistance',
      `/v1/alerts/${alert.id}/welfare?purpose=crisis-response`,
    ]
    const read = (who: LegationClient, path: string) =>
      app.inject({ method: 'GET', url: path, headers: who.sign({ method: 'GET', path }) })
    for (const path of paths) expect((await read(officer, path)).statusCode, path).toBe(200)

    const posted = await app.inject({
      method: 'POST',
      url: '/v1/revocations',
      payload: { revocation: toBase64url(encodeCanonical(revoke(bloc, officer, 'AAA', Date.now()))) },
    })
    expect(posted.statusCode).toBe(201)
    for (const path of paths) {
      const res = await read(officer, path)
      expect(res.statusCode, path).toBe(401)
      expect(res.json().code, path).toBe('CERT_REVOKED')
      // Another officer of the same state still reads.
      expect((await read(colleague, path)).statusCode, path).toBe(200)
    }
  })

  it('refuses an officer’s reads only from the revocation’s time on', async () => {
    const { app, bloc } = await testApp()
    close = () => app.close()
    const officer = bloc.officer('AAA')
    // Revoked as of an hour from now (a planned end of duty): still reads until then.
    const later = revoke(bloc, officer, 'AAA', Date.now() + 3_600_000)
    await app.inject({
      method: 'POST',
      url: '/v1/revocations',
      payload: { revocation: toBase64url(encodeCanonical(later)) },
    })
    const path = '/v1/citizens?nationality=AAA&purpose=consular-assistance'
    const res = await app.inject({ method: 'GET', url: path, headers: officer.sign({ method: 'GET', path }) })
    expect(res.statusCode).toBe(200)
  })
})

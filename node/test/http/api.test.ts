import {
  DOMAINS,
  decodeCanonical,
  encodeCanonical,
  fromBase64url,
  openPayload,
  parseSignedRecord,
  signingInput,
  toBase64url,
  toCborBatch,
  toSubmission,
} from '@legation/protocol'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { CHARTER_SUBMISSIONS_PER_MINUTE } from '../../src/http/routes/charter.ts'
import { ed, registration, testBloc } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})
async function setup(opts: { rateLimitPerMinute?: number; trustProxy?: readonly string[] } = {}) {
  const t = await testApp(opts)
  apps.push(t.app)
  return t
}

type Signer = { sign(req: { method: string; path: string; body?: Uint8Array }): Record<string, string> }
function signed(client: Signer, method: string, path: string, body?: unknown) {
  const raw = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  const headers: Record<string, string> = client.sign({ method, path, ...(raw ? { body: raw } : {}) })
  if (raw) headers['content-type'] = 'application/json'
  return { method: method as 'GET', url: path, headers, ...(raw ? { payload: raw } : {}) }
}

describe('HTTP API', () => {
  it('serves health, readiness, metrics, node status and the OpenAPI document', async () => {
    const { app, engine } = await setup()
    expect((await app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' })
    expect((await app.inject({ url: '/ready' })).statusCode).toBe(200)
    const node = (await app.inject({ url: '/v1/node' })).json()
    expect(node.nodeId).toBe(engine.nodeId)
    expect(node.stateRoot).toBe(engine.stateRoot())
    expect(node.charter.members).toEqual(['AAA', 'BBB', 'CCC'])
    const openapi = (await app.inject({ url: '/openapi.json' })).json()
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/v1/records',
        '/v1/citizens/{id}',
        '/v1/cases',
        '/v1/alerts/{id}/welfare',
        '/v1/node',
      ]),
    )
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200)
  })

  it('accepts a signed record with 201 and a receipt, and a resubmission with 200 duplicate', async () => {
    const { app, bloc } = await setup()
    const reg = registration(bloc.officer('AAA'))
    const first = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    expect(first.statusCode).toBe(201)
    expect(first.json()).toMatchObject({
      id: reg.id,
      status: 'accepted',
      receipt: { record: reg.id, seq: 1 },
    })
    const again = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    expect(again.statusCode).toBe(200)
    expect(again.json().status).toBe('duplicate')
  })

  it('refuses a forged record with problem+json and a stable code', async () => {
    const { app, bloc } = await setup()
    const reg = registration(bloc.officer('AAA'))
    reg.record.sig[5]! ^= 0x40
    const res = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    expect(res.statusCode).toBe(401)
    expect(res.headers['content-type']).toContain('application/problem+json')
    expect(res.json()).toMatchObject({ code: 'SIGNATURE_INVALID', status: 401 })
  })

  it('takes a batch where each record is accepted or refused on its own', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const good = registration(officer)
    const bad = registration(officer)
    bad.record.header.at += 1 // signature no longer matches
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [toSubmission(good), toSubmission(bad), { record: 'AAAA' }] },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual([
      'accepted',
      'SIGNATURE_INVALID',
      'ENCODING_MALFORMED',
    ])
  })

  it('shows a citizen’s file to officers and to the citizen, nothing personal to anyone else', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('BBB')
    const reg = registration(officer, 'CCC')
    await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    const path = `/v1/citizens/${reg.citizenId}`

    const anon = await app.inject({ url: path })
    expect(anon.statusCode).toBe(401)
    expect(anon.body).not.toContain('Given')

    const stranger = bloc.citizen()
    const other = await app.inject(signed(stranger, 'GET', path))
    expect(other.statusCode).toBe(403)
    expect(other.json().code).toBe('FORBIDDEN')

    // An officer states why, or reads nothing.
    const unstated = await app.inject(signed(officer, 'GET', path))
    expect(unstated.statusCode).toBe(400)
    expect(unstated.json().code).toBe('PURPOSE_REQUIRED')
    expect(unstated.body).not.toContain('Given')
    const asOfficer = await app.inject(signed(officer, 'GET', `${path}?purpose=consular-assistance`))
    expect(asOfficer.statusCode).toBe(200)
    expect(asOfficer.json()).toMatchObject({
      id: reg.citizenId,
      nationality: 'CCC',
      names: { given: expect.stringMatching(/^Given/) },
      erased: false,
    })

    const self = bloc.citizen(reg.citizenKeys)
    const asSelf = await app.inject(signed(self, 'GET', path))
    expect(asSelf.statusCode).toBe(200)
    expect(asSelf.json().travelDocument.number).toMatch(/^P/)
    // The citizen sees who read their file, and why; their own reads are not in it, nor in
    // the file's timeline.
    expect(asSelf.json().timeline.map((i: { kind: string }) => i.kind)).toEqual(['citizen.registered'])
    const log = await app.inject(signed(self, 'GET', `${path}/access-log`))
    expect(log.statusCode).toBe(200)
    expect(log.json().reads).toEqual([
      expect.objectContaining({ state: 'BBB', purpose: 'consular-assistance', shown: 'file', case: null }),
    ])
    expect(JSON.stringify(log.json())).not.toContain('Given')
    expect((await app.inject(signed(stranger, 'GET', `${path}/access-log`))).statusCode).toBe(403)
    expect((await app.inject(signed(bloc.auditor, 'GET', `${path}/access-log`))).statusCode).toBe(200)
    expect((await app.inject(signed(officer, 'GET', `${path}/access-log`))).statusCode).toBe(403)
    expect((await app.inject(signed(bloc.officer('CCC'), 'GET', `${path}/access-log`))).statusCode).toBe(200)

    // The citizen takes away everything held about them, with the signed records that prove it.
    const exported = await app.inject(signed(self, 'GET', `${path}/export`))
    expect(exported.statusCode).toBe(200)
    expect(exported.headers['content-disposition']).toContain(`legation-export-${reg.citizenId}.json`)
    const file = exported.json()
    expect(file).toMatchObject({
      format: 'legation-citizen-export/1',
      citizen: reg.citizenId,
      file: { names: { given: expect.stringMatching(/^Given/) } },
      accessLog: [expect.objectContaining({ state: 'BBB', purpose: 'consular-assistance' })],
    })
    // Every record in it verifies, and each payload is the one its record signs.
    expect(file.records.map((r: { kind: string }) => r.kind).sort()).toEqual([
      'access.logged',
      'citizen.registered',
    ])
    for (const r of file.records as Array<{ record: string; payload: string | null }>) {
      const record = parseSignedRecord(decodeCanonical(fromBase64url(r.record)))
      expect(
        ed.verify(
          record.sig,
          signingInput(DOMAINS.record, encodeCanonical(record.header)),
          record.header.author,
        ),
      ).toBe(true)
      if (r.payload)
        expect(openPayload(record.header, fromBase64url(r.payload))).toMatchObject({
          salt: expect.anything(),
        })
    }
    // No one else exports it: not an officer, not another citizen, not the auditor.
    for (const who of [officer, stranger, bloc.auditor]) {
      expect((await app.inject(signed(who, 'GET', `${path}/export`))).statusCode).toBe(403)
    }
  })

  it('refuses a request whose signature covers another path', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const req = signed(officer, 'GET', '/v1/citizens?nationality=AAA')
    const res = await app.inject({ ...req, url: '/v1/citizens?nationality=BBB' })
    expect(res.statusCode).toBe(401)
    expect(res.json().code).toBe('REQUEST_AUTH_INVALID')
  })

  it('lets a citizen sign their own check-in and shows it on the crisis dashboard', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const regs = [registration(officer), registration(officer), registration(officer)]
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
    const citizen0 = bloc.citizen(regs[0]!.citizenKeys)
    const citizen1 = bloc.citizen(regs[1]!.citizenKeys)
    const batch = [...regs, alert, ...presences].map(toSubmission)
    expect(
      (await app.inject({ method: 'POST', url: '/v1/records/batch', payload: { records: batch } }))
        .statusCode,
    ).toBe(200)
    const checkins = [
      citizen0.record('welfare.checkin', citizen0.id, { alert: alert.id, status: 'safe' }),
      citizen1.record(
        'welfare.checkin',
        citizen1.id,
        { alert: alert.id, status: 'needs-help' },
        { salt: citizen1.salt(), note: 'no water' },
      ),
    ]
    for (const c of checkins) {
      expect(
        (await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(c) })).statusCode,
      ).toBe(201)
    }
    const forgedFor = citizen0.record('welfare.checkin', citizen1.id, { alert: alert.id, status: 'safe' })
    const forged = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(forgedFor) })
    expect(forged.json().code).toBe('RECORD_UNAUTHORIZED')

    expect((await app.inject({ url: `/v1/alerts/${alert.id}` })).json().title).toBe('Unrest')
    expect((await app.inject({ url: `/v1/alerts/${alert.id}/welfare` })).statusCode).toBe(401)
    const board = (
      await app.inject(signed(officer, 'GET', `/v1/alerts/${alert.id}/welfare?purpose=crisis-response`))
    ).json()
    expect(board.counts).toEqual({ safe: 1, needsHelp: 1, notHeard: 1 })
    expect(board.safe).toEqual([regs[0]!.citizenId])
  })

  it('finds citizens by travel document and lists case queues for officers only', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const reg = registration(officer, 'BBB')
    const opened = officer.record(
      'case.opened',
      reg.citizenId,
      { caseType: 'lost-passport' },
      { salt: officer.salt(), details: 'stolen' },
    )
    await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [toSubmission(reg), toSubmission(opened)] },
    })
    const number = (reg.record.header.subject &&
      (
        await app.inject(
          signed(officer, 'GET', `/v1/citizens/${reg.citizenId}?purpose=identity-verification`),
        )
      ).json().travelDocument.number) as string
    const found = (
      await app.inject(
        signed(officer, 'GET', `/v1/citizens?travelDocument=${number}&purpose=identity-verification`),
      )
    ).json()
    expect(found.citizens.map((c: { id: string }) => c.id)).toEqual([reg.citizenId])
    const queue = (
      await app.inject(signed(officer, 'GET', '/v1/cases?state=submitted&nationality=BBB'))
    ).json()
    expect(queue.cases).toHaveLength(1)
    // The queue shows no personal data; the case itself does, to a read that states its purpose.
    expect(queue.cases[0]).toMatchObject({ id: opened.id, type: 'lost-passport' })
    expect(queue.cases[0].details).toBeUndefined()
    const one = await app.inject(signed(officer, 'GET', `/v1/cases/${opened.id}?purpose=case-processing`))
    expect(one.json().details).toBe('stolen')
    expect((await app.inject({ url: '/v1/cases?state=submitted' })).statusCode).toBe(401)
    const citizen = bloc.citizen(reg.citizenKeys)
    expect((await app.inject(signed(citizen, 'GET', '/v1/cases?state=submitted'))).statusCode).toBe(403)
    expect((await app.inject(signed(citizen, 'GET', `/v1/cases/${opened.id}`))).json().state).toBe(
      'submitted',
    )
  })

  it('refuses limit=Infinity and other non-finite numbers instead of answering every hit', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const regs = Array.from({ length: 60 }, () => registration(officer))
    await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: regs.map(toSubmission) },
    })
    const all = (
      await app.inject(
        signed(officer, 'GET', '/v1/citizens?nationality=AAA&limit=200&purpose=legal-obligation'),
      )
    ).json()
    expect(all.citizens).toHaveLength(60)
    for (const path of [
      '/v1/citizens?nationality=AAA&limit=Infinity',
      '/v1/citizens?nationality=AAA&limit=1e309',
      '/v1/citizens?nationality=AAA&limit=-Infinity',
      '/v1/cases?state=submitted&limit=Infinity',
      '/v1/audit/evidence?limit=1e999',
    ]) {
      const res = await app.inject(signed(officer, 'GET', path))
      expect(res.statusCode, path).toBe(400)
      expect(res.headers['content-type'], path).toMatch(/^application\/problem\+json/)
      expect(res.json().code, path).toBe('VALIDATION_FAILED')
      // Refused by the hook (ajv, coercing, lets Infinity through), which names the parameter.
      expect(res.json().errors, path).toEqual(['querystring/limit: must be a finite number'])
    }
    // A body number that JSON.parse reads as Infinity.
    const body = Buffer.from(`{"record":"AAAA","writeConcern":1e999}`)
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records',
      headers: { 'content-type': 'application/json' },
      payload: body,
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('VALIDATION_FAILED')
  })

  it('takes the same batch as CBOR, records as byte strings, with the same answer', async () => {
    const { app, bloc } = await setup()
    const officer = bloc.officer('AAA')
    const good = registration(officer)
    const bad = registration(officer)
    bad.record.header.at += 1 // signature no longer matches
    const asBytes = (r: typeof good) => ({ record: encodeCanonical(r.record), payload: r.payload! })
    const cbor = (value: unknown) => ({
      method: 'POST' as const,
      url: '/v1/records/batch',
      headers: { 'content-type': 'application/cbor' },
      payload: Buffer.from(encodeCanonical(value)),
    })
    const res = await app.inject(cbor({ records: [asBytes(good), asBytes(bad), { record: 'AAAA' }] }))
    expect(res.statusCode).toBe(200)
    expect(res.json().results.map((r: { status: string; code?: string }) => r.code ?? r.status)).toEqual([
      'accepted',
      'SIGNATURE_INVALID',
      'VALIDATION_FAILED',
    ])
    // The same record again, now as JSON: the node sees one record whichever way it came.
    const again = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [toSubmission(good)] },
    })
    expect(again.json().results[0]).toMatchObject({ id: res.json().results[0].id, status: 'duplicate' })
    // The SDK's encoding of a batch, with a write concern a single node meets (0 others).
    const viaSdk = await app.inject({
      ...cbor(null),
      payload: Buffer.from(toCborBatch([registration(officer)], 0)),
    })
    expect(viaSdk.json().results.map((r: { status: string }) => r.status)).toEqual(['accepted'])
    // What is not a canonical CBOR batch is refused whole, with a code.
    const bodies: Array<[Buffer, string]> = [
      [Buffer.from([0xff]), 'MALFORMED_CBOR'],
      [Buffer.alloc(0), 'MALFORMED_CBOR'],
      // {"records": …} with the length of a short map written long-hand: not canonical.
      [
        Buffer.concat([Buffer.from([0xb8, 0x01]), Buffer.from(encodeCanonical({ records: [] })).subarray(1)]),
        'MALFORMED_CBOR',
      ],
      [Buffer.from(encodeCanonical({ records: [] })), 'VALIDATION_FAILED'],
      [Buffer.from(encodeCanonical({ records: [asBytes(good)], extra: 1 })), 'VALIDATION_FAILED'],
      [Buffer.from(encodeCanonical([1, 2])), 'VALIDATION_FAILED'],
    ]
    for (const [body, code] of bodies) {
      const r = await app.inject({ ...cbor(null), payload: body })
      expect({ body: body.toString('hex'), status: r.statusCode, code: r.json().code }).toEqual({
        body: body.toString('hex'),
        status: 400,
        code,
      })
    }
    // Only the batch route reads CBOR: elsewhere it is an unsupported media type, never unvalidated.
    const single = await app.inject({ ...cbor(asBytes(good)), url: '/v1/records' })
    expect([single.statusCode, single.json().code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE'])
  })

  it('answers any CBOR body on the batch route with a result or a 4xx problem, never 500', async () => {
    const { app } = await setup()
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.string(),
        fc.uint8Array({ maxLength: 40 }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('any'), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('records', 'record', 'payload', 'writeConcern', 'x'), tie('any'), {
          maxKeys: 4,
        }),
      ),
    })).any
    await fc.assert(
      fc.asyncProperty(fc.oneof(value, fc.uint8Array({ maxLength: 64 })), async (v) => {
        const body = v instanceof Uint8Array && Math.random() < 0.5 ? v : encodeCanonical(v)
        const res = await app.inject({
          method: 'POST',
          url: '/v1/records/batch',
          headers: { 'content-type': 'application/cbor' },
          payload: Buffer.from(body),
        })
        expect([200, 400, 413]).toContain(res.statusCode)
      }),
      { numRuns: 300 },
    )
  })

  it('answers client mistakes with 4xx problems, never 500', async () => {
    const { app } = await setup()
    const cases: Array<[InjectOptions, number, string]> = [
      [{ url: '/nope' }, 404, 'NOT_FOUND'],
      [
        {
          method: 'POST',
          url: '/v1/records',
          payload: '{not json',
          headers: { 'content-type': 'application/json' },
        },
        400,
        'MALFORMED_JSON',
      ],
      [
        { method: 'POST', url: '/v1/records', payload: 'x', headers: { 'content-type': 'text/plain' } },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        { method: 'POST', url: '/v1/records', payload: { record: 'AAAA', extra: 1 } },
        400,
        'VALIDATION_FAILED',
      ],
      [{ method: 'POST', url: '/v1/records', payload: { record: 'AAAA' } }, 400, 'ENCODING_MALFORMED'],
      // 'oA' spells the CBOR of an empty map; 'oB' the same byte with padding bits set.
      [{ method: 'POST', url: '/v1/records', payload: { record: 'oB' } }, 400, 'ENCODING_NON_CANONICAL'],
      [
        { method: 'POST', url: '/v1/records', payload: { record: toBase64url(new Uint8Array([0xa0])) } },
        400,
        'SCHEMA_INVALID',
      ],
      [
        { method: 'POST', url: '/v1/records', payload: { record: 'A'.repeat(600_000) } },
        400,
        'ENCODING_MALFORMED',
      ],
      [
        {
          method: 'POST',
          url: '/v1/records',
          payload: Buffer.alloc(2 * 1024 * 1024, 32),
          headers: { 'content-type': 'application/json' },
        },
        413,
        'BODY_TOO_LARGE',
      ],
      [{ url: '/v1/records/zz' }, 400, 'VALIDATION_FAILED'],
      // Not a public record (unknown here): anonymous callers are told to sign, as for any private one.
      [{ url: `/v1/records/${'a'.repeat(64)}` }, 401, 'UNAUTHENTICATED'],
      [{ url: '/v1/citizens/x', headers: { authorization: 'Legation nonsense' } }, 400, 'VALIDATION_FAILED'],
      [
        { url: `/v1/citizens/${'a'.repeat(32)}`, headers: { authorization: 'Legation nonsense' } },
        401,
        'REQUEST_AUTH_INVALID',
      ],
    ]
    for (const [req, status, code] of cases) {
      const res = await app.inject(req)
      expect({ url: req.url, status: res.statusCode, code: res.json().code }).toEqual({
        url: req.url,
        status,
        code,
      })
      expect(res.headers['content-type']).toContain('application/problem+json')
    }
  })

  it('gives each client a small budget of charter submissions, the most expensive request', async () => {
    const { app } = await setup()
    const body = { chain: toBase64url(encodeCanonical(testBloc(1).chain)) }
    const statuses: number[] = []
    for (let i = 0; i < CHARTER_SUBMISSIONS_PER_MINUTE + 2; i++) {
      statuses.push((await app.inject({ method: 'POST', url: '/v1/charter', payload: body })).statusCode)
    }
    expect(statuses.slice(0, CHARTER_SUBMISSIONS_PER_MINUTE).every((s) => s === 200 || s === 409)).toBe(true)
    expect(statuses.slice(CHARTER_SUBMISSIONS_PER_MINUTE)).toEqual([429, 429])
    // Other routes are not affected.
    expect((await app.inject({ url: '/v1/charter' })).statusCode).toBe(200)
  })

  it('rate-limits a client that sends too many requests', async () => {
    const { app } = await setup({ rateLimitPerMinute: 5 })
    const codes: number[] = []
    for (let i = 0; i < 8; i++) codes.push((await app.inject({ url: '/v1/alerts' })).statusCode)
    expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200])
    const limited = await app.inject({ url: '/v1/alerts' })
    expect(limited.statusCode).toBe(429)
    expect(limited.json().code).toBe('RATE_LIMITED')
  })

  it('behind a trusted proxy, limits each client named by X-Forwarded-For, not the proxy', async () => {
    const viaProxy = (client: string) => ({
      url: '/v1/alerts',
      remoteAddress: '10.0.0.2',
      headers: { 'x-forwarded-for': client },
    })
    const { app } = await setup({ rateLimitPerMinute: 3, trustProxy: ['10.0.0.0/8'] })
    const a = []
    for (let i = 0; i < 4; i++) a.push((await app.inject(viaProxy('198.51.100.7'))).statusCode)
    expect(a).toEqual([200, 200, 200, 429])
    // Another client behind the same proxy has its own budget.
    expect((await app.inject(viaProxy('203.0.113.9'))).statusCode).toBe(200)
    // Without trusting the proxy, its clients would all share its one budget.
    const { app: plain } = await setup({ rateLimitPerMinute: 3 })
    const b = []
    for (const c of ['198.51.100.7', '203.0.113.9', '192.0.2.1', '192.0.2.2'])
      b.push((await plain.inject(viaProxy(c))).statusCode)
    expect(b).toEqual([200, 200, 200, 429])
  })

  it('fuzz: random bodies, paths and headers never produce a 500 and never change state', async () => {
    const { app, engine } = await setup()
    const root = engine.stateRoot()
    // Every route the node serves (from its OpenAPI document), path parameters left for the suffix.
    const openapi = (await app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, unknown> }
    const paths = [...new Set(Object.keys(openapi.paths).map((p) => p.replace(/\{[^}]+\}.*$/, '')))]
    expect(paths).toEqual(expect.arrayContaining(['/v1/records', '/v1/revocations', '/v1/charter']))
    const b64 = fc.uint8Array({ maxLength: 300 }).map((b) => toBase64url(b))
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.constant('{"records":[{"record":"oA"}]}'),
          b64.map((x) => JSON.stringify({ revocation: x })),
          b64.map((x) => JSON.stringify({ chain: x })),
          b64.map((x) => JSON.stringify({ record: x, payload: x })),
        ),
        fc.oneof(fc.constant(undefined), fc.string(), fc.constant('Legation key=abc, at=1, sig=x')),
        fc.string({ maxLength: 40 }),
        async (path, method, body, auth, suffix) => {
          const res = await app.inject({
            method: method as 'GET',
            url: path + encodeURI(suffix),
            headers: {
              'content-type': 'application/json',
              ...(auth === undefined ? {} : { authorization: auth }),
            },
            ...(method === 'GET' ? {} : { payload: body }),
          })
          expect(res.statusCode).toBeLessThan(500)
          if (res.statusCode >= 400) expect(res.json().code).toMatch(/^[A-Z_]+$/)
        },
      ),
      { numRuns: 300 },
    )
    expect(engine.stateRoot()).toBe(root)
  })
})

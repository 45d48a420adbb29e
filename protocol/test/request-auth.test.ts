import { describe, expect, it } from 'vitest'
import {
  DEFAULT_MAX_SKEW_MS,
  encodeCanonical,
  nobleEd25519,
  signRequest,
  toBase64url,
  utf8ToBytes,
  verifyRequest,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'
import { DAY, expectCode, makeBloc, T0 } from './fixtures.ts'

const NOW = T0 + DAY
const bloc = makeBloc()
const officer = bloc.officer('AT', ['consul'], 200)
const citizen = bloc.citizen(300)
const req = { method: 'POST', path: '/v1/records?wait=2', body: utf8ToBytes('{"record":"…"}') }

function headersOf(h: Record<string, string>) {
  return { authorization: h.authorization, certificate: h['legation-certificate'] }
}

describe.each([nobleEd25519, nativeEd25519])('signed requests ($name)', (ed) => {
  const citizenHeaders = headersOf(signRequest(ed, req, citizen.keys, NOW))
  const officerHeaders = headersOf(signRequest(ed, req, officer.client.keys, NOW, officer.cert))

  it('round trip: the node learns who signed, when, and with which certificate', () => {
    const c = verifyRequest(ed, req, citizenHeaders, NOW)
    expect(c).toEqual({ key: citizen.keys.publicKey, at: NOW, cert: null })
    const o = verifyRequest(ed, req, officerHeaders, NOW + 1000)
    expect(o?.key).toEqual(officer.client.keys.publicKey)
    expect(o?.cert).toEqual(officer.cert)
  })

  it('an unsigned request is not an error: it is anonymous', () => {
    expect(verifyRequest(ed, req, {}, NOW)).toBeUndefined()
  })

  it('the method is compared case-insensitively; a missing body is the empty body', () => {
    const h = headersOf(signRequest(ed, { method: 'get', path: '/v1/node' }, citizen.keys, NOW))
    expect(
      verifyRequest(ed, { method: 'GET', path: '/v1/node', body: new Uint8Array() }, h, NOW),
    ).toBeDefined()
  })

  it('a stale or future signature is refused with REQUEST_AUTH_INVALID', () => {
    expect(verifyRequest(ed, req, citizenHeaders, NOW + DEFAULT_MAX_SKEW_MS)).toBeDefined()
    expectCode(
      () => verifyRequest(ed, req, citizenHeaders, NOW + DEFAULT_MAX_SKEW_MS + 1),
      'REQUEST_AUTH_INVALID',
    )
    expectCode(
      () => verifyRequest(ed, req, citizenHeaders, NOW - DEFAULT_MAX_SKEW_MS - 1),
      'REQUEST_AUTH_INVALID',
    )
    expectCode(() => verifyRequest(ed, req, citizenHeaders, NOW + 10_001, 10_000), 'REQUEST_AUTH_INVALID')
  })

  it('a tampered method, path, query or body is refused with REQUEST_AUTH_INVALID', () => {
    const tampered = [
      { ...req, method: 'PUT' },
      { ...req, path: '/v1/records' },
      { ...req, path: '/v1/records?wait=3' },
      { ...req, path: '/v1/Records?wait=2' },
      { ...req, body: utf8ToBytes('{"record":"…"} ') },
      { ...req, body: undefined },
    ]
    for (const t of tampered)
      expectCode(() => verifyRequest(ed, t, citizenHeaders, NOW), 'REQUEST_AUTH_INVALID')
  })

  it('a changed time in the header is refused (the time is signed)', () => {
    const moved = citizenHeaders.authorization!.replace(`at=${NOW}`, `at=${NOW + 1}`)
    expectCode(() => verifyRequest(ed, req, { authorization: moved }, NOW), 'REQUEST_AUTH_INVALID')
  })

  it('a malformed Authorization header is refused with REQUEST_AUTH_INVALID', () => {
    const a = citizenHeaders.authorization!
    const key = /key=([^,]+)/.exec(a)![1]!
    const sig = /sig=(.+)$/.exec(a)![1]!
    // The last base64url character of a 32-byte key carries 2 padding bits: make them non-zero.
    const last = key.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const paddedKey = key.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1]
    const malformed = [
      '',
      'Legation',
      `Bearer key=${key}, at=${NOW}, sig=${sig}`,
      `legation key=${key}, at=${NOW}, sig=${sig}`,
      `Legation key=${key},at=${NOW},sig=${sig}`,
      `Legation key=${key}, at=${NOW}, sig=${sig}, extra=1`,
      `Legation at=${NOW}, key=${key}, sig=${sig}`,
      `Legation key=${key}, at=${NOW}, sig=${sig.slice(1)}`,
      `Legation key=${key}A, at=${NOW}, sig=${sig}`,
      `Legation key=${key}, at=0${NOW}, sig=${sig}`,
      `Legation key=${key}, at=-${NOW}, sig=${sig}`,
      `Legation key=${key}, at=${NOW}.0, sig=${sig}`,
      `Legation key=${key}, at=${NOW}, sig=${sig}\n`,
      `Legation key=${paddedKey}, at=${NOW}, sig=${sig}`,
      `Legation key=${key}, at=${NOW}, sig=${sig.slice(0, -1)}B`,
    ]
    expect(paddedKey).not.toBe(key)
    for (const authorization of malformed) {
      expectCode(() => verifyRequest(ed, req, { authorization }, NOW), 'REQUEST_AUTH_INVALID')
    }
  })

  it('a malformed certificate header is refused with REQUEST_AUTH_INVALID', () => {
    const bad = [
      '',
      '!!',
      toBase64url(Uint8Array.of(0xa0)),
      toBase64url(encodeCanonical({ body: 1, sig: 2 })),
    ]
    for (const certificate of bad) {
      expectCode(
        () => verifyRequest(ed, req, { authorization: officerHeaders.authorization, certificate }, NOW),
        'REQUEST_AUTH_INVALID',
      )
    }
  })

  it('a certificate presented with a request signed by another key is refused (certificates are public)', () => {
    const borrowed = { authorization: citizenHeaders.authorization, certificate: officerHeaders.certificate }
    expectCode(() => verifyRequest(ed, req, borrowed, NOW), 'REQUEST_AUTH_INVALID')
  })
})

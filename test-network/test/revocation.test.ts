/**
 * A state revokes an officer's certificate at one node: every node, including one that joins
 * the mesh afterwards, learns it and refuses that officer's new records and reads.
 */

import type { RevocationList } from '@legation/node/http/schemas'
import { certificateId, encodeCanonical, signRevocation, toBase64url, toSubmission } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import { afterEach, expect, it } from 'vitest'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

it('a revocation posted at one node reaches every node, and each refuses the officer from then on', {
  timeout: 90_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3, startNodes: 2 })
  const [a, b, late] = net.nodes as [TestNode, TestNode, TestNode]
  const officer = net.officer('DVB')
  const cert = certificateId(officer.cert!)
  const registered = citizenRegistration(officer, 'DVA')
  expect((await b.post('/v1/records', toSubmission(registered))).status).toBe(201)
  /** The officer reads the citizen's file (names, passport) at node `n`: the status and problem code. */
  const read = async (n: TestNode) => {
    const path = `/v1/citizens/${registered.citizenId}?purpose=consular-assistance`
    const res = await fetch(`${n.url}${path}`, {
      headers: officer.sign({ method: 'GET', path }),
      signal: AbortSignal.timeout(10_000),
    })
    const body = (await res.json()) as { code?: string }
    return { status: res.status, code: body.code }
  }
  expect((await read(b)).status).toBe(200)

  const revocation = signRevocation(
    ed,
    { type: 'revocation', bloc: net.bloc, state: 'DVB', cert, at: Date.now(), reason: 'key-compromise' },
    net.stateKeys.DVB!.secretKey,
  )
  const res = await a.post('/v1/revocations', { revocation: toBase64url(encodeCanonical(revocation)) })
  expect(res.status).toBe(201)

  const listed = async (n: TestNode) =>
    (await n.get<Static<typeof RevocationList>>('/v1/revocations')).revocations.some((r) => r.cert === cert)
  await expect.poll(() => listed(b), { timeout: 20_000, interval: 50 }).toBe(true)
  const refused = await b.post<{ code: string }>(
    '/v1/records',
    toSubmission(citizenRegistration(officer, 'DVA')),
  )
  expect(refused.status).toBe(401)
  expect(refused.body.code).toBe('CERT_REVOKED')
  // Nor does the officer read any more, at a node other than the one it was posted to.
  expect(await read(b)).toEqual({ status: 401, code: 'CERT_REVOKED' })

  // A node that was not running learns it when it connects.
  await late.start()
  await expect.poll(() => listed(late), { timeout: 30_000, interval: 50 }).toBe(true)
  const there = await late.post<{ code: string }>(
    '/v1/records',
    toSubmission(citizenRegistration(officer, 'DVC')),
  )
  expect(there.body.code).toBe('CERT_REVOKED')
  await expect
    .poll(async () => (await read(late)).code, { timeout: 30_000, interval: 100 })
    .toBe('CERT_REVOKED')
})

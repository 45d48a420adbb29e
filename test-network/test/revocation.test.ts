/**
 * A state revokes an officer's certificate at one node: every node, including one that joins
 * the mesh afterwards, learns it and refuses that officer's new records.
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
  expect((await b.post('/v1/records', toSubmission(citizenRegistration(officer, 'DVA')))).status).toBe(201)

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

  // A node that was not running learns it when it connects.
  await late.start()
  await expect.poll(() => listed(late), { timeout: 30_000, interval: 50 }).toBe(true)
  const there = await late.post<{ code: string }>(
    '/v1/records',
    toSubmission(citizenRegistration(officer, 'DVC')),
  )
  expect(there.body.code).toBe('CERT_REVOKED')
})

/**
 * Domain separation: a signature made for one kind of object never verifies as another, even
 * over the very same bytes, because the signed input starts with the domain.
 */
import { describe, expect, it } from 'vitest'
import {
  type CertifiedNode,
  DOMAINS,
  type Domain,
  type EntryBody,
  encodeCanonical,
  keyId,
  nobleEd25519,
  peerIdOf,
  type SignedCharter,
  signCertificate,
  signCharter,
  signEntry,
  signingInput,
  signRecord,
  verifyAmendment,
  verifyCertificateSignature,
  verifyEntrySignature,
  verifyRecord,
  verifyRequest,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'
import {
  DAY,
  expectCode,
  makeBloc,
  registration,
  registrationPayload,
  T0,
  testKeyPair,
  testSalt,
} from './fixtures.ts'

const SIGNED_DOMAINS: Domain[] = [
  DOMAINS.record,
  DOMAINS.certificate,
  DOMAINS.revocation,
  DOMAINS.charter,
  DOMAINS.entry,
  DOMAINS.receipt,
  DOMAINS.placement,
  DOMAINS.checkpoint,
  DOMAINS.request,
  DOMAINS.nodeUrl,
]

describe.each([nobleEd25519, nativeEd25519])('domain separation ($name)', (ed) => {
  const key = testKeyPair(ed, 42)
  const body = encodeCanonical({ any: 'object', n: 1 })

  it('a signature verifies under its own domain only', () => {
    for (const signedAs of SIGNED_DOMAINS) {
      const sig = ed.sign(signingInput(signedAs, body), key.secretKey)
      for (const checkedAs of SIGNED_DOMAINS) {
        expect(
          ed.verify(sig, signingInput(checkedAs, body), key.publicKey),
          `${signedAs} as ${checkedAs}`,
        ).toBe(signedAs === checkedAs)
      }
      // …and never as the bare body.
      expect(ed.verify(sig, body, key.publicKey)).toBe(false)
    }
  })

  const bloc = makeBloc(ed)
  const at = bloc.founders[0]!
  const atNode = at.nodes[0]!
  const officer = bloc.officer('AT', ['consul'], 200)
  const citizen = bloc.citizen(201)
  const reg = officer.client.record(
    'citizen.registered',
    citizen.id,
    registration(citizen.keys.publicKey, 'BE'),
    registrationPayload(1),
  )

  it('a record signature is not a certificate, charter, entry or request signature', () => {
    const recSig = reg.record.sig
    const headerBytes = encodeCanonical(reg.record.header)
    // The same header bytes, presented under every other domain, with the same key.
    for (const d of [DOMAINS.certificate, DOMAINS.charter, DOMAINS.entry, DOMAINS.request]) {
      expect(ed.verify(recSig, signingInput(d, headerBytes), officer.client.keys.publicKey)).toBe(false)
    }
    expect(verifyRecord(bloc.ctx, reg.record, bloc.view.bloc).id).toBe(reg.id)
  })

  it('a certificate signature does not sign a record with the same bytes, and vice versa', () => {
    // A state key signs a record whose header bytes it also "certifies": neither crosses over.
    const stateKeys = at.stateKeys
    const cert = signCertificate(
      ed,
      {
        type: 'node',
        state: 'AT',
        name: 'x',
        nodeKey: stateKeys.publicKey,
        peerId: peerIdOf(stateKeys.publicKey),
        clientId: 7,
        notBefore: T0,
        notAfter: T0 + DAY,
      },
      stateKeys.secretKey,
    )
    const asRecordInput = signingInput(DOMAINS.record, encodeCanonical(cert.body))
    expect(ed.verify(cert.sig, asRecordInput, stateKeys.publicKey)).toBe(false)

    // A record signature moved into a certificate does not make it valid.
    const recordSigned = signRecord(ed, reg.record.header, stateKeys.secretKey, null)
    const forged = { body: officer.cert.body, sig: recordSigned.sig }
    expectCode(() => verifyCertificateSignature(ed, forged, stateKeys.publicKey), 'CERT_INVALID')
  })

  it('a charter signature does not verify as a record, and a record signature does not amend a charter', () => {
    const draft = { ...bloc.view.charter, version: 2, prev: bloc.view.hash, bloc: bloc.view.bloc }
    const charterSig = signCharter(ed, draft, 'AT', at.stateKeys.secretKey).sig
    expect(
      ed.verify(charterSig, signingInput(DOMAINS.record, encodeCanonical(draft)), at.stateKeys.publicKey),
    ).toBe(false)
    // Sign the charter bytes under the record domain: members' "signatures" that must not count.
    const wrong = (code: string, secret: Uint8Array) => ({
      state: code,
      sig: ed.sign(signingInput(DOMAINS.record, encodeCanonical(draft)), secret),
    })
    const signed: SignedCharter = {
      charter: draft,
      sigs: [wrong('AT', at.stateKeys.secretKey), wrong('BE', bloc.founders[1]!.stateKeys.secretKey)],
    }
    expectCode(() => verifyAmendment(ed, bloc.view, signed), 'CHARTER_QUORUM_NOT_MET')
  })

  it('an entry signature is not a record signature and vice versa', () => {
    const body: EntryBody = {
      v: 1,
      bloc: bloc.view.bloc,
      origin: keyId(atNode.keys.publicKey),
      seq: 1,
      prev: null,
      hlc: [T0, 0],
      deps: {},
      changes: [{ doc: citizen.id, update: new Uint8Array([0, 0]), records: [] }],
    }
    const entry = signEntry(ed, body, atNode.keys.secretKey)
    const node: CertifiedNode = verifyEntrySignature(ed, entry, bloc.view.bloc, [bloc.view])
    expect(node.state).toBe('AT')
    expect(
      ed.verify(entry.sig, signingInput(DOMAINS.record, encodeCanonical(body)), atNode.keys.publicKey),
    ).toBe(false)
    // The node signs the entry bytes under the record domain: not an entry signature.
    const asRecord = ed.sign(signingInput(DOMAINS.record, encodeCanonical(body)), atNode.keys.secretKey)
    expectCode(
      () => verifyEntrySignature(ed, { body, sig: asRecord }, bloc.view.bloc, [bloc.view]),
      'SIGNATURE_INVALID',
    )
  })

  it('a request signature does not sign a record and a record signature does not sign a request', () => {
    const req = { method: 'GET', path: '/v1/citizens' }
    const headers = citizen.sign(req)
    const m = /sig=([A-Za-z0-9_-]+)$/.exec(headers.authorization!)
    expect(m).not.toBeNull()
    // A record signed by the citizen, its signature pasted into a request header.
    const own = citizen.record(
      'presence.registered',
      citizen.id,
      { from: T0, until: null },
      { salt: testSalt(3), country: 'KE', region: 'Nairobi' },
    )
    const sig = Buffer.from(own.record.sig).toString('base64url')
    const forged = headers.authorization!.replace(/sig=[A-Za-z0-9_-]+$/, `sig=${sig}`)
    expectCode(() => verifyRequest(ed, req, { authorization: forged }, T0 + DAY), 'REQUEST_AUTH_INVALID')
    expect(verifyRequest(ed, req, headers, T0 + DAY)?.key).toEqual(citizen.keys.publicKey)
  })
})

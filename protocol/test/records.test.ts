import { describe, expect, it } from 'vitest'
import {
  authorizeInContext,
  BoundedSet,
  type CaseState,
  type CaseType,
  decodeCanonical,
  encodeCanonical,
  encodePayload,
  fromBase64url,
  type LegationClient,
  openPayload,
  parseSignedRecord,
  payloadDigest,
  type RecordBody,
  type RecordKind,
  recordId,
  type SignedRecord,
  signRecord,
  toHex,
  toSubmission,
  verifyRecord,
} from '../src/index.ts'
import {
  DAY,
  expectCode,
  MemoryContext,
  makeBloc,
  registration,
  registrationPayload,
  T0,
  testSalt,
} from './fixtures.ts'

const bloc = makeBloc()
const BLOC = bloc.view.bloc
const verify = (r: unknown) => verifyRecord(bloc.ctx, r, BLOC)

const atConsul = bloc.officer('AT', ['consul'], 200)
const beConsul = bloc.officer('BE', ['consul'], 201)
const czConsul = bloc.officer('CZ', ['consul'], 202)
const atRegistrar = bloc.officer('AT', ['registrar'], 203)
const atCrisis = bloc.officer('AT', ['crisis'], 204)
const ana = bloc.citizen(300) // Belgian
const bob = bloc.citizen(301) // Austrian

const regAna = atConsul.client.record(
  'citizen.registered',
  ana.id,
  registration(ana.keys.publicKey, 'BE'),
  registrationPayload(1),
)
const alert = atCrisis.client.record('alert.issued', null, {
  country: 'KE',
  region: null,
  severity: 'warning',
  title: 'Flooding',
  message: 'Stay indoors; check in when you can.',
})

/** A context in which Ana (BE) and Bob (AT) are registered and the alert is known. */
function context(): MemoryContext {
  const ctx = new MemoryContext()
  ctx.citizens.set(ana.id, 'BE')
  ctx.citizens.set(bob.id, 'AT')
  ctx.alerts.add(alert.id)
  return ctx
}

/** Verifies statelessly, then in context; returns the authority. */
function accept(r: { record: SignedRecord }, ctx = context()) {
  const v = verify(r.record)
  authorizeInContext(v.record, v.authority, ctx)
  return v.authority
}

describe('signed records', () => {
  it('verify after an encode/decode round trip, with a stable content id', () => {
    const back = decodeCanonical(encodeCanonical(regAna.record))
    const v = verify(back)
    expect(v.id).toBe(regAna.id)
    expect(v.id).toBe(recordId(regAna.record.header))
    expect(v.authority).toEqual({ type: 'officer', state: 'AT', roles: ['consul'], certId: atConsul.certId })
    // The submission body carries the same bytes, base64url.
    const sub = toSubmission(regAna)
    expect(decodeCanonical(fromBase64url(sub.record))).toEqual(regAna.record)
    expect(toHex(fromBase64url(sub.payload!))).toBe(toHex(regAna.payload!))
  })

  it('a record whose payload was erased still verifies, on the header alone', () => {
    // The node destroyed Ana's payload: the signed record, its id and its digest remain.
    const v = verify(decodeCanonical(encodeCanonical(regAna.record)))
    expect(v.id).toBe(regAna.id)
    expect(v.record.header.payload).toEqual(payloadDigest(regAna.payload!))
  })

  it('opens the payload that matches the digest', () => {
    const p = openPayload(regAna.record.header, regAna.payload!)
    expect(p.names).toEqual({ given: 'Ana', family: 'Peeters' })
  })

  it('an altered payload fails openPayload with RECORD_PAYLOAD_MISMATCH', () => {
    const altered = encodeCanonical({ ...registrationPayload(1), names: { given: 'Eve', family: 'Peeters' } })
    expectCode(() => openPayload(regAna.record.header, altered), 'RECORD_PAYLOAD_MISMATCH')
    const flipped = regAna.payload!.slice()
    flipped[flipped.length - 1]! ^= 1
    expectCode(() => openPayload(regAna.record.header, flipped), 'RECORD_PAYLOAD_MISMATCH')
    expectCode(() => openPayload(alert.record.header, regAna.payload!), 'RECORD_PAYLOAD_MISMATCH')
  })

  it('salts payloads: the same personal data under two salts has unrelated digests', () => {
    const a = encodePayload('citizen.registered', registrationPayload(1))
    const b = encodePayload('citizen.registered', { ...registrationPayload(1), salt: testSalt(2) })
    expect(toHex(payloadDigest(a))).not.toBe(toHex(payloadDigest(b)))
    expectCode(
      () => encodePayload('citizen.registered', { ...registrationPayload(1), salt: new Uint8Array(8) }),
      'SCHEMA_INVALID',
    )
  })

  it('a header altered after signing fails with SIGNATURE_INVALID', () => {
    const forged = { ...regAna.record, header: { ...regAna.record.header, at: regAna.record.header.at + 1 } }
    expectCode(() => verify(forged), 'SIGNATURE_INVALID')
    const otherNationality = {
      ...regAna.record,
      header: { ...regAna.record.header, body: registration(ana.keys.publicKey, 'AT') },
    }
    expectCode(() => verify(otherNationality), 'SIGNATURE_INVALID')
  })

  it('a record for another bloc is refused with BLOC_MISMATCH', () => {
    expectCode(() => verifyRecord(bloc.ctx, regAna.record, 'ee'.repeat(32)), 'BLOC_MISMATCH')
    // Re-signed by the officer for another bloc id: still not this bloc's.
    const h = { ...regAna.record.header, bloc: 'ee'.repeat(32) }
    const r = signRecord(bloc.ed, h, atConsul.client.keys.secretKey, atConsul.cert)
    expectCode(() => verify(r), 'BLOC_MISMATCH')
  })

  it('a record naming an unknown charter version is refused', () => {
    const h = { ...regAna.record.header, charter: 'dd'.repeat(32) }
    const r = signRecord(bloc.ed, h, atConsul.client.keys.secretKey, atConsul.cert)
    expectCode(() => verify(r), 'RECORD_UNKNOWN_SUBJECT')
  })

  it('shape errors are SCHEMA_INVALID', () => {
    const sign = (h: SignedRecord['header'], by = atConsul) =>
      signRecord(bloc.ed, h, by.client.keys.secretKey, by.cert)
    expectCode(() => verify({ ...regAna.record, extra: 1 }), 'SCHEMA_INVALID')
    expectCode(() => verify({ ...regAna.record, sig: new Uint8Array(63) }), 'SCHEMA_INVALID')
    expectCode(() => verify(sign({ ...alert.record.header, subject: ana.id }, atCrisis)), 'SCHEMA_INVALID')
    expectCode(() => verify(sign({ ...regAna.record.header, subject: null })), 'SCHEMA_INVALID')
    expectCode(() => verify(sign({ ...regAna.record.header, payload: null })), 'SCHEMA_INVALID')
    expectCode(
      () => verify(sign({ ...alert.record.header, payload: payloadDigest(new Uint8Array(1)) }, atCrisis)),
      'SCHEMA_INVALID',
    )
    expectCode(
      () => verify(sign({ ...regAna.record.header, kind: 'no.such.kind' as RecordKind })),
      'SCHEMA_INVALID',
    )
    // A registration's subject is the id of the key it enrols.
    expectCode(() => verify(sign({ ...regAna.record.header, subject: bob.id })), 'SCHEMA_INVALID')
  })
})

describe('officer certificates', () => {
  it('keeps the certificates in use: the cache of verified ones forgets the least recently used', () => {
    const seen = new BoundedSet(3)
    for (const k of ['a', 'b', 'c']) seen.add(k)
    expect(seen.has('a')).toBe(true) // a is used again
    seen.add('d') // forgets b, the least recently used, not a, the oldest added
    expect([seen.has('a'), seen.has('b'), seen.has('c'), seen.has('d')]).toEqual([true, false, true, true])
  })

  it('a record signed outside the certificate window is refused with CERT_NOT_VALID_AT', () => {
    const short = bloc.officer('AT', ['consul'], 210, { notBefore: T0, notAfter: T0 + 10 * DAY })
    const body = registration(ana.keys.publicKey, 'BE')
    const make = (at: number) =>
      short.client.record('citizen.registered', ana.id, body, registrationPayload(1), at)
    expect(verify(make(T0).record).authority.type).toBe('officer')
    expect(verify(make(T0 + 10 * DAY - 1).record).authority.type).toBe('officer')
    expectCode(() => verify(make(T0 + 10 * DAY).record), 'CERT_NOT_VALID_AT')
    expectCode(() => verify(make(T0 + 400 * DAY).record), 'CERT_NOT_VALID_AT')
    expectCode(() => verify(make(T0 - 1).record), 'CERT_NOT_VALID_AT')
  })

  it('a revoked certificate is refused with CERT_REVOKED from the revocation time on', () => {
    const ctx = context()
    // Revoked by another member state: does not count.
    ctx.revoked.set(`BE/${atConsul.certId}`, T0)
    const checkin = (at: number) =>
      atConsul.client.record('welfare.checkin', ana.id, { alert: alert.id, status: 'safe' }, null, at)
    expect(accept(checkin(T0 + 6 * DAY), ctx).type).toBe('officer')
    // Revoked by the state that issued it.
    ctx.revoked.set(`AT/${atConsul.certId}`, T0 + 5 * DAY)
    // Signed before the revocation: still valid.
    expect(accept(checkin(T0 + 5 * DAY - 1), ctx).type).toBe('officer')
    expectCode(() => accept(checkin(T0 + 5 * DAY), ctx), 'CERT_REVOKED')
    expectCode(() => accept(checkin(T0 + 6 * DAY), ctx), 'CERT_REVOKED')
    // Another officer of the same state is not affected.
    const other = atRegistrar.client.record(
      'welfare.checkin',
      ana.id,
      { alert: alert.id, status: 'safe' },
      null,
    )
    expect(accept(other, ctx).type).toBe('officer')
  })

  it('an officer of a non-member state is refused with CERT_INVALID', () => {
    const outsider = bloc.officer('XX', ['consul'], 220)
    const r = outsider.client.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'BE'),
      registrationPayload(1),
    )
    expectCode(() => verify(r.record), 'CERT_INVALID')
  })

  it("a certificate claiming one state but signed by another's key is refused with CERT_INVALID", () => {
    const body = { ...atConsul.cert.body, state: 'CZ' }
    const r = signRecord(bloc.ed, { ...regAna.record.header }, atConsul.client.keys.secretKey, {
      body,
      sig: atConsul.cert.sig,
    })
    expectCode(() => verify(r), 'CERT_INVALID')
  })

  it("a record signed by a key other than the certificate's is refused with CERT_INVALID", () => {
    // Bob signs a registration and attaches the AT consul's (public) certificate.
    const h = { ...regAna.record.header, author: bob.keys.publicKey }
    const r = signRecord(bloc.ed, h, bob.keys.secretKey, atConsul.cert)
    expectCode(() => verify(r), 'CERT_INVALID')
  })

  it('an officer certificate for another bloc is refused with BLOC_MISMATCH', () => {
    const foreign = bloc.officer('AT', ['consul'], 221)
    const cert = { ...foreign.cert, body: { ...foreign.cert.body, bloc: 'ee'.repeat(32) } }
    const r = signRecord(
      bloc.ed,
      { ...regAna.record.header, author: foreign.client.keys.publicKey },
      foreign.client.keys.secretKey,
      cert,
    )
    expectCode(() => verify(r), 'BLOC_MISMATCH')
  })
})

describe('who may sign which kind', () => {
  it('roles allow their kinds', () => {
    // Ana's first registration: in a context where she is not registered yet.
    expect(accept(regAna, new MemoryContext()).type).toBe('officer')
    expect(accept(alert).type).toBe('officer')
    const reg = atRegistrar.client.record(
      'citizen.registered',
      bob.id,
      registration(bob.keys.publicKey, 'AT'),
      registrationPayload(2),
    )
    expect(accept(reg, new MemoryContext()).type).toBe('officer')
    const doc = atConsul.client.record('document.attested', ana.id, {
      documentHash: payloadDigest(new Uint8Array(3)),
      documentType: 'birth certificate',
      case: null,
    })
    expect(accept(doc).type).toBe('officer')
  })

  it('a role that does not allow the kind is refused with RECORD_UNAUTHORIZED', () => {
    const caseId = 'ab'.repeat(32)
    const transition = atRegistrar.client.record('case.transition', ana.id, {
      case: caseId,
      from: 'submitted',
      to: 'in-review',
    })
    expectCode(() => verify(transition.record), 'RECORD_UNAUTHORIZED')
    const crisisRegisters = atCrisis.client.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'BE'),
      registrationPayload(1),
    )
    expectCode(() => verify(crisisRegisters.record), 'RECORD_UNAUTHORIZED')
    const consulAlerts = atConsul.client.record('alert.issued', null, alert.record.header.body)
    expectCode(() => verify(consulAlerts.record), 'RECORD_UNAUTHORIZED')
    const registrarAttests = atRegistrar.client.record('document.attested', ana.id, {
      documentHash: payloadDigest(new Uint8Array(3)),
      documentType: 'birth certificate',
      case: null,
    })
    expectCode(() => verify(registrarAttests.record), 'RECORD_UNAUTHORIZED')
  })

  it('a citizen may sign their own check-in, but not someone else’s, nor an alert', () => {
    const own = ana.record('welfare.checkin', ana.id, { alert: alert.id, status: 'safe' }, null)
    expect(accept(own)).toEqual({ type: 'citizen', citizen: ana.id })
    const forBob = ana.record('welfare.checkin', bob.id, { alert: alert.id, status: 'safe' }, null)
    expectCode(() => verify(forBob.record), 'RECORD_UNAUTHORIZED')
    const anaAlerts = ana.record('alert.issued', null, alert.record.header.body)
    expectCode(() => verify(anaAlerts.record), 'RECORD_UNAUTHORIZED')
    const anaAttests = ana.record('document.attested', ana.id, {
      documentHash: payloadDigest(new Uint8Array(3)),
      documentType: 'self-made',
      case: null,
    })
    expectCode(() => verify(anaAttests.record), 'RECORD_UNAUTHORIZED')
  })

  it('a citizen may register themself only by enrolling the key they sign with', () => {
    const self = ana.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'BE'),
      registrationPayload(1),
    )
    expect(accept(self, new MemoryContext())).toEqual({ type: 'citizen', citizen: ana.id })
    const enrolsOther = ana.record(
      'citizen.registered',
      bob.id,
      registration(bob.keys.publicKey, 'AT'),
      registrationPayload(1),
    )
    expectCode(() => verify(enrolsOther.record), 'RECORD_UNAUTHORIZED')
  })

  it('identity and nationality change only by officers of the citizen’s nationality', () => {
    // Ana is Belgian. An Austrian consul may not register her again (as Austrian or not)…
    const asAustrian = atConsul.client.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'AT'),
      registrationPayload(7),
    )
    expectCode(() => accept(asAustrian), 'RECORD_UNAUTHORIZED')
    // …nor may she re-register herself, nor change her own names or passport…
    const selfAgain = ana.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'AT'),
      registrationPayload(8),
    )
    expectCode(() => accept(selfAgain), 'RECORD_UNAUTHORIZED')
    const { contact: _c, birth: _b, ...identity } = registrationPayload(9)
    const newName = ana.record('citizen.updated', ana.id, { fields: ['names', 'travelDocument'] }, identity)
    expectCode(() => accept(newName), 'RECORD_UNAUTHORIZED')
    const byAustrian = atConsul.client.record(
      'citizen.updated',
      ana.id,
      { fields: ['names', 'travelDocument'] },
      identity,
    )
    expectCode(() => accept(byAustrian), 'RECORD_UNAUTHORIZED')
    // …but a Belgian officer may do both, and anyone may update her contact details.
    expect(
      accept(
        beConsul.client.record('citizen.updated', ana.id, { fields: ['names', 'travelDocument'] }, identity),
      ).type,
    ).toBe('officer')
    const beAgain = beConsul.client.record(
      'citizen.registered',
      ana.id,
      registration(ana.keys.publicKey, 'BE'),
      registrationPayload(10),
    )
    expect(accept(beAgain).type).toBe('officer')
    const contact = { salt: testSalt(11), contact: { email: 'ana@example.be' } }
    expect(accept(ana.record('citizen.updated', ana.id, { fields: ['contact'] }, contact)).type).toBe(
      'citizen',
    )
    expect(
      accept(czConsul.client.record('citizen.updated', ana.id, { fields: ['contact'] }, contact)).type,
    ).toBe('officer')
  })

  it('a check-in for an unknown alert, or about an unregistered citizen, is refused in context', () => {
    const unknownAlert = ana.record(
      'welfare.checkin',
      ana.id,
      { alert: 'cc'.repeat(32), status: 'safe' },
      null,
    )
    expectCode(() => accept(unknownAlert), 'RECORD_UNKNOWN_SUBJECT')
    const carol = bloc.citizen(302)
    const unregistered = carol.record(
      'welfare.checkin',
      carol.id,
      { alert: alert.id, status: 'needs-help' },
      null,
    )
    expect(verify(unregistered.record).authority.type).toBe('citizen')
    expectCode(() => accept(unregistered), 'RECORD_UNKNOWN_SUBJECT')
  })
})

describe('cases', () => {
  function openCase(type: CaseType, citizen = ana) {
    const opened = citizen.record('case.opened', citizen.id, { caseType: type }, { salt: testSalt(9) })
    const ctx = context()
    accept(opened, ctx)
    ctx.cases.set(opened.id, { type, subject: citizen.id, state: 'in-review' })
    return { caseId: opened.id, ctx }
  }
  const approve = (officer: typeof atConsul, caseId: string, subject = ana.id) =>
    officer.client.record('case.transition', subject, { case: caseId, from: 'in-review', to: 'approved' })

  it('passport approval by an officer of another state than the citizen’s is refused', () => {
    for (const type of ['passport-renewal', 'lost-passport'] as const) {
      const { caseId, ctx } = openCase(type)
      // Stateless verification cannot know Ana's nationality: it passes…
      const byAt = approve(atConsul, caseId)
      expect(verify(byAt.record).authority.type).toBe('officer')
      // …and the accepting node, which knows it, refuses.
      expectCode(() => accept(byAt, ctx), 'RECORD_UNAUTHORIZED')
      expectCode(() => accept(approve(czConsul, caseId), ctx), 'RECORD_UNAUTHORIZED')
      expect(accept(approve(beConsul, caseId), ctx).type).toBe('officer')
    }
  })

  it('emergency travel document approval by any member’s officer is accepted', () => {
    const { caseId, ctx } = openCase('emergency-travel-document')
    for (const officer of [atConsul, beConsul, czConsul])
      expect(accept(approve(officer, caseId), ctx).type).toBe('officer')
  })

  it('transitions follow the state machine', () => {
    const { caseId, ctx } = openCase('document-attestation')
    ctx.cases.set(caseId, { type: 'document-attestation', subject: ana.id, state: 'submitted' })
    const move = (by: LegationClient, from: CaseState, to: CaseState) =>
      by.record('case.transition', ana.id, { case: caseId, from, to })
    // An officer cannot skip review; the citizen cannot move it forward.
    expectCode(
      () => verify(move(atConsul.client, 'submitted', 'approved').record),
      'RECORD_INVALID_TRANSITION',
    )
    expectCode(() => verify(move(ana, 'submitted', 'in-review').record), 'RECORD_UNAUTHORIZED')
    // The citizen may withdraw; the officer may not withdraw for them.
    expect(accept(move(ana, 'submitted', 'withdrawn'), ctx).type).toBe('citizen')
    expectCode(
      () => verify(move(atConsul.client, 'submitted', 'withdrawn').record),
      'RECORD_INVALID_TRANSITION',
    )
    // The case must be in the `from` state.
    expectCode(() => accept(move(atConsul.client, 'in-review', 'approved'), ctx), 'RECORD_INVALID_TRANSITION')
    expect(accept(move(atConsul.client, 'submitted', 'in-review'), ctx).type).toBe('officer')
    // A case of another citizen, or an unknown case, is refused.
    const bobsCase = openCase('document-attestation', bob)
    const wrongCase = atConsul.client.record('case.transition', ana.id, {
      case: bobsCase.caseId,
      from: 'in-review',
      to: 'needs-info',
    })
    ctx.cases.set(bobsCase.caseId, { type: 'document-attestation', subject: bob.id, state: 'in-review' })
    expectCode(() => accept(wrongCase, ctx), 'RECORD_UNKNOWN_SUBJECT')
    const unknown = atConsul.client.record('case.transition', ana.id, {
      case: 'ff'.repeat(32),
      from: 'in-review',
      to: 'needs-info',
    })
    expectCode(() => accept(unknown, ctx), 'RECORD_UNKNOWN_SUBJECT')
  })
})

describe('unique arrays', () => {
  it('refuses a certificate with a role twice, and a consent with a purpose twice', () => {
    const twiceRole = structuredClone(regAna.record)
    ;(twiceRole.cert!.body.roles as string[]).push('consul')
    const err = expectCode(() => parseSignedRecord(twiceRole), 'SCHEMA_INVALID')
    expect(err.details).toEqual(['/cert/body/roles: Expected array to contain unique items'])
    const twicePurpose = structuredClone(regAna.record)
    const consent = (twicePurpose.header.body as RecordBody<'citizen.registered'>).consent
    ;(consent.purposes as string[]).push(consent.purposes[0]!)
    expectCode(() => parseSignedRecord(twicePurpose), 'SCHEMA_INVALID')
    expect(parseSignedRecord(structuredClone(regAna.record)).header.kind).toBe('citizen.registered')
  })
})

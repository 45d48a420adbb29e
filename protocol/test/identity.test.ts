/**
 * Every replica folds a citizen's registrations and updates under the identity rule: what the
 * rule forbids (a foreign state re-registering a citizen, a citizen renaming themself) changes
 * nothing, whatever order the records arrive in.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { foldIdentity, type IdentityRecord, signerOf } from '../src/index.ts'
import { makeBloc, registration, registrationPayload, testSalt } from './fixtures.ts'

const bloc = makeBloc()
const atConsul = bloc.officer('AT', ['consul'], 210)
const beConsul = bloc.officer('BE', ['consul'], 211)
const ana = bloc.citizen(310) // Belgian

type Built = { id: string; record: Parameters<typeof signerOf>[0] & { header: IdentityRecord['header'] } }
const as = (b: Built): IdentityRecord => ({ id: b.id, header: b.record.header, signer: signerOf(b.record) })

// Signed one after the other: `at` gives their order.
const at = (n: number) => 1_700_000_000_000 + n * 1000
const first = beConsul.client.record(
  'citizen.registered',
  ana.id,
  registration(ana.keys.publicKey, 'BE'),
  registrationPayload(1),
  at(1),
)
const foreign = atConsul.client.record(
  'citizen.registered',
  ana.id,
  registration(ana.keys.publicKey, 'AT'),
  registrationPayload(2),
  at(2),
)
const { contact: _c, birth: _b, ...names } = registrationPayload(3)
const selfRename = ana.record('citizen.updated', ana.id, { fields: ['names'] }, names, at(3))
const ownContact = ana.record(
  'citizen.updated',
  ana.id,
  { fields: ['contact'] },
  {
    salt: testSalt(4),
    contact: { email: 'ana@example.be' },
  },
  at(4),
)
const nationalRename = beConsul.client.record(
  'citizen.updated',
  ana.id,
  { fields: ['names'] },
  { ...names, salt: testSalt(5) },
  at(5),
)

describe('foldIdentity', () => {
  it('keeps the first registration’s nationality against a later foreign one', () => {
    const id = foldIdentity([first, foreign].map(as))
    expect(id).toMatchObject({ nationality: 'BE', registration: first.id, names: first.id })
  })

  it('ignores a citizen renaming themself, takes their contact details and the national officer’s rename', () => {
    const id = foldIdentity([first, selfRename, ownContact, nationalRename].map(as))
    expect(id).toMatchObject({
      nationality: 'BE',
      names: nationalRename.id,
      contact: ownContact.id,
      travelDocument: first.id,
    })
  })

  it('reaches the same identity whatever order the records arrive in', () => {
    const all = [first, foreign, selfRename, ownContact, nationalRename].map(as)
    const expected = foldIdentity(all)
    fc.assert(
      fc.property(fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }), (order) => {
        expect(foldIdentity(order)).toEqual(expected)
      }),
      { numRuns: 50 },
    )
  })

  it('has no identity before a registration', () => {
    expect(foldIdentity([ownContact].map(as))).toBeUndefined()
  })
})

/**
 * The founding ceremony and amendments from detached signatures: each member signs apart,
 * whoever combines needs public keys only, and the result is byte for byte what
 * `createGenesis` makes with every secret key in one process.
 */
import { describe, expect, it } from 'vitest'
import { memberSpec } from '../scripts/make-vectors.ts'
import {
  amendmentFromSignatures,
  createGenesis,
  draftGenesis,
  encodeCanonical,
  genesisFromSignatures,
  memberOf,
  setQuorum,
  signCharter,
  verifyCharterChain,
  verifyCharterSignature,
  verifyGenesis,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'
import { expectCode, T0, testKeyPair, VALIDITY } from './fixtures.ts'

const ed = nativeEd25519
const founders = [0, 1, 2].map((i) => memberSpec(ed, i))
const auditorKey = testKeyPair(ed, 9).publicKey
// Each state's member entry, its nodes certified with its own key: its descriptor.
const members = founders.map((f) => memberOf(ed, f, VALIDITY))
const draft = draftGenesis(ed, {
  name: 'Legation Test Bloc',
  members: [...members].reverse(),
  auditorKey,
  quorum: 2,
  issuedAt: T0,
})
const sig = (code: string, charter = draft) =>
  signCharter(ed, charter, code, founders.find((f) => f.code === code)!.stateKeys.secretKey)

describe('genesis from detached signatures', () => {
  it('is the genesis createGenesis makes with every secret key, whatever order the signatures come in', () => {
    const together = createGenesis(ed, {
      name: 'Legation Test Bloc',
      members: founders,
      auditorKey,
      quorum: 2,
      issuedAt: T0,
      validity: VALIDITY,
    })
    const codes = founders.map((f) => f.code)
    const { signed, view } = genesisFromSignatures(
      ed,
      draft,
      [...codes].reverse().map((c) => sig(c)),
    )
    expect(encodeCanonical(signed.charter)).toEqual(encodeCanonical(together.charter))
    expect(view.bloc).toBe(verifyGenesis(ed, together).bloc)
    expect(signed.sigs.map((s) => s.state)).toEqual([...codes].sort())
  })

  it('needs every founder; ignores a signature that does not verify or is not a founder’s', () => {
    const [a, b, c] = founders.map((f) => f.code) as [string, string, string]
    expectCode(() => genesisFromSignatures(ed, draft, [sig(a), sig(b)]), 'CHARTER_QUORUM_NOT_MET')
    const forged = { state: c, sig: sig(a).sig }
    expectCode(() => genesisFromSignatures(ed, draft, [sig(a), sig(b), forged]), 'CHARTER_QUORUM_NOT_MET')
    const stranger = { state: 'ZZ', sig: sig(a).sig }
    const { signed } = genesisFromSignatures(ed, draft, [sig(a), sig(b), sig(c), stranger, sig(a)])
    expect(signed.sigs.map((s) => s.state)).toEqual([a, b, c].sort())
  })

  it('refuses a draft that would not verify', () => {
    expectCode(
      () =>
        draftGenesis(ed, {
          name: 'x',
          members: [members[0]!, members[0]!],
          auditorKey,
          quorum: 1,
          issuedAt: T0,
        }),
      'CHARTER_INVALID',
    )
    expectCode(
      () => draftGenesis(ed, { name: 'x', members, auditorKey, quorum: 4, issuedAt: T0 }),
      'CHARTER_INVALID',
    )
  })
})

describe('amendment from detached signatures', () => {
  it('takes effect with the quorum of the version in force, not with one fewer', () => {
    const codes = founders.map((f) => f.code)
    const { signed: genesis, view } = genesisFromSignatures(
      ed,
      draft,
      codes.map((c) => sig(c)),
    )
    const next = setQuorum(view, 3, { issuedAt: T0 + 1 })
    expect(verifyCharterSignature(ed, next, sig(codes[0]!, next).sig, founders[0]!.stateKeys.publicKey)).toBe(
      true,
    )
    expectCode(
      () => amendmentFromSignatures(ed, view, next, [sig(codes[0]!, next)]),
      'CHARTER_QUORUM_NOT_MET',
    )
    const { signed, view: v2 } = amendmentFromSignatures(ed, view, next, [
      sig(codes[2]!, next),
      sig(codes[0]!, next),
    ])
    expect(v2.charter.quorum).toBe(3)
    expect(verifyCharterChain(ed, [genesis, signed]).at(-1)!.hash).toBe(v2.hash)
  })
})

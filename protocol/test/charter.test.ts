import { describe, expect, it } from 'vitest'
import { memberSpec } from '../scripts/make-vectors.ts'
import {
  addNode,
  admitMember,
  type CharterBody,
  type CharterView,
  certifyNode,
  charterHash,
  createGenesis,
  encodeCanonical,
  expelMember,
  keyId,
  memberOf,
  type NodeSpec,
  peerIdOf,
  removeNode,
  rotateStateKey,
  type SignedCharter,
  setQuorum,
  signAmendment,
  signCertificate,
  verifyAmendment,
  verifyCharterChain,
  verifyGenesis,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'
import { DAY, expectCode, makeBloc, T0, testKeyPair, VALIDITY } from './fixtures.ts'

const ed = nativeEd25519
const opts = (n: number) => ({ issuedAt: T0 + n * DAY })

/** Signing keys by state code, as each version gives them (rotation replaces one). */
function keyring() {
  const bloc = makeBloc(ed)
  const keys = new Map(bloc.founders.map((f) => [f.code, f.stateKeys.secretKey]))
  keys.set('DK', testKeyPair(ed, 4).secretKey)
  const sign = (draft: CharterBody, codes: string[]): SignedCharter =>
    signAmendment(
      ed,
      draft,
      codes.map((code) => ({ code, secretKey: keys.get(code)! })),
    )
  return { bloc, keys, sign }
}

function nodeSpec(n: number, clientId: number): NodeSpec {
  return { name: `node-${n}`, keys: testKeyPair(ed, n), clientId, addrs: [] }
}

describe('genesis', () => {
  const { bloc } = keyring()

  it('is valid when every founder signed; its hash is the bloc id', () => {
    const view = verifyGenesis(ed, bloc.genesis)
    expect(view.version).toBe(1)
    expect(view.bloc).toBe(view.hash)
    expect(view.hash).toBe(charterHash(bloc.genesis.charter))
    expect([...view.members.keys()]).toEqual(['AT', 'BE', 'CZ'])
    expect(view.nodes.size).toBe(3)
    for (const n of view.nodes.values()) expect(view.nodesByPeerId.get(n.peerId)).toBe(n)
  })

  it('needs every founder, whatever the quorum', () => {
    const twoOfThree = { ...bloc.genesis, sigs: bloc.genesis.sigs.slice(0, 2) }
    expectCode(() => verifyGenesis(ed, twoOfThree), 'CHARTER_QUORUM_NOT_MET')
    const duplicated = { ...bloc.genesis, sigs: [...twoOfThree.sigs, bloc.genesis.sigs[0]!] }
    expectCode(() => verifyGenesis(ed, duplicated), 'CHARTER_QUORUM_NOT_MET')
  })

  it('is refused when altered after signing', () => {
    const altered = { ...bloc.genesis, charter: { ...bloc.genesis.charter, quorum: 1 } }
    expectCode(() => verifyGenesis(ed, altered), 'CHARTER_QUORUM_NOT_MET')
  })

  it('has version 1 and no predecessor', () => {
    const c = { ...bloc.genesis.charter, version: 2 }
    const signed = { charter: c, sigs: [] }
    expectCode(() => verifyGenesis(ed, signed), 'CHARTER_CHAIN_BROKEN')
  })

  it('refuses a malformed charter with SCHEMA_INVALID', () => {
    expectCode(
      () => verifyGenesis(ed, { charter: { v: 1 }, sigs: [] } as unknown as SignedCharter),
      'SCHEMA_INVALID',
    )
  })

  it('refuses duplicate members, foreign node certificates and impossible quorums', () => {
    const founders = [0, 1].map((i) => memberSpec(ed, i))
    const base = {
      name: 'B',
      auditorKey: testKeyPair(ed, 9).publicKey,
      quorum: 2,
      issuedAt: T0,
      validity: VALIDITY,
    }
    expectCode(
      () => verifyGenesis(ed, createGenesis(ed, { ...base, members: [founders[0]!, founders[0]!] })),
      'CHARTER_INVALID',
    )
    expectCode(
      () => verifyGenesis(ed, createGenesis(ed, { ...base, members: founders, quorum: 3 })),
      'CHARTER_INVALID',
    )
    // Two nodes with one Yjs client id: their changes could not be told apart.
    const clash = [founders[0]!, { ...founders[1]!, nodes: [{ ...founders[1]!.nodes[0]!, clientId: 1001 }] }]
    expectCode(() => verifyGenesis(ed, createGenesis(ed, { ...base, members: clash })), 'CHARTER_INVALID')
    // AT's node certified by BE's key.
    const g = createGenesis(ed, { ...base, members: founders })
    const beNode = g.charter.members[1]!.nodes[0]!
    const stolen: CharterBody = {
      ...g.charter,
      members: [
        { ...g.charter.members[0]!, nodes: [beNode] },
        { ...g.charter.members[1]!, nodes: [] },
      ],
    }
    const resigned = {
      charter: stolen,
      sigs: founders.map(
        (f) => signAmendment(ed, stolen, [{ code: f.code, secretKey: f.stateKeys.secretKey }]).sigs[0]!,
      ),
    }
    expectCode(() => verifyGenesis(ed, resigned), 'CHARTER_INVALID')
  })

  it('refuses a node certificate whose peer id is not derived from its node key', () => {
    const f = memberSpec(ed, 0)
    const member = memberOf(ed, f, VALIDITY)
    const body = {
      ...member.nodes[0]!.cert.body,
      peerId: peerIdOf(testKeyPair(ed, 6).publicKey),
    }
    const lying = {
      ...member,
      nodes: [{ cert: signCertificate(ed, body, f.stateKeys.secretKey), addrs: [] }],
    }
    const charter: CharterBody = {
      v: 1,
      name: 'B',
      version: 1,
      prev: null,
      bloc: null,
      issuedAt: T0,
      members: [lying],
      auditorKey: testKeyPair(ed, 9).publicKey,
      quorum: 1,
    }
    const signed = signAmendment(ed, charter, [{ code: f.code, secretKey: f.stateKeys.secretKey }])
    const err = expectCode(() => verifyGenesis(ed, signed), 'CHARTER_INVALID')
    expect((err.cause as { code?: string }).code).toBe('CERT_INVALID')
  })
})

describe('amendments', () => {
  const { bloc, sign } = keyring()
  const v1 = bloc.view
  const dk = memberOf(ed, memberSpec(ed, 3), VALIDITY)
  const admitDk = admitMember(v1, dk, opts(1))

  it('admit: k signatures of version n are accepted', () => {
    const v2 = verifyAmendment(ed, v1, sign(admitDk, ['AT', 'BE']))
    expect(v2.version).toBe(2)
    expect(v2.bloc).toBe(v1.bloc)
    expect(v2.charter.prev).toBe(v1.hash)
    expect([...v2.members.keys()]).toEqual(['AT', 'BE', 'CZ', 'DK'])
    expect(v2.nodes.size).toBe(4)
    // Any k of n, in any order.
    expect(verifyAmendment(ed, v1, sign(admitDk, ['CZ', 'AT'])).hash).toBe(v2.hash)
    expect(verifyAmendment(ed, v1, sign(admitDk, ['CZ', 'BE', 'AT'])).hash).toBe(v2.hash)
  })

  it('checks the quorum before the certificates it lists: an unsigned amendment costs no certificate check', () => {
    // A node certificate that does not verify, in an amendment nobody signed: refused for the
    // quorum, found without checking any certificate (anyone may submit an amendment).
    const bogusNode = { ...dk.nodes[0]!, cert: { ...dk.nodes[0]!.cert, sig: new Uint8Array(64) } }
    const forged = admitMember(v1, { ...dk, nodes: [bogusNode] }, opts(1))
    expectCode(() => verifyAmendment(ed, v1, sign(forged, [])), 'CHARTER_QUORUM_NOT_MET')
    // Signed by a quorum, the bad certificate is found.
    expectCode(() => verifyAmendment(ed, v1, sign(forged, ['AT', 'BE'])), 'CHARTER_INVALID')
  })

  it('k-1 signatures are refused with CHARTER_QUORUM_NOT_MET', () => {
    expectCode(() => verifyAmendment(ed, v1, sign(admitDk, ['AT'])), 'CHARTER_QUORUM_NOT_MET')
    expectCode(() => verifyAmendment(ed, v1, sign(admitDk, [])), 'CHARTER_QUORUM_NOT_MET')
  })

  it('duplicate signatures by one member count once', () => {
    expectCode(() => verifyAmendment(ed, v1, sign(admitDk, ['AT', 'AT'])), 'CHARTER_QUORUM_NOT_MET')
  })

  it('signatures by non-members are ignored — including the member being admitted', () => {
    expectCode(() => verifyAmendment(ed, v1, sign(admitDk, ['AT', 'DK'])), 'CHARTER_QUORUM_NOT_MET')
    const outsider = {
      state: 'XX',
      sig: signAmendment(ed, admitDk, [{ code: 'XX', secretKey: testKeyPair(ed, 77).secretKey }]).sigs[0]!
        .sig,
    }
    const signed = sign(admitDk, ['AT'])
    expectCode(
      () => verifyAmendment(ed, v1, { ...signed, sigs: [...signed.sigs, outsider] }),
      'CHARTER_QUORUM_NOT_MET',
    )
  })

  it("a signature under another member's code does not count", () => {
    const signed = sign(admitDk, ['AT', 'CZ'])
    const mislabelled = { ...signed, sigs: [signed.sigs[0]!, { ...signed.sigs[1]!, state: 'BE' }] }
    expectCode(() => verifyAmendment(ed, v1, mislabelled), 'CHARTER_QUORUM_NOT_MET')
  })

  it('a signed amendment altered afterwards loses its signatures', () => {
    const signed = sign(admitDk, ['AT', 'BE'])
    const altered = { ...signed, charter: { ...signed.charter, quorum: 1 } }
    expectCode(() => verifyAmendment(ed, v1, altered), 'CHARTER_QUORUM_NOT_MET')
  })

  it('wrong prev or a version gap is refused with CHARTER_CHAIN_BROKEN', () => {
    const wrongPrev = { ...admitDk, prev: 'ab'.repeat(32) }
    expectCode(() => verifyAmendment(ed, v1, sign(wrongPrev, ['AT', 'BE'])), 'CHARTER_CHAIN_BROKEN')
    const gap = { ...admitDk, version: 3 }
    expectCode(() => verifyAmendment(ed, v1, sign(gap, ['AT', 'BE'])), 'CHARTER_CHAIN_BROKEN')
    const again = { ...admitDk, version: 1 }
    expectCode(() => verifyAmendment(ed, v1, sign(again, ['AT', 'BE'])), 'CHARTER_CHAIN_BROKEN')
    // Replaying version 2 on top of version 2.
    const v2 = verifyAmendment(ed, v1, sign(admitDk, ['AT', 'BE']))
    expectCode(() => verifyAmendment(ed, v2, sign(admitDk, ['AT', 'BE'])), 'CHARTER_CHAIN_BROKEN')
  })

  it('an amendment naming another bloc is refused with BLOC_MISMATCH', () => {
    const other = { ...admitDk, bloc: 'cd'.repeat(32) }
    expectCode(() => verifyAmendment(ed, v1, sign(other, ['AT', 'BE'])), 'BLOC_MISMATCH')
  })

  it('drafting refuses impossible changes with CHARTER_INVALID', () => {
    expectCode(() => admitMember(v1, memberOf(ed, memberSpec(ed, 0), VALIDITY), opts(1)), 'CHARTER_INVALID')
    expectCode(() => expelMember(v1, 'XX', opts(1)), 'CHARTER_INVALID')
    expectCode(() => setQuorum(v1, 4, opts(1)), 'CHARTER_INVALID')
    expectCode(() => removeNode(v1, '00'.repeat(16), opts(1)), 'CHARTER_INVALID')
    expectCode(() => addNode(v1, 'XX', dk.nodes[0]!, opts(1)), 'CHARTER_INVALID')
  })
})

describe('a chain of amendments', () => {
  it('admit, add/remove a node, rotate a key, change quorum, expel — verified as one chain', () => {
    const { bloc, keys, sign } = keyring()
    const chain: SignedCharter[] = [bloc.genesis]
    let view: CharterView = bloc.view
    const step = (draft: CharterBody, codes: string[]) => {
      const signed = sign(draft, codes)
      view = verifyAmendment(ed, view, signed)
      chain.push(signed)
      return signed
    }

    // v2: admit DK (2 of 3).
    step(admitMember(view, memberOf(ed, memberSpec(ed, 3), VALIDITY), opts(1)), ['AT', 'BE'])
    expect(view.members.has('DK')).toBe(true)

    // v3: BE adds a second node; a node reusing a client id or a key is refused.
    const beSecret = keys.get('BE')!
    const beNode2 = certifyNode(ed, 'BE', beSecret, nodeSpec(300, 2002), VALIDITY)
    const dupClient = certifyNode(ed, 'BE', beSecret, nodeSpec(301, 1001), VALIDITY)
    expectCode(
      () => verifyAmendment(ed, view, sign(addNode(view, 'BE', dupClient, opts(2)), ['AT', 'BE'])),
      'CHARTER_INVALID',
    )
    const dupKey = certifyNode(ed, 'BE', beSecret, { ...nodeSpec(5, 2003), name: 'copy' }, VALIDITY)
    expectCode(
      () => verifyAmendment(ed, view, sign(addNode(view, 'BE', dupKey, opts(2)), ['AT', 'BE'])),
      'CHARTER_INVALID',
    )
    // A node certified by another state's key cannot be slipped into BE's list.
    const foreign = certifyNode(ed, 'BE', keys.get('AT')!, nodeSpec(302, 2004), VALIDITY)
    expectCode(
      () => verifyAmendment(ed, view, sign(addNode(view, 'BE', foreign, opts(2)), ['AT', 'BE'])),
      'CHARTER_INVALID',
    )
    step(addNode(view, 'BE', beNode2, opts(2)), ['CZ', 'DK'])
    const beNode2Id = keyId(testKeyPair(ed, 300).publicKey)
    expect(view.nodes.get(beNode2Id)?.clientId).toBe(2002)

    // v4: remove it again.
    step(removeNode(view, beNode2Id, opts(3)), ['AT', 'DK'])
    expect(view.nodes.has(beNode2Id)).toBe(false)
    expect(view.members.get('BE')!.nodes).toHaveLength(1)

    // v5: BE rotates its state key. Its nodes must be re-certified with the new key.
    const newBe = testKeyPair(ed, 310)
    const beNodes = [certifyNode(ed, 'BE', newBe.secretKey, memberSpec(ed, 1).nodes[0]!, VALIDITY)]
    const stale = rotateStateKey(view, 'BE', newBe.publicKey, view.members.get('BE')!.nodes, opts(4))
    expectCode(() => verifyAmendment(ed, view, sign(stale, ['AT', 'BE'])), 'CHARTER_INVALID')
    // The rotation itself is signed with the keys of the version it amends (BE's old key counts).
    step(rotateStateKey(view, 'BE', newBe.publicKey, beNodes, opts(4)), ['BE', 'CZ'])
    expect(view.members.get('BE')!.stateKey).toEqual(newBe.publicKey)
    const oldBe = keys.get('BE')!
    keys.set('BE', newBe.secretKey)

    // v6: quorum 3. From now on the old BE key no longer counts, the new one does.
    const quorum3 = setQuorum(view, 3, opts(5))
    keys.set('BE', oldBe)
    expectCode(() => verifyAmendment(ed, view, sign(quorum3, ['AT', 'BE'])), 'CHARTER_QUORUM_NOT_MET')
    keys.set('BE', newBe.secretKey)
    step(quorum3, ['AT', 'BE'])
    expect(view.charter.quorum).toBe(3)

    // v7: expel CZ — now 3 signatures are needed; 2 are refused.
    const expelCz = expelMember(view, 'CZ', opts(6))
    expectCode(() => verifyAmendment(ed, view, sign(expelCz, ['AT', 'BE'])), 'CHARTER_QUORUM_NOT_MET')
    step(expelCz, ['AT', 'BE', 'DK'])
    expect(view.members.has('CZ')).toBe(false)
    expect([...view.nodes.values()].some((n) => n.state === 'CZ')).toBe(false)
    expect(view.charter.quorum).toBe(3)
    // Expelling down to fewer members than the quorum shrinks the quorum with them.
    expect(expelMember(view, 'DK', opts(7)).quorum).toBe(2)

    // v8: CZ's signature no longer counts.
    const back = setQuorum(view, 2, opts(7))
    expectCode(() => verifyAmendment(ed, view, sign(back, ['AT', 'CZ'])), 'CHARTER_QUORUM_NOT_MET')
    expectCode(() => verifyAmendment(ed, view, sign(back, ['AT', 'BE', 'CZ'])), 'CHARTER_QUORUM_NOT_MET')
    step(back, ['AT', 'BE', 'DK'])

    const views = verifyCharterChain(ed, chain)
    expect(views.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(views.at(-1)!.hash).toBe(view.hash)
    expect(new Set(views.map((v) => v.bloc))).toEqual(new Set([bloc.view.bloc]))
    // Every version's canonical bytes decode to what was signed.
    for (const [i, v] of views.entries())
      expect(encodeCanonical(v.charter)).toEqual(encodeCanonical(chain[i]!.charter))

    // The same chain with a version left out or reordered is refused.
    expectCode(() => verifyCharterChain(ed, [chain[0]!, ...chain.slice(2)]), 'CHARTER_CHAIN_BROKEN')
    expectCode(() => verifyCharterChain(ed, [chain[0]!, chain[2]!, chain[1]!]), 'CHARTER_CHAIN_BROKEN')
    expectCode(() => verifyCharterChain(ed, chain.slice(1)), 'CHARTER_CHAIN_BROKEN')
    expectCode(() => verifyCharterChain(ed, []), 'CHARTER_INVALID')
  })
})

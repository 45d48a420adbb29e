/**
 * Officers act under the charter in force: after an amendment rotates a state's key, a
 * certificate the old key signs is refused, whatever charter version its records name; after a
 * state is expelled, its officers sign nothing more. Checked where a record is submitted.
 */
import {
  certifyNode,
  certifyOfficer,
  expelMember,
  generateKeyPair,
  LegationClient,
  rotateStateKey,
  signAmendment,
  verifyCharterChain,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { countingEd, ed, registration, testBloc } from '../fixtures.ts'

const validity = () => ({ notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 86_400_000 })
const signers = (bloc: ReturnType<typeof testBloc>, codes: string[]) =>
  codes.map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))

/** An engine whose Ed25519 counts the signatures it verifies. */
async function countingEngine() {
  const bloc = testBloc(3)
  const counting = countingEd()
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed: counting.ed,
    nodeKeys: bloc.nodes[0]!.keys,
    charter: bloc.chain,
  })
  const start = counting.count.verify
  return { engine, bloc, verified: () => counting.count.verify - start }
}

describe('officers under the charter in force', () => {
  it('refuses a certificate signed by a rotated-out state key, and takes one by the key in force', async () => {
    const bloc = testBloc(3) // one node per state: AAA, BBB, CCC
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    const before = bloc.officer('CCC') // certified by CCC's first key
    expect((await engine.submit([registration(before, 'CCC')]))[0]?.ok).toBe(true)
    // Its requests are taken too (and its certificate remembered as verified under CCC's key).
    const asks = () => engine.trust.checkOfficer(before.cert!, before.keys.publicKey, Date.now())
    expect(asks()).toMatch(/^[0-9a-f]{64}$/)

    const fresh = generateKeyPair(ed)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const node = bloc.nodes[2]!
    const nodeCert = certifyNode(
      ed,
      'CCC',
      fresh.secretKey,
      { name: 'node-2', keys: node.keys, clientId: node.clientId, addrs: [] },
      validity(),
    )
    const rotation = signAmendment(
      ed,
      rotateStateKey(prev, 'CCC', fresh.publicKey, [nodeCert], { issuedAt: Date.now() }),
      signers(bloc, ['AAA', 'BBB']),
    )
    expect(await engine.adoptCharter([...bloc.chain, rotation])).toBe(true)
    // Remembered under the key rotated out: checked again under the key in force, and refused.
    expect(asks).toThrow(expect.objectContaining({ code: 'REQUEST_AUTH_INVALID' }))

    // The old key certifies a new officer, whose records name the genesis charter: refused.
    const stolen = bloc.officer('CCC')
    const [refused] = await engine.submit([registration(stolen, 'CCC')])
    expect(!refused?.ok && refused?.error.code).toBe('CERT_INVALID')
    // An officer certified by the key in force, naming the version in force, writes.
    const keys = generateKeyPair(ed)
    const cert = certifyOfficer(
      ed,
      bloc.bloc,
      'CCC',
      fresh.secretKey,
      keys.publicKey,
      ['registrar', 'consul'],
      validity(),
    )
    const current = new LegationClient({ ed, bloc: bloc.bloc, charter: engine.charter.hash, keys, cert })
    expect((await engine.submit([registration(current, 'CCC')]))[0]?.ok).toBe(true)
  })

  it('verifies an officer’s certificate once for all their requests and records; a copy with another signature is refused', async () => {
    const { engine, bloc, verified } = await countingEngine()
    const officer = bloc.officer('CCC')
    const cert = officer.cert!
    for (let i = 0; i < 3; i++) engine.trust.checkOfficer(cert, officer.keys.publicKey, Date.now())
    expect(verified()).toBe(1)
    // Its records: each one's own signature, and none of the certificate's.
    const out = await engine.submit([registration(officer, 'CCC'), registration(officer, 'CCC')])
    expect(out.every((o) => o.ok)).toBe(true)
    expect(verified()).toBe(3)
    const sig = cert.sig.slice()
    sig[7]! ^= 1
    expect(() => engine.trust.checkOfficer({ ...cert, sig }, officer.keys.publicKey, Date.now())).toThrow(
      expect.objectContaining({ code: 'REQUEST_AUTH_INVALID' }),
    )
  })

  it('checks a certificate first met in a batch once, and refuses every record of a forged one', async () => {
    const { engine, bloc, verified } = await countingEngine()
    const officer = bloc.officer('CCC')
    const out = await engine.submit(Array.from({ length: 5 }, () => registration(officer, 'CCC')))
    expect(out.every((o) => o.ok)).toBe(true)
    expect(verified()).toBe(5 + 1)

    const forger = bloc.officer('BBB')
    const sig = forger.cert!.sig.slice()
    sig[3]! ^= 1
    const forged = new LegationClient({
      ed,
      bloc: bloc.bloc,
      charter: forger.charter,
      keys: forger.keys,
      cert: { ...forger.cert!, sig },
    })
    const refused = await engine.submit(Array.from({ length: 3 }, () => registration(forged, 'BBB')))
    expect(refused.map((o) => !o.ok && o.error.code)).toEqual([
      'CERT_INVALID',
      'CERT_INVALID',
      'CERT_INVALID',
    ])
    expect(verified()).toBe(6 + 3 + 1)

    // The first record refused before its checks ran (its role may not sign it): the next one
    // checks the certificate itself.
    const clerk = bloc.officer('AAA', ['crisis'])
    const [first, second] = await engine.submit([
      registration(clerk, 'AAA'),
      clerk.record('alert.issued', null, {
        country: 'KE',
        region: null,
        severity: 'evacuation',
        title: 'Evacuation',
        message: 'Go to the assembly point',
      }),
    ])
    expect(!first?.ok && first?.error.code).toBe('RECORD_UNAUTHORIZED')
    expect(second?.ok).toBe(true)
    expect(verified()).toBe(10 + 2)
  })

  it('lets an expelled state’s officers sign nothing more', async () => {
    const bloc = testBloc(3)
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    const officer = bloc.officer('CCC')
    expect((await engine.submit([registration(officer, 'CCC')]))[0]?.ok).toBe(true)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const expel = signAmendment(
      ed,
      expelMember(prev, 'CCC', { issuedAt: Date.now() }),
      signers(bloc, ['AAA', 'BBB']),
    )
    expect(await engine.adoptCharter([...bloc.chain, expel])).toBe(true)
    const [refused] = await engine.submit([registration(officer, 'CCC')])
    expect(!refused?.ok && refused?.error.code).toBe('CERT_INVALID')
    // Another state's officer is not affected.
    expect((await engine.submit([registration(bloc.officer('AAA'), 'AAA')]))[0]?.ok).toBe(true)
  })
})

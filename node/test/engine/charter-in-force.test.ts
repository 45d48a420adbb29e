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
import { ed, registration, testBloc } from '../fixtures.ts'

const validity = () => ({ notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 86_400_000 })
const signers = (bloc: ReturnType<typeof testBloc>, codes: string[]) =>
  codes.map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))

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

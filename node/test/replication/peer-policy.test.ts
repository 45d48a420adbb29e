/** The charter peer policy: who may connect and whom to dial, over a real engine's charter. */
import { expelMember, signAmendment, verifyCharterChain } from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { DEFAULT_BAN_MS, type PeerPolicyInit, peerPolicy } from '../../src/replication/peer-policy.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, testBloc } from '../fixtures.ts'

const engines: Engine[] = []
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
})

async function setup(init: PeerPolicyInit = {}, clock?: () => number) {
  const bloc = testBloc(3)
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[0]!.keys,
    charter: bloc.chain,
  })
  engines.push(engine)
  const policy = peerPolicy(init)({ engine, ...(clock ? { clock } : {}) })
  await policy.start()
  const [self, b, c] = [...engine.charter.nodes.values()]
    .sort((x, y) => (x.nodeId === engine.nodeId ? -1 : y.nodeId === engine.nodeId ? 1 : 0))
    .map((n) => n.peerId) as [string, string, string]
  let changes = 0
  policy.onChange(() => changes++)
  return { bloc, engine, policy, self, b, c, changes: () => changes }
}

const UNKNOWN = '12D3KooWNotInTheCharterAtAll1111111111111111111111'

describe('peer policy', () => {
  it('allows certified peers, not itself, not strangers', async () => {
    const { policy, self, b, c } = await setup()
    expect(policy.isAllowed(b)).toBe(true)
    expect(policy.isAllowed(c)).toBe(true)
    expect(policy.isAllowed(self)).toBe(false)
    expect(policy.isAllowed(UNKNOWN)).toBe(false)
  })

  it('lists every other certified node with its charter addresses for bootstrap', async () => {
    const { policy, b, c } = await setup()
    expect(
      policy
        .bootstrapPeers()
        .map((p) => p.peerId)
        .sort(),
    ).toEqual([b, c].sort())
    expect(policy.bootstrapPeers().every((p) => Array.isArray(p.addrs))).toBe(true)
  })

  it('bootstrap: false dials nobody; only: dials only those, and still allows the others', async () => {
    expect((await setup({ bootstrap: false })).policy.bootstrapPeers()).toEqual([])
    const s = await setup()
    const only = peerPolicy({ only: [s.c] })({ engine: s.engine })
    expect(only.bootstrapPeers().map((p) => p.peerId)).toEqual([s.c])
    expect(only.isAllowed(s.b)).toBe(true)
  })

  it('a ban refuses the peer and drops it from bootstrap until it ends; listeners hear both', async () => {
    const { policy, b, c, changes } = await setup()
    policy.ban(b, 100)
    expect(changes()).toBe(1)
    expect(policy.isAllowed(b)).toBe(false)
    expect(policy.bootstrapPeers().map((p) => p.peerId)).toEqual([c])
    await expect.poll(() => changes(), { timeout: 2_000, interval: 20 }).toBe(2)
    expect(policy.isAllowed(b)).toBe(true)
  })

  it('a ban lasts banMs by default, judged by the clock', async () => {
    let now = 1_000
    const { policy, b } = await setup({}, () => now)
    policy.ban(b)
    now += DEFAULT_BAN_MS - 1
    expect(policy.isAllowed(b)).toBe(false)
    now += 1
    expect(policy.isAllowed(b)).toBe(true)
  })

  it('block (fault injection) replaces the blocked set and tells listeners', async () => {
    const { policy, b, c, changes } = await setup()
    policy.block([b])
    expect(policy.isAllowed(b)).toBe(false)
    expect(policy.bootstrapPeers().map((p) => p.peerId)).toEqual([c])
    policy.block([c])
    expect(policy.isAllowed(b)).toBe(true)
    expect(policy.isAllowed(c)).toBe(false)
    expect(changes()).toBe(2)
  })

  it('follows the charter in force, and tells listeners when told it changed', async () => {
    const { bloc, engine, policy, changes } = await setup()
    const expelled = [...engine.charter.nodes.values()].find((n) => n.state === 'CCC')!.peerId
    expect(policy.isAllowed(expelled)).toBe(true)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const signers = ['AAA', 'BBB'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    const draft = expelMember(prev, 'CCC', { issuedAt: Date.now() })
    expect(await engine.adoptCharter([...bloc.chain, signAmendment(ed, draft, signers)])).toBe(true)
    policy.charterChanged()
    expect(changes()).toBe(1)
    expect(policy.isAllowed(expelled)).toBe(false)
    expect(policy.bootstrapPeers().map((p) => p.peerId)).not.toContain(expelled)
  })

  it('stops hearing after unsubscribe, and stop() ends pending ban timers', async () => {
    const { policy, b, changes } = await setup()
    let other = 0
    const off = policy.onChange(() => other++)
    off()
    policy.ban(b, 60_000)
    expect(other).toBe(0)
    expect(changes()).toBe(1)
    await policy.stop()
  })

  it('refuses a negative banMs with CONFIG_INVALID', () => {
    expect(() => peerPolicy({ banMs: -1 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })
})

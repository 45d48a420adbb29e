/**
 * Nodes' public addresses learnt from the bloc (node-urls.ts): a node announces its own, keeps
 * and relays the valid announcements of certified nodes, the newest of each, and treats a
 * forged one as the peer's misbehaviour.
 */
import {
  expelMember,
  generateKeyPair,
  keyId,
  type SyncMessage,
  signAmendment,
  signNodeUrl,
  verifyCharterChain,
} from '@legation/protocol'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Engine } from '../src/engine/engine.ts'
import { nodeUrls } from '../src/node-urls.ts'
import type { SyncHandler, SyncRegistrar } from '../src/replication/registrar.ts'
import { MemoryStore } from '../src/storage/memory-store.ts'
import { ed, testBloc } from './fixtures.ts'

async function setup() {
  const bloc = testBloc(3)
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[0]!.keys,
    charter: bloc.chain,
  })
  let handler: SyncHandler<'nodeUrls'> | undefined
  const sent: SyncMessage[] = []
  const registrar: SyncRegistrar = {
    handle: (_t, h) => {
      handler = h as unknown as SyncHandler<'nodeUrls'>
    },
    unhandle: () => {
      handler = undefined
    },
    broadcast: (m) => sent.push(m),
    liveNodes: () => [],
  }
  const urls = nodeUrls({ publicUrl: 'https://node-0.example' })({
    engine,
    ed,
    nodeKeys: bloc.nodes[0]!.keys,
    registrar,
    logger: pino({ level: 'silent' }),
  })
  await urls.start()
  const from = { peerId: 'peer', nodeId: keyId(bloc.nodes[1]!.keys.publicKey) }
  const announce = (i: number, url: string, at: number, keys = bloc.nodes[i]!.keys) =>
    signNodeUrl(ed, { node: keyId(bloc.nodes[i]!.keys.publicKey), url, at }, keys.secretKey)
  return { bloc, engine, urls, handler: () => handler!, sent, from, announce }
}

describe('node addresses', () => {
  it('announces its own to a peer that connects', async () => {
    const { urls, handler } = await setup()
    expect(urls.urls()).toEqual(['https://node-0.example'])
    const hello = await handler().onConnect!({ peerId: 'peer', nodeId: 'x' })
    expect(hello?.list.map((a) => a.body.url)).toEqual(['https://node-0.example'])
  })

  it('keeps and relays what certified nodes announce, the newest of each', async () => {
    const { urls, handler, sent, from, announce } = await setup()
    await handler().onMessage({ t: 'nodeUrls', list: [announce(1, 'https://node-1.example', 10)] }, from)
    expect(urls.urls()).toEqual(['https://node-0.example', 'https://node-1.example'])
    expect(sent).toHaveLength(1) // relayed to the other peers
    // An older one changes nothing and is not relayed again; a newer one replaces it.
    await handler().onMessage({ t: 'nodeUrls', list: [announce(1, 'https://old.example', 5)] }, from)
    await handler().onMessage({ t: 'nodeUrls', list: [announce(1, 'https://node-1.example', 10)] }, from)
    expect(sent).toHaveLength(1)
    await handler().onMessage({ t: 'nodeUrls', list: [announce(1, 'https://moved.example', 20)] }, from)
    expect(urls.urls()).toEqual(['https://node-0.example', 'https://moved.example'])
    expect(sent).toHaveLength(2)
  })

  it('refuses a forged announcement, and ignores a node the charter does not certify', async () => {
    const { urls, handler, from, announce, bloc } = await setup()
    // Node 2's address signed by node 1's key: the peer is misbehaving.
    const forged = announce(2, 'https://evil.example', 10, bloc.nodes[1]!.keys)
    await expect(
      Promise.resolve().then(() => handler().onMessage({ t: 'nodeUrls', list: [forged] }, from)),
    ).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' })
    const stranger = generateKeyPair(ed)
    const unknown = signNodeUrl(
      ed,
      { node: keyId(stranger.publicKey), url: 'https://stranger.example', at: 1 },
      stranger.secretKey,
    )
    await handler().onMessage({ t: 'nodeUrls', list: [unknown] }, from)
    expect(urls.urls()).toEqual(['https://node-0.example'])
  })

  it('drops the address of a node the charter no longer certifies, once it is amended', async () => {
    const { urls, handler, from, announce, bloc, engine } = await setup()
    await handler().onMessage({ t: 'nodeUrls', list: [announce(2, 'https://node-2.example', 10)] }, from)
    expect(urls.urls()).toEqual(['https://node-0.example', 'https://node-2.example'])
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const draft = expelMember(prev, bloc.nodes[2]!.state, { issuedAt: Date.now() })
    const signers = ['AAA', 'BBB'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    expect(await engine.adoptCharter([...bloc.chain, signAmendment(ed, draft, signers)])).toBe(true)
    expect(urls.urls()).toEqual(['https://node-0.example'])
  })
})

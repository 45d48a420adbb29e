/**
 * Forks that heal (real processes): a hostile node shows one half of the bloc one version of its
 * feed and the other half another, and signs a checkpoint of the first. Whatever reaches whom
 * first, every honest node ends with the same feed of it, the same state root, the evidence of
 * the fork, and every honest write made meanwhile.
 */
import { checkpointText, leafHash, rootOf, signNote, toSubmission } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { changeFor, createDoc, eventually, HostilePeer } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, missingAt } from '../src/workload.ts'

let net: TestNetwork | undefined
let hostile: HostilePeer | undefined
afterEach(async () => {
  await hostile?.stop().catch(() => undefined)
  hostile = undefined
  await net?.stop()
  net = undefined
})

/** Three honest nodes (DVA, DVB, DVC) and node 3 hostile, with two versions of its feed. */
async function forkedBloc() {
  net = await TestNetwork.start({ nodes: 4, startNodes: 3 })
  const honest = net.nodes.slice(0, 3) as [TestNode, TestNode, TestNode]
  const h = await HostilePeer.start(net, 3)
  hostile = h
  for (const n of honest) await h.connect(n)
  const officer = net.officer('DVA')
  const seal = (seq: number, prev: Uint8Array | null, reg: ReturnType<typeof citizenRegistration>) =>
    h.seal({
      origin: h.nodeId,
      seq,
      prev,
      hlc: [Date.now() + seq, 0],
      changes: [changeFor(createDoc(h.clientId), reg.citizenId, [reg])],
    })
  const regs = Array.from({ length: 4 }, () => citizenRegistration(officer, 'DVB'))
  const e1 = seal(1, null, regs[0]!)
  const a2 = seal(2, e1.hash, regs[1]!)
  const a3 = seal(3, a2.hash, regs[2]!)
  const b2 = seal(2, e1.hash, regs[3]!)
  const origin = `legation/${net.bloc}/${h.nodeId}`
  const root = rootOf([e1.hash, a2.hash, a3.hash].map(leafHash))
  const checkpoint = signNote(ed, checkpointText({ origin, size: 3, root, extensions: [] }), [
    { name: origin, secretKey: h.node.keys.secretKey },
  ])
  const versionA = async (n: TestNode) => {
    await h.sendEntries(n, [e1.bytes, a2.bytes, a3.bytes], regs.slice(0, 3))
    await h.send(n, { t: 'checkpoint', note: checkpoint })
  }
  const versionB = (n: TestNode) => h.sendEntries(n, [e1.bytes, b2.bytes], [regs[0]!, regs[3]!])
  return { net, h, honest, regs, versionA, versionB, id: h.nodeId }
}

/** Waits until the honest nodes all know of the fork and hold the same state; answers its feed length there. */
async function agreed(honest: readonly TestNode[], id: string): Promise<number> {
  let last: unknown
  const info = await eventually(
    'the honest nodes to agree on the forked feed and the state root',
    async () => {
      const infos = await Promise.all(honest.map((n) => n.info()))
      last = infos.map((i) => ({ quarantined: i.quarantined, feed: i.versionVector[id], root: i.stateRoot }))
      // A node rebuilding shows a partial state: several at once could show the same one.
      const forked = infos.every((i) => !i.rebuilding && i.quarantined.some((q) => q.nodeId === id))
      const roots = new Set(infos.map((i) => i.stateRoot))
      const vvs = new Set(infos.map((i) => JSON.stringify(Object.entries(i.versionVector).sort())))
      return forked && roots.size === 1 && vvs.size === 1 ? infos[0]! : undefined
    },
    60_000,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`)
  })
  return info.versionVector[id] ?? 0
}

it('a hostile node that shows each half of the bloc a different version at once: every honest node converges', {
  timeout: 120_000,
}, async () => {
  const { net, h, honest, regs, versionA, versionB, id } = await forkedBloc()
  const [n0, n1, n2] = honest
  await Promise.all([versionA(n0), versionA(n1), versionB(n2)])
  // Each node has taken what the hostile node sent it (or already knows of the fork) before
  // the hostile node leaves: a frame still in flight when it stops would show no fork at all.
  const reader = net.officer('DVB')
  const took = async (n: TestNode, record: string) =>
    (await missingAt(n, [record], reader)).length === 0 ||
    (await n.info()).quarantined.some((q) => q.nodeId === id)
  for (const [n, record] of [
    [n0, regs[1]!.id],
    [n1, regs[1]!.id],
    [n2, regs[3]!.id],
  ] as const) {
    await eventually(`node ${n.index} to take its version`, () => took(n, record))
  }
  await h.stop()
  hostile = undefined
  // Honest writes go on meanwhile, at every node.
  const writes = honest.map((_, i) => citizenRegistration(net.officer(['DVA', 'DVB', 'DVC'][i]!), 'DVB'))
  for (const [i, n] of honest.entries())
    expect((await n.post('/v1/records', toSubmission(writes[i]!))).status).toBe(201)
  const held = await agreed(honest, id)
  // Either the checkpoint of version A became bloc-final before the fork was found (A stands),
  // or the fork was found first (nothing from seq 2 stands); never version B, never a mix.
  expect([1, 3]).toContain(held)
  for (const n of honest) {
    expect(await missingAt(n, [regs[0]!.id, ...writes.map((w) => w.id)], reader)).toEqual([])
    expect(await missingAt(n, [regs[3]!.id], reader)).toEqual([regs[3]!.id])
    const gone = held === 3 ? [] : [regs[1]!.id, regs[2]!.id]
    expect(await missingAt(n, [regs[1]!.id, regs[2]!.id], reader)).toEqual(gone)
  }
  console.log(`forks: the honest nodes agreed on ${held} entries of the forked feed`)
})

it('once a checkpoint is bloc-final, a version shown later against it does not stand anywhere', {
  timeout: 120_000,
}, async () => {
  const { net, h, honest, regs, versionA, versionB, id } = await forkedBloc()
  const [n0, n1, n2] = honest
  await versionA(n0)
  await versionA(n1)
  const auditor = net.auditor()
  type Listed = { checkpoints: Array<{ origin: string; final?: { size: number } }> }
  for (const n of honest) {
    await eventually(`node ${n.index} to hold the hostile checkpoint as bloc-final`, async () => {
      const list = await n.get<Listed>('/v1/audit/checkpoints', auditor)
      return list.checkpoints.find((c) => c.origin === id)?.final?.size === 3
    })
  }
  await versionB(n2)
  // Node 2 holds version A already (relayed, and bloc-final): version B shows it the fork.
  await eventually('node 2 to find the fork', async () =>
    (await n2.info()).quarantined.some((q) => q.nodeId === id),
  )
  await h.stop()
  hostile = undefined
  expect(await agreed(honest, id)).toBe(3)
  const reader = net.officer('DVB')
  for (const n of honest) {
    expect(
      await missingAt(
        n,
        regs.slice(0, 3).map((r) => r.id),
        reader,
      ),
    ).toEqual([])
    expect(await missingAt(n, [regs[3]!.id], reader)).toEqual([regs[3]!.id])
  }
})

/**
 * An expelled state's node signs on after its expulsion, and an honest node that has not heard
 * of the expulsion yet relays what it signs (real processes). Once the amendment spreads, those
 * entries are in no node's state: every node ends with the expelled node's feed closed before
 * them, the same version vector and state root, and the honest writes made in between kept.
 */
import { toSubmission } from '@legation/protocol'
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

const vvOf = async (n: TestNode, origin: string) => (await n.info()).versionVector[origin] ?? 0

it('entries an expelled node signs after its expulsion, relayed before the amendment arrived, end up in no node’s state', {
  timeout: 120_000,
}, async () => {
  // Nodes 0 (DVA) and 1 (DVB) run; node 2 (DVC) is the node about to be expelled, in this process.
  net = await TestNetwork.start({ nodes: 3, startNodes: 2 })
  const [a, b] = net.nodes as [TestNode, TestNode]
  hostile = await HostilePeer.start(net, 2)
  await hostile.connect(b)
  const officer = net.officer('DVC')
  const regs = [0, 1, 2].map(() => citizenRegistration(officer, 'DVC'))
  const now = Date.now()
  // Seq 1 before the expulsion; seqs 2 and 3 dated after it (the amendment below is issued now).
  const times = [now - 5_000, now + 20_000, now + 21_000]
  const sealed: Array<ReturnType<HostilePeer['seal']>> = []
  for (const [i, reg] of regs.entries()) {
    sealed.push(
      hostile.seal({
        origin: hostile.nodeId,
        seq: i + 1,
        prev: sealed[i - 1]?.hash ?? null,
        hlc: [times[i]!, 0],
        changes: [changeFor(createDoc(hostile.clientId), reg.citizenId, [reg])],
      }),
    )
  }
  const origin = hostile.nodeId
  // Only node 1 hears from it; node 1 relays to node 0. Neither knows of the expulsion yet.
  await hostile.sendEntries(
    b,
    sealed.map((s) => s.bytes),
    regs,
  )
  for (const n of [a, b]) {
    await eventually(`node ${n.index} to apply all three`, async () => (await vvOf(n, origin)) === 3)
  }
  // An honest write at node 1 builds on them (its entry depends on seq 3).
  const honest = citizenRegistration(net.officer('DVB'), 'DVB')
  expect((await b.post('/v1/records', toSubmission(honest))).status).toBe(201)
  await hostile.stop()
  hostile = undefined

  const before = (await a.info()).stateRoot
  await net.expel('DVC', 0)
  const reader = net.officer('DVA')
  for (const n of [a, b]) {
    await eventually(`node ${n.index} to close the expelled node’s feed`, async () => {
      const info = await n.info()
      return info.charter.version === 2 && info.closed.some((c) => c.nodeId === origin)
    })
    expect((await n.info()).closed).toEqual([{ nodeId: origin, lastSeq: 1 }])
    // The rebuild the amendment started applies the feeds again from their start: the closed
    // feed reads 1 once it has (read in the middle of it, the feed is not back yet).
    await eventually(
      `node ${n.index} to hold the expelled node’s feed up to where it closed`,
      async () => (await vvOf(n, origin)) === 1,
      30_000,
    )
    // The record signed before the expulsion and the honest one stay (once the rebuild that
    // the amendment started has applied them again); the two after are gone.
    await eventually(
      `node ${n.index} to hold the records that stay`,
      async () => (await missingAt(n, [regs[0]!.id, honest.id], reader)).length === 0,
      30_000,
    )
    expect(await missingAt(n, [regs[1]!.id, regs[2]!.id], reader)).toEqual([regs[1]!.id, regs[2]!.id])
  }
  await eventually('the two nodes to agree', async () => {
    const [ia, ib] = [await a.info(), await b.info()]
    return (
      !ia.rebuilding &&
      !ib.rebuilding &&
      ia.stateRoot === ib.stateRoot &&
      JSON.stringify(Object.entries(ia.versionVector).sort()) ===
        JSON.stringify(Object.entries(ib.versionVector).sort())
    )
  })
  expect((await a.info()).stateRoot).not.toBe(before)
})

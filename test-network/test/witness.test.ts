/**
 * Member states as witnesses (real processes): every node checks the others' checkpoints
 * against the entries it holds and cosigns them; a checkpoint cosigned by nodes of a quorum of
 * member states is bloc-final everywhere. A node that signs a checkpoint contradicting the
 * entries it signed is caught: the note is kept as split-view evidence and counted.
 */
import { checkpointText, openCosignedNote, signNote } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { changeFor, createDoc, eventually, HostilePeer, metric } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
let hostile: HostilePeer | undefined
afterEach(async () => {
  await hostile?.stop().catch(() => undefined)
  hostile = undefined
  await net?.stop()
  net = undefined
})

interface Witnessed {
  size: number
  root: string
  note: string
  cosigners: string[]
  states: string[]
  final: boolean
}
type Checkpoints = { checkpoints: Array<{ origin: string; latest?: Witnessed; final?: Witnessed }> }

it('each node’s checkpoint is checked and cosigned by the others, and bloc-final once a quorum of states did', {
  timeout: 90_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 }) // DVA, DVB, DVC; quorum 2
  const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
  const officer = net.officer('DVA')
  const ids = await submitBatch(
    a,
    Array.from({ length: 20 }, () => citizenRegistration(officer, 'DVB')),
  )
  expect(ids).toHaveLength(20)
  const auditor = net.auditor()
  const size = (await a.info()).versionVector[a.nodeId]!
  for (const n of [a, b, c]) {
    const final = await eventually(
      `node ${n.index} to hold node 0’s checkpoint of ${size} as bloc-final`,
      async () => {
        const list = await n.get<Checkpoints>('/v1/audit/checkpoints', auditor)
        const f = list.checkpoints.find((x) => x.origin === a.nodeId)?.final
        return f && f.size === size ? f : undefined
      },
      30_000,
    )
    expect(final.final).toBe(true)
    expect(new Set(final.cosigners)).toEqual(new Set([b.nodeId, c.nodeId]))
    expect(final.states).toEqual(['DVB', 'DVC'])
    // The note opens as a C2SP cosigned checkpoint: node 0's signature, the two witnesses'.
    const origin = `legation/${net.bloc}/${a.nodeId}`
    const opened = openCosignedNote(
      ed,
      final.note,
      { name: origin, publicKey: a.keys.publicKey },
      [b, c].map((w) => ({ name: `legation/${net!.bloc}/witness/${w.nodeId}`, publicKey: w.keys.publicKey })),
    )
    expect(opened.cosignatures.size).toBe(2)
    // Its root is the root of node 0's feed that every node serves.
    const tree = await n.get<{ toRoot: string }>(
      `/v1/audit/feeds/${a.nodeId}/consistency?from=0&to=${size}`,
      auditor,
    )
    expect(final.root).toBe(tree.toRoot)
  }
  expect(await metric(b, 'legation_checkpoints_cosigned_total')).toBeGreaterThanOrEqual(1)
})

it('a node that signs a checkpoint its entries contradict is caught, and its checkpoint never cosigned', {
  timeout: 90_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 4, startNodes: 3 })
  const [n0] = net.nodes as [TestNode]
  hostile = await HostilePeer.start(net, 3)
  await hostile.connect(n0)
  const reg = citizenRegistration(net.officer('DVA'), 'DVB')
  const first = hostile.seal({
    origin: hostile.nodeId,
    seq: 1,
    prev: null,
    changes: [changeFor(createDoc(hostile.clientId), reg.citizenId, [reg])],
  })
  await hostile.sendEntries(n0, [first.bytes], [reg])
  await eventually(
    'node 0 to apply the entry',
    async () => (await n0.info()).versionVector[hostile!.nodeId] === 1,
  )
  // A checkpoint of size 1 whose root is not the hash of the entry it signed.
  const origin = `legation/${net.bloc}/${hostile.nodeId}`
  const lie = signNote(
    ed,
    checkpointText({ origin, size: 1, root: new Uint8Array(32).fill(9), extensions: [] }),
    [{ name: origin, secretKey: hostile.node.keys.secretKey }],
  )
  await hostile.send(n0, { t: 'checkpoint', note: lie })
  await eventually(
    'the split view to be counted',
    async () => (await metric(n0, 'legation_split_views_total')) === 1,
  )
  const evidence = await n0.get<{ evidence: Array<{ kind: string; id: string }> }>(
    '/v1/audit/evidence',
    net.officer('DVA'),
  )
  expect(evidence.evidence).toContainEqual(
    expect.objectContaining({ kind: 'split-view', id: `${hostile.nodeId}/000000000001` }),
  )
  const list = await n0.get<Checkpoints>('/v1/audit/checkpoints', net.auditor())
  expect(list.checkpoints.find((x) => x.origin === hostile!.nodeId)).toBeUndefined()
})

/**
 * Issue-level guarantees of the mesh, with real processes: a write that asks for k other
 * nodes is answered with their signed receipts; a member expelled by charter amendment is
 * disconnected and refused everywhere, and the rest of the bloc carries on.
 */
import { fromBase64url, fromHex, toSubmission, verifyReceipt } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, missingAt } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface Receipt {
  record: string
  node: string
  origin: string
  seq: number
  entry: string
  sig: string
}

const connected = async (n: TestNode, others: readonly TestNode[]) => {
  const peers = (await n.info()).peers
  return others.every((o) => peers.some((p) => p.peerId === o.peerId && p.connected))
}

describe('membership and write concern (real processes)', { timeout: 120_000 }, () => {
  it('a write asking for 2 other nodes is answered with their signed receipts; asking for more is a 504 that still says it is durable', async () => {
    net = await TestNetwork.start({ nodes: 3, env: { LEGATION_WRITE_CONCERN_TIMEOUT_MS: '2000' } })
    const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
    await eventually('a mesh of three', () => connected(a, [b, c]), 30_000)
    const officer = net.officer('DVA')

    const rec = citizenRegistration(officer, 'DVB')
    const res = await a.post<{ id: string; replicas: Receipt[] }>('/v1/records', {
      ...toSubmission(rec),
      writeConcern: 2,
    })
    expect(res.status).toBe(201)
    const replicas = res.body.replicas
    expect(new Set(replicas.map((r) => r.node))).toEqual(new Set([b.nodeId, c.nodeId]))
    for (const r of replicas) {
      const signer = net.nodes.find((n) => n.nodeId === r.node)!
      expect(r.record).toBe(rec.id)
      const body = { node: r.node, origin: r.origin, seq: r.seq, entry: fromHex(r.entry) }
      expect(verifyReceipt(ed, { body, sig: fromBase64url(r.sig) }, signer.keys.publicKey)).toBe(true)
    }
    // Each of them has it, as the receipts say.
    for (const n of [b, c]) expect(await missingAt(n, [rec.id], officer)).toEqual([])

    const more = citizenRegistration(officer, 'DVB')
    const late = await a.post<{ code: string; results: Array<{ id: string; status: string }> }>(
      '/v1/records',
      {
        ...toSubmission(more),
        writeConcern: 3,
      },
    )
    expect(late.status).toBe(504)
    expect(late.body.code).toBe('WRITE_CONCERN_TIMEOUT')
    expect(late.body.results).toEqual([expect.objectContaining({ id: more.id, status: 'accepted' })])
    expect(await missingAt(a, [more.id], officer)).toEqual([])

    // The client retries a record at another node (its first node failed before answering, say):
    // that node gathers receipts for an entry it did not write.
    const retry = citizenRegistration(officer, 'DVC')
    expect((await a.post('/v1/records', toSubmission(retry))).status).toBe(201)
    await net.waitForConvergence({ timeoutMs: 20_000 })
    const again = await b.post<{ status: string; replicas: Receipt[] }>('/v1/records', {
      ...toSubmission(retry),
      writeConcern: 2,
    })
    expect(again.status).toBe(200)
    expect(again.body.status).toBe('duplicate')
    expect(new Set(again.body.replicas.map((r) => r.node))).toEqual(new Set([a.nodeId, c.nodeId]))
    for (const r of again.body.replicas) {
      const signer = net.nodes.find((n) => n.nodeId === r.node)!
      const body = { node: r.node, origin: r.origin, seq: r.seq, entry: fromHex(r.entry) }
      expect(verifyReceipt(ed, { body, sig: fromBase64url(r.sig) }, signer.keys.publicKey)).toBe(true)
    }
  })

  it('an expelled member’s node is disconnected and refused; the others carry on', async () => {
    net = await TestNetwork.start({ nodes: 3 }) // one node per state: DVA, DVB, DVC
    const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
    await eventually('a mesh of three', () => connected(a, [b, c]), 30_000)
    await net.expel('DVC', 0)
    for (const n of [a, b]) {
      await eventually(
        `node ${n.index} to follow the amendment`,
        async () => (await n.info()).charter.version === 2,
      )
      await eventually(
        `node ${n.index} to drop the expelled node`,
        async () => !(await n.info()).peers.some((p) => p.peerId === c.peerId),
        15_000,
      )
    }
    // It stays out: not reconnected after a while, and its writes reach no one.
    await new Promise((r) => setTimeout(r, 2_000))
    for (const n of [a, b]) expect((await n.info()).peers.map((p) => p.peerId)).not.toContain(c.peerId)
    // Told of it (here by hand, as its operator would), the expelled node takes no writes:
    // none could reach another node.
    const chain = await a.get<{ chain: string }>('/v1/charter')
    expect((await c.post<{ adopted: boolean }>('/v1/charter', { chain: chain.chain })).body.adopted).toBe(
      true,
    )
    const officer = net.officer('DVA')
    const there = await c.post<{ code?: string }>(
      '/v1/records',
      toSubmission(citizenRegistration(officer, 'DVB')),
    )
    expect(there.status).toBe(503)
    expect(there.body.code).toBe('NODE_NOT_CERTIFIED')
    expect((await c.info()).peers.filter((p) => p.connected)).toEqual([])
    // Restarted, it still serves what it holds and still takes no writes.
    await c.restart()
    expect((await c.info()).charter.version).toBe(2)
    const again = await c.post<{ code?: string }>(
      '/v1/records',
      toSubmission(citizenRegistration(officer, 'DVB')),
    )
    expect(again.body.code).toBe('NODE_NOT_CERTIFIED')
    // The others carry on together.
    const rec = citizenRegistration(officer, 'DVB')
    expect((await a.post('/v1/records', toSubmission(rec))).status).toBe(201)
    await eventually(
      'the record at node b',
      async () => (await missingAt(b, [rec.id], officer)).length === 0,
      15_000,
    )
  })
})

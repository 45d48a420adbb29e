/**
 * Certified peers that wear a node down without sending anything invalid, with real node
 * processes: one that claims history it does not have and never answers a want (the node
 * catches up from honest peers regardless, and the liar costs it nothing it cannot bear), and
 * one that repeats an item a thousand times in a message (refused at once, banned, counted), one
 * that asks for the same range over and over (answered once per half want timeout).
 * The bloc has 4 certified nodes; 3 run as processes, node 3's keys belong to the hostile peer.
 */
import { decodeSyncMessage } from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { changeFor, createDoc, HostilePeer, metric } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

const BAN_MS = 2_000
let net: TestNetwork | undefined
let hostile: HostilePeer | undefined
afterEach(async () => {
  await hostile?.stop().catch(() => undefined)
  hostile = undefined
  await net?.stop()
  net = undefined
})

const vvOf = async (node: TestNode) => (await node.info()).versionVector

describe('hostile but well-formed peers', { timeout: 120_000 }, () => {
  it('a peer that claims history it lacks and never answers does not stop a node catching up', async () => {
    net = await TestNetwork.start({
      nodes: 4,
      startNodes: 2,
      env: { LEGATION_P2P_BAN_MS: String(BAN_MS), LEGATION_REPLICATION_STATUS_INTERVAL_MS: '200' },
    })
    const [a, b, late] = net.nodes as [TestNode, TestNode, TestNode]
    const officer = net.officer('DVA')
    for (let i = 0; i < 4; i++) {
      await submitBatch(
        a,
        Array.from({ length: 100 }, () => citizenRegistration(officer, 'DVB')),
      )
    }
    const want = (await vvOf(a))[a.nodeId]!
    await expect.poll(async () => (await vvOf(b))[a.nodeId], { timeout: 30_000, interval: 100 }).toBe(want)

    // The liar is connected to the late node before anyone else and says it holds far more of
    // A's feed than exists; it reads every want and answers none.
    hostile = await HostilePeer.start(net, 3)
    await late.start()
    await hostile.connect(late)
    await hostile.send(late, { t: 'status', vv: { [a.nodeId]: want + 1_000_000 } })

    await expect.poll(async () => (await vvOf(late))[a.nodeId], { timeout: 60_000, interval: 200 }).toBe(want)
    // The lie is not provable (history it says it has may be on its way): it is not banned.
    expect(await metric(late, 'legation_peer_misbehaviour_total')).toBe(0)
    // The late node still serves.
    expect((await late.post('/v1/records', { record: 'AAAA' })).status).toBe(400)
  })

  it('a peer that repeats an item in a message is refused at once, banned and counted', async () => {
    net = await TestNetwork.start({ nodes: 4, startNodes: 3, env: { LEGATION_P2P_BAN_MS: String(BAN_MS) } })
    const [a] = net.nodes as [TestNode]
    const officer = net.officer('DVA')
    await submitBatch(a, [citizenRegistration(officer, 'DVB')])
    const seq = (await vvOf(a))[a.nodeId]!
    hostile = await HostilePeer.start(net, 3)
    await hostile.connect(a)
    const entries = Array.from({ length: 1024 }, () => ({ origin: a.nodeId, seq }))
    const start = Date.now()
    await hostile.send(a, { t: 'wantReceipts', entries })
    await hostile.waitDropped(a)
    expect(Date.now() - start).toBeLessThan(5_000)
    expect(await metric(a, 'legation_peer_misbehaviour_total', { code: 'SCHEMA_INVALID' })).toBe(1)
    // And the node carries on.
    expect((await submitBatch(a, [citizenRegistration(officer, 'DVB')])).length).toBe(1)
  })

  it('a peer that asks the same range again and again gets it once per half want timeout', async () => {
    // Status every 1 s and a want timeout of 5 intervals: a range is sent again after 2.5 s.
    net = await TestNetwork.start({ nodes: 4, startNodes: 3, env: { LEGATION_P2P_BAN_MS: String(BAN_MS) } })
    const [a] = net.nodes as [TestNode]
    const officer = net.officer('DVA')
    await submitBatch(
      a,
      Array.from({ length: 50 }, () => citizenRegistration(officer, 'DVB')),
    )
    hostile = await HostilePeer.start(net, 3)
    const answers: number[] = []
    const payloadAnswers: number[] = []
    const digests: Uint8Array[] = []
    hostile.mesh.onFrame((from, frame) => {
      const msg = decodeSyncMessage(frame)
      if (from !== a.peerId || msg.t !== 'entries') return
      if (msg.entries.length > 0) {
        answers.push(Date.now())
        if (digests.length === 0) digests.push(...msg.payloads.map((x) => x.d))
      } else if (msg.payloads.length > 0) payloadAnswers.push(Date.now())
    })
    await hostile.connect(a)
    // 200 wants for A's first entries, each a few bytes, as fast as the stream takes them.
    let start = Date.now()
    for (let i = 0; i < 200; i++) await hostile.send(a, { t: 'want', origin: a.nodeId, from: 1, limit: 256 })
    let sent = Date.now() - start
    await expect.poll(() => answers.length, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 500))
    // Sent within the window: one answer (two if the loop outlasted it), not 200.
    expect(answers.length).toBeLessThanOrEqual(1 + Math.floor(sent / 2_500))
    // An honest peer whose frame was lost asks again after its timeout, and gets it.
    const before = answers.length
    await new Promise((r) => setTimeout(r, 2_600 - (Date.now() - answers.at(-1)!)))
    await hostile.send(a, { t: 'want', origin: a.nodeId, from: 1, limit: 256 })
    await expect.poll(() => answers.length, { timeout: 10_000, interval: 50 }).toBe(before + 1)

    // The same for payloads: 200 wantPayloads, answered once per half payload interval (1.5 s).
    expect(digests.length).toBeGreaterThan(0)
    start = Date.now()
    for (let i = 0; i < 200; i++) await hostile.send(a, { t: 'wantPayload', digests })
    sent = Date.now() - start
    await expect.poll(() => payloadAnswers.length, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 500))
    expect(payloadAnswers.length).toBeLessThanOrEqual(1 + Math.floor(sent / 1_500))

    // Not misbehaviour: it is answered less, not banned.
    expect(await metric(a, 'legation_peer_misbehaviour_total')).toBe(0)
  })

  it('a banned peer that dials again and again is refused at the door, and let back in after its ban', async () => {
    net = await TestNetwork.start({ nodes: 4, startNodes: 3, env: { LEGATION_P2P_BAN_MS: '4000' } })
    const [a] = net.nodes as [TestNode]
    hostile = await HostilePeer.start(net, 3)
    await hostile.connect(a)
    await hostile.sendFrame(a, new Uint8Array([0xff, 0x00, 0x13])) // not a sync message: banned
    await hostile.waitDropped(a)
    const bannedAt = Date.now()
    // Redial in a loop while banned: every attempt is refused before any stream opens.
    let attempts = 0
    while (Date.now() - bannedAt < 2_500 && attempts < 200) {
      attempts++
      await hostile.mesh
        .dial(a.peerId, [`/ip4/127.0.0.1/tcp/${a.p2pPort}`], { signal: AbortSignal.timeout(500) })
        .catch(() => undefined)
      expect(hostile.mesh.connectedPeers()).not.toContain(a.peerId)
    }
    expect(attempts).toBeGreaterThan(5)
    // One misbehaviour, however often it knocked; the node kept answering meanwhile.
    expect(await metric(a, 'legation_peer_misbehaviour_total')).toBe(1)
    expect((await a.info()).peers.filter((p) => p.connected)).toHaveLength(2)
    // The ban runs out: the peer is let back in.
    await hostile.connect(a, 15_000)
    expect(hostile.mesh.connectedPeers()).toContain(a.peerId)
  })

  it('a peer that floods a node with new streams does not stop it serving or replicating', async () => {
    net = await TestNetwork.start({ nodes: 4, startNodes: 3 })
    const [a, b] = net.nodes as [TestNode, TestNode]
    hostile = await HostilePeer.start(net, 3)
    await hostile.connect(a)
    const conn = hostile.mesh.node.getConnections().find((c) => c.remotePeer.toString() === a.peerId)!
    let opened = 0
    const flood = (async () => {
      for (let i = 0; i < 300; i++) {
        const stream = await conn
          .newStream(hostile!.mesh.syncProtocol, { signal: AbortSignal.timeout(1_000) })
          .catch(() => undefined)
        if (stream) opened++
      }
    })()
    // Meanwhile the node takes a write and it reaches another node.
    const officer = net.officer('DVA')
    await submitBatch(a, [citizenRegistration(officer, 'DVB')])
    const written = (await vvOf(a))[a.nodeId]!
    await expect.poll(async () => (await vvOf(b))[a.nodeId], { timeout: 20_000, interval: 100 }).toBe(written)
    await flood
    expect((await fetch(`${a.url}/health`)).status).toBe(200)
    expect(opened).toBeGreaterThan(0)
  })

  it('a slow-loris peer trickling one huge frame does not stop a node serving or replicating', async () => {
    net = await TestNetwork.start({ nodes: 4, startNodes: 3 })
    const [a, b] = net.nodes as [TestNode, TestNode]
    hostile = await HostilePeer.start(net, 3)
    await hostile.connect(a)
    const conn = hostile.mesh.node.getConnections().find((c) => c.remotePeer.toString() === a.peerId)!
    const stream = await conn.newStream(hostile.mesh.syncProtocol, { signal: AbortSignal.timeout(5_000) })
    // A frame announced as 1 MiB (unsigned LEB128 length), then one byte every 100 ms.
    stream.send(Uint8Array.of(0x80, 0x80, 0x40))
    const trickle = (async () => {
      for (let i = 0; i < 30 && stream.status === 'open'; i++) {
        stream.send(Uint8Array.of(0x42))
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    const officer = net.officer('DVA')
    await submitBatch(a, [citizenRegistration(officer, 'DVB')])
    const written = (await vvOf(a))[a.nodeId]!
    await expect.poll(async () => (await vvOf(b))[a.nodeId], { timeout: 20_000, interval: 100 }).toBe(written)
    expect((await fetch(`${a.url}/health`)).status).toBe(200)
    await trickle
  })

  it('a peer that floods valid entries is slowed to the pace the node applies them, and the node keeps serving', async () => {
    net = await TestNetwork.start({ nodes: 4, startNodes: 3 })
    const [a, b] = net.nodes as [TestNode, TestNode]
    hostile = await HostilePeer.start(net, 3)
    await hostile.connect(a)
    // 2,000 valid entries of the hostile peer's own feed, each registering a citizen.
    const officer = net.officer('DVA')
    const start = Date.now() - 10_000
    const frames: Array<{ entries: Uint8Array[]; records: ReturnType<typeof citizenRegistration>[] }> = []
    let prev: Uint8Array | null = null
    for (let f = 0; f < 20; f++) {
      const frame = { entries: [] as Uint8Array[], records: [] as ReturnType<typeof citizenRegistration>[] }
      for (let i = 0; i < 100; i++) {
        const seq = f * 100 + i + 1
        const reg = citizenRegistration(officer, 'DVB')
        const sealed = hostile.seal({
          origin: hostile.nodeId,
          seq,
          prev,
          hlc: [start + seq, 0],
          changes: [changeFor(createDoc(hostile.clientId), reg.citizenId, [reg])],
        })
        prev = sealed.hash
        frame.entries.push(sealed.bytes)
        frame.records.push(reg)
      }
      frames.push(frame)
    }
    const flood = (async () => {
      for (const frame of frames) await hostile!.sendEntries(a, frame.entries, frame.records)
    })()
    // Meanwhile an honest write at another node reaches the flooded one, and it answers HTTP.
    await submitBatch(b, [citizenRegistration(officer, 'DVC')])
    const written = (await vvOf(b))[b.nodeId]!
    await expect.poll(async () => (await vvOf(a))[b.nodeId], { timeout: 30_000, interval: 100 }).toBe(written)
    expect((await fetch(`${a.url}/health`)).status).toBe(200)
    await flood
    // Valid history is history: all of it is applied, none lost, the peer not blamed.
    await expect
      .poll(async () => (await vvOf(a))[hostile!.nodeId], { timeout: 60_000, interval: 200 })
      .toBe(2_000)
    expect(await metric(a, 'legation_peer_misbehaviour_total')).toBe(0)
  })
})

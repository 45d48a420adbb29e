/**
 * Replication between two or three nodes in this process: real engines, real meshes on
 * loopback, the sync protocol between them. Each test drives one message flow and asserts
 * what a user of the node would see (records, receipts, revocations, the charter in force).
 */
import {
  certificateId,
  decodeSyncMessage,
  encodeSyncMessage,
  ProtocolError,
  type SyncMessage,
  setQuorum,
  signAmendment,
  signRevocation,
  verifyCharterChain,
} from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { fork } from '../engine/fork-fixture.ts'
import { ed, registration, testBloc } from '../fixtures.ts'
import { GatedStore } from '../storage/gated-store.ts'
import { connect, startNode, stopAll } from './helpers.ts'

afterEach(stopAll)

const WAIT = { timeout: 10_000, interval: 50 }
/** A duty id as the schema wants it (64 hex characters). */
const dutyId = (n: number) => n.toString(16).padStart(64, '0')

describe('replication: catch-up and push', () => {
  it('a node that connects late catches up by want/entries, several frames of history', async () => {
    const bloc = testBloc(2)
    const officer = bloc.officer('AAA')
    // Two entries per frame: five entries take three wants, each asked when the last is read.
    const a = await startNode(bloc, 0, { init: { entriesPerFrame: 2 } })
    const b = await startNode(bloc, 1, { init: { entriesPerFrame: 2 } })
    const regs = []
    for (let i = 0; i < 5; i++) {
      const reg = registration(officer)
      regs.push(reg)
      expect((await a.engine.submit([reg]))[0]?.ok).toBe(true)
    }
    expect(a.engine.versionVector()[a.engine.nodeId]).toBe(5)

    await connect(a, b)

    await expect.poll(() => b.engine.versionVector()[a.engine.nodeId], WAIT).toBe(5)
    await expect.poll(() => b.engine.stateRoot(), WAIT).toBe(a.engine.stateRoot())
    for (const reg of regs) expect((await b.engine.getSummary(reg.citizenId))?.nationality).toBe('AAA')
    expect(a.rep.peers()).toMatchObject([{ peerId: b.peerId, connected: true }])
  })

  it('pushes an entry written after peers connected to every one of them', async () => {
    const bloc = testBloc(3)
    const nodes = await Promise.all([0, 1, 2].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    const reg = registration(bloc.officer('BBB'), 'CCC')
    expect((await b.engine.submit([reg]))[0]?.ok).toBe(true)
    for (const n of [a, c]) {
      await expect.poll(async () => (await n.engine.getSummary(reg.citizenId))?.nationality, WAIT).toBe('CCC')
    }
  })

  it('the origin pushes an entry to every peer; every other node tells one peer, by its receipt, which version it holds', async () => {
    const bloc = testBloc(6)
    const nodes = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const origin = nodes[0]!
    // Who sent each frame of entries that any node read, and who sent receipts to a node that
    // is not the entry's origin.
    const entriesBy = new Map<string, number>()
    const announcedBy = new Map<string, number>()
    for (const n of nodes) {
      n.mesh.onFrame((peerId, frame) => {
        const msg = decodeSyncMessage(frame)
        if (msg.t === 'entries' && msg.entries.length > 0)
          entriesBy.set(peerId, (entriesBy.get(peerId) ?? 0) + 1)
        if (msg.t === 'stored' && n !== origin) {
          announcedBy.set(peerId, (announcedBy.get(peerId) ?? 0) + 1)
          for (const r of msg.receipts) expect(r.body).toMatchObject({ origin: origin.engine.nodeId, seq: 1 })
        }
      })
    }
    const reg = registration(bloc.officer('AAA'), 'CCC')
    expect((await origin.engine.submit([reg]))[0]?.ok).toBe(true)
    for (const n of nodes.slice(1)) {
      await expect.poll(async () => (await n.engine.getSummary(reg.citizenId))?.nationality, WAIT).toBe('CCC')
    }
    // Several status intervals for any further copy to arrive.
    await new Promise((r) => setTimeout(r, 500))
    expect(entriesBy.get(origin.peerId)).toBe(5)
    for (const n of nodes.slice(1)) {
      expect(entriesBy.get(n.peerId) ?? 0).toBe(0)
      expect(announcedBy.get(n.peerId)).toBe(1)
    }
  })

  it('a node gathers the receipts it announces: entries applied in a row are told to a peer in one message', async () => {
    const bloc = testBloc(4)
    // Announcements wait up to 4 s here, so that the writes below fall in one batch even on a
    // loaded machine.
    const nodes = await Promise.all(
      [0, 1, 2, 3].map((i) => startNode(bloc, i, { init: { announceDelayMs: 4000 } })),
    )
    await connect(...nodes)
    const origin = nodes[0]!
    // Per node that is not the origin: the 'stored' messages it sent to nodes other than the
    // origin, and the receipts in them.
    const messages = new Map<string, number>()
    const receipts = new Map<string, number>()
    for (const n of nodes.slice(1)) {
      n.mesh.onFrame((peerId, frame) => {
        const msg = decodeSyncMessage(frame)
        if (msg.t !== 'stored' || peerId === origin.peerId) return
        messages.set(peerId, (messages.get(peerId) ?? 0) + 1)
        receipts.set(peerId, (receipts.get(peerId) ?? 0) + msg.receipts.length)
      })
    }
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 5; i++)
      expect((await origin.engine.submit([registration(officer)]))[0]?.ok).toBe(true)
    for (const n of nodes.slice(1))
      await expect.poll(() => n.engine.versionVector()[origin.engine.nodeId], WAIT).toBe(5)
    for (const n of nodes.slice(1)) await expect.poll(() => receipts.get(n.peerId) ?? 0, WAIT).toBe(5)
    // One entry each, they would have been five messages from each node.
    for (const n of nodes.slice(1)) expect(messages.get(n.peerId)).toBe(1)
    for (const n of nodes) expect(n.misbehaved).toEqual([])
  })

  it('two versions of an entry shown to two nodes meet: each learns the other by its receipt, and both cut the feed', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 1, 1)
    const [b, c] = await Promise.all([startNode(bloc, 1), startNode(bloc, 2)])
    await connect(b, c)
    // Node 0 (not on the mesh) shows version A to node 1 and version B to node 2.
    expect(await b.engine.applyRemoteMany([f.e1, ...f.A])).toEqual(['applied', 'applied'])
    expect(await c.engine.applyRemoteMany([f.e1, ...f.B])).toEqual(['applied', 'applied'])
    for (const n of [b, c]) {
      await expect.poll(() => n.engine.equivocations().has(f.origin), WAIT).toBe(true)
      await expect.poll(() => n.engine.versionVector()[f.origin], WAIT).toBe(1)
      expect(await n.engine.getRecord(f.first.id)).toBeDefined()
    }
    expect(b.engine.stateRoot()).toBe(c.engine.stateRoot())
    expect(b.misbehaved).toEqual([])
    expect(c.misbehaved).toEqual([])
  })

  it('a node busy applying its origin’s pushes does not pull the same entries from a peer that runs ahead', async () => {
    const bloc = testBloc(3)
    const store = new GatedStore()
    const [o, x] = await Promise.all([startNode(bloc, 0), startNode(bloc, 1)])
    // A want times out after 5 s here: past that, Y would pull anyway (a push O shed).
    const y = await startNode(bloc, 2, { store, init: { wantTimeoutIntervals: 50 } })
    await connect(o, x, y)
    let fromX = 0
    y.mesh.onFrame((peerId, frame) => {
      const msg = decodeSyncMessage(frame)
      if (peerId === x.peerId && msg.t === 'entries' && msg.entries.length > 0) fromX++
    })
    // Y's disk holds its writes: it is applying O's first entries while X has them all and says
    // so in its statuses (every 100 ms).
    store.armed = true
    for (let i = 0; i < 4; i++)
      expect((await o.engine.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
    await expect.poll(() => x.engine.versionVector()[o.engine.nodeId], WAIT).toBe(4)
    await expect.poll(() => store.gates.length, WAIT).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 300))
    expect(fromX).toBe(0)
    store.armed = false
    for (const gate of store.gates) gate.open()
    await expect.poll(() => y.engine.versionVector()[o.engine.nodeId], WAIT).toBe(4)
    expect(y.engine.stateRoot()).toBe(o.engine.stateRoot())
  })

  it('a node catching up slower than its peers answer asks no range twice while it works through their frames', async () => {
    const bloc = testBloc(3)
    const [o, x] = await Promise.all([startNode(bloc, 0), startNode(bloc, 1)])
    await connect(o, x)
    for (let i = 0; i < 6; i++)
      expect((await o.engine.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
    await expect.poll(() => x.engine.versionVector()[o.engine.nodeId], WAIT).toBe(6)
    // Y catches up one entry a frame, a want timing out after 1 s; its disk holds every write
    // for 2.5 s, so both peers' frames queue up behind the first and their answers sit unread
    // (the wait for them is bounded at four timeouts: 1.5 s to spare on a loaded machine).
    const store = new GatedStore()
    const y = await startNode(bloc, 2, { store, init: { entriesPerFrame: 1, wantTimeoutIntervals: 10 } })
    let entries = 0
    y.mesh.onFrame((_peerId, frame) => {
      const msg = decodeSyncMessage(frame)
      if (msg.t === 'entries') entries += msg.entries.length
    })
    store.armed = true
    await connect(o, x, y)
    await expect.poll(() => store.gates.length, WAIT).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 2_500))
    store.armed = false
    for (const gate of store.gates) gate.open()
    await expect.poll(() => y.engine.versionVector()[o.engine.nodeId], WAIT).toBe(6)
    expect(y.engine.stateRoot()).toBe(o.engine.stateRoot())
    // A few status intervals more: a range asked twice would have arrived by now.
    await new Promise((r) => setTimeout(r, 500))
    expect(entries).toBe(6)
  })

  it('a range read but not yet applied is not asked again while frames are being applied', async () => {
    const bloc = testBloc(2)
    const o = await startNode(bloc, 0)
    for (let i = 0; i < 3; i++)
      expect((await o.engine.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
    // Y's want times out after 1 s and its disk holds the frame's write for 2.5 s (the wait is
    // bounded at four timeouts). Once the frame is read, no want is in flight for O's feed: only
    // the range read stands for it.
    const store = new GatedStore()
    const y = await startNode(bloc, 1, { store, init: { wantTimeoutIntervals: 10 } })
    let entries = 0
    y.mesh.onFrame((_peerId, frame) => {
      const msg = decodeSyncMessage(frame)
      if (msg.t === 'entries') entries += msg.entries.length
    })
    store.armed = true
    await connect(o, y)
    await expect.poll(() => store.gates.length, WAIT).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, 2_500))
    store.armed = false
    for (const gate of store.gates) gate.open()
    await expect.poll(() => y.engine.versionVector()[o.engine.nodeId], WAIT).toBe(3)
    expect(y.engine.stateRoot()).toBe(o.engine.stateRoot())
    await new Promise((r) => setTimeout(r, 500))
    expect(entries).toBe(3)
  })

  it('pulls at once what its origin says it has but did not push, without waiting for a want timeout', async () => {
    const bloc = testBloc(3)
    const [o, x] = await Promise.all([startNode(bloc, 0), startNode(bloc, 1)])
    // A want times out after 5 s here, and a wait for the origin's pushes lasts up to four.
    const y = await startNode(bloc, 2, { init: { wantTimeoutIntervals: 50 } })
    await connect(o, x, y)
    // O sheds its three pushes to Y (as it does to a peer whose queue is full), and says its
    // status; what it sends after them (an answer to a want) goes through.
    const send = o.mesh.send.bind(o.mesh)
    let shed = 0
    o.mesh.send = (peerId, frame, options) =>
      peerId === y.peerId && decodeSyncMessage(frame).t === 'entries' && shed++ < 3
        ? Promise.resolve()
        : send(peerId, frame, options)
    for (let i = 0; i < 3; i++)
      expect((await o.engine.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
    const t = Date.now()
    await expect.poll(() => y.engine.versionVector()[o.engine.nodeId], WAIT).toBe(3)
    // Well within one want timeout: O's status, read after where its push would have been, showed more.
    expect(Date.now() - t).toBeLessThan(4_000)
    expect(y.engine.stateRoot()).toBe(o.engine.stateRoot())
  })

  it("a node not connected to an entry's origin pulls it from a peer that has it", async () => {
    const bloc = testBloc(3)
    const nodes = await Promise.all([0, 1, 2].map((i) => startNode(bloc, i)))
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    // A line: a — b — c. Nothing connects a to c.
    await connect(a, b)
    await connect(b, c)
    const reg = registration(bloc.officer('AAA'))
    expect((await a.engine.submit([reg]))[0]?.ok).toBe(true)
    await expect.poll(async () => (await c.engine.getRecord(reg.id))?.origin, WAIT).toBe(a.engine.nodeId)
    expect(c.engine.stateRoot()).toBe(a.engine.stateRoot())
  })
})

describe('replication: write concern', () => {
  it('awaitReceipts resolves with receipts signed by k other nodes', async () => {
    const bloc = testBloc(3)
    const nodes = await Promise.all([0, 1, 2].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const a = nodes[0]!
    const reg = registration(bloc.officer('AAA'))
    expect((await a.engine.submit([reg]))[0]?.ok).toBe(true)

    const receipts = await a.rep.awaitReceipts([reg.id], 2, 8_000)

    expect(receipts).toHaveLength(2)
    const others = nodes.slice(1).map((n) => n.engine.nodeId)
    expect(new Set(receipts.map((r) => r.node))).toEqual(new Set(others))
    for (const r of receipts) {
      expect(r).toMatchObject({ record: reg.id, origin: a.engine.nodeId, seq: 1 })
    }
  })

  it('the origin gets one receipt from each other node, whatever they tell each other', async () => {
    const bloc = testBloc(6)
    const nodes = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const origin = nodes[0]!
    const receipts: string[] = []
    let announced = 0
    for (const n of nodes) {
      n.mesh.onFrame((_peerId, frame) => {
        const msg = decodeSyncMessage(frame)
        if (n === origin && msg.t === 'stored') receipts.push(...msg.receipts.map((r) => r.body.node))
        if (n !== origin && msg.t === 'stored') announced++
      })
    }
    const reg = registration(bloc.officer('AAA'), 'CCC')
    expect((await origin.engine.submit([reg]))[0]?.ok).toBe(true)
    expect(await origin.rep.awaitReceipts([reg.id], 5, 8_000)).toHaveLength(5)
    // Several status intervals for any further copy, and any receipt for it, to arrive.
    await new Promise((r) => setTimeout(r, 500))
    expect(announced).toBeGreaterThan(0)
    expect(receipts.sort()).toEqual(
      nodes
        .slice(1)
        .map((n) => n.engine.nodeId)
        .sort(),
    )
  })

  it('awaitReceipts times out with WRITE_CONCERN_TIMEOUT when too few nodes hold the record', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    await startNode(bloc, 1) // never connected
    const reg = registration(bloc.officer('AAA'))
    await a.engine.submit([reg])
    await expect(a.rep.awaitReceipts([reg.id], 1, 300)).rejects.toMatchObject({
      code: 'WRITE_CONCERN_TIMEOUT',
    })
  })

  it('gets receipts for a record another node wrote, by asking peers (wantReceipts)', async () => {
    const bloc = testBloc(3)
    const nodes = await Promise.all([0, 1, 2].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]]
    const reg = registration(bloc.officer('AAA'))
    await a.engine.submit([reg])
    await expect.poll(async () => (await b.engine.getRecord(reg.id))?.origin, WAIT).toBe(a.engine.nodeId)

    // B did not write it, so no receipt comes to B by itself: B asks A and C to sign one.
    const receipts = await b.rep.awaitReceipts([reg.id], 2, 8_000)
    expect(new Set(receipts.map((r) => r.node))).toEqual(new Set([a.engine.nodeId, nodes[2]!.engine.nodeId]))
  })

  it('checks a peer’s receipt when a write counts it: a forged one is dropped and its sender held to account, at the origin too', async () => {
    const bloc = testBloc(3)
    const nodes = await Promise.all([0, 1, 2].map((i) => startNode(bloc, i)))
    await connect(...nodes)
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]]
    // C signs every receipt it sends with a broken signature.
    const send = c.mesh.send.bind(c.mesh)
    c.mesh.send = (peerId, frame, options) => {
      const msg = decodeSyncMessage(frame)
      if (msg.t !== 'stored') return send(peerId, frame, options)
      const receipts = msg.receipts.map((r) => ({ ...r, sig: r.sig.map((x, i) => (i === 0 ? x ^ 1 : x)) }))
      return send(peerId, encodeSyncMessage({ t: 'stored', receipts }), options)
    }
    const reg = registration(bloc.officer('AAA'))
    await a.engine.submit([reg])
    await expect.poll(async () => (await b.engine.getRecord(reg.id))?.origin, WAIT).toBe(a.engine.nodeId)
    // B asks A and C for receipts (it did not write the record): only A's stands.
    await expect(b.rep.awaitReceipts([reg.id], 2, 3_000)).rejects.toMatchObject({
      code: 'WRITE_CONCERN_TIMEOUT',
    })
    expect(b.misbehaved).toContainEqual({ peerId: c.peerId, code: 'SIGNATURE_INVALID' })
    const one = await b.rep.awaitReceipts([reg.id], 1, 3_000)
    expect(one.map((r) => r.node)).toEqual([a.engine.nodeId])
    // The record's origin got C's receipt for it unchecked too: a write counting it finds it.
    await expect(a.rep.awaitReceipts([reg.id], 2, 3_000)).rejects.toMatchObject({
      code: 'WRITE_CONCERN_TIMEOUT',
    })
    expect(a.misbehaved).toContainEqual({ peerId: c.peerId, code: 'SIGNATURE_INVALID' })
  })

  it('asks once per entry for records that share one, and is not taken for a repeating peer', async () => {
    const bloc = testBloc(2)
    const [a, b] = await Promise.all([startNode(bloc, 0), startNode(bloc, 1)])
    await connect(a, b)
    const officer = bloc.officer('AAA')
    const regs = [registration(officer), registration(officer), registration(officer)]
    await a.engine.submit(regs) // one group: one entry
    await expect.poll(async () => (await b.engine.getRecord(regs[2]!.id))?.origin, WAIT).toBe(a.engine.nodeId)
    const receipts = await b.rep.awaitReceipts(
      regs.map((r) => r.id),
      1,
      8_000,
    )
    expect(receipts.map((r) => r.record)).toEqual(regs.map((r) => r.id))
    expect(a.misbehaved).toEqual([])
  })
})

describe('replication: gossip', () => {
  it('sends a revocation to peers, who keep it', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    const b = await startNode(bloc, 1)
    await connect(a, b)
    const officer = bloc.officer('CCC')
    const rev = signRevocation(
      ed,
      {
        type: 'revocation',
        bloc: bloc.bloc,
        state: 'CCC',
        cert: certificateId(officer.cert!),
        at: Date.now(),
        reason: 'key-compromise',
      },
      bloc.stateKeys.CCC!.secretKey,
    )
    expect((await a.engine.addRevocation(rev)).added).toBe(true)
    a.rep.revocationsAdded([rev])
    await expect.poll(() => b.engine.revocations(), WAIT).toEqual([rev])
  })

  it('sends the newer charter chain to a peer that says hello on an older one', async () => {
    const bloc = testBloc(2)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const draft = setQuorum(prev, 3, { issuedAt: Date.now() })
    const signers = ['AAA', 'BBB'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    const amended = [...bloc.chain, signAmendment(ed, draft, signers)]
    const a = await startNode(bloc, 0, { chain: amended })
    const b = await startNode(bloc, 1)
    expect(b.engine.charter.version).toBeLessThan(a.engine.charter.version)

    await connect(a, b)

    await expect.poll(() => b.engine.charter.version, WAIT).toBe(a.engine.charter.version)
    expect(b.engine.charter.hash).toBe(a.engine.charter.hash)
  })

  it('sends an amendment adopted while connected to every peer (charterChanged)', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    const b = await startNode(bloc, 1)
    await connect(a, b)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const signers = ['AAA', 'CCC'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    const amendment = signAmendment(ed, setQuorum(prev, 3, { issuedAt: Date.now() }), signers)
    expect(await a.engine.adoptCharter([...bloc.chain, amendment])).toBe(true)
    await a.rep.charterChanged()
    await expect.poll(() => b.engine.charter.version, WAIT).toBe(a.engine.charter.version)
  })

  it('does not blame the peer when its own storage fails while adopting the peer’s charter', async () => {
    const bloc = testBloc(2)
    const store = new GatedStore()
    const a = await startNode(bloc, 0)
    const b = await startNode(bloc, 1, { store })
    await connect(a, b)
    store.armed = true
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const signers = ['AAA', 'CCC'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    const amendment = signAmendment(ed, setQuorum(prev, 3, { issuedAt: Date.now() }), signers)
    expect(await a.engine.adoptCharter([...bloc.chain, amendment])).toBe(true)
    await a.rep.charterChanged()
    // B tries to store the amendment, and its disk fails.
    await expect.poll(() => store.gates.length, WAIT).toBeGreaterThan(0)
    store.gates[0]!.fail(new Error('disk full'))
    await new Promise((r) => setTimeout(r, 200))
    expect(b.misbehaved).toEqual([])
    expect(b.policy.isAllowed(a.peerId)).toBe(true)
    expect(b.rep.liveNodes()).toEqual([a.engine.nodeId])
    expect(b.engine.charter.version).toBe(1)
  })
})

describe('replication: registrar', () => {
  it('hands a registered type to its handler, sends what onConnect answers, and broadcasts', async () => {
    const bloc = testBloc(2)
    const got: Array<{ msg: SyncMessage; from: { peerId: string; nodeId: string } }> = []
    const done = { id: dutyId(1), node: '', at: Date.now() }
    const a = await startNode(bloc, 0, {
      register: (r) => r.handle('dutyDone', { onMessage: (msg, from) => void got.push({ msg, from }) }),
    })
    const b = await startNode(bloc, 1, {
      register: (r) =>
        r.handle('dutyDone', {
          onMessage: (msg, from) => void got.push({ msg, from }),
          // Called once connected, when `b` is long assigned.
          onConnect: async () => ({ t: 'dutyDone', done: [{ ...done, node: b.engine.nodeId }] }),
        }),
    })
    await connect(a, b)
    // B answered A's connection with what it has done.
    await expect.poll(() => got.length, WAIT).toBe(1)
    expect(got[0]).toEqual({
      msg: { t: 'dutyDone', done: [{ ...done, node: b.engine.nodeId }] },
      from: { peerId: b.peerId, nodeId: b.engine.nodeId },
    })
    // A's broadcast reaches B's handler.
    a.rep.broadcast({ t: 'dutyDone', done: [{ ...done, id: dutyId(2), node: a.engine.nodeId }] })
    await expect.poll(() => got.length, WAIT).toBe(2)
    expect(got[1]?.from).toEqual({ peerId: a.peerId, nodeId: a.engine.nodeId })
    expect(() => a.rep.handle('dutyDone', { onMessage: () => undefined })).toThrow(/already registered/)
    expect(() => a.rep.handle('entries', { onMessage: () => undefined })).toThrow(/already registered/)
  })

  it('drops a message of a type nobody handles, and keeps the peer', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    const b = await startNode(bloc, 1)
    await connect(a, b)
    b.rep.broadcast({ t: 'dutyDone', done: [{ id: dutyId(3), node: b.engine.nodeId, at: 1 }] })
    const reg = registration(bloc.officer('BBB'))
    expect((await b.engine.submit([reg]))[0]?.ok).toBe(true)
    // Still replicating after the unhandled message: the peer was not banned.
    await expect.poll(async () => (await a.engine.getRecord(reg.id))?.origin, WAIT).toBe(b.engine.nodeId)
    expect(a.misbehaved).toEqual([])
    expect(a.policy.isAllowed(b.peerId)).toBe(true)
  })
})

describe('replication: misbehaving peers', () => {
  it('bans a peer that sends a malformed frame, through the peer policy', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    const b = await startNode(bloc, 1)
    await connect(a, b)
    await b.mesh.send(a.peerId, new Uint8Array([0xff, 0x00, 0x13, 0x37]))

    await expect.poll(() => a.misbehaved.map((m) => m.peerId), WAIT).toContain(b.peerId)
    expect(a.policy.isAllowed(b.peerId)).toBe(false)
    await expect.poll(() => a.rep.liveNodes(), WAIT).toEqual([])
    await expect.poll(() => a.mesh.connectedPeers(), WAIT).toEqual([])
  })

  it('bans a peer whose message a registered handler refuses with a ProtocolError', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0, {
      register: (r) =>
        r.handle('dutyDone', {
          onMessage: () => {
            throw new ProtocolError('SCHEMA_INVALID', 'not a duty this node knows')
          },
        }),
    })
    const b = await startNode(bloc, 1)
    await connect(a, b)
    b.mesh.send(
      a.peerId,
      encodeSyncMessage({ t: 'dutyDone', done: [{ id: 'x', node: b.engine.nodeId, at: 1 }] }),
    )

    await expect.poll(() => a.misbehaved, WAIT).toEqual([{ peerId: b.peerId, code: 'SCHEMA_INVALID' }])
    expect(a.policy.isAllowed(b.peerId)).toBe(false)
  })
})

describe('replication: stop', () => {
  it('waits for frames being applied before it resolves', async () => {
    const bloc = testBloc(2)
    const a = await startNode(bloc, 0)
    const store = new GatedStore()
    const b = await startNode(bloc, 1, { store })
    store.armed = true
    await a.engine.submit([registration(bloc.officer('AAA'))])
    await connect(a, b)
    // B received A's entry and is writing it.
    await expect.poll(() => store.gates.length, WAIT).toBeGreaterThan(0)
    let stopped = false
    const stopping = b.rep.stop().then(() => {
      stopped = true
    })
    await new Promise((r) => setTimeout(r, 100))
    expect(stopped).toBe(false)
    store.armed = false
    for (const gate of store.gates.splice(0)) gate.open()
    await stopping
    expect(b.engine.versionVector()[a.engine.nodeId]).toBe(1)
  })
})

/**
 * Scenario 5 of the mesh issue, with real node processes: a byzantine peer — certified in the
 * charter, so the closed mesh lets it in, but hostile — sends forged entries, entries with
 * other nodes' Yjs client ids, record deletions, equivocating entries, oversized and malformed
 * frames. Each is refused, the signed ones are kept as evidence, everything is counted in
 * metrics, and the honest nodes keep serving writes and converge (DESIGN.md invariants 1, 3,
 * 5 and 8).
 *
 * The bloc has 4 certified nodes; 3 run as processes, and node 3's keys belong to the hostile
 * peer, which this test runs in-process (test-network/src/byzantine.ts). Each attack passes
 * every check before the one it targets.
 */
import {
  type BuiltRecord,
  decodeEntry,
  encodeCanonical,
  encodeDoc,
  loadDoc,
  type SignedEntry,
  toHex,
  verifyCharterChain,
  verifyEntrySignature,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { afterEach, describe, expect, it } from 'vitest'
import {
  changeFor,
  createDoc,
  type Evidence,
  eventually,
  evidenceAt,
  HostilePeer,
  metric,
  sleep,
  updateOf,
} from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, missingAt, submitBatch } from '../src/workload.ts'

const BAN_MS = 300
const MISBEHAVIOUR = 'legation_peer_misbehaviour_total'
const REJECTED = 'legation_records_rejected_total'
const seqKey = (n: number) => n.toString().padStart(12, '0')

let net: TestNetwork | undefined
let hostile: HostilePeer | undefined
afterEach(async () => {
  await hostile?.stop().catch(() => undefined)
  hostile = undefined
  await net?.stop()
  net = undefined
})

async function startBloc(): Promise<{ net: TestNetwork; hostile: HostilePeer; honest: TestNode[] }> {
  net = await TestNetwork.start({ nodes: 4, startNodes: 3, env: { LEGATION_P2P_BAN_MS: String(BAN_MS) } })
  hostile = await HostilePeer.start(net, 3)
  const honest = net.nodes.slice(0, 3)
  for (const n of honest) await hostile.connect(n)
  return { net, hostile, honest }
}

/** Waits until `node`'s counter is above `before`, and returns it. */
async function counted(node: TestNode, name: string, code: string, before: number): Promise<number> {
  return eventually(
    `${name}{code="${code}"} to grow at node ${node.index}`,
    async () => {
      const v = await metric(node, name, { code })
      return v > before ? v : undefined
    },
    5_000,
  )
}

async function vvOf(node: TestNode, origin: string): Promise<number> {
  return (await node.info()).versionVector[origin] ?? 0
}

describe('scenario 5: a byzantine peer', { timeout: 120_000 }, () => {
  it('is refused at every attack, with evidence and metrics, while honest nodes keep writing and converge', async () => {
    const { net, hostile, honest } = await startBloc()
    const [n0, n1, n2] = honest as [TestNode, TestNode, TestNode]
    const officer = net.officer('DVA')
    const charters = verifyCharterChain(nativeEd25519, net.chain)
    const acked: string[] = []
    /** An honest write at a rotating node, started while an attack is under way. */
    let round = 0
    const honestWrite = () => {
      const node = honest[round++ % 3]!
      return submitBatch(
        node,
        Array.from({ length: 3 }, () => citizenRegistration(officer, 'DVB')),
      ).then((ids) => acked.push(...ids))
    }
    /** Every honest process is up and answers /health. */
    const allHealthy = async () => {
      for (const n of honest) {
        expect(n.running, `node ${n.index} process`).toBe(true)
        expect(await n.get('/health')).toEqual({ status: 'ok' })
      }
    }
    /** After a ban: wait until the target dropped us, past the ban, then reconnect everywhere. */
    const afterBan = async (target: TestNode) => {
      await hostile.waitDropped(target)
      await sleep(BAN_MS + 100)
      for (const n of honest) await hostile.connect(n)
    }
    /** The refused-entry evidence a node keeps for (origin, seq, entry). */
    const refusedAt = async (
      node: TestNode,
      origin: string,
      seq: number,
      entry: { bytes: Uint8Array; hash: Uint8Array },
    ) => {
      const id = `${origin}/${seqKey(seq)}/${toHex(entry.hash)}`
      const found = await eventually(`refused evidence ${id} at node ${node.index}`, async () =>
        (await evidenceAt(node, officer)).find((e) => e.kind === 'refused' && e.id === id),
      )
      // The secretariat can check offline that the origin signed what it is blamed for.
      const stored = found.value.entry as Uint8Array
      expect(toHex(stored)).toBe(toHex(entry.bytes))
      expect(verifyEntrySignature(nativeEd25519, decodeEntry(stored), net.bloc, charters).nodeId).toBe(origin)
      return found.value.code as string
    }

    // ---- 1. Forged entry: claims honest node 0 as origin, signed with the hostile key ----
    // Node 0 has written nothing yet, so seq 1 / prev null is exactly what it would sign next:
    // only the signature is wrong.
    {
      const reg = citizenRegistration(officer, 'DVC')
      const forged = hostile.seal({
        origin: n0.nodeId,
        seq: 1,
        prev: null,
        changes: [changeFor(createDoc(10_000), reg.citizenId, [reg])],
      })
      const before = await metric(n0, MISBEHAVIOUR, { code: 'SIGNATURE_INVALID' })
      const write = honestWrite()
      await hostile.sendEntries(n0, [forged.bytes], [reg])
      expect(await counted(n0, MISBEHAVIOUR, 'SIGNATURE_INVALID', before)).toBe(before + 1)
      await write
      // Not node 0's: nothing is stored in its name, and nothing blames it.
      expect(await missingAt(n0, [reg.id], officer)).toEqual([reg.id])
      const blamed = (await evidenceAt(n0, officer)).filter((e) => e.id.startsWith(`${n0.nodeId}/`))
      expect(blamed).toEqual([])
      await afterBan(n0)
      await allHealthy()
    }

    // ---- 2. Own origin, seq 1, properly signed, valid records, but node 0's Yjs client id ----
    {
      const reg = citizenRegistration(officer, 'DVB')
      const foreign = hostile.seal({
        origin: hostile.nodeId,
        seq: 1,
        prev: null,
        changes: [changeFor(createDoc(10_000), reg.citizenId, [reg])],
      })
      const before = await metric(n1, MISBEHAVIOUR, { code: 'ENTRY_FOREIGN_CLIENT' })
      const write = honestWrite()
      await hostile.sendEntries(n1, [foreign.bytes], [reg])
      expect(await counted(n1, MISBEHAVIOUR, 'ENTRY_FOREIGN_CLIENT', before)).toBe(before + 1)
      expect(await metric(n1, REJECTED, { code: 'ENTRY_FOREIGN_CLIENT' })).toBeGreaterThanOrEqual(1)
      expect(await refusedAt(n1, hostile.nodeId, 1, foreign)).toBe('ENTRY_FOREIGN_CLIENT')
      await write
      expect(await vvOf(n1, hostile.nodeId)).toBe(0)
      await afterBan(n1)
      await allHealthy()
    }

    // ---- 3. Record deletion: a valid seq 1 registers a citizen; seq 2 deletes it ----
    const doc = createDoc(hostile.clientId)
    const reg = citizenRegistration(officer, 'DVC')
    const first = hostile.seal({
      origin: hostile.nodeId,
      seq: 1,
      prev: null,
      changes: [changeFor(doc, reg.citizenId, [reg])],
    })
    await hostile.sendEntries(n2, [first.bytes], [reg])
    // Accepted by node 2, and relayed by it to the others (self-authenticating relay).
    for (const n of honest)
      await eventually(
        `node ${n.index} to apply the hostile seq 1`,
        async () => (await vvOf(n, hostile.nodeId)) === 1,
      )
    expect(await missingAt(n0, [reg.id], officer)).toEqual([])
    {
      const rewrite = hostile.seal({
        origin: hostile.nodeId,
        seq: 2,
        prev: first.hash,
        changes: [
          {
            doc: reg.citizenId,
            // On a copy: `doc` stays what the honest nodes hold, for the next attacks.
            update: updateOf(loadDoc(encodeDoc(doc), hostile.clientId), (d) =>
              d.getArray('records').delete(0, 1),
            ),
            records: [],
          },
        ],
      })
      const before = await metric(n2, MISBEHAVIOUR, { code: 'ENTRY_REWRITE' })
      const write = honestWrite()
      await hostile.sendEntries(n2, [rewrite.bytes])
      expect(await counted(n2, MISBEHAVIOUR, 'ENTRY_REWRITE', before)).toBe(before + 1)
      expect(await refusedAt(n2, hostile.nodeId, 2, rewrite)).toBe('ENTRY_REWRITE')
      await write
      expect(await vvOf(n2, hostile.nodeId)).toBe(1)
      expect(await missingAt(n2, [reg.id], officer)).toEqual([])
      await afterBan(n2)
      await allHealthy()
    }
    // ...and seq 2 naming a record it does not carry (signed by an officer, never submitted).
    {
      const ghost = citizenRegistration(officer, 'DVC')
      const ghostDoc = createDoc(hostile.clientId)
      const notCarried = hostile.seal({
        origin: hostile.nodeId,
        seq: 2,
        prev: first.hash,
        changes: [changeFor(ghostDoc, ghost.citizenId, [ghost], [])],
      })
      const before = await metric(n0, MISBEHAVIOUR, { code: 'ENTRY_INVALID' })
      const write = honestWrite()
      await hostile.sendEntries(n0, [notCarried.bytes])
      expect(await counted(n0, MISBEHAVIOUR, 'ENTRY_INVALID', before)).toBe(before + 1)
      expect(await refusedAt(n0, hostile.nodeId, 2, notCarried)).toBe('ENTRY_INVALID')
      await write
      expect(await missingAt(n0, [ghost.id], officer)).toEqual([ghost.id])
      await afterBan(n0)
      await allHealthy()
    }
    // The citizen registered at seq 1 is still on every node, with its timeline intact.
    for (const n of honest) {
      const view = await n.get<{ timeline?: unknown }>(
        `/v1/citizens/${reg.citizenId}?purpose=consular-assistance`,
        officer,
      )
      expect(JSON.stringify(view)).toContain(reg.id)
    }

    // ---- 4. Equivocation: two different, validly signed seq 2 entries, one to node 0, one to node 1 ----
    // No bloc-final checkpoint covers seq 2, so neither version stands: every honest node ends
    // with the hostile feed cut at seq 1 (docs/protocol.md § Forks that heal).
    {
      const presence = officer.record(
        'presence.registered',
        reg.citizenId,
        { from: Date.now(), until: null },
        { salt: officer.salt(), country: 'KE', region: 'Nairobi' },
      )
      const change = changeFor(doc, reg.citizenId, [presence as BuiltRecord])
      const now = Date.now()
      const a = hostile.seal({
        origin: hostile.nodeId,
        seq: 2,
        prev: first.hash,
        hlc: [now, 0],
        changes: [change],
      })
      const b = hostile.seal({
        origin: hostile.nodeId,
        seq: 2,
        prev: first.hash,
        hlc: [now, 1],
        changes: [change],
      })
      expect(toHex(a.hash)).not.toBe(toHex(b.hash))
      const before = await Promise.all(honest.map((n) => metric(n, REJECTED, { code: 'ENTRY_EQUIVOCATION' })))
      const write = honestWrite()
      await Promise.all([
        hostile.sendEntries(n0, [a.bytes], [presence]),
        hostile.sendEntries(n1, [b.bytes], [presence]),
      ])
      const pair = [toHex(a.bytes), toHex(b.bytes)].sort()
      for (const [i, n] of honest.entries()) {
        // Detected where the relays cross, gossiped as evidence, and the origin quarantined everywhere.
        const info = await eventually(`node ${n.index} to quarantine the hostile origin`, async () => {
          const info = await n.info()
          return info.quarantined.some((q) => q.nodeId === hostile.nodeId) ? info : undefined
        })
        expect(info.quarantined).toContainEqual({ nodeId: hostile.nodeId, fromSeq: 2 })
        const ev: Evidence = await eventually(`equivocation evidence at node ${n.index}`, async () =>
          (await evidenceAt(n, officer)).find(
            (e) => e.kind === 'equivocation' && e.id === `${hostile.nodeId}/${seqKey(2)}`,
          ),
        )
        expect([ev.value.origin, ev.value.seq]).toEqual([hostile.nodeId, 2])
        const proof = [ev.value.a, ev.value.b] as SignedEntry[]
        expect(proof.map((e) => toHex(encodeCanonical(e))).sort()).toEqual(pair)
        for (const e of proof)
          expect(verifyEntrySignature(nativeEd25519, e, net.bloc, charters).nodeId).toBe(hostile.nodeId)
        expect(await counted(n, REJECTED, 'ENTRY_EQUIVOCATION', before[i]!)).toBeGreaterThan(before[i]!)
      }
      await write
      await allHealthy()
      // A quarantined origin gets nothing more in: a valid-looking seq 3 is not applied, and the
      // version of seq 2 a node applied first is gone too.
      const later = citizenRegistration(officer, 'DVA')
      const seq3 = hostile.seal({
        origin: hostile.nodeId,
        seq: 3,
        prev: a.hash,
        changes: [changeFor(createDoc(hostile.clientId), later.citizenId, [later])],
      })
      await hostile.sendEntries(n2, [seq3.bytes], [later])
      await sleep(300)
      for (const n of honest) expect(await vvOf(n, hostile.nodeId)).toBe(1)
      expect(await missingAt(n2, [later.id, presence.id], officer)).toEqual([later.id, presence.id])
    }

    // ---- 5. Frames: oversized, malformed length prefix, garbage payload, wrong schema ----
    {
      // A real 4 MiB + 1 frame (our mesh allows 8 MiB; honest nodes 4 MiB).
      const before = await metric(n1, MISBEHAVIOUR, { code: 'MESH_FRAME_TOO_LARGE' })
      const write = honestWrite()
      await hostile.sendFrame(n1, new Uint8Array(4 * 1024 * 1024 + 1)).catch(() => undefined)
      expect(await counted(n1, MISBEHAVIOUR, 'MESH_FRAME_TOO_LARGE', before)).toBe(before + 1)
      await write
      await hostile.waitDropped(n1)
      await hostile.connect(n1)
      await allHealthy()
    }
    {
      // A length prefix that claims 1 GiB: refused on the prefix, before anything is buffered.
      const before = await metric(n0, MISBEHAVIOUR, { code: 'MESH_FRAME_TOO_LARGE' })
      await hostile.sendRaw(n0, Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x04))
      expect(await counted(n0, MISBEHAVIOUR, 'MESH_FRAME_TOO_LARGE', before)).toBe(before + 1)
      await hostile.waitDropped(n0)
      await hostile.connect(n0)
    }
    {
      // A length prefix that is not minimally encoded (0 as two bytes).
      const before = await metric(n2, MISBEHAVIOUR, { code: 'MESH_FRAME_MALFORMED' })
      await hostile.sendRaw(n2, Uint8Array.of(0x80, 0x00))
      expect(await counted(n2, MISBEHAVIOUR, 'MESH_FRAME_MALFORMED', before)).toBe(before + 1)
      await hostile.waitDropped(n2)
      await hostile.connect(n2)
      await allHealthy()
    }
    {
      // Random bytes in a well-formed frame: not CBOR (0xff is a stray "break").
      const garbage = crypto.getRandomValues(new Uint8Array(256))
      garbage[0] = 0xff
      const before = await metric(n0, MISBEHAVIOUR, { code: 'ENCODING_MALFORMED' })
      const write = honestWrite()
      await hostile.sendFrame(n0, garbage)
      expect(await counted(n0, MISBEHAVIOUR, 'ENCODING_MALFORMED', before)).toBe(before + 1)
      await write
      await afterBan(n0)
    }
    {
      // Canonical CBOR, but no sync message.
      const before = await metric(n1, MISBEHAVIOUR, { code: 'SCHEMA_INVALID' })
      await hostile.sendFrame(
        n1,
        encodeCanonical({ t: 'want', origin: n0.nodeId, from: 1, limit: 1_000_000 }),
      )
      expect(await counted(n1, MISBEHAVIOUR, 'SCHEMA_INVALID', before)).toBe(before + 1)
      await afterBan(n1)
      await allHealthy()
    }

    // ---- Honest nodes unaffected: still writing, still meshed with each other, converging ----
    await honestWrite()
    await honestWrite()
    await honestWrite()
    await net.waitForConvergence({ nodes: [0, 1, 2], timeoutMs: 15_000 })
    for (const n of honest) {
      expect(await missingAt(n, acked, officer)).toEqual([])
      const peers = (await n.info()).peers
      for (const other of honest)
        if (other !== n) expect(peers.find((p) => p.peerId === other.peerId)?.connected).toBe(true)
    }
    await allHealthy()
  }, 60_000)
})

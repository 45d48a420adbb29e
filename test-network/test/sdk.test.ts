/**
 * The SDK against real node processes: the example of docs/api.md § Example with the SDK on a
 * single node (where a write concern can never be met), and `NodePool` failing over when the
 * node in use is killed, when an answer is lost after the node stored the write, and when a
 * node that crashed refuses freshly signed writes for its start window.
 */
import {
  decodeCanonical,
  fromBase64url,
  fromHex,
  generateKeyPair,
  LegationClient,
  verifyCharterChain,
  verifyReceipt,
} from '@legation/protocol'
import { NodePool, type SdkError } from '@legation/protocol/http'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { TestNetwork, type TestNode } from '../src/network.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface CitizenFile {
  id: string
  presence: { country: string; region: string } | null
  timeline: Array<{ id: string; kind: string }>
}

/** A citizen's self-registration, as in the docs/api.md example. */
function enrol(info: { bloc: string; charter: { hash: string } }) {
  const keys = generateKeyPair(ed)
  const citizen = new LegationClient({ ed, bloc: info.bloc, charter: info.charter.hash, keys })
  const registration = citizen.record(
    'citizen.registered',
    citizen.id,
    {
      citizenKey: keys.publicKey,
      nationality: 'DVB',
      consent: { purposes: ['consular-assistance', 'crisis-contact'], version: 1 },
    },
    {
      salt: citizen.salt(),
      names: { given: 'Ana', family: 'Novak' },
      birth: { date: '1990-04-12' },
      travelDocument: { type: 'passport', number: 'X1234567', issuer: 'DVB', expires: '2031-06-30' },
      contact: { email: 'ana@example.org' },
    },
  )
  return { citizen, registration }
}

it('the docs/api.md example runs on a single node: no write concern met, replicas empty, receipts verify', {
  timeout: 90_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 1 })
  const pool = new NodePool({ nodes: [net.nodes[0]!.url], timeoutMs: 15_000 })
  const info = await pool.get<{ bloc: string; charter: { hash: string } }>('/v1/node')
  const { citizen, registration } = enrol(info)

  const first = await pool.submit([registration])
  expect(first.results[0]).toMatchObject({ id: registration.id, status: 'accepted' })
  expect(first).toMatchObject({ replicas: [], writeConcern: 0, writeConcernMet: true })

  // k = 2 on a bloc of one: the node answers 504 WRITE_CONCERN_TIMEOUT, and the SDK says so
  // instead of leaving `replicas` undefined (the example's `...replicas` crashed on it).
  const presence = citizen.record(
    'presence.registered',
    citizen.id,
    { from: Date.now(), until: null },
    { salt: citizen.salt(), country: 'KE', region: 'Nairobi' },
  )
  const second = await pool.submit([presence], { writeConcern: 2, signer: citizen })
  expect(second.results[0]).toMatchObject({ id: presence.id, status: 'accepted' })
  expect(second.writeConcernMet).toBe(false)
  expect(second.replicas).toEqual([])

  const { chain } = await pool.get<{ chain: string }>('/v1/charter')
  const versions = verifyCharterChain(ed, decodeCanonical(fromBase64url(chain)) as never)
  expect(versions[0]!.bloc).toBe(info.bloc)
  const nodes = versions[versions.length - 1]!.nodes
  const receipts = [second.results[0]!.receipt!, ...second.replicas]
  for (const r of receipts) {
    const body = { node: r.node, origin: r.origin, seq: r.seq, entry: fromHex(r.entry) }
    expect(verifyReceipt(ed, { body, sig: fromBase64url(r.sig) }, nodes.get(r.node)!.nodeKey)).toBe(true)
  }

  const mine = await pool.get<CitizenFile>(`/v1/citizens/${citizen.id}`, citizen)
  expect(mine.id).toBe(citizen.id)
  expect(mine.presence).toMatchObject({ country: 'KE', region: 'Nairobi' })
})

it('NodePool carries on at the next node when the one in use is killed, and a write is applied once', {
  timeout: 150_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
  const failovers: Array<{ from: string; to: string; reason: string }> = []
  const pool = new NodePool({
    nodes: [a.url, b.url, c.url],
    timeoutMs: 10_000,
    onFailover: (e) => failovers.push(e),
  })
  const info = await pool.get<{ bloc: string; charter: { hash: string } }>('/v1/node')
  const { citizen, registration } = enrol(info)
  // Durable at both other nodes before a dies: a killed right after a write concern of 0 may
  // not have pushed the entry yet (a loaded CI host showed it), and then no node has it.
  const written = await pool.submit([registration], { signer: citizen, writeConcern: 2 })
  expect(written).toMatchObject({ node: a.url, writeConcernMet: true })
  expect(pool.current).toBe(a.url)

  await a.kill()
  // The citizen's own file at whichever node answers.
  const path = `/v1/citizens/${citizen.id}`
  const mine = await pool.get<CitizenFile>(path, citizen)
  expect(mine.id).toBe(citizen.id)
  expect(pool.current).toBe(b.url)
  expect(failovers[0]).toMatchObject({ from: a.url, to: b.url })
  expect(failovers[0]!.reason).toMatch(/ECONNREFUSED|refused|fetch failed/i)

  // A signed write whose answer is lost after b stored it: the pool signs it again and sends it
  // again (to c: b's answer counts as lost), which is not refused as a replay and not applied
  // twice — records are content-addressed, so the second submission is a duplicate.
  const presence = citizen.record(
    'presence.registered',
    citizen.id,
    { from: Date.now(), until: null },
    { salt: citizen.salt(), country: 'KE', region: 'Mombasa' },
  )
  let lost = 0
  const lossy = new NodePool({
    nodes: [b.url, c.url],
    fetch: async (input, init) => {
      const res = await fetch(input, init)
      if (lost === 0 && String(input).startsWith(b.url) && init?.method === 'POST') {
        lost++
        await res.arrayBuffer()
        throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET', message: 'answer lost' } })
      }
      return res
    },
  })
  const again = await lossy.submit([presence], { signer: citizen })
  expect(lost).toBe(1)
  expect(again.node).toBe(c.url)
  expect(again.results[0]!.id).toBe(presence.id)
  // c has it from b already (duplicate) or takes it now (accepted): either way, stored once.
  expect(['accepted', 'duplicate']).toContain(again.results[0]!.status)
  await net.waitForConvergence({ nodes: [1, 2], timeoutMs: 30_000 })
  for (const n of [b, c]) {
    const file = await n.get<CitizenFile>(path, citizen)
    expect(file.timeline.filter((t) => t.id === presence.id)).toHaveLength(1)
  }

  // Every node down: the pool gives up, bounded, naming each node's reason.
  await b.kill()
  await c.kill()
  const bounded = new NodePool({ nodes: [b.url, c.url], rounds: 2, minBackoffMs: 10, maxBackoffMs: 20 })
  const err = (await bounded.get('/v1/node').catch((e: unknown) => e)) as SdkError
  expect(err.code).toBe('NODE_UNREACHABLE')
  expect(err.message).toContain(b.url)
  expect(err.message).toContain(c.url)
})

it('a node that crashed refuses signed writes for its start window; the pool signs again at another node', {
  timeout: 150_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 2 })
  const [a, b] = net.nodes as [TestNode, TestNode]
  const pool = new NodePool({ nodes: [a.url, b.url] })
  const info = await pool.get<{ bloc: string; charter: { hash: string } }>('/v1/node')
  const { citizen, registration } = enrol(info)
  await pool.submit([registration], { signer: citizen })
  await net.waitForConvergence({ timeoutMs: 30_000 })

  await a.kill()
  await a.start()
  const presence = citizen.record(
    'presence.registered',
    citizen.id,
    { from: Date.now(), until: null },
    { salt: citizen.salt(), country: 'TH', region: 'Phuket' },
  )
  // Straight to the restarted node: refused as a possible replay.
  const direct = new NodePool({ nodes: [a.url] })
  const refused = (await direct.submit([presence], { signer: citizen }).catch((e: unknown) => e)) as SdkError
  expect(refused.code).toBe('NODE_UNREACHABLE')
  expect(refused.remoteCode).toBe('REQUEST_REPLAYED')
  // The pool moves on to b, with a new signature.
  const moved = await pool.submit([presence], { signer: citizen })
  expect(moved.node).toBe(b.url)
  expect(moved.results[0]).toMatchObject({ id: presence.id, status: 'accepted' })
})

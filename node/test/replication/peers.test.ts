/**
 * A slow peer's send queue: load shedding drops what is sent again (entries, statuses, wants),
 * never what is sent once (revocations, evidence, receipts, the charter, duties done).
 */
import { decodeCanonical, type SyncMessage } from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { Peers, type ReplicationMesh } from '../../src/replication/peers.ts'

/** A mesh whose sends wait until the test lets them through: a peer that reads slowly. */
function slowMesh() {
  const sent: SyncMessage[] = []
  const waiting: Array<() => void> = []
  const disconnected: string[] = []
  const mesh: ReplicationMesh = {
    onFrame: () => () => {},
    onPeerConnected: () => () => {},
    onPeerDisconnected: () => () => {},
    onPeerMisbehaved: () => () => {},
    connectedPeers: () => ['p'],
    send: (_peer, frame) =>
      new Promise<void>((resolve) =>
        waiting.push(() => {
          // The frames as sent (canonical CBOR); the schema is not this test's subject.
          sent.push(decodeCanonical(frame) as SyncMessage)
          resolve()
        }),
      ),
    disconnect: async (peer) => void disconnected.push(peer),
  }
  /** Lets every send through, including those queued meanwhile. */
  const release = async () => {
    for (let i = 0; i < 10_000 && waiting.length > 0; i++) {
      waiting.shift()!()
      await new Promise((r) => setImmediate(r))
    }
  }
  return { mesh, sent, release, disconnected }
}

const status = (n: number): SyncMessage => ({ t: 'status', vv: { ['ab'.repeat(32)]: n } })
const evidence: SyncMessage = { t: 'evidence', a: new Uint8Array([1]), b: new Uint8Array([2]) }
const dutyDone: SyncMessage = { t: 'dutyDone', done: [{ id: 'cd'.repeat(32), node: 'ef'.repeat(32), at: 1 }] }

describe('a slow peer’s send queue', () => {
  it('sheds statuses and entries when full, and keeps every message that is sent once', async () => {
    const { mesh, sent, release } = slowMesh()
    const peers = new Peers(mesh, 8, undefined)
    peers.add('p', { nodeId: 'ef'.repeat(32), state: 'AAA' })
    peers.send('p', status(0)) // in flight
    for (let i = 1; i <= 40; i++) {
      peers.send('p', status(i))
      if (i === 10) peers.send('p', evidence)
      if (i === 20) peers.send('p', dutyDone)
      if (i === 30) peers.send('p', { t: 'entries', entries: [new Uint8Array([9])], payloads: [] })
    }
    await release()
    const types = sent.map((m) => m.t)
    expect(types.filter((t) => t === 'evidence')).toHaveLength(1)
    expect(types.filter((t) => t === 'dutyDone')).toHaveLength(1)
    // Statuses were shed (40 asked), the last one always goes.
    expect(types.filter((t) => t === 'status').length).toBeLessThan(20)
    expect(sent.at(-1)).toEqual(status(40))
  })

  it('sends the answer to a want in place of the oldest pushed entries when full, and drops pushes', async () => {
    const { mesh, sent, release } = slowMesh()
    const peers = new Peers(mesh, 8, undefined)
    peers.add('p', { nodeId: 'ef'.repeat(32), state: 'AAA' })
    const entries = (n: number): SyncMessage => ({
      t: 'entries',
      entries: [new Uint8Array([n])],
      payloads: [],
    })
    peers.send('p', entries(0)) // in flight
    for (let i = 1; i <= 20; i++) peers.send('p', entries(i))
    // The queue holds pushes 1–8; an answer, then an answer to a wantPayload, take the places of 1 and 2.
    peers.send('p', entries(100), true)
    peers.send(
      'p',
      { t: 'entries', entries: [], payloads: [{ d: new Uint8Array([7]), p: new Uint8Array([8]) }] },
      true,
    )
    peers.send('p', entries(21))
    await release()
    const firsts = sent.map((m) => (m.t === 'entries' ? (m.entries[0]?.[0] ?? -1) : null))
    expect(firsts).toEqual([0, 3, 4, 5, 6, 7, 8, 100, -1])
  })

  it('drops an answer when the queue is full of what is not pushed entries', async () => {
    const { mesh, sent, release } = slowMesh()
    const peers = new Peers(mesh, 4, undefined)
    peers.add('p', { nodeId: 'ef'.repeat(32), state: 'AAA' })
    const answer = (n: number): SyncMessage => ({
      t: 'entries',
      entries: [new Uint8Array([n])],
      payloads: [],
    })
    peers.send('p', answer(0), true) // in flight
    for (let i = 1; i <= 6; i++) peers.send('p', answer(i), true)
    await release()
    expect(sent.map((m) => m.t === 'entries' && m.entries[0]?.[0])).toEqual([0, 1, 2, 3, 4])
  })

  it('drops a peer that lets even the messages sent once pile up', async () => {
    const { mesh, disconnected } = slowMesh()
    const peers = new Peers(mesh, 2, undefined)
    peers.add('p', { nodeId: 'ef'.repeat(32), state: 'AAA' })
    for (let i = 0; i < 20 && disconnected.length === 0; i++) peers.send('p', evidence)
    expect(disconnected).toEqual(['p'])
  })
})

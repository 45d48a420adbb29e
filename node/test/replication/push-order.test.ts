/**
 * When a node's own entry leaves for its peers: after the replies to the clients that wrote it
 * (a client writing one record at a time waits for nothing else), and in its feed's order.
 */
import { decodeEntry, decodeSyncMessage } from '@legation/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { registration, testBloc } from '../fixtures.ts'
import { connect, startNode, stopAll } from './helpers.ts'

afterEach(stopAll)

const WAIT = { timeout: 10_000, interval: 50 }

describe('replication: pushing this node’s own entries', () => {
  it('answers the writer first, then pushes each entry, in the feed’s order', async () => {
    const bloc = testBloc(2)
    const [a, b] = await Promise.all([0, 1].map((i) => startNode(bloc, i)))
    await connect(a!, b!)
    // The seqs of the entries a sends to b, as they are handed to the mesh.
    const pushed: number[] = []
    const send = a!.mesh.send.bind(a!.mesh)
    vi.spyOn(a!.mesh, 'send').mockImplementation((peer, frame, options) => {
      const msg = decodeSyncMessage(frame)
      if (msg.t === 'entries') for (const e of msg.entries) pushed.push(decodeEntry(e).body.seq)
      return send(peer, frame, options)
    })
    const officer = bloc.officer('AAA')

    const [outcome] = await a!.engine.submit([registration(officer)])
    expect(outcome?.ok).toBe(true)
    // The writer has its answer; the entry leaves in the next turn of the event loop.
    expect(pushed).toEqual([])
    await new Promise((resolve) => setImmediate(resolve))
    expect(pushed).toEqual([1])

    // Entries written back to back, each in a transaction of its own, leave in order.
    for (let i = 0; i < 4; i++) expect((await a!.engine.submit([registration(officer)]))[0]?.ok).toBe(true)
    await expect.poll(() => b!.engine.versionVector()[a!.engine.nodeId], WAIT).toBe(5)
    expect(pushed).toEqual([1, 2, 3, 4, 5])
    expect(b!.engine.stateRoot()).toBe(a!.engine.stateRoot())
  })
})

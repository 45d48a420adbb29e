/**
 * How far a checkpoint travels: five nodes in this process, each a real engine and witness,
 * joined by the fake registrar (messages delivered to each node's handler). The checkpoint
 * must become bloc-final everywhere while the origin sends one note per checkpoint and each
 * witness at most its cosignature (none once others' make the checkpoint bloc-final), even
 * when the origin withholds everything after its first note.
 */
import type { SyncMessage } from '@legation/protocol'
import { afterEach, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { type Witness, witness } from '../../src/witness/witness.ts'
import { fakeNet } from '../duties/fake-registrar.ts'
import { countingEd, ed, registration, testBloc } from '../fixtures.ts'

const open: Array<{ engine: Engine; witness: Witness }> = []
afterEach(async () => {
  for (const n of open.splice(0)) {
    await n.witness.stop()
    await n.engine.close()
  }
})

/** `n` nodes holding the origin's feed of one entry, each with a witness, joined by fake registrars. */
async function blocOf(n: number) {
  const bloc = testBloc(n)
  const stores = bloc.nodes.map(() => new MemoryStore())
  const engines = await Promise.all(
    bloc.nodes.map((n, i) => Engine.open({ store: stores[i]!, ed, nodeKeys: n.keys, charter: bloc.chain })),
  )
  const [origin, ...others] = engines as [Engine, ...Engine[]]
  expect((await origin.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
  // Every node holds the origin's feed, as replication would have given it.
  const entries: Uint8Array[] = []
  for await (const e of origin.entries(origin.nodeId, 1, 10)) entries.push(e)
  for (const e of others) expect(await e.applyRemoteMany(entries)).toEqual(['applied'])
  const net = fakeNet(engines.map((e) => e.nodeId))
  // Signature checks each witness makes.
  const counting = engines.map(() => countingEd())
  const witnesses = engines.map((engine, i) =>
    witness({ intervalMs: 3_600_000 })({
      engine,
      store: stores[i]!,
      ed: counting[i]!.ed,
      nodeKeys: bloc.nodes[i]!.keys,
      registrar: net[i]!,
    }),
  )
  for (const [i, w] of witnesses.entries()) {
    await w.start()
    open.push({ engine: engines[i]!, witness: w })
  }
  const finalEverywhere = async () => {
    for (const w of witnesses) {
      await expect
        .poll(() => w.checkpoints().find((c) => c.origin === origin.nodeId)?.final?.size, { timeout: 5_000 })
        .toBe(1)
    }
  }
  const checkpointsSent = (r: (typeof net)[number]) => r.sent.filter((m: SyncMessage) => m.t === 'checkpoint')
  const verified = counting.map((c) => c.count)
  return { origin: witnesses[0]!, net, finalEverywhere, checkpointsSent, verified }
}

it('the origin sends its checkpoint, each witness at most its cosignature and only while a quorum and a state to spare lack it, and all see it bloc-final', async () => {
  const { origin, net, finalEverywhere, checkpointsSent } = await blocOf(7)
  await origin.tick()
  await finalEverywhere()
  // Every witness's turn has come (each waits up to 500 ms).
  await new Promise((resolve) => setTimeout(resolve, 600))
  expect(checkpointsSent(net[0]!)).toHaveLength(1)
  const witnesses = net.slice(1).map((r) => checkpointsSent(r))
  for (const sent of witnesses) expect(sent.length).toBeLessThanOrEqual(1)
  // Nodes 1–6 are of states B, C, A, B, C, A and the quorum is two states: a witness holds its
  // cosignature once the others' come from all three (a quorum and a state to spare). At least
  // three go out (one per state), at most five (the sixth sees all three states from others).
  const sent = witnesses.flat()
  expect(sent.length).toBeGreaterThanOrEqual(3)
  expect(sent.length).toBeLessThanOrEqual(5)
  // A witness's note carries the origin's signature and its own cosignature, not every line it knows.
  for (const m of sent) {
    const note = (m as Extract<SyncMessage, { t: 'checkpoint' }>).note
    expect(note.split('\n\n')[1]!.trim().split('\n')).toHaveLength(2)
  }
})

it('the witnesses make a checkpoint bloc-final among themselves when its origin sends nothing more', async () => {
  const { origin, net, finalEverywhere } = await blocOf(5)
  await origin.tick()
  // From now on the origin sends nothing (its peers still send to it).
  net[0]!.live.clear()
  await finalEverywhere()
})

it('each witness checks each signature of a checkpoint once, however many copies of its note arrive', async () => {
  const { origin, finalEverywhere, verified } = await blocOf(5)
  await origin.tick()
  await finalEverywhere()
  // The origin's signature and five nodes' cosignatures less the origin's own: five signatures,
  // each arriving in several notes (the origin's, each witness's, the one merged here).
  for (const n of verified) expect(n.verify).toBeLessThanOrEqual(5)
})

/**
 * How far a checkpoint travels: five nodes in this process, each a real engine and witness,
 * joined by the fake registrar (messages delivered to each node's handler). The checkpoint
 * must become bloc-final everywhere while each cosigner sends one note, to the origin, so that
 * a node's witness traffic does not grow with the bloc.
 */
import type { SyncMessage } from '@legation/protocol'
import { afterEach, expect, it } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { type Witness, witness } from '../../src/witness/witness.ts'
import { fakeNet } from '../duties/fake-registrar.ts'
import { ed, registration, testBloc } from '../fixtures.ts'

const open: Array<{ engine: Engine; witness: Witness }> = []
afterEach(async () => {
  for (const n of open.splice(0)) {
    await n.witness.stop()
    await n.engine.close()
  }
})

it('cosignatures go back to the origin alone, and the origin tells the bloc once the checkpoint is bloc-final', async () => {
  const bloc = testBloc(5)
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
  const witnesses = engines.map((engine, i) =>
    witness({ intervalMs: 3_600_000 })({
      engine,
      store: stores[i]!,
      ed,
      nodeKeys: bloc.nodes[i]!.keys,
      registrar: net[i]!,
    }),
  )
  for (const [i, w] of witnesses.entries()) {
    await w.start()
    open.push({ engine: engines[i]!, witness: w })
  }
  await witnesses[0]!.tick()

  for (const w of witnesses) {
    await expect
      .poll(() => w.checkpoints().find((c) => c.origin === origin.nodeId)?.final?.size, { timeout: 5_000 })
      .toBe(1)
  }
  const checkpoints = (r: (typeof net)[number]) =>
    r.sent.filter((m): m is Extract<SyncMessage, { t: 'checkpoint' }> => m.t === 'checkpoint')
  // The origin: its checkpoint, then the bloc-final note — two broadcasts, whatever the bloc's size.
  expect(checkpoints(net[0]!)).toHaveLength(2)
  // Each other node: its cosignature, once, to the origin.
  for (const r of net.slice(1)) expect(checkpoints(r)).toHaveLength(1)
})

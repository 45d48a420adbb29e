import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Engine } from '../src/engine/engine.ts'
import { LevelStore } from '../src/storage/level-store.ts'
import { ed, registration, testBloc } from '../test/fixtures.ts'

const bloc = testBloc(1)
const store = await LevelStore.open(join(await mkdtemp(join(tmpdir(), 'prof-')), 'db'))
const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
const officer = bloc.officer('AAA')
const batches = Array.from({ length: 24 }, () =>
  Array.from({ length: 250 }, () => registration(officer, 'BBB')),
)
await engine.submit(batches.shift()!)
const t0 = process.cpuUsage()
const w0 = performance.now()
for (const b of batches) await engine.submit(b)
const c = process.cpuUsage(t0)
console.log(
  JSON.stringify({
    cpuUsPerRecord: Math.round((c.user + c.system) / (batches.length * 250)),
    ms: Math.round(performance.now() - w0),
  }),
)
await engine.stop()
await store.close()

import { mkdtemp, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Engine } from '../src/engine/engine.ts'
import { LevelStore } from '../src/storage/level-store.ts'
import { ed, registration, testBloc } from '../test/fixtures.ts'

const bloc = testBloc(1)
const store = await LevelStore.open(join(await mkdtemp(join(tmpdir(), 'prof-')), 'db'))
const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
const officer = bloc.officer('AAA')
const batches = Array.from({ length: 40 }, () =>
  Array.from({ length: 250 }, () => registration(officer, 'BBB')),
)
await engine.submit(batches.shift()!)
const s = new Session()
s.connect()
await s.post('Profiler.enable')
await s.post('Profiler.start')
for (const b of batches) await engine.submit(b)
const { profile } = await s.post('Profiler.stop')
await writeFile(process.argv[2]!, JSON.stringify(profile))
await engine.stop()
await store.close()

/**
 * What a node keeps across a restart that is not a record: the signed requests it accepted
 * (a captured request cannot be replayed after a restart), and a data folder no other user of
 * the machine can read.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toSubmission } from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { K } from '../src/engine/keys.ts'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { type RunningNode, startNode } from '../src/node.ts'
import { LevelStore } from '../src/storage/level-store.ts'
import { registration, type TestBloc, testBloc } from './fixtures.ts'

const dirs: string[] = []
const running: RunningNode[] = []
afterEach(async () => {
  for (const n of running.splice(0)) await n.stop()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function start(bloc: TestBloc, dir: string, lines: string[] = []): Promise<RunningNode> {
  const node = await startNode({
    dataDir: dir,
    charter: bloc.chain,
    nodeKeys: bloc.nodes[0]!.keys,
    logger: createLogger({ log: { level: 'warn' } }, { write: (l: string) => void lines.push(l) }),
    http: { host: '127.0.0.1', port: 0 },
    p2p: { listen: [] },
    metrics: createMetrics({ defaultMetrics: false }),
  })
  running.push(node)
  return node
}

async function stop(node: RunningNode): Promise<void> {
  await node.stop()
  running.splice(running.indexOf(node), 1)
}

/** A signed POST of a record, as its bytes: the very request a captor could send again. */
function signedRecordPost(bloc: TestBloc) {
  const officer = bloc.officer('AAA')
  const body = Buffer.from(JSON.stringify(toSubmission(registration(officer))))
  const headers = {
    ...officer.sign({ method: 'POST', path: '/v1/records', body }),
    'content-type': 'application/json',
  }
  return (url: string) => fetch(`${url}/v1/records`, { method: 'POST', headers, body })
}

describe('replay protection across a restart', () => {
  it('refuses a signed request accepted before a clean restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-restart-'))
    dirs.push(dir)
    const bloc = testBloc(1)
    const send = signedRecordPost(bloc)
    let node = await start(bloc, dir)
    expect((await send(node.url)).status).toBe(201)
    await stop(node)
    node = await start(bloc, dir)
    const again = await send(node.url)
    expect(again.status).toBe(401)
    expect(((await again.json()) as { code: string }).code).toBe('REQUEST_REPLAYED')
  })

  it('after a crash, refuses every signed request that could have been accepted before it: for the skew window', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-restart-'))
    dirs.push(dir)
    const bloc = testBloc(1)
    const send = signedRecordPost(bloc)
    let node = await start(bloc, dir)
    expect((await send(node.url)).status).toBe(201)
    await stop(node)
    // A crash saves nothing: the store still says the node is running.
    const store = await LevelStore.open(join(dir, 'db'))
    await store.write([{ type: 'put', key: K.replay, value: Buffer.from('{"clean":false,"seen":[]}') }])
    await store.close()
    node = await start(bloc, dir)
    const again = await send(node.url)
    expect(again.status).toBe(401)
    expect(((await again.json()) as { code: string }).code).toBe('REQUEST_REPLAYED')
    // One signed now could still be the replay of one signed "in the future" (within the ±120 s
    // the node accepts) before the crash: for that long, signed writes are refused too.
    const fresh = await signedRecordPost(bloc)(node.url)
    expect(fresh.status).toBe(401)
    expect(((await fresh.json()) as { code: string }).code).toBe('REQUEST_REPLAYED')
    // Unsigned requests (a record carries its own signature) go through as ever.
    const reg = registration(bloc.officer('AAA'))
    const plain = await fetch(`${node.url}/v1/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(toSubmission(reg)),
    })
    expect(plain.status).toBe(201)
  })
})

describe('the data folder', () => {
  it('is tightened to owner-only at start when the operator made it readable by others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-perms-'))
    dirs.push(dir)
    await chmod(dir, 0o755)
    await mkdir(join(dir, 'db'), { mode: 0o755 })
    await chmod(join(dir, 'db'), 0o755)
    const lines: string[] = []
    await start(testBloc(1), dir, lines)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    expect((await stat(join(dir, 'db'))).mode & 0o777).toBe(0o700)
    expect(lines.some((l) => l.includes('open to other users'))).toBe(true)
  })

  it('is created owner-only when it does not exist', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'legation-perms-'))
    dirs.push(parent)
    const dir = join(parent, 'node')
    await start(testBloc(1), dir)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
  })
})

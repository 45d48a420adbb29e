/**
 * A node's backup route and restore, in process over real HTTP and `level` on disk: only the
 * node's operator may take a backup; a backup restored into a fresh data directory starts with
 * every record, and a node alone in its bloc (nobody else holds its feed) writes at once.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signRequest } from '@legation/protocol'
import { afterEach, expect, it } from 'vitest'
import { restoreBackup } from '../../src/backup/restore.ts'
import { createLogger } from '../../src/logger.ts'
import { createMetrics } from '../../src/metrics.ts'
import { type RunningNode, startNode } from '../../src/node.ts'
import { ed, registration, testBloc } from '../fixtures.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function start(dataDir: string, bloc: ReturnType<typeof testBloc>): Promise<RunningNode> {
  const node = await startNode({
    dataDir,
    charter: bloc.chain,
    nodeKeys: bloc.nodes[0]!.keys,
    logger: createLogger({ log: { level: 'silent' } }),
    http: { host: '127.0.0.1', port: 0 },
    p2p: { listen: [] },
    metrics: createMetrics({ defaultMetrics: false }),
  })
  cleanups.push(() => node.stop())
  return node
}

async function* body(res: Response): AsyncGenerator<Uint8Array> {
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield chunk
}

it('backs up over HTTP for the operator only, and restores into a node that has every record and writes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'legation-node-backup-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const bloc = testBloc(1)
  const node = await start(join(dir, 'a'), bloc)
  const officer = bloc.officer('AAA')
  const regs = Array.from({ length: 20 }, () => registration(officer))
  const out = await node.engine.submit(regs)
  expect(out.every((o) => o.ok)).toBe(true)

  const path = '/v1/node/backup'
  const post = (headers: Record<string, string>) => fetch(`${node.url}${path}`, { method: 'POST', headers })
  expect((await post({})).status).toBe(401)
  // An officer, a citizen: anyone but the node's own key is refused.
  const asOfficer = await post(officer.sign({ method: 'POST', path }))
  expect(asOfficer.status).toBe(403)
  expect(((await asOfficer.json()) as { code: string }).code).toBe('FORBIDDEN')
  const res = await post(signRequest(ed, { method: 'POST', path }, bloc.nodes[0]!.keys, Date.now()))
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/vnd.legation.backup')
  const restored = await restoreBackup(body(res), join(dir, 'b'))
  expect(restored.trailer.records).toBe(20)
  await node.stop()

  const again = await start(join(dir, 'b'), bloc)
  for (const r of regs) expect(await again.engine.getRecord(r.id)).toBeDefined()
  // Alone in its bloc: no peer holds its feed, so no fence.
  expect(again.engine.restore.pending).toBeUndefined()
  const [later] = await again.engine.submit([registration(officer)])
  expect(later!.ok).toBe(true)
  expect(again.engine.versionVector()[again.engine.nodeId]).toBeGreaterThan(0)
})

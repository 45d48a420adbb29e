/** A whole node (level storage, engine, duties, HTTP) started and stopped in-process, without a mesh. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../src/logger.ts'
import { createMetrics } from '../src/metrics.ts'
import { type RunningNode, startNode } from '../src/node.ts'
import { testBloc } from './fixtures.ts'

const lines: string[] = []
let node: RunningNode
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-node-'))
  const bloc = testBloc(1)
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  node = await startNode({
    dataDir: dir,
    charter: bloc.chain,
    nodeKeys: bloc.nodes[0]!.keys,
    logger: createLogger({ log: { level: 'info' } }, stream),
    http: { host: '127.0.0.1', port: 0 },
    p2p: { listen: [] },
    metrics: createMetrics({ defaultMetrics: false }),
  })
})
afterAll(async () => {
  await node?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('startNode', () => {
  it('counts HTTP errors by code at GET /metrics', async () => {
    const bad = await fetch(`${node.url}/v1/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ record: 'AAAA', unknown: true }),
    })
    expect(bad.status).toBe(400)
    await fetch(`${node.url}/v1/nope`)
    const metrics = await (await fetch(`${node.url}/metrics`)).text()
    expect(metrics).toContain('legation_http_errors_total{code="VALIDATION_FAILED"} 1')
    expect(metrics).toContain('legation_http_errors_total{code="NOT_FOUND"} 1')
  })

  it('names each log line’s component once', () => {
    const started = lines.find((l) => l.includes('duty scheduler started'))
    expect(started).toBeDefined()
    expect(started!.match(/"component":/g)).toHaveLength(1)
    expect(JSON.parse(started!).component).toBe('duties')
    for (const line of lines) expect(line.match(/"component":/g)?.length ?? 0, line).toBeLessThanOrEqual(1)
  })
})

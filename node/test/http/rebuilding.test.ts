/**
 * A node rebuilding its derived state (engine/healing.ts) holds part of its records meanwhile:
 * a read waits for the rebuild a little, then is answered 503 REBUILDING with retry-after —
 * never 404 for a record the node holds. `/v1/node` still answers, and says so; so do the reads
 * a rebuild does not touch (the evidence of the fork that caused it, the charter).
 */
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { K } from '../../src/engine/keys.ts'
import { REBUILD_WAIT_MS } from '../../src/http/app.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { BatchOp } from '../../src/storage/store.ts'
import { fork } from '../engine/fork-fixture.ts'
import { testBloc } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

/** A store whose rebuild stops at its first write until `resume()`. */
class PausedRebuild extends MemoryStore {
  readonly started: Promise<void>
  #started: () => void = () => undefined
  #resume: () => void = () => undefined
  readonly #resumed = new Promise<void>((resolve) => {
    this.#resume = resolve
  })

  constructor() {
    super()
    this.started = new Promise<void>((resolve) => {
      this.#started = resolve
    })
  }

  resume(): void {
    this.#resume()
  }

  override async write(ops: readonly BatchOp[]): Promise<void> {
    if (ops.some((op) => op.type === 'put' && op.key === K.rebuild)) {
      this.#started()
      await this.#resumed
    }
    return super.write(ops)
  }
}

describe('a node rebuilding its state', () => {
  it('answers reads 503 REBUILDING after a short wait, serves them once rebuilt, and says so at /v1/node', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const store = new PausedRebuild()
    const { app, engine } = await testApp({ bloc, node: 1, store })
    apps.push(app)
    expect(await engine.applyRemoteMany([f.e1, ...f.A])).toEqual(['applied', 'applied', 'applied'])
    const officer = bloc.officer('AAA')
    const read = (path: string) => app.inject({ url: path, headers: officer.sign({ method: 'GET', path }) })
    const first = `/v1/records/${f.first.id}`
    expect((await read(first)).statusCode).toBe(200)

    // The fork is learned: nothing of node 0's from seq 2 stands, so this node rebuilds.
    const healed = engine.applyEvidence(f.A[0]!, f.B[0]!)
    await store.started
    const node = await app.inject({ url: '/v1/node' })
    expect(node.statusCode).toBe(200)
    expect(node.json().rebuilding).toBe(true)
    const t0 = Date.now()
    const refused = await read(first)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(REBUILD_WAIT_MS - 50)
    expect({ status: refused.statusCode, code: refused.json().code }).toEqual({
      status: 503,
      code: 'REBUILDING',
    })
    expect(refused.headers['content-type']).toContain('application/problem+json')
    expect(refused.headers['retry-after']).toBe(String(REBUILD_WAIT_MS / 1000))

    // A read that comes while the rebuild is under way waits for it, and sees the rebuilt state.
    const waiting = read(first)
    const gone = read(`/v1/records/${f.regsA[0]!.id}`)
    // Both reached the node (the rebuild has deleted nothing yet: the record is still there).
    await new Promise((r) => setTimeout(r, 100))
    store.resume()
    await healed
    expect((await waiting).statusCode).toBe(200)
    expect((await gone).statusCode).toBe(404)
    expect((await app.inject({ url: '/v1/node' })).json().rebuilding).toBe(false)
  })

  it('refuses a client over its rate limit at once, before any wait for the rebuild', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const store = new PausedRebuild()
    const { app, engine } = await testApp({ bloc, node: 1, store, rateLimitPerMinute: 2 })
    apps.push(app)
    await engine.applyRemoteMany([f.e1, ...f.A])
    const officer = bloc.officer('AAA')
    const path = `/v1/records/${f.first.id}`
    const read = () => app.inject({ url: path, headers: officer.sign({ method: 'GET', path }) })
    expect((await read()).statusCode).toBe(200)
    expect((await read()).statusCode).toBe(200)
    const healed = engine.applyEvidence(f.A[0]!, f.B[0]!)
    await store.started
    const t0 = Date.now()
    expect((await read()).statusCode).toBe(429)
    expect(Date.now() - t0).toBeLessThan(REBUILD_WAIT_MS / 2)
    store.resume()
    await healed
  })

  it('serves the evidence of the fork, the charter and the checkpoints at once while it rebuilds', async () => {
    const bloc = testBloc(3)
    const f = await fork(bloc, 2, 1)
    const store = new PausedRebuild()
    const { app, engine } = await testApp({ bloc, node: 1, store })
    apps.push(app)
    await engine.applyRemoteMany([f.e1, ...f.A])
    const healed = engine.applyEvidence(f.A[0]!, f.B[0]!)
    await store.started
    const read = (path: string) =>
      app.inject({ url: path, headers: bloc.auditor.sign({ method: 'GET', path }) })
    const t0 = Date.now()
    const evidence = await read('/v1/audit/evidence')
    const charter = await read('/v1/charter')
    const checkpoints = await read('/v1/audit/checkpoints')
    expect(Date.now() - t0).toBeLessThan(REBUILD_WAIT_MS / 2)
    expect(engine.healing.rebuilding).toBeDefined()
    expect(evidence.statusCode).toBe(200)
    expect(evidence.json().evidence.map((e: { kind: string }) => e.kind)).toContain('equivocation')
    expect(charter.statusCode).toBe(200)
    expect(checkpoints.statusCode).toBe(200)
    // A derived read still waits for the rebuild.
    const records = read(`/v1/records/${f.first.id}`)
    store.resume()
    await healed
    expect((await records).statusCode).toBe(200)
  })
})

/** Write concern on POST /v1/records and /v1/records/batch, with a fake mesh in the context. */
import { Writable } from 'node:stream'
import { toSubmission } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Receipt } from '../../src/engine/engine.ts'
import { NodeError } from '../../src/errors.ts'
import type { Replication } from '../../src/http/context.ts'
import { createLogger } from '../../src/logger.ts'
import { registration } from '../fixtures.ts'
import { type TestAppOptions, testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})
async function setup(opts: TestAppOptions = {}) {
  const t = await testApp(opts)
  apps.push(t.app)
  return t
}

/** A mesh whose other nodes answer `awaitReceipts` as told. */
function fakeReplication(awaitReceipts: Replication['awaitReceipts']) {
  const hooks = {
    peers: () => [],
    awaitReceipts: vi.fn(awaitReceipts),
    charterChanged: async () => {},
    revocationsAdded: () => {},
  }
  return hooks
}

/** Receipts "signed" by `k` other nodes (the route passes them through as they come). */
function receiptsOf(ids: readonly string[], k: number): Receipt[] {
  return ids.flatMap((record) =>
    Array.from({ length: k }, (_, i) => ({
      record,
      node: `${i + 1}`.repeat(32),
      origin: 'a'.repeat(32),
      seq: 1,
      entry: 'e'.repeat(64),
      sig: 'c2ln',
    })),
  )
}

function memoryLogger() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  return { logger: createLogger({ log: { level: 'debug' } }, stream), lines }
}

describe('POST /v1/records with writeConcern', () => {
  it('accepts { record, payload, writeConcern } and answers with the other nodes’ receipts', async () => {
    const replication = fakeReplication(async (ids, k) => receiptsOf(ids, k))
    const { app, bloc } = await setup({ replication })
    const reg = registration(bloc.officer('AAA'))
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records',
      payload: { ...toSubmission(reg), writeConcern: 2 },
    })
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(body).toMatchObject({ id: reg.id, status: 'accepted', receipt: { record: reg.id } })
    expect(body.replicas).toHaveLength(2)
    expect(body.replicas.map((r: { record: string }) => r.record)).toEqual([reg.id, reg.id])
    expect(replication.awaitReceipts).toHaveBeenCalledWith([reg.id], 2, 1000)
  })

  it('with writeConcern 0 answers at once, without replicas', async () => {
    const replication = fakeReplication(async () => {
      throw new Error('must not be asked')
    })
    const { app, bloc } = await setup({ replication })
    const reg = registration(bloc.officer('AAA'))
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records',
      payload: { ...toSubmission(reg), writeConcern: 0 },
    })
    expect(res.statusCode).toBe(201)
    expect(res.json().replicas).toBeUndefined()
    expect(replication.awaitReceipts).not.toHaveBeenCalled()
  })

  it('still refuses unknown members and an out-of-range writeConcern', async () => {
    const { app, bloc } = await setup()
    const sub = toSubmission(registration(bloc.officer('AAA')))
    for (const payload of [
      { ...sub, writeConcern: 1, extra: true },
      { ...sub, writeConcern: 17 },
      { ...sub, writeConcern: -1 },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/records', payload })
      expect(res.statusCode).toBe(400)
      expect(res.json().code).toBe('VALIDATION_FAILED')
    }
  })
})

describe('a write concern that is not met', () => {
  const timeout = async (): Promise<Receipt[]> => {
    throw new NodeError('WRITE_CONCERN_TIMEOUT', 'fewer than 2 other nodes confirmed within 1000 ms')
  }

  it('answers one record with 504 WRITE_CONCERN_TIMEOUT, a clear title, the result, and a warning without stack', async () => {
    const { logger, lines } = memoryLogger()
    const { app, bloc } = await setup({ replication: fakeReplication(timeout), logger })
    const reg = registration(bloc.officer('AAA'))
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records',
      payload: { ...toSubmission(reg), writeConcern: 2 },
    })
    expect(res.statusCode).toBe(504)
    expect(res.headers['content-type']).toContain('application/problem+json')
    const problem = res.json()
    expect(problem).toMatchObject({
      status: 504,
      code: 'WRITE_CONCERN_TIMEOUT',
      writeConcern: 2,
      results: [{ id: reg.id, status: 'accepted', receipt: { record: reg.id } }],
    })
    expect(problem.title).toMatch(/durable on this node/)
    expect(problem.title).not.toBe('The node could not complete the request')
    expect(problem.detail).toBe(
      '1 of 1 record(s) are durable on this node, but fewer than 2 other node(s) acknowledged it within 1000 ms',
    )

    const logged = lines.filter((l) => l.code === 'WRITE_CONCERN_TIMEOUT')
    expect(logged).toHaveLength(1)
    expect(logged[0]!.level).toBe(40) // warn
    expect(logged[0]!.err).toBeUndefined()
    expect(JSON.stringify(lines)).not.toContain('"stack"')
    expect(lines.some((l) => (l.level as number) >= 50)).toBe(false)

    // The record is durable: sent again, it is a duplicate with the same receipt.
    const again = await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    expect(again.statusCode).toBe(200)
    expect(again.json().receipt).toEqual(problem.results[0].receipt)
  })

  it('answers a batch with 504 that still tells which records were accepted and which refused', async () => {
    const { app, bloc } = await setup({ replication: fakeReplication(timeout) })
    const officer = bloc.officer('AAA')
    const good = registration(officer)
    const bad = registration(officer)
    bad.record.header.at += 1 // the signature no longer matches
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [toSubmission(good), toSubmission(bad), { record: 'AAAA' }], writeConcern: 2 },
    })
    expect(res.statusCode).toBe(504)
    const problem = res.json()
    expect(problem.code).toBe('WRITE_CONCERN_TIMEOUT')
    expect(problem.detail).toMatch(/^1 of 3 record\(s\) are durable on this node/)
    expect(problem.results).toEqual([
      { id: good.id, status: 'accepted', receipt: expect.objectContaining({ record: good.id }) },
      expect.objectContaining({ status: 'refused', code: 'SIGNATURE_INVALID' }),
      { id: null, status: 'refused', code: 'ENCODING_MALFORMED', detail: expect.any(String) },
    ])
  })

  it('on a node without a mesh, says so, and still returns the results', async () => {
    const { app, bloc } = await setup()
    const reg = registration(bloc.officer('AAA'))
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [toSubmission(reg)], writeConcern: 1 },
    })
    expect(res.statusCode).toBe(504)
    expect(res.json()).toMatchObject({
      code: 'WRITE_CONCERN_TIMEOUT',
      results: [{ id: reg.id, status: 'accepted' }],
    })
    expect(res.json().detail).toMatch(/without a mesh/)
  })

  it('a batch where every record is refused answers 200 with the refusals: there is nothing to wait for', async () => {
    const { app } = await setup({ replication: fakeReplication(timeout) })
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [{ record: 'AAAA' }], writeConcern: 2 },
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      results: [{ id: null, status: 'refused', code: 'ENCODING_MALFORMED', detail: expect.any(String) }],
      replicas: [],
    })
  })
})

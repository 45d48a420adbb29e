/**
 * NodePool's choice of when to move to another node, against real HTTP servers on loopback
 * that answer as a node does (problem+json), and docs/errors.md § sdk kept honest.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { NodePool, SDK_ERRORS, SdkError, type SdkErrorCode } from '../src/node-pool.ts'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

interface Seen {
  method: string
  url: string
  authorization: string | undefined
}

/** A server that answers each request with `answer`; returns its URL and what it was sent. */
async function server(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = []
  const srv = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization })
    req.resume()
    req.on('end', () => answer(req, res))
  })
  servers.push(srv)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen }
}

const json =
  (status: number, body: unknown, type = 'application/json') =>
  (_: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': type })
    res.end(JSON.stringify(body))
  }
const problem = (status: number, code: string, extra: object = {}) =>
  json(status, { type: 'x', title: code.toLowerCase(), status, code, ...extra }, 'application/problem+json')

/** A port nothing listens on. */
async function closedUrl(): Promise<string> {
  const { url } = await server(json(200, {}))
  await new Promise((r) => servers.pop()!.close(r))
  return url
}

const fast = { minBackoffMs: 1, maxBackoffMs: 2, timeoutMs: 2_000 }

describe('NodePool', () => {
  it('moves on from a refused connection and a 5xx, and stays with the node that answered', async () => {
    const down = await closedUrl()
    const failing = await server(problem(503, 'SHUTTING_DOWN'))
    const good = await server(json(200, { ok: 1 }))
    const events: string[] = []
    const pool = new NodePool({
      nodes: [down, failing.url, good.url],
      ...fast,
      onFailover: (e) => events.push(e.reason),
    })
    expect(await pool.get('/v1/node')).toEqual({ ok: 1 })
    expect(pool.current).toBe(good.url)
    expect(events).toHaveLength(2)
    expect(events[1]).toBe('503 SHUTTING_DOWN')
    await pool.get('/v1/node')
    expect(failing.seen).toHaveLength(1)
    expect(good.seen).toHaveLength(2)
  })

  it('does not move on from a 4xx: the bloc refused, every node would', async () => {
    const first = await server(problem(409, 'RECORD_INVALID_TRANSITION'))
    const second = await server(json(200, {}))
    const pool = new NodePool({ nodes: [first.url, second.url], ...fast })
    const err = (await pool.post('/v1/records', { record: 'x' }).catch((e: unknown) => e)) as SdkError
    expect(err).toBeInstanceOf(SdkError)
    expect(err).toMatchObject({ code: 'NODE_REFUSED', status: 409, remoteCode: 'RECORD_INVALID_TRANSITION' })
    expect(err.message).toBe(
      `POST ${first.url}/v1/records: 409 RECORD_INVALID_TRANSITION: record_invalid_transition`,
    )
    expect(second.seen).toHaveLength(0)
  })

  it('a node that refuses is a node that answers: it becomes the one in use', async () => {
    const down = await closedUrl()
    const refusing = await server(problem(404, 'NOT_FOUND'))
    const pool = new NodePool({ nodes: [down, refusing.url], ...fast })
    await expect(pool.get('/v1/cases/x')).rejects.toMatchObject({ code: 'NODE_REFUSED', status: 404 })
    expect(pool.current).toBe(refusing.url)
  })

  it('signs every attempt afresh, so a retried write is a new request', async () => {
    const failing = await server(problem(500, 'INTERNAL'))
    const good = await server(json(200, { results: [] }))
    let n = 0
    const signer = { sign: () => ({ authorization: `sig-${++n}` }) }
    const pool = new NodePool({ nodes: [failing.url, good.url], ...fast })
    await pool.post('/v1/records/batch', { records: [] }, signer)
    expect(failing.seen[0]!.authorization).toBe('sig-1')
    expect(good.seen[0]!.authorization).toBe('sig-2')
  })

  it('takes 504 WRITE_CONCERN_TIMEOUT as an answer: durable there, no failover, replicas an empty array', async () => {
    const results = [{ id: 'a'.repeat(64), status: 'accepted' }]
    const first = await server(problem(504, 'WRITE_CONCERN_TIMEOUT', { results, writeConcern: 2 }))
    const second = await server(json(200, {}))
    const pool = new NodePool({ nodes: [first.url, second.url], ...fast })
    const record = { header: {}, sig: new Uint8Array(64), cert: null } as never
    const out = await pool.submit([{ record, payload: null }], { writeConcern: 2 })
    expect(out).toEqual({ results, replicas: [], writeConcern: 2, writeConcernMet: false, node: first.url })
    expect(second.seen).toHaveLength(0)
    expect(pool.current).toBe(first.url)
  })

  it('gives up after its rounds, naming every node', async () => {
    const a = await server(problem(500, 'INTERNAL'))
    const b = await closedUrl()
    const events: string[] = []
    const pool = new NodePool({ nodes: [a.url, b], ...fast, rounds: 3, onFailover: (e) => events.push(e.to) })
    const err = (await pool.get('/v1/node').catch((e: unknown) => e)) as SdkError
    expect(err.code).toBe('NODE_UNREACHABLE')
    expect(err.message).toContain(`${a.url}: 500 INTERNAL`)
    expect(err.message).toContain(b)
    expect(a.seen).toHaveLength(3)
    // Each move to another node that was then tried, and none after the last attempt.
    expect(events).toEqual([b, a.url, b, a.url, b])
  })

  it('refuses a list that is empty or holds something other than http(s) URLs', () => {
    expect(() => new NodePool({ nodes: [] })).toThrow(expect.objectContaining({ code: 'NODES_INVALID' }))
    expect(() => new NodePool({ nodes: ['ftp://x'] })).toThrow(
      expect.objectContaining({ code: 'NODES_INVALID' }),
    )
    expect(() => new NodePool({ nodes: ['http://u:p@x'] })).toThrow(
      expect.objectContaining({ code: 'NODES_INVALID' }),
    )
    expect(new NodePool({ nodes: ['http://x:1/base/?q#f'] }).nodes).toEqual(['http://x:1/base'])
  })
})

describe('docs/errors.md § sdk', () => {
  const text = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8')
  const start = text.search(/^## sdk\s*$/m)
  const rest = text.slice(start + 3)
  const end = rest.search(/^## /m)
  const rows = new Map(
    [
      ...(end < 0 ? rest : rest.slice(0, end)).matchAll(
        /^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*—\s*\|\s*(.*?)\s*\|\s*$/gm,
      ),
    ].map((m) => [m[1]!, m[2]!]),
  )

  it('lists every SDK code, and no other', () => {
    expect(start).toBeGreaterThanOrEqual(0)
    expect([...rows.keys()].sort()).toEqual(Object.keys(SDK_ERRORS).sort())
    for (const meaning of rows.values()) expect(meaning.length).toBeGreaterThan(10)
    for (const code of Object.keys(SDK_ERRORS) as SdkErrorCode[]) {
      expect(new SdkError(code).message).toBe(SDK_ERRORS[code].message)
    }
  })
})

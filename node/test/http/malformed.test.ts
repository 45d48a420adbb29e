/**
 * Requests that are not well-formed HTTP, or that the router cannot read, still get an RFC 9457
 * problem with a documented code — never fastify's or node's own JSON — sent over a real socket,
 * as a client would see them. A request trickled too slowly is answered and disconnected.
 */
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { NODE_ERRORS } from '../../src/errors.ts'
import { buildApp } from '../../src/http/app.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

/** Log lines at `error` or worse: a client's malformed request is not the node's failure. */
const errors: string[] = []
const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) })

async function listening(opts: { requestTimeoutMs?: number } = {}): Promise<number> {
  const { app: probe, engine } = await testApp()
  await probe.close()
  const app = await buildApp({
    ctx: {
      engine,
      ed: (await import('../fixtures.ts')).ed,
      now: Date.now,
      writeConcernTimeoutMs: 1000,
      node: { peerId: 'p', name: 'node-0', state: 'AAA', version: 'test' },
      isReady: () => true,
    },
    registry: new (await import('prom-client')).Registry(),
    logger,
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  })
  apps.push(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  return typeof addr === 'object' && addr ? addr.port : 0
}

/** Sends raw bytes (optionally in timed pieces) and reads the whole answer until the server closes. */
function raw(port: number, parts: Array<string | { waitMs: number }>, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let out = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${timeoutMs} ms; got ${JSON.stringify(out)}`))
    }, timeoutMs)
    socket.on('data', (d) => {
      out += d.toString('latin1')
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
    socket.on('error', () => undefined)
    socket.on('connect', async () => {
      for (const p of parts) {
        if (typeof p === 'string') socket.write(p)
        else await new Promise((r) => setTimeout(r, p.waitMs))
        if (socket.destroyed) return
      }
    })
  })
}

function problemOf(answer: string): { status: number; type: string; code: string } {
  const [head, body] = answer.split('\r\n\r\n', 2) as [string, string]
  const status = Number(head.split(' ')[1])
  const type = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? ''
  return { status, type, code: (JSON.parse(body) as { code: string }).code }
}

describe('malformed requests are answered with documented problems', () => {
  it('a path that is not valid percent-encoding', async () => {
    const port = await listening()
    const answer = await raw(port, [
      'GET /v1/citizens/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ])
    expect(problemOf(answer)).toEqual({
      status: 400,
      type: 'application/problem+json; charset=utf-8',
      code: 'MALFORMED_REQUEST',
    })
  })

  it('bytes that are not HTTP, and bad chunked framing', async () => {
    const port = await listening()
    for (const bad of [
      'HELLO\r\n\r\n',
      'POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n',
    ]) {
      const p = problemOf(await raw(port, [bad]))
      expect(p, bad).toEqual({ status: 400, type: 'application/problem+json', code: 'MALFORMED_REQUEST' })
    }
    await new Promise((r) => setTimeout(r, 100))
    expect(errors).toEqual([])
  })

  it('headers larger than the server takes', async () => {
    const port = await listening()
    const answer = await raw(port, [
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ])
    expect(problemOf(answer)).toEqual({
      status: 431,
      type: 'application/problem+json',
      code: 'HEADERS_TOO_LARGE',
    })
  })

  it('a body trickled slower than the request timeout is answered 408 and the connection closed', async () => {
    const port = await listening({ requestTimeoutMs: 1_000 })
    const start = Date.now()
    const trickle: Array<string | { waitMs: number }> = [
      'POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    ]
    for (let i = 0; i < 20; i++) trickle.push({ waitMs: 200 }, ' ')
    const answer = await raw(port, trickle, 10_000)
    expect(problemOf(answer)).toEqual({
      status: 408,
      type: 'application/problem+json',
      code: 'REQUEST_TIMEOUT',
    })
    expect(Date.now() - start).toBeLessThan(4_000)
  })

  it('every code these answers use is one the node documents', () => {
    for (const code of ['MALFORMED_REQUEST', 'HEADERS_TOO_LARGE', 'REQUEST_TIMEOUT', 'URI_TOO_LONG']) {
      expect(NODE_ERRORS).toHaveProperty(code)
    }
  })
})

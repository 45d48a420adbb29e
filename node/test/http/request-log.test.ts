/**
 * What a request writes to the node's log: nothing when it succeeds, and a line that names the
 * request (its id, as the answer's problem does not) when the node fails it. The request's
 * logger is made only when it logs (app.ts), so this is what keeps that honest.
 */
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { testApp } from './helpers.ts'

const lines: Array<Record<string, unknown>> = []
const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
/** Child loggers made of the node's logger: one per request would cost each request ~70 µs. */
let children = 0
const child = logger.child.bind(logger)
logger.child = ((...args: Parameters<typeof child>) => {
  children++
  return child(...args)
}) as typeof logger.child
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  lines.length = 0
})

async function app() {
  const { app: built } = await testApp({
    logger,
    extraRoutes: async (a) => {
      a.get('/test/broken', async () => {
        throw new Error('the disk caught fire')
      })
    },
  })
  closers.push(() => built.close())
  return built
}

describe('request logs', () => {
  it('a request that succeeds writes no line, and makes no logger for itself', async () => {
    const a = await app()
    const before = { lines: lines.length, children }
    const res = await a.inject({ method: 'GET', url: '/health' })
    expect(res.statusCode).toBe(200)
    expect(lines.length).toBe(before.lines)
    expect(children).toBe(before.children)
  })

  it('a request the node fails is logged once, with the request’s id', async () => {
    const a = await app()
    const res = await a.inject({ method: 'GET', url: '/test/broken' })
    expect(res.statusCode).toBe(500)
    expect(res.json()).toMatchObject({ code: 'INTERNAL' })
    const failed = lines.filter((l) => l.msg === 'unexpected error')
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({
      level: 50,
      reqId: expect.stringMatching(/\S/),
      err: { message: 'the disk caught fire' },
    })
    // Two requests, two ids: each line names its own request.
    await a.inject({ method: 'GET', url: '/test/broken' })
    const ids = lines.filter((l) => l.msg === 'unexpected error').map((l) => l.reqId)
    expect(new Set(ids).size).toBe(2)
  })
})

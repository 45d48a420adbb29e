/**
 * The hook that refuses numbers that are not finite (http/finite.ts), on a bare fastify app with
 * the node's problem answers: what it walks, what it passes over, and the path it names. The
 * node's own routes (api.test.ts) mostly refuse such numbers by their schemas first; here every
 * body reaches the hook.
 */
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { refuseNonFiniteNumbers } from '../../src/http/finite.ts'
import { installProblemHandlers } from '../../src/http/problem.ts'

/** Bodies a parser could hand the hook that JSON cannot spell, by name. */
const made: Record<string, () => unknown> = {
  bytes: () => ({ records: [{ record: new Uint8Array([0, 1, 255]), payload: new Uint8Array(650) }] }),
  floats: () => ({ v: new Float64Array([1, Number.POSITIVE_INFINITY]) }),
  nullProto: () =>
    Object.assign(Object.create(null), { deep: Object.assign(Object.create(null), { n: Number.NaN }) }),
  inherited: () => Object.create({ n: Number.POSITIVE_INFINITY }),
}

let app: FastifyInstance | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

async function post(body: string, type = 'application/json') {
  app = Fastify()
  installProblemHandlers(app)
  refuseNonFiniteNumbers(app)
  app.addContentTypeParser('application/x-made', { parseAs: 'string' }, (_req, name, done) =>
    done(null, made[name as string]!()),
  )
  app.post('/echo', async () => ({ ok: true }))
  const res = await app.inject({
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': type },
    payload: body,
  })
  return { status: res.statusCode, body: res.json() }
}

describe('numbers that are not finite', () => {
  it('are refused wherever they sit in a body, with the path to the first one', async () => {
    const res = await post('{"a":{"b":[1,2,1e999]},"c":-1e999}')
    expect(res.status).toBe(400)
    expect(res.body.code).toBe('VALIDATION_FAILED')
    expect(res.body.errors).toEqual(['body/a/b/2: must be a finite number'])
    expect((await post('1e999')).body.errors).toEqual(['body: must be a finite number'])
  })

  it('are refused in typed arrays of numbers and objects without a prototype', async () => {
    expect((await post('floats', 'application/x-made')).body.errors).toEqual([
      'body/v/1: must be a finite number',
    ])
    expect((await post('nullProto', 'application/x-made')).body.errors).toEqual([
      'body/deep/n: must be a finite number',
    ])
  })

  it('leave byte strings, inherited properties and finite numbers alone', async () => {
    expect(await post('bytes', 'application/x-made')).toEqual({ status: 200, body: { ok: true } })
    expect(await post('inherited', 'application/x-made')).toEqual({ status: 200, body: { ok: true } })
    expect(await post('{"a":[0,-1.5,1e308],"b":{"c":"Infinity"}}')).toEqual({
      status: 200,
      body: { ok: true },
    })
  })
})

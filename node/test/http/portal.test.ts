/**
 * The portal's route and the headers around it (routes/portal.ts), without a browser: the files
 * and `/`, the page a node without a build answers, the CSP, CORS for the bloc's origins only,
 * and the API's own answers unchanged. The browser tests are in portal/test/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testApp } from './helpers.ts'

const BLOC = ['http://127.0.0.1:8080', 'https://node-b.example.org:8443']
const ELSEWHERE = 'https://portal.example.net'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-portal-'))
  await mkdir(join(dir, 'assets'))
  await writeFile(
    join(dir, 'index.html'),
    '<!doctype html><title>portal</title><script type="module" src="/assets/app-1.js"></script>',
  )
  await writeFile(join(dir, 'assets', 'app-1.js'), 'export {}\n')
  await writeFile(join(dir, 'sw.js'), '// worker\n')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('the portal route', () => {
  it('serves the built portal at / and its files, with a strict CSP and security headers', async () => {
    const { app } = await testApp({ portal: { dir, blocUrls: BLOC } })
    const page = await app.inject({ method: 'GET', url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.body).toContain('<title>portal</title>')
    expect(page.headers['cache-control']).toBe('no-cache')
    const csp = String(page.headers['content-security-policy'])
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self';")
    expect(csp).toContain("style-src 'self';")
    expect(csp).toContain(`connect-src 'self' ${BLOC.join(' ')};`)
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toMatch(/unsafe/)
    expect(page.headers['x-content-type-options']).toBe('nosniff')
    expect(page.headers['referrer-policy']).toBe('no-referrer')

    const asset = await app.inject({ method: 'GET', url: '/assets/app-1.js' })
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect((await app.inject({ method: 'GET', url: '/sw.js' })).headers['cache-control']).toBe('no-cache')
    // A path that is neither a file nor a route is the API's 404 problem, as before.
    const missing = await app.inject({ method: 'GET', url: '/assets/nope.js' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND' })
    expect((await app.inject({ method: 'GET', url: '/portal/config.json' })).json()).toEqual({ nodes: BLOC })
    expect((await app.inject({ method: 'GET', url: '/v1/node' })).statusCode).toBe(200)
    await app.close()
  })

  it('lets the page connect to an address a node announces later, from then on', async () => {
    const announced: string[] = []
    const { app } = await testApp({ portal: { dir, blocUrls: BLOC, announced: () => announced } })
    const csp = async () =>
      String((await app.inject({ method: 'GET', url: '/v1/node' })).headers['content-security-policy'])
    expect(await csp()).toContain(`connect-src 'self' ${BLOC.join(' ')};`)
    announced.push('https://node-c.example.org')
    expect(await csp()).toContain(`connect-src 'self' ${BLOC.join(' ')} https://node-c.example.org;`)
    expect(await csp()).toContain(`connect-src 'self' ${BLOC.join(' ')} https://node-c.example.org;`)
    await app.close()
  })

  it('answers / with how to build the portal when it is not built, and the API as before', async () => {
    const { app } = await testApp({ portal: { dir: join(dir, 'no-such-build') } })
    const page = await app.inject({ method: 'GET', url: '/' })
    expect(page.statusCode).toBe(503)
    expect(page.body).toContain('npm run build --workspace @legation/portal')
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'ok' })
    expect((await app.inject({ method: 'GET', url: '/portal/config.json' })).json()).toEqual({ nodes: [] })
    await app.close()
  })

  it('allows CORS from the bloc’s nodes and the configured origins only', async () => {
    const { app } = await testApp({ portal: { dir, blocUrls: BLOC, corsOrigins: [ELSEWHERE] } })
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/v1/records',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      })
    for (const origin of ['https://node-b.example.org:8443', ELSEWHERE]) {
      const res = await preflight(origin)
      expect(res.headers['access-control-allow-origin'], origin).toBe(origin)
      expect(String(res.headers['access-control-allow-headers'])).toContain('authorization')
    }
    expect((await preflight('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined()
    const read = await app.inject({ method: 'GET', url: '/v1/node', headers: { origin: ELSEWHERE } })
    expect(read.headers['access-control-allow-origin']).toBe(ELSEWHERE)
    expect(String(read.headers['access-control-expose-headers'])).toContain('retry-after')
    const other = await app.inject({
      method: 'GET',
      url: '/v1/node',
      headers: { origin: 'https://evil.example' },
    })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
    await app.close()
  })
})

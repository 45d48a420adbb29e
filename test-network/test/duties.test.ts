/**
 * Duties across real node processes: each member state routes the cases of its own nationals to
 * its own queue, configured on its own node only. Whichever node the rendezvous rule makes owner
 * of a case, the case reaches its state's queue exactly once — a node without that queue hands it
 * on instead of dropping it for the whole bloc.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { eventually, sleep } from '../src/byzantine.ts'
import { TestNetwork } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await net?.stop()
  net = undefined
  for (const c of closers.splice(0)) await c()
})

interface Hit {
  path: string
  key: string | undefined
  body: { kind: string; case: string; nationality: string }
}

async function queue() {
  const hits: Hit[] = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c))
    req.on('end', () => {
      const key = req.headers['idempotency-key']
      hits.push({
        path: req.url ?? '',
        key: typeof key === 'string' ? key : undefined,
        body: JSON.parse(text),
      })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(() => new Promise<void>((r) => server.close(() => r())))
  return { hits, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

it('routes each case to its nationality state’s queue, configured on that state’s node only', {
  timeout: 120_000,
}, async () => {
  const q = await queue()
  net = await TestNetwork.start({ nodes: 3, startNodes: 0 })
  for (const n of net.nodes) {
    // DVA's node has DVA's queue, DVB's node DVB's, DVC's node DVC's: none has the others'.
    n.env = {
      LEGATION_DUTIES_CASE_ROUTES: `${n.state}=${q.url}/queue/${n.state}`,
      LEGATION_DUTIES_HAND_ON_MS: '1000',
    }
  }
  await Promise.all(net.nodes.map((n) => n.start()))
  const officer = net.officer('DVA')
  const cases = ['DVA', 'DVB', 'DVC', 'DVB', 'DVC', 'DVA'].map((nationality) => {
    const reg = citizenRegistration(officer, nationality)
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'lost-passport' })
    return { nationality, reg, opened }
  })
  // Opened at different nodes: owners differ by case, and most lack the case's queue.
  for (const [i, c] of cases.entries()) await submitBatch(net.nodes[i % 3]!, [c.reg, c.opened])
  await eventually('every case in its state’s queue', async () => q.hits.length >= cases.length, 60_000)
  // Time for a second delivery, were any made: hand-on waits 1 s per rank.
  await sleep(3000)
  expect(q.hits.map((h) => h.body.case).sort()).toEqual(cases.map((c) => c.opened.id).sort())
  for (const c of cases) {
    const hit = q.hits.find((h) => h.body.case === c.opened.id)!
    expect(hit.path).toBe(`/queue/${c.nationality}`)
    expect(hit.body).toMatchObject({ kind: 'route-case', nationality: c.nationality })
  }
})

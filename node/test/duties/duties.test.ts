/**
 * The duty scheduler over real engines (MemoryStore), entries carried between them with
 * `applyRemote`, and a real HTTP server on loopback as the webhook.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeCanonical, type LegationClient } from '@legation/protocol'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  alertDutyId,
  caseDutyId,
  type DutyDone,
  type DutyLogger,
  DutyScheduler,
  type DutySchedulerInit,
  dutyOwner,
  rankNodes,
} from '../../src/duties/index.ts'
import { Engine, type Submission } from '../../src/engine/engine.ts'
import { NodeError } from '../../src/errors.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, registration, type TestBloc, testBloc } from '../fixtures.ts'
import { FakeRegistrar, fakeNet } from './fake-registrar.ts'

const TICK = 25
/** Every wait in this file is bounded by this. */
const DEADLINE_MS = 8000

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Retries `check` (an assertion) until it passes, for at most DEADLINE_MS. */
const until = (check: () => unknown) => vi.waitFor(check, { timeout: DEADLINE_MS, interval: 5 })

// ---- The webhook: a real HTTP server that records every request ----

interface Hit {
  path: string
  key: string | undefined
  contentType: string | undefined
  body: Record<string, unknown>
  status: number
  at: number
}

async function webhook(
  respond: (hit: Omit<Hit, 'status'>, earlier: Hit[]) => number = () => 200,
  delayMs = 0,
) {
  const hits: Hit[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const hit = {
        path: req.url ?? '',
        key: req.headers['idempotency-key'] as string | undefined,
        contentType: req.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        at: Date.now(),
      }
      const status = respond(
        hit,
        hits.filter((h) => h.key === hit.key),
      )
      hits.push({ ...hit, status })
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'), delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const ok = () => hits.filter((h) => h.status >= 200 && h.status < 300)
  /** Successful requests per Idempotency-Key. */
  const okPerKey = () => {
    const m = new Map<string, number>()
    for (const h of ok()) m.set(h.key!, (m.get(h.key!) ?? 0) + 1)
    return m
  }
  return { url, hits, ok, okPerKey }
}

// ---- A bloc of engines and their schedulers ----

function captureLogger(lines: string[], bindings: Record<string, unknown> = {}): DutyLogger {
  const write = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    void lines.push(JSON.stringify({ level, ...bindings, ...obj, msg }))
  return {
    child: (b) => captureLogger(lines, { ...bindings, ...b }),
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  }
}

async function cluster(n: number, init: DutySchedulerInit) {
  const bloc = testBloc(n)
  const stores = Array.from({ length: n }, () => new MemoryStore())
  const engines = await Promise.all(
    stores.map((store, i) => Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })),
  )
  const ids = engines.map((e) => e.nodeId)
  // Entries every engine stored, once each, with their payloads: what replication would push.
  const log: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
  const seen = new Set<string>()
  for (const e of engines) {
    e.onEntry((_entry, bytes, payloads) => {
      const k = Buffer.from(bytes).toString('hex')
      if (seen.has(k)) return
      seen.add(k)
      log.push({ bytes, payloads })
    })
  }
  // The sync protocol between them; each node's live set is what its mesh sees as connected.
  const registrars = fakeNet(ids)
  const live = registrars.map((r) => r.live)
  const lines: string[] = []
  /** Every completion any node announced. */
  const announced = (): DutyDone[] =>
    registrars.flatMap((r) => r.sent.flatMap((m) => (m.t === 'dutyDone' ? m.done : [])))
  const schedulers: DutyScheduler[] = []
  const make = (i: number, over: DutySchedulerInit = {}) =>
    new DutyScheduler(
      {
        engine: engines[i]!,
        store: stores[i]!,
        registrar: registrars[i]!,
        logger: captureLogger(lines),
      },
      { tickMs: TICK, startDelayMs: 0, retryMinMs: 50, ...init, ...over },
    )
  for (let i = 0; i < n; i++) schedulers.push(make(i))
  cleanups.push(async () => {
    for (const s of schedulers) await s.stop()
  })
  for (const s of schedulers) await s.start()
  return {
    bloc,
    stores,
    engines,
    ids,
    registrars,
    live,
    lines,
    announced,
    schedulers,
    make,
    /** Submits at node i; every record must be accepted. */
    async submit(i: number, subs: Submission[]) {
      const out = await engines[i]!.submit(subs)
      expect(out.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(subs.map(() => 'ok'))
    },
    /** Delivers every stored entry to every engine (as replication eventually does). */
    async sync() {
      for (let k = 0; k < log.length; k++) {
        for (const e of engines) await e.applyRemote(log[k]!.bytes, log[k]!.payloads)
      }
    },
  }
}

function presence(
  officer: LegationClient,
  citizen: string,
  country: string,
  region: string,
  until: number | null = null,
) {
  return officer.record(
    'presence.registered',
    citizen,
    { from: Date.now() - 86_400_000, until },
    { salt: officer.salt(), country, region },
  )
}

function contactOf(reg: ReturnType<typeof registration>): unknown {
  return (decodeCanonical(reg.payload!) as { contact: unknown }).contact
}

function crisisAlert(bloc: TestBloc, region: string | null = 'Nairobi') {
  return bloc.officer('AAA', ['crisis']).record('alert.issued', null, {
    country: 'KE',
    region,
    severity: 'evacuation',
    title: 'Evacuation',
    message: 'Go to the assembly point',
  })
}

// ---- Tests ----

describe('duties: rendezvous assignment', () => {
  it('moves only the duties of the node that left, each to the next node of its ranking', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5']
    let moved = 0
    for (let i = 0; i < 500; i++) {
      const id = caseDutyId(`case-${i}`)
      const rank = rankNodes(id, nodes)
      expect(rank).toEqual(rankNodes(id, [...nodes].reverse())) // order of the input does not matter
      const without = nodes.filter((n) => n !== 'n3')
      const after = dutyOwner(id, without)
      if (rank[0] === 'n3') {
        moved++
        expect(after).toBe(rank[1])
      } else {
        expect(after).toBe(rank[0])
      }
    }
    // Each node owns about a fifth of the duties.
    expect(moved).toBeGreaterThan(60)
    expect(moved).toBeLessThan(140)
  })
})

describe('duties: alert-notify', () => {
  it('notifies exactly the citizens present in the alert area, once each, by one node of three', async () => {
    const hook = await webhook()
    const c = await cluster(3, { webhooks: { alerts: `${hook.url}/alerts` } })
    const officer = c.bloc.officer('AAA')
    const regs = [registration(officer), registration(officer), registration(officer), registration(officer)]
    const [inA, inB, elsewhere, gone] = regs.map((r) => r.citizenId) as [string, string, string, string]
    await c.submit(0, [
      ...regs,
      presence(officer, inA, 'KE', 'Nairobi'),
      presence(officer, inB, 'KE', 'Nairobi'),
      presence(officer, elsewhere, 'KE', 'Mombasa'),
      // Left the area before the alert: not notified.
      presence(officer, gone, 'KE', 'Nairobi', Date.now() - 3_600_000),
    ])
    const alert = crisisAlert(c.bloc)
    await c.submit(1, [alert])
    await c.sync()

    const expected = new Map([
      [alertDutyId(alert.id, inA), regs[0]!],
      [alertDutyId(alert.id, inB), regs[1]!],
    ])
    await until(() => {
      expect(hook.ok().length).toBeGreaterThanOrEqual(2)
      for (const s of c.schedulers) expect(s.status().pending).toBe(0)
    })
    await sleep(TICK * 6) // a few more ticks: nothing else may arrive
    expect(hook.hits).toHaveLength(2)
    expect(new Set(hook.hits.map((h) => h.key))).toEqual(new Set(expected.keys()))
    for (const h of hook.hits) {
      const reg = expected.get(h.key!)!
      expect(h.path).toBe('/alerts')
      expect(h.contentType).toBe('application/json')
      expect(h.body).toEqual({
        kind: 'alert-notify',
        duty: h.key,
        alert: {
          id: alert.id,
          country: 'KE',
          region: 'Nairobi',
          severity: 'evacuation',
          title: 'Evacuation',
          message: 'Go to the assembly point',
        },
        citizen: reg.citizenId,
        contact: contactOf(reg),
      })
    }
    // Each duty was delivered by its rendezvous owner and recorded as such on every node.
    for (const id of expected.keys()) {
      const owner = dutyOwner(id, c.ids)
      for (const s of c.schedulers) {
        const d = await s.get(id)
        expect(d?.state).toBe('done')
        expect(d?.doneBy).toBe(owner)
      }
    }
    expect(c.schedulers.reduce((n, s) => n + s.status().delivered, 0)).toBe(2)
    expect(
      c
        .announced()
        .map((d) => d.id)
        .sort(),
    ).toEqual([...expected.keys()].sort())
    for (const s of c.schedulers) expect(s.status()).toMatchObject({ pending: 0, done: 2, failures: 0 })
    // Logs name duties, never the people behind them.
    const logs = c.lines.join('\n')
    expect(logs).toContain([...expected.keys()][0]!)
    expect(logs).not.toMatch(/@example\.org|127\.0\.0\.1/)
  })

  it('notifies a citizen who registers presence in the area after the alert', async () => {
    const hook = await webhook()
    const c = await cluster(3, { webhooks: { alerts: `${hook.url}/alerts` } })
    const officer = c.bloc.officer('BBB')
    const alert = crisisAlert(c.bloc, null) // the whole country
    await c.submit(2, [alert])
    await c.sync()
    const reg = registration(officer, 'BBB')
    await c.submit(0, [reg])
    await c.sync()
    await sleep(TICK * 4)
    expect(hook.hits).toHaveLength(0)
    await c.submit(0, [presence(officer, reg.citizenId, 'KE', 'Kisumu')])
    await c.sync()
    await until(() => expect(hook.ok()).toHaveLength(1))
    expect(hook.hits[0]!.key).toBe(alertDutyId(alert.id, reg.citizenId))
    expect(hook.hits[0]!.body.contact).toEqual(contactOf(reg))
  })
})

describe('duties: takeover', () => {
  it('moves a crashed owner’s duty to the next live node within a few ticks, delivered once', async () => {
    const hook = await webhook()
    const c = await cluster(3, { webhooks: { alerts: `${hook.url}/alerts` } })
    const officer = c.bloc.officer('AAA')
    const reg = registration(officer)
    const alert = crisisAlert(c.bloc)
    const id = alertDutyId(alert.id, reg.citizenId)
    const [owner, next] = rankNodes(id, c.ids).map((n) => c.ids.indexOf(n)) as [number, number, number]

    // The owner crashes before it can deliver; the others have not noticed yet.
    await c.schedulers[owner]!.stop()
    const writer = (owner + 1) % 3
    await c.submit(writer, [reg, presence(officer, reg.citizenId, 'KE', 'Nairobi'), alert])
    await c.sync()
    const survivors = [0, 1, 2].filter((i) => i !== owner)
    await until(() => {
      for (const i of survivors) expect(c.schedulers[i]!.status().pending).toBe(1)
    })
    await sleep(TICK * 8)
    expect(hook.hits).toHaveLength(0) // the owner still counts as live: nobody else may do its work
    for (const i of survivors) expect(c.schedulers[i]!.status().mine).toBe(0)

    // The mesh notices: the owner leaves every survivor's live set.
    const noticed = Date.now()
    for (const i of survivors) c.live[i]!.delete(c.ids[owner]!)
    await until(() => expect(hook.ok()).toHaveLength(1))
    expect(Date.now() - noticed).toBeLessThan(TICK * 20)
    await sleep(TICK * 6)
    expect(hook.hits).toHaveLength(1)
    expect(hook.hits[0]!.key).toBe(id)
    for (const i of survivors) {
      expect((await c.schedulers[i]!.get(id))?.doneBy).toBe(c.ids[next])
      expect(c.schedulers[i]!.status().pending).toBe(0)
    }

    // The owner comes back. It finds the duty in entries stored while it was down, but the
    // peers tell it what they did (their dutyDone handler on connect) before its start delay is over.
    for (const i of survivors) c.live[i]!.add(c.ids[owner]!)
    const restarted = c.make(owner, { startDelayMs: TICK * 8 })
    c.schedulers[owner] = restarted
    await restarted.start()
    for (const i of survivors) await c.registrars[i]!.greet(c.registrars[owner]!)
    await sleep(TICK * 16)
    expect(hook.hits).toHaveLength(1)
    expect(await restarted.get(id)).toMatchObject({ state: 'done', doneBy: c.ids[next] })
    expect(restarted.status().pending).toBe(0)
  })
})

describe('duties: delivery', () => {
  it('retries a failing webhook with growing, jittered delays, then delivers once', async () => {
    const hook = await webhook((_hit, earlier) => (earlier.length < 3 ? 503 : 200))
    const c = await cluster(1, { webhooks: { cases: { AAA: `${hook.url}/queue/AAA` } }, retryMinMs: 100 })
    const officer = c.bloc.officer('AAA')
    const reg = registration(officer)
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'passport-renewal' })
    await c.submit(0, [reg, opened])
    await until(() => expect(hook.ok()).toHaveLength(1))
    await sleep(TICK * 8)
    expect(hook.hits.map((h) => h.status)).toEqual([503, 503, 503, 200])
    expect(new Set(hook.hits.map((h) => h.key))).toEqual(new Set([caseDutyId(opened.id)]))
    const gaps = hook.hits.slice(1).map((h, i) => h.at - hook.hits[i]!.at)
    // Equal jitter: attempt n waits between half and all of min(max, 100 ms · 2^(n-1)).
    expect(gaps[0]).toBeGreaterThanOrEqual(50 - 5)
    expect(gaps[1]).toBeGreaterThanOrEqual(100 - 5)
    expect(gaps[2]).toBeGreaterThanOrEqual(200 - 5)
    expect(c.schedulers[0]!.status()).toMatchObject({ pending: 0, delivered: 1, failures: 3, done: 1 })
    expect(c.lines.filter((l) => l.includes('will retry'))).toHaveLength(3)
  })

  it('routes a case to its nationality state’s queue, and leaves one it has no queue for pending, never closed', async () => {
    const hook = await webhook()
    const c = await cluster(1, {
      webhooks: { cases: { AAA: `${hook.url}/queue/AAA`, BBB: `${hook.url}/queue/BBB` } },
    })
    const officer = c.bloc.officer('AAA')
    const bbb = registration(officer, 'BBB')
    const ccc = registration(officer, 'CCC')
    const routed = officer.record('case.opened', bbb.citizenId, { caseType: 'emergency-travel-document' })
    const unrouted = officer.record('case.opened', ccc.citizenId, { caseType: 'lost-passport' })
    await c.submit(0, [bbb, ccc, routed, unrouted])
    const s = c.schedulers[0]!
    await until(() => {
      expect(hook.ok()).toHaveLength(1)
      expect(s.status().handedOn).toBe(1)
    })
    await sleep(TICK * 10)
    expect(hook.hits).toHaveLength(1)
    expect(hook.hits[0]!.path).toBe('/queue/BBB')
    expect(hook.hits[0]!.body).toEqual({
      kind: 'route-case',
      duty: caseDutyId(routed.id),
      case: routed.id,
      citizen: bbb.citizenId,
      caseType: 'emergency-travel-document',
      nationality: 'BBB',
    })
    // Not dropped: still pending here, for a node with CCC's queue (none in this bloc of one).
    expect(await s.get(caseDutyId(unrouted.id))).toMatchObject({ state: 'pending' })
    expect(s.status()).toMatchObject({ pending: 1, mine: 0, delivered: 1, handedOn: 1, failures: 0 })
    expect(c.announced().map((d) => d.id)).toEqual([caseDutyId(routed.id)])
    expect(c.lines.filter((l) => l.includes('handed on'))).toHaveLength(1)
  })
})

describe('duties: handed on, not dropped', () => {
  /** A bloc of two whose nodes are configured apart; the case's duty, and who ranks first for it. */
  async function twoNodes(webhooks: (owner: boolean) => DutySchedulerInit['webhooks']) {
    const c = await cluster(2, {})
    const officer = c.bloc.officer('AAA')
    const reg = registration(officer, 'BBB')
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'lost-passport' })
    const id = caseDutyId(opened.id)
    const [owner, next] = rankNodes(id, c.ids).map((n) => c.ids.indexOf(n)) as [number, number]
    for (const i of [owner, next]) {
      await c.schedulers[i]!.stop()
      c.schedulers[i] = c.make(i, { handOnMs: TICK * 8, webhooks: webhooks(i === owner) })
      await c.schedulers[i]!.start()
    }
    return { c, reg, opened, id, owner, next }
  }

  it('a node with no queue for the nationality hands the case to the node that has one', async () => {
    const hook = await webhook()
    // Each state runs its own queue behind its own node: the owner of the duty has only AAA's.
    const t = await twoNodes((owner) => {
      const cases: Record<string, string> = owner
        ? { AAA: `${hook.url}/queue/AAA` }
        : { BBB: `${hook.url}/queue/BBB` }
      return { cases }
    })
    await t.c.submit(t.owner, [t.reg, t.opened])
    await t.c.sync()
    await until(() => expect(hook.ok()).toHaveLength(1))
    expect(hook.hits[0]!.path).toBe('/queue/BBB')
    expect(hook.hits[0]!.key).toBe(t.id)
    await until(() => {
      for (const s of t.c.schedulers) expect(s.status().pending).toBe(0)
    })
    expect(t.c.schedulers[t.owner]!.status().handedOn).toBe(1)
    expect(await t.c.schedulers[t.owner]!.get(t.id)).toMatchObject({ state: 'done', doneBy: t.c.ids[t.next] })
    await sleep(TICK * 10)
    expect(hook.hits).toHaveLength(1)
  })

  it('a node whose deliveries keep failing is relieved by the next node of the ranking', async () => {
    const broken = await webhook(() => 503)
    const good = await webhook()
    const t = await twoNodes((owner) => ({ cases: { BBB: `${(owner ? broken : good).url}/queue/BBB` } }))
    await t.c.submit(t.owner, [t.reg, t.opened])
    await t.c.sync()
    await until(() => expect(good.ok()).toHaveLength(1))
    expect(broken.hits.length).toBeGreaterThan(0)
    expect(broken.ok()).toHaveLength(0)
    await until(() => {
      for (const s of t.c.schedulers) expect(s.status().pending).toBe(0)
    })
    // The owner stops retrying once the other node announced it done.
    const tried = broken.hits.length
    await sleep(TICK * 12)
    expect(broken.hits.length).toBe(tried)
    expect(good.hits).toHaveLength(1)
    expect(await t.c.schedulers[t.owner]!.get(t.id)).toMatchObject({ state: 'done', doneBy: t.c.ids[t.next] })
  })
})

describe('duties: announcements', () => {
  it('keeps a peer’s completion that arrives while its own delivery is in flight', async () => {
    const hook = await webhook(() => 200, 300)
    const c = await cluster(1, { webhooks: { cases: { AAA: `${hook.url}/queue/AAA` } } })
    const officer = c.bloc.officer('AAA')
    const reg = registration(officer)
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'passport-renewal' })
    await c.submit(0, [reg, opened])
    const s = c.schedulers[0]!
    await until(() => {
      expect(hook.hits).toHaveLength(1)
      expect(s.status().inFlight).toBe(1)
    })
    const id = caseDutyId(opened.id)
    await s.onAnnounced({ id, node: 'peer-node', at: 7 })
    expect(s.status()).toMatchObject({ pending: 0, done: 1 })
    await until(() => expect(s.status().inFlight).toBe(0))
    expect(await s.get(id)).toMatchObject({ state: 'done', doneBy: 'peer-node', at: 7 })
    expect(c.announced()).toEqual([]) // the peer already told everyone
    expect(s.status()).toMatchObject({ pending: 0, done: 1, delivered: 1 })
  })
})

describe('duties: dutyDone over the sync registrar', () => {
  it('counts completions from certified nodes only, and tells a connecting peer what was done', async () => {
    const c = await cluster(2, {})
    const [a, b] = c.registrars as [FakeRegistrar, FakeRegistrar]
    const s = c.schedulers[0]!
    expect(a.handles('dutyDone')).toBe(true)
    // Nothing done yet: a connecting peer is told nothing.
    await a.greet(b)
    expect(b.sent).toEqual([])
    const stranger = caseDutyId('from-a-stranger')
    const certified = caseDutyId('from-a-node')
    const msg = (id: string, node: string) => ({ t: 'dutyDone' as const, done: [{ id, node, at: 9 }] })
    await a.receive(msg(stranger, 'not-a-certified-node'), b.self)
    await a.receive(msg(certified, c.ids[1]!), b.self)
    expect(await s.get(stranger)).toBeUndefined()
    expect(await s.get(certified)).toMatchObject({ state: 'done', doneBy: c.ids[1], at: 9 })
    // What node 0 now knows reaches a peer that connects.
    const seen: unknown[] = []
    const probe = new FakeRegistrar({ nodeId: 'probe', peerId: 'peer-probe' }, new Set(), () => [])
    probe.handle('dutyDone', { onMessage: (m) => void seen.push(m) })
    await a.greet(probe)
    expect(seen).toEqual([{ t: 'dutyDone', done: [{ id: certified, node: c.ids[1], at: 9 }] }])
    // Stopped: no longer handles the message type (so it can be started again).
    await s.stop()
    expect(a.handles('dutyDone')).toBe(false)
    await s.start()
    expect(a.handles('dutyDone')).toBe(true)
  })
})

describe('duties: restart', () => {
  it('reloads pending duties, and finds those of entries stored while stopped', async () => {
    let up = false
    const hook = await webhook(() => (up ? 200 : 503))
    const webhooks = { alerts: `${hook.url}/alerts`, cases: { AAA: `${hook.url}/queue/AAA` } }
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const open = () => Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const components = (engine: Engine) => ({ engine, store, registrar: fakeNet([engine.nodeId])[0]! })
    const init = { tickMs: TICK, startDelayMs: 0, retryMinMs: 20, webhooks }

    let engine = await open()
    const first = new DutyScheduler(components(engine), init)
    cleanups.push(() => first.stop())
    await first.start()
    const officer = bloc.officer('AAA')
    const reg = registration(officer)
    const alert = crisisAlert(bloc)
    await engine.submit([reg, presence(officer, reg.citizenId, 'KE', 'Nairobi'), alert])
    const alertDuty = alertDutyId(alert.id, reg.citizenId)
    await until(() => expect(hook.hits.length).toBeGreaterThanOrEqual(1))
    await first.stop()
    expect(await first.get(alertDuty)).toMatchObject({ state: 'pending' })
    const attempts = hook.hits.length

    // Stored while no scheduler runs (as in a crash between the engine's write and discovery).
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'document-attestation' })
    expect((await engine.submit([opened]))[0]?.ok).toBe(true)
    await sleep(TICK * 4)
    expect(hook.hits).toHaveLength(attempts) // stopped means stopped

    // The process restarts: a new engine and scheduler over the same store.
    await engine.close()
    engine = await open()
    up = true
    const second = new DutyScheduler(components(engine), init)
    cleanups.push(() => second.stop())
    await second.start()
    await until(() => expect(hook.ok()).toHaveLength(2))
    await sleep(TICK * 6)
    expect(hook.okPerKey()).toEqual(
      new Map([
        [alertDuty, 1],
        [caseDutyId(opened.id), 1],
      ]),
    )
    expect(second.status()).toMatchObject({ pending: 0, delivered: 2 })
  })
})

describe('duties: input from peers and configuration', () => {
  it('drops malformed announcements and records one for a duty not seen yet', async () => {
    const c = await cluster(1, {})
    const s = c.schedulers[0]!
    await s.onAnnounced({ id: 'not-a-duty', node: 'x', at: 1 })
    await s.onAnnounced(null as unknown as DutyDone)
    expect(c.lines.filter((l) => l.includes('malformed'))).toHaveLength(2)
    const id = caseDutyId('some-case')
    await s.onAnnounced({ id, node: 'peer', at: 5 })
    expect(await s.get(id)).toMatchObject({ state: 'done', doneBy: 'peer', ref: null })
    expect(await s.recentDone()).toEqual([{ id, node: 'peer', at: 5 }])
  })

  it('refuses webhook URLs that are not http(s) without repeating them', () => {
    const base = { engine: {} as Engine, store: new MemoryStore(), registrar: fakeNet(['n'])[0]! }
    let err: unknown
    try {
      new DutyScheduler(base, { webhooks: { alerts: 'ftp://secret-token@x/', cases: { AAA: 'nope' } } })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(NodeError)
    expect((err as NodeError).code).toBe('CONFIG_INVALID')
    expect((err as NodeError).details).toEqual([
      'webhooks.alerts: not an http(s) URL',
      'webhooks.cases.AAA: not an http(s) URL',
    ])
    expect(() => new DutyScheduler(base, { tickMs: 0 })).toThrow(NodeError)
  })
})

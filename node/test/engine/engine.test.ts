import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { Engine, type Submission } from '../../src/engine/engine.ts'
import { LevelStore } from '../../src/storage/level-store.ts'
import { MemoryStore } from '../../src/storage/store.ts'
import { ed, registration, testBloc } from '../fixtures.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function engineFor(bloc: ReturnType<typeof testBloc>, i: number, store = new MemoryStore()) {
  return Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
}

describe('engine: local writes', () => {
  it('accepts a registration, a case and its transitions, and derives the citizen summary', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const officer = bloc.officer('AAA')
    const reg = registration(officer, 'BBB')
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'emergency-travel-document' })
    const review = officer.record('case.transition', reg.citizenId, {
      case: opened.id,
      from: 'submitted',
      to: 'in-review',
    })
    const out = await engine.submit([reg, opened, review])
    expect(out.map((o) => o.ok)).toEqual([true, true, true])
    const summary = await engine.getSummary(reg.citizenId)
    expect(summary?.nationality).toBe('BBB')
    expect(summary?.travelDocument).toMatch(/^P\d{7}$/)
    expect(summary?.cases[opened.id]?.state).toBe('in-review')
    expect(engine.versionVector()[engine.nodeId]).toBe(1)
  })

  it('acknowledges a resubmitted record with its original receipt and changes nothing', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const reg = registration(bloc.officer('AAA'))
    const [first] = await engine.submit([reg])
    const root = engine.stateRoot()
    const [again] = await engine.submit([reg])
    expect(first?.ok && again?.ok).toBe(true)
    if (first?.ok && again?.ok) {
      expect(again.duplicate).toBe(true)
      expect(again.receipt.seq).toBe(first.receipt.seq)
      expect(again.receipt.entry).toBe(first.receipt.entry)
    }
    expect(engine.stateRoot()).toBe(root)
  })

  it('refuses forged, unauthorized and out-of-order records and changes nothing', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const officer = bloc.officer('AAA')
    const reg = registration(officer, 'BBB')
    await engine.submit([reg])
    const root = engine.stateRoot()

    const forged = registration(officer)
    forged.record.sig[0]! ^= 1
    const registrar = bloc.officer('AAA', ['registrar'])
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'passport-renewal' })
    const notAllowed = registrar.record('case.transition', reg.citizenId, {
      case: opened.id,
      from: 'submitted',
      to: 'in-review',
    })
    const unknownCase = officer.record('case.transition', reg.citizenId, {
      case: opened.id,
      from: 'submitted',
      to: 'in-review',
    })
    const missingPayload = { ...registration(officer), payload: null }
    const out = await engine.submit([forged, notAllowed, unknownCase, missingPayload])
    expect(out.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual([
      'SIGNATURE_INVALID',
      'RECORD_UNAUTHORIZED',
      'RECORD_UNKNOWN_SUBJECT',
      'RECORD_PAYLOAD_MISMATCH',
    ])
    expect(engine.stateRoot()).toBe(root)
  })

  it('reserves passport approval to the nationality state and lets any member approve an ETD', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const aaa = bloc.officer('AAA')
    const bbb = bloc.officer('BBB')
    const reg = registration(aaa, 'BBB')
    const passport = aaa.record('case.opened', reg.citizenId, { caseType: 'passport-renewal' })
    const etd = aaa.record('case.opened', reg.citizenId, { caseType: 'emergency-travel-document' })
    const r1 = aaa.record('case.transition', reg.citizenId, {
      case: passport.id,
      from: 'submitted',
      to: 'in-review',
    })
    const r2 = aaa.record('case.transition', reg.citizenId, {
      case: etd.id,
      from: 'submitted',
      to: 'in-review',
    })
    expect((await engine.submit([reg, passport, etd, r1, r2])).every((o) => o.ok)).toBe(true)
    const [byAaa] = await engine.submit([
      aaa.record('case.transition', reg.citizenId, { case: passport.id, from: 'in-review', to: 'approved' }),
    ])
    expect(byAaa?.ok ? 'ok' : byAaa?.error.code).toBe('RECORD_UNAUTHORIZED')
    const out = await engine.submit([
      bbb.record('case.transition', reg.citizenId, { case: passport.id, from: 'in-review', to: 'approved' }),
      aaa.record('case.transition', reg.citizenId, { case: etd.id, from: 'in-review', to: 'approved' }),
    ])
    expect(out.every((o) => o.ok)).toBe(true)
    const s = await engine.getSummary(reg.citizenId)
    expect(s?.cases[passport.id]?.state).toBe('approved')
    expect(s?.cases[etd.id]?.state).toBe('approved')
  })
})

describe('engine: durability', () => {
  it('reads derived state back after a restart on level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-engine-'))
    dirs.push(dir)
    const bloc = testBloc(1)
    const officer = bloc.officer('AAA')
    let store = await LevelStore.open(dir)
    let engine = await engineFor(bloc, 0, store as unknown as MemoryStore)
    const regs = Array.from({ length: 50 }, () => registration(officer))
    await engine.submit(regs)
    const root = engine.stateRoot()
    const vv = engine.versionVector()
    await engine.close()
    await store.close()
    store = await LevelStore.open(dir)
    engine = await engineFor(bloc, 0, store as unknown as MemoryStore)
    expect(engine.stateRoot()).toBe(root)
    expect(engine.versionVector()).toEqual(vv)
    expect((await engine.getSummary(regs[7]!.citizenId))?.nationality).toBe('AAA')
    const [more] = await engine.submit([registration(officer)])
    expect(more?.ok && more.receipt.seq).toBe((vv[engine.nodeId] ?? 0) + 1)
    await engine.close()
    await store.close()
  })
})

describe('engine: convergence', () => {
  it('delivers the same entries in random order with duplicates and always reaches the same state root', async () => {
    const bloc = testBloc(3)
    const officers = [bloc.officer('AAA'), bloc.officer('BBB'), bloc.officer('CCC')]
    const engines = await Promise.all([0, 1, 2].map((i) => engineFor(bloc, i)))
    const log: Uint8Array[] = []
    const payloads = new Map<string, Uint8Array>()
    for (const e of engines) {
      e.onEntry((_entry, bytes, p) => {
        log.push(bytes)
        for (const [k, v] of p) payloads.set(k, v)
      })
    }
    // Concurrent histories: writes at all three nodes to shared citizens, partial exchanges.
    const shared = [registration(officers[0]!), registration(officers[1]!)]
    await engines[0]!.submit([shared[0]!])
    await engines[1]!.submit([shared[1]!])
    const sync = async (to: Engine) => {
      for (const bytes of [...log]) await to.applyRemote(bytes, payloads)
    }
    await sync(engines[2]!)
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 3; i++) {
        const o = officers[i]!
        const citizen = shared[round % 2]!
        const batch: Submission[] = [registration(o)]
        // Edit a shared citizen only where that citizen is already known (concurrently at several nodes).
        if (await engines[i]!.getSummary(citizen.citizenId)) {
          batch.push(
            o.record(
              'presence.registered',
              citizen.citizenId,
              { from: round, until: null },
              { salt: o.salt(), country: 'KE', region: `R${i}` },
            ),
          )
        }
        await engines[i]!.submit(batch)
      }
      await sync(engines[(round + 1) % 3]!)
    }
    for (const e of engines) await sync(e)
    const roots = engines.map((e) => e.stateRoot())
    expect(new Set(roots).size).toBe(1)
    const entries = [...new Map(log.map((b) => [Buffer.from(b).toString('hex'), b])).values()]

    // Every entry at least once, random duplicates, in a random order (reproducible from fast-check's seed).
    const deliveries = fc
      .array(fc.nat(entries.length - 1), { maxLength: entries.length * 2 })
      .chain((extra) => {
        const all = [...entries.keys(), ...extra]
        return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
      })
    await fc.assert(
      fc.asyncProperty(deliveries, async (order) => {
        const fresh = await engineFor(bloc, 2)
        for (const i of order) await fresh.applyRemote(entries[i]!, payloads)
        expect(fresh.pendingCount()).toBe(0)
        expect(fresh.stateRoot()).toBe(roots[0])
      }),
      { numRuns: 25 },
    )
  })
})

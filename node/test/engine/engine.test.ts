import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  certificateId,
  certifyNode,
  decodeCanonical,
  decodeEntry,
  docView,
  entryHash,
  generateKeyPair,
  keyId,
  loadDoc,
  MAX_RECORDS_PER_CHANGE,
  type ProtocolError,
  type RecordBody,
  rotateStateKey,
  type SignedEntry,
  sealEntry,
  signAmendment,
  signRevocation,
  toHex,
  verifyCharterChain,
} from '@legation/protocol'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Verifier } from '../../src/crypto/verifier.ts'
import { DEFAULT_MAX_ENTRY_PAYLOAD_BYTES, Engine, type Submission } from '../../src/engine/engine.ts'
import { docPlaceOf, docStates } from '../../src/engine/entry-rows.ts'
import { K } from '../../src/engine/keys.ts'
import { LevelStore } from '../../src/storage/level-store.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { Store } from '../../src/storage/store.ts'
import { ed, registration, testBloc, travelDocumentNumber } from '../fixtures.ts'
import { GatedStore } from '../storage/gated-store.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function engineFor(
  bloc: ReturnType<typeof testBloc>,
  i: number,
  store: Store = new MemoryStore(),
  init: { headerCacheSize?: number } = {},
) {
  return Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain, ...init })
}

/** Node 0 of a 2-node bloc that wrote `entries` entries, one registration each, and their bytes. */
async function originWithEntries(entries: number) {
  const bloc = testBloc(2)
  const a = await engineFor(bloc, 0)
  const sent: Uint8Array[] = []
  a.onEntry((_e, bytes) => sent.push(bytes))
  const officer = bloc.officer('AAA')
  for (let i = 0; i < entries; i++) await a.submit([registration(officer)])
  return { bloc, a, sent, officer }
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
    expect(await travelDocumentNumber(engine, reg.citizenId)).toMatch(/^P\d{7}$/)
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
    let engine = await engineFor(bloc, 0, store)
    const regs = Array.from({ length: 50 }, () => registration(officer))
    await engine.submit(regs)
    const root = engine.stateRoot()
    const vv = engine.versionVector()
    await engine.close()
    await store.close()
    store = await LevelStore.open(dir)
    engine = await engineFor(bloc, 0, store)
    expect(engine.stateRoot()).toBe(root)
    expect(engine.versionVector()).toEqual(vv)
    expect((await engine.getSummary(regs[7]!.citizenId))?.nationality).toBe('AAA')
    const [more] = await engine.submit([registration(officer)])
    expect(more?.ok && more.receipt.seq).toBe((vv[engine.nodeId] ?? 0) + 1)
    await engine.close()
    await store.close()
  })

  it('keeps a new citizen’s doc as the update that made it, read back and built on after a restart', async () => {
    // Origin and replica on level: each stores the doc of a citizen new to it as that one update
    // (not re-encoded, and not copied: the place of the update in the stored entry), reads it back
    // after a restart, and the next change to it, made on the doc read back, applies at the
    // other and leaves both at the same state.
    const bloc = testBloc(2)
    const officer = bloc.officer('AAA')
    const dirA = await mkdtemp(join(tmpdir(), 'legation-engine-'))
    const dirB = await mkdtemp(join(tmpdir(), 'legation-engine-'))
    dirs.push(dirA, dirB)
    const open = async (dir: string, i: number) => {
      const store = await LevelStore.open(dir)
      const engine = await engineFor(bloc, i, store)
      const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
      engine.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads }))
      const close = async () => {
        await engine.close()
        await store.close()
      }
      return { store, engine, sent, close }
    }
    let a = await open(dirA, 0)
    let b = await open(dirB, 1)
    const reg = registration(officer)
    expect((await a.engine.submit([reg]))[0]?.ok).toBe(true)
    expect(await b.engine.applyRemoteMany([a.sent[0]!.bytes], a.sent[0]!.payloads)).toEqual(['applied'])
    // Each keeps it where its entry holds it already: the row names the place, a few bytes.
    const update = decodeEntry(a.sent[0]!.bytes).body.changes[0]!.update
    for (const { store } of [a, b]) {
      const row = (await store.get(K.doc(reg.citizenId)))!
      expect(docPlaceOf(row)).toMatchObject({ origin: a.engine.nodeId, seq: 1, length: update.length })
      expect(row.length).toBeLessThan(64)
      expect(toHex((await docStates(store, [row]))[0]!)).toBe(toHex(update))
    }
    await a.close()
    await b.close()
    a = await open(dirA, 0)
    b = await open(dirB, 1)
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'emergency-travel-document' })
    expect((await a.engine.submit([opened]))[0]?.ok).toBe(true)
    expect(await b.engine.applyRemoteMany([a.sent[0]!.bytes], a.sent[0]!.payloads)).toEqual(['applied'])
    expect(b.engine.stateRoot()).toBe(a.engine.stateRoot())
    expect(Object.keys((await b.engine.getSummary(reg.citizenId))!.cases)).toEqual([opened.id])
    // A doc that already held something is stored whole: both records are in the row.
    const row = (await b.store.get(K.doc(reg.citizenId)))!
    expect(docView(loadDoc(row)).records.sort()).toEqual([reg.id, opened.id].sort())
    await a.close()
    await b.close()
  })

  it('keeps an equivocating origin quarantined across a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-engine-'))
    dirs.push(dir)
    const { bloc, a, sent } = await originWithEntries(2)
    // A second, different seq 1 signed by node 0: an equivocation.
    const first = decodeEntry(sent[0]!)
    const twin = sealEntry(
      ed,
      { ...first.body, hlc: [first.body.hlc[0] + 1, 0] },
      bloc.nodes[0]!.keys.secretKey,
    )
    let store = await LevelStore.open(dir)
    let b = await engineFor(bloc, 1, store)
    expect(await b.applyRemote(sent[0]!)).toBe('applied')
    expect(await b.applyRemote(twin.bytes)).toBe('equivocation')
    expect(b.quarantined().get(a.nodeId)).toBe(1)
    // No bloc-final checkpoint covers seq 1: neither version stands, the one applied is dropped.
    expect(b.versionVector()[a.nodeId]).toBeUndefined()
    await b.close()
    await store.close()
    store = await LevelStore.open(dir)
    b = await engineFor(bloc, 1, store)
    expect(b.quarantined().get(a.nodeId)).toBe(1)
    // Its later entries are held, not applied.
    expect(await b.applyRemote(sent[1]!)).toBe('quarantined')
    expect(b.versionVector()[a.nodeId]).toBeUndefined()
    await b.close()
    await store.close()
  })
})

describe('engine: entries peers accept', () => {
  it('splits a large batch for one citizen into entries within every limit a peer enforces', async () => {
    const bloc = testBloc(2)
    const [a, b] = await Promise.all([engineFor(bloc, 0), engineFor(bloc, 1)])
    const officer = bloc.officer('AAA')
    const reg = registration(officer)
    // 200 cases for one citizen, each with a long note: over the per-doc record limit of one
    // change (64) and over the payload budget of one entry (2 MiB), in a single submission.
    const details = '€'.repeat(4000)
    const cases = Array.from({ length: 200 }, () =>
      officer.record(
        'case.opened',
        reg.citizenId,
        { caseType: 'emergency-travel-document' },
        { salt: officer.salt(), details },
      ),
    )
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads }))
    const out = await a.submit([reg, ...cases])
    expect(out.every((o) => o.ok)).toBe(true)
    expect(sent.length).toBeGreaterThan(2)
    for (const { bytes, payloads } of sent) {
      const entry = decodeEntry(bytes) // the schema a peer checks
      for (const c of entry.body.changes) expect(c.records.length).toBeLessThanOrEqual(MAX_RECORDS_PER_CHANGE)
      const payloadBytes = [...payloads.values()].reduce((n, p) => n + p.length, 0)
      expect(payloadBytes).toBeLessThanOrEqual(DEFAULT_MAX_ENTRY_PAYLOAD_BYTES)
    }
    const results = await b.applyRemoteMany(
      sent.map((s) => s.bytes),
      new Map(sent.flatMap((s) => [...s.payloads])),
    )
    expect(results).toEqual(sent.map(() => 'applied'))
    expect(b.stateRoot()).toBe(a.stateRoot())
    expect(Object.keys((await b.getSummary(reg.citizenId))!.cases)).toHaveLength(200)
  })
})

describe('engine: a citizen with a long file', () => {
  it('takes a peer’s updates to a file longer than its header cache holds', async () => {
    // A file grows with each record about its citizen (each officer's logged read among them):
    // validating an update must not need the header of every record the file held before.
    const bloc = testBloc(2)
    const a = await engineFor(bloc, 0)
    const b = await engineFor(bloc, 1, new MemoryStore(), { headerCacheSize: 2 })
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads }))
    const officer = bloc.officer('AAA')
    const reg = registration(officer)
    expect((await a.submit([reg]))[0]?.ok).toBe(true)
    const now = Date.now()
    for (let i = 0; i < 6; i++) {
      // Dated apart: two records alike in the same millisecond would be one record.
      const opened = officer.record(
        'case.opened',
        reg.citizenId,
        { caseType: 'emergency-travel-document' },
        null,
        now - 6_000 + i * 1_000,
      )
      expect((await a.submit([opened]))[0]?.ok).toBe(true)
    }
    for (const { bytes, payloads } of sent) expect(await b.applyRemote(bytes, payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())
    expect(Object.keys((await b.getSummary(reg.citizenId))!.cases)).toHaveLength(6)
  })

  it('keeps the newer record in a field however few record times it caches', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0, new MemoryStore(), { headerCacheSize: 1 })
    const citizenKeys = generateKeyPair(ed)
    const citizen = bloc.citizen(citizenKeys)
    expect((await engine.submit([registration(bloc.officer('AAA'), 'AAA', citizenKeys)]))[0]?.ok).toBe(true)
    const now = Date.now()
    for (const [i, region] of ['Nairobi', 'Mombasa', 'Kisumu'].entries()) {
      const presence = citizen.record(
        'presence.registered',
        citizen.id,
        { from: now, until: null },
        { salt: citizen.salt(), country: 'KE', region },
        now - (3 - i) * 60_000,
      )
      expect((await engine.submit([presence]))[0]?.ok).toBe(true)
      expect((await engine.getSummary(citizen.id))?.presence?.region).toBe(region)
    }
  })

  it.each([
    ['its time cached', undefined],
    ['its time read again', 1],
  ])('keeps a field’s newer record against an older one written after it, %s', async (_, headerCacheSize) => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0, new MemoryStore(), { headerCacheSize })
    const citizenKeys = generateKeyPair(ed)
    const citizen = bloc.citizen(citizenKeys)
    const officer = bloc.officer('AAA')
    expect((await engine.submit([registration(officer, 'AAA', citizenKeys)]))[0]?.ok).toBe(true)
    const now = Date.now()
    const presence = (region: string, at: number) =>
      citizen.record(
        'presence.registered',
        citizen.id,
        { from: now, until: null },
        { salt: citizen.salt(), country: 'KE', region },
        at,
      )
    expect((await engine.submit([presence('Nairobi', now - 60_000)]))[0]?.ok).toBe(true)
    // Another citizen's record in between: a cache of one no longer holds the first one's time.
    expect((await engine.submit([registration(officer)]))[0]?.ok).toBe(true)
    expect((await engine.submit([presence('Mombasa', now - 120_000)]))[0]?.ok).toBe(true)
    expect((await engine.getSummary(citizen.id))?.presence?.region).toBe('Nairobi')
    // …and a newer one takes it (with a cache of one, the time of the older one written last is
    // what it holds: the field's record is read again).
    expect((await engine.submit([presence('Kisumu', now)]))[0]?.ok).toBe(true)
    expect((await engine.getSummary(citizen.id))?.presence?.region).toBe('Kisumu')
  })
})

/** Waits (bounded) until the store has handed out `n` gates. */
async function gatesReach(store: GatedStore, n: number): Promise<void> {
  await vi.waitFor(() => expect(store.gates.length).toBe(n), { timeout: 2_000, interval: 5 })
}

/**
 * A verifier that checks signatures for real (node:crypto) but answers each call only when the
 * test opens its gate: a frame whose signatures are still being checked, held as long as the test
 * needs. Calls are numbered in the order the engine makes them.
 */
function gatedVerifier() {
  const gates: Array<() => void> = []
  const verifier = {
    verify(checks: ReadonlyArray<{ sig: Uint8Array; message: Uint8Array; key: Uint8Array }>) {
      const out = checks.map((c) => ed.verify(c.sig, c.message, c.key))
      return new Promise<boolean[]>((resolve) => gates.push(() => resolve(out)))
    },
  }
  return { verifier: verifier as unknown as Verifier, gates }
}

describe('engine: frames being verified', () => {
  it('takes local writes while a peer’s frame is verified, and applies frames in the order they came', async () => {
    const { bloc, a, sent } = await originWithEntries(2)
    const { verifier, gates } = gatedVerifier()
    const b = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
      verifier,
    })
    const first = b.applyRemoteMany([sent[0]!])
    const second = b.applyRemoteMany([sent[1]!])
    // Each frame asks for its entry's and its records' checks: four calls, none answered yet.
    await vi.waitFor(() => expect(gates.length).toBe(4), { timeout: 2_000, interval: 5 })
    // A local write goes through meanwhile (its own checks are answered at once).
    const local = b.submit([registration(bloc.officer('BBB'))])
    await vi.waitFor(() => expect(gates.length).toBe(5), { timeout: 2_000, interval: 5 })
    gates[4]!()
    const [mine] = await local
    expect(mine?.ok).toBe(true)
    // The second frame is verified first, and still waits for the first: seq 2 is not held as
    // if it came before seq 1.
    gates[2]!()
    gates[3]!()
    await new Promise((r) => setTimeout(r, 20))
    expect(b.versionVector()[a.nodeId]).toBeUndefined()
    gates[0]!()
    gates[1]!()
    expect(await first).toEqual(['applied'])
    expect(await second).toEqual(['applied'])
    expect(b.versionVector()[a.nodeId]).toBe(2)
    await a.close()
    await b.close()
  })
})

describe('engine: group commit overlaps the next group with this one’s fsync', () => {
  it('builds the next entry while the last is being synced, and acknowledges each only once durable', async () => {
    const bloc = testBloc(1)
    const store = new GatedStore()
    const engine = await engineFor(bloc, 0, store)
    store.armed = true
    const gatesAtStart = store.gates.length
    const sent: number[] = []
    engine.onEntry((e) => sent.push(e.body.seq))
    const officer = bloc.officer('AAA')
    let firstDone = false
    const first = engine.submit([registration(officer)]).then((o) => {
      firstDone = true
      return o
    })
    await gatesReach(store, gatesAtStart + 1)
    // The first entry is on its way to disk: the second is built on it meanwhile.
    const second = engine.submit([registration(officer)])
    await gatesReach(store, gatesAtStart + 2)
    expect(firstDone).toBe(false)
    expect(sent).toEqual([])
    // Peers and clients are told only of what is durable.
    expect(engine.versionVector()).toEqual({})
    store.gates[gatesAtStart]!.open()
    const [a] = await first
    expect(a?.ok && a.receipt.seq).toBe(1)
    expect(engine.versionVector()).toEqual({ [engine.nodeId]: 1 })
    expect(sent).toEqual([1])
    store.gates[gatesAtStart + 1]!.open()
    const [b] = await second
    expect(b?.ok && b.receipt.seq).toBe(2)
    expect(sent).toEqual([1, 2])
  })

  it('stops taking writes once one fails, and refuses what was not durable', async () => {
    const bloc = testBloc(1)
    const store = new GatedStore()
    const engine = await engineFor(bloc, 0, store)
    store.armed = true
    const officer = bloc.officer('AAA')
    const base = store.gates.length
    const kept = engine.submit([registration(officer)])
    await gatesReach(store, base + 1)
    store.gates[base]!.open()
    expect((await kept)[0]?.ok).toBe(true)
    const lost = engine.submit([registration(officer)])
    await gatesReach(store, base + 2)
    const after = engine.submit([registration(officer)])
    await gatesReach(store, base + 3)
    store.gates[base + 1]!.fail(new Error('disk full'))
    store.gates[base + 2]!.fail(new Error('disk full'))
    const [l] = await lost
    const [a] = await after
    expect(!l?.ok && l?.error.code).toBe('STORAGE_FAILED')
    expect(!a?.ok && a?.error.code).toBe('STORAGE_FAILED')
    expect(engine.failure?.code).toBe('STORAGE_FAILED')
    const [later] = await engine.submit([registration(officer)])
    expect(!later?.ok && later?.error.code).toBe('STORAGE_FAILED')
    // What was acknowledged stands.
    expect(engine.versionVector()).toEqual({ [engine.nodeId]: 1 })
  })
})

describe('engine: what a node accepts from clients', () => {
  it('refuses records dated too far from its clock: ahead, or an officer’s long ago', async () => {
    const bloc = testBloc(1)
    const now = Date.now()
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
      clock: () => now,
    })
    const officer = bloc.officer('AAA')
    const dated = (at: number) => {
      const r = registration(officer)
      return officer.record(
        'citizen.registered',
        r.citizenId,
        r.record.header.body,
        decodeCanonical(r.payload!) as never,
        at,
      )
    }
    const codes = async (at: number) => {
      const [o] = await engine.submit([dated(at)])
      return o!.ok ? 'ok' : o!.error.code
    }
    expect(await codes(now - 9 * 60_000)).toBe('ok')
    expect(await codes(now + 60_000)).toBe('ok')
    // A stolen officer key cannot date records before its revocation once 10 minutes have passed.
    expect(await codes(now - 11 * 60_000)).toBe('RECORD_TIME_OUT_OF_RANGE')
    // Dated in the future, a record would win its slots over newer ones.
    expect(await codes(now + 3 * 60_000)).toBe('RECORD_TIME_OUT_OF_RANGE')
    // A citizen may sign offline, days before the record reaches a node.
    const citizenKeys = generateKeyPair(ed)
    const citizen = bloc.citizen(citizenKeys)
    const [reg] = await engine.submit([registration(officer, 'AAA', citizenKeys)])
    expect(reg?.ok).toBe(true)
    const presence = citizen.record(
      'presence.registered',
      citizen.id,
      { from: now, until: null },
      { salt: citizen.salt(), country: 'KE', region: 'Nairobi' },
      now - 3 * 86_400_000,
    )
    const [p] = await engine.submit([presence])
    expect(p?.ok).toBe(true)
  })

  it('keeps a revocation made before its state rotated its key, and takes it again without complaint', async () => {
    const bloc = testBloc(3) // one node per state: AAA, BBB, CCC
    const engine = await engineFor(bloc, 0)
    const officer = bloc.officer('CCC')
    const revoke = (cert: string, key: Uint8Array) =>
      signRevocation(
        ed,
        { type: 'revocation', bloc: bloc.bloc, state: 'CCC', cert, at: Date.now(), reason: 'key-compromise' },
        key,
      )
    const rev = revoke(certificateId(officer.cert!), bloc.stateKeys.CCC!.secretKey)
    expect((await engine.addRevocation(rev)).added).toBe(true)
    // CCC rotates its state key; its node is certified again under the new one.
    const fresh = generateKeyPair(ed)
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const node = bloc.nodes[2]!
    const validity = { notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 86_400_000 }
    const cert = certifyNode(
      ed,
      'CCC',
      fresh.secretKey,
      { name: 'node-2', keys: node.keys, clientId: node.clientId, addrs: [] },
      validity,
    )
    const draft = rotateStateKey(prev, 'CCC', fresh.publicKey, [cert], { issuedAt: Date.now() })
    const signers = ['AAA', 'BBB'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    expect(await engine.adoptCharter([...bloc.chain, signAmendment(ed, draft, signers)])).toBe(true)
    // Resent by a peer: known, in force, no error.
    expect(await engine.addRevocation(rev)).toEqual({ added: false, revocation: rev })
    // A new one signed with the old key is refused.
    const other = bloc.officer('CCC')
    await expect(
      engine.addRevocation(revoke(certificateId(other.cert!), bloc.stateKeys.CCC!.secretKey)),
    ).rejects.toMatchObject({ code: 'CERT_INVALID' })
    expect(engine.revocations()).toEqual([rev])
  })
})

describe('engine: entries held for their predecessors', () => {
  it('holds no more than its byte budget; what it drops is applied when delivered again', async () => {
    const bloc = testBloc(2)
    const a = await engineFor(bloc, 0)
    const sent: Uint8Array[] = []
    /** What holding each entry costs: its bytes, its decoded copy, its payloads. */
    const costs: number[] = []
    const payloads = new Map<string, Uint8Array>()
    a.onEntry((_e, bytes, p) => {
      sent.push(bytes)
      costs.push(2 * bytes.length + [...p.values()].reduce((n, x) => n + x.length, 0))
      for (const [k, v] of p) payloads.set(k, v)
    })
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 6; i++) await a.submit([registration(officer)])
    const budget = costs[1]! + costs[2]! + 10
    const b = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
      maxPendingBytes: budget,
    })
    // Entries 2..6 arrive before 1: only what fits the budget is held.
    for (const bytes of sent.slice(1)) expect(await b.applyRemote(bytes, payloads)).toBe('pending')
    expect(b.pendingCount()).toBe(2)
    expect(await b.applyRemote(sent[0]!, payloads)).toBe('applied')
    expect(b.versionVector()[a.nodeId]).toBe(3)
    for (const bytes of sent.slice(3)) await b.applyRemote(bytes, payloads)
    expect(b.versionVector()[a.nodeId]).toBe(6)
    expect(b.pendingCount()).toBe(0)
    expect(b.stateRoot()).toBe(a.stateRoot())
  })
})

describe('engine: payloads fetched by digest', () => {
  it('applies an entry whose payload did not travel with it, then takes the payload by digest', async () => {
    const bloc = testBloc(2)
    const [a, b] = await Promise.all([engineFor(bloc, 0), engineFor(bloc, 1)])
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads }))
    const reg = registration(bloc.officer('AAA'))
    const other = registration(bloc.officer('AAA'))
    await a.submit([reg])
    // Relayed without its payload: the history applies, the personal data is still to come.
    expect(await b.applyRemote(sent[0]!.bytes, new Map())).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())
    const digest = reg.record.header.payload!
    expect((await b.missingPayloads(10)).map((d) => Buffer.from(d).toString('hex'))).toEqual([
      Buffer.from(digest).toString('hex'),
    ])
    expect(await travelDocumentNumber(b, reg.citizenId)).toBeNull()
    // Another record's payload under this digest does not match the signed header.
    expect(await b.storePayloads([{ d: digest, p: other.payload! }])).toBe(0)
    expect(await b.storePayloads([{ d: digest, p: reg.payload! }])).toBe(1)
    expect(await b.missingPayloads(10)).toEqual([])
    expect(await b.getPayload(digest)).toEqual(reg.payload)
    expect(await travelDocumentNumber(b, reg.citizenId)).toBe(await travelDocumentNumber(a, reg.citizenId))
    expect(await travelDocumentNumber(b, reg.citizenId)).not.toBeNull()
    // A payload nobody asked for is not stored.
    expect(await b.storePayloads([{ d: other.record.header.payload!, p: other.payload! }])).toBe(0)
    expect(await b.getPayload(other.record.header.payload!)).toBeUndefined()
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

    // The same, delivered as frames of several entries, all handed over at once: each frame
    // takes its turn when called, so verification of later frames overlaps earlier applies.
    const framed = deliveries.chain((order) =>
      fc
        .array(fc.integer({ min: 1, max: 6 }), { minLength: order.length, maxLength: order.length })
        .map((sizes) => {
          const frames: number[][] = []
          for (let i = 0, f = 0; i < order.length; i += sizes[f++]!)
            frames.push(order.slice(i, i + sizes[f]!))
          return frames
        }),
    )
    await fc.assert(
      fc.asyncProperty(framed, async (frames) => {
        const fresh = await engineFor(bloc, 2)
        const results = await Promise.all(
          frames.map((f) =>
            fresh.applyRemoteMany(
              f.map((i) => entries[i]!),
              payloads,
            ),
          ),
        )
        expect(results.flat().filter((r) => r instanceof Error)).toEqual([])
        expect(fresh.pendingCount()).toBe(0)
        expect(fresh.stateRoot()).toBe(roots[0])
      }),
      { numRuns: 25 },
    )
  })

  it('refuses a signed but invalid entry in a frame, keeps it as evidence, and applies the rest', async () => {
    const bloc = testBloc(3)
    const [a, b] = await Promise.all([engineFor(bloc, 0), engineFor(bloc, 1)])
    const c = await engineFor(bloc, 2)
    const log: Uint8Array[] = []
    const payloads = new Map<string, Uint8Array>()
    for (const e of [a, b]) {
      e.onEntry((_entry, bytes, p) => {
        log.push(bytes)
        for (const [k, v] of p) payloads.set(k, v)
      })
    }
    await a.submit([registration(bloc.officer('AAA'))])
    await b.submit([registration(bloc.officer('BBB'))])
    const before = c.stateRoot()
    // Node A's second entry, properly signed by A, whose Yjs update for a new citizen is garbage.
    const reg = registration(bloc.officer('AAA'))
    const first = decodeEntry(log[0]!)
    const bad = sealEntry(
      ed,
      {
        ...first.body,
        seq: 2,
        prev: entryHash(first.body),
        changes: [{ doc: reg.citizenId, update: new Uint8Array([1, 2, 3]), records: [reg.record] }],
      },
      bloc.nodes[0]!.keys.secretKey,
    )
    const results = await c.applyRemoteMany([log[0]!, bad.bytes, log[1]!], payloads)
    expect(results.map((r) => (r instanceof Error ? (r as ProtocolError).code : r))).toEqual([
      'applied',
      'ENTRY_INVALID',
      'applied',
    ])
    expect(c.versionVector()).toEqual({ [a.nodeId]: 1, [b.nodeId]: 1 })
    // The new citizen's doc was loaded by the refused entry and must not count in the state.
    expect(c.stateRoot()).not.toBe(before)
    const twin = await engineFor(bloc, 2)
    await twin.applyRemoteMany([log[0]!, log[1]!], payloads)
    expect(c.stateRoot()).toBe(twin.stateRoot())
    const evidence: string[] = []
    for await (const [key] of c.evidence()) evidence.push(key)
    expect(evidence).toHaveLength(1)
    expect(evidence[0]).toContain(`${a.nodeId}/`)
  })
})

describe('engine: a runaway clock', () => {
  it('defers an entry stamped too far ahead, keeps its own clock, and applies it once caught up', async () => {
    const bloc = testBloc(2)
    const now = Date.now()
    let bNow = now
    // Node 0's clock runs ten minutes ahead; node 1's is right.
    const a = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
      clock: () => bNow + 10 * 60_000,
    })
    const b = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
      clock: () => bNow,
    })
    const sent: Uint8Array[] = []
    a.onEntry((_e, bytes) => sent.push(bytes))
    const officer = bloc.officer('AAA')
    // Records are dated by the officer's (right) clock; only the node's entry stamp runs ahead.
    expect((await a.submit([registration(officer)]))[0]?.ok).toBe(true)
    expect(await b.applyRemote(sent[0]!)).toBe('deferred')
    expect(b.versionVector()).toEqual({})
    // Node 1's own next entry is not dragged ten minutes ahead.
    const mine: number[] = []
    b.onEntry((e) => mine.push(e.body.hlc[0]))
    await b.submit([registration(bloc.officer('BBB'), 'BBB')])
    expect(mine[0]).toBeLessThanOrEqual(bNow)
    // Nine minutes later the stamp is within a minute of node 1's clock: it applies.
    bNow += 9 * 60_000 + 1_000
    expect(await b.applyRemote(sent[0]!)).toBe('applied')
    expect(b.versionVector()[a.nodeId]).toBe(1)
  })
})

describe('engine: an origin’s clock and its certificate', () => {
  const DAY_MS = 86_400_000

  it('refuses an entry whose clock does not increase from its origin’s previous one', async () => {
    const { bloc, a, sent } = await originWithEntries(2)
    const [first, second] = sent.map(decodeEntry) as [SignedEntry, SignedEntry]
    // The same second entry, stamped with the first one's clock, signed by its node.
    const stale = sealEntry(ed, { ...second.body, hlc: first.body.hlc }, bloc.nodes[0]!.keys.secretKey)
    const b = await engineFor(bloc, 1)
    const [one, two] = await b.applyRemoteMany([sent[0]!, stale.bytes])
    expect(one).toBe('applied')
    expect(two).toMatchObject({ code: 'ENTRY_INVALID' })
    expect(b.versionVector()[a.nodeId]).toBe(1)
  })

  it('refuses an entry dated outside its node’s certificate in the charter version it names, and writes nothing then itself', async () => {
    const bloc = testBloc(2)
    const later = Date.now() + 400 * DAY_MS // past the test certificates' year
    const a = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
      clock: () => later,
    })
    // Its own certificate has expired: it takes no writes.
    const [refused] = await a.submit([registration(bloc.officer('AAA'))])
    expect(!refused?.ok && refused?.error.code).toBe('NODE_NOT_CERTIFIED')
    // An entry its key signs anyway, dated then, is refused even by a replica whose clock agrees:
    // the version it names certifies its node only until then (a renewal is a new version).
    const b = await engineFor(bloc, 1)
    const writer = await engineFor(bloc, 0)
    const sent: Uint8Array[] = []
    writer.onEntry((_e, bytes) => sent.push(bytes))
    await writer.submit([registration(bloc.officer('AAA'))])
    const entry = decodeEntry(sent[0]!)
    const outside = sealEntry(ed, { ...entry.body, hlc: [later, 0] }, bloc.nodes[0]!.keys.secretKey)
    const c = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
      clock: () => later,
    })
    await expect(c.applyRemote(outside.bytes)).rejects.toMatchObject({ code: 'ENTRY_INVALID' })
    expect(c.versionVector()).toEqual({})
    expect(await b.applyRemote(sent[0]!)).toBe('applied')
  })
})

describe('engine: text people read', () => {
  it('refuses a record whose names hide or reorder text where it is submitted', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const officer = bloc.officer('AAA')
    const reg = registration(officer)
    const sneaky = officer.record(
      'citizen.registered',
      reg.citizenId,
      reg.record.header.body as RecordBody<'citizen.registered'>,
      {
        salt: officer.salt(),
        names: { given: '\u202Eana', family: 'Peeters' },
        birth: { date: '1990-01-02' },
        travelDocument: { type: 'passport', number: 'P1234567', issuer: 'AAA', expires: '2031-01-01' },
        contact: {},
      },
    )
    const [out] = await engine.submit([sneaky])
    expect(!out?.ok && out?.error.code).toBe('SCHEMA_INVALID')
    expect((await engine.submit([reg]))[0]?.ok).toBe(true)
  })
})

describe('engine: review fixes', () => {
  it('bounds a citizen’s self-registration to an officer’s age limit: it fixes their nationality', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const keys = generateKeyPair(ed)
    const citizen = bloc.citizen(keys)
    const body = {
      citizenKey: keys.publicKey,
      nationality: 'BBB',
      consent: { purposes: ['consular-assistance' as const], version: 1 },
    }
    const payload = {
      salt: citizen.salt(),
      names: { given: 'Ana', family: 'Peeters' },
      birth: { date: '1990-01-02' },
      travelDocument: { type: 'passport' as const, number: 'P7654321', issuer: 'BBB', expires: '2031-01-01' },
      contact: {},
    }
    const old = citizen.record('citizen.registered', citizen.id, body, payload, Date.now() - 3_600_000)
    const [refused] = await engine.submit([old])
    expect(!refused?.ok && refused?.error.code).toBe('RECORD_TIME_OUT_OF_RANGE')
    // A check-in may still be hours old (signed offline in a crisis); a registration made now is fine.
    expect(
      (await engine.submit([citizen.record('citizen.registered', citizen.id, body, payload)]))[0]?.ok,
    ).toBe(true)
  })

  it('checks an origin’s clock from the first entry after reading a store that kept no clocks', async () => {
    const { bloc, sent } = await originWithEntries(2)
    const store = new MemoryStore()
    let b = await engineFor(bloc, 1, store)
    expect(await b.applyRemote(sent[0]!)).toBe('applied')
    await b.close()
    // As a store of an earlier version: its feed state without the origins' clocks.
    const state = JSON.parse(new TextDecoder().decode((await store.get('meta/state'))!))
    delete state.clocks
    await store.write([
      { type: 'put', key: 'meta/state', value: new TextEncoder().encode(JSON.stringify(state)) },
    ])
    b = await engineFor(bloc, 1, store)
    const [first, second] = sent.map(decodeEntry) as [SignedEntry, SignedEntry]
    const stale = sealEntry(ed, { ...second.body, hlc: first.body.hlc }, bloc.nodes[0]!.keys.secretKey)
    const [result] = await b.applyRemoteMany([stale.bytes])
    expect(result).toMatchObject({ code: 'ENTRY_INVALID' })
  })
})

describe('engine: an origin not known yet', () => {
  it('defers an entry naming a charter version not held here (the amendment admitting its node may be on its way), and refuses one whose version does not certify its node', async () => {
    const bloc = testBloc(2)
    const a = await engineFor(bloc, 0)
    const sent: Uint8Array[] = []
    a.onEntry((_e, bytes) => sent.push(bytes))
    await a.submit([registration(bloc.officer('AAA'))])
    const stranger = generateKeyPair(ed)
    const entry = decodeEntry(sent[0]!)
    const origin = keyId(stranger.publicKey)
    const admitted = sealEntry(ed, { ...entry.body, origin, charter: 'ab'.repeat(32) }, stranger.secretKey)
    const b = await engineFor(bloc, 1)
    expect(await b.applyRemoteMany([admitted.bytes])).toEqual(['deferred'])
    const stranger2 = sealEntry(ed, { ...entry.body, origin }, stranger.secretKey)
    await expect(b.applyRemote(stranger2.bytes)).rejects.toMatchObject({ code: 'ENTRY_INVALID' })
    expect(b.versionVector()).toEqual({})
  })
})

/** A store that holds the next point read of one key, once it has its value, until released. */
class HeldReadStore extends MemoryStore {
  #hold: { key: string; reached: () => void; release: Promise<void> } | undefined

  holdNext(key: string): { reached: Promise<void>; release: () => void } {
    let reached!: () => void
    let release!: () => void
    const reachedP = new Promise<void>((r) => {
      reached = r
    })
    this.#hold = { key, reached, release: new Promise<void>((r) => (release = r)) }
    return { reached: reachedP, release }
  }

  override async get(key: string) {
    const value = await super.get(key)
    const hold = this.#hold
    if (hold?.key === key) {
      this.#hold = undefined
      hold.reached()
      await hold.release
    }
    return value
  }
}

/**
 * A one-node bloc's engine over `store` that registered a citizen, stopped, and opened again:
 * every cache cold, as for the first read of a file after a restart.
 */
async function reopenedWithCitizen(store: Store) {
  const bloc = testBloc(1)
  const officer = bloc.officer('AAA')
  const first = await engineFor(bloc, 0, store)
  const reg = registration(officer)
  expect((await first.submit([reg]))[0]?.ok).toBe(true)
  await first.stop()
  return { engine: await engineFor(bloc, 0, store), reg, officer }
}

describe('engine: summaries', () => {
  it('reads no record header to log a read of a file (a logged read fills no field), nor a summary in memory', async () => {
    const store = new MemoryStore()
    const { engine, reg } = await reopenedWithCitizen(store)
    // The doc, one update from empty, is read where its entry holds it: that row, no record's.
    const place = docPlaceOf((await store.get(K.doc(reg.citizenId)))!)!
    const keys: string[] = []
    const get = store.get.bind(store)
    const getMany = store.getMany.bind(store)
    vi.spyOn(store, 'get').mockImplementation((k) => {
      keys.push(k)
      return get(k)
    })
    vi.spyOn(store, 'getMany').mockImplementation((ks) => {
      keys.push(...ks)
      return getMany(ks)
    })
    const read = {
      citizen: reg.citizenId,
      officer: 'b'.repeat(64),
      state: 'AAA',
      purpose: 'consular-assistance' as const,
      shown: 'file' as const,
    }
    await engine.logAccess([read])
    const [, access] = await engine.docRecords(reg.citizenId)
    // Whether the access record is stored already: its own row, not the registration's.
    expect(keys.filter((k) => k.startsWith('rec/') || k.startsWith('ent/'))).toEqual([
      K.record(access!),
      K.entryRow(place.origin, place.seq, place.row),
    ])
    // The file was just shown, so its summary is in memory: the next read's log reads none.
    expect((await engine.getSummary(reg.citizenId))?.nationality).toBe('AAA')
    keys.length = 0
    await engine.logAccess([read])
    expect(keys.filter((k) => k.startsWith('sum/'))).toEqual([])
    expect(await engine.docRecords(reg.citizenId)).toHaveLength(3)
    await engine.stop()
  })

  it('does not keep a summary read before a commit in place of the one the commit wrote', async () => {
    // A summary read from the store just before a transaction changes it, and cached after:
    // the file would show the old summary, and the next transaction would take the old index
    // keys for the ones to replace (the case's would stay in the work queue for ever).
    const store = new HeldReadStore()
    const { engine, reg, officer } = await reopenedWithCitizen(store)
    const read = store.holdNext(K.summary(reg.citizenId))
    const before = engine.getSummary(reg.citizenId)
    await read.reached
    const opened = officer.record('case.opened', reg.citizenId, { caseType: 'emergency-travel-document' })
    expect((await engine.submit([opened]))[0]?.ok).toBe(true)
    read.release()
    expect(Object.keys((await before)!.cases)).toEqual([])
    expect(Object.keys((await engine.getSummary(reg.citizenId))!.cases)).toEqual([opened.id])
    const moved = officer.record('case.transition', reg.citizenId, {
      case: opened.id,
      from: 'submitted',
      to: 'in-review',
    })
    expect((await engine.submit([moved]))[0]?.ok).toBe(true)
    expect(await engine.indexKeys('ix/case/submitted/', 10)).toEqual([])
    expect(await engine.indexKeys('ix/case/in-review/', 10)).toEqual([opened.id])
    await engine.stop()
  })
})

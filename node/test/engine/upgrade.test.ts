/**
 * A store written before citizens' data was sealed (data format 1, kept in
 * node/test/fixtures/store-v0, made by the node of that time) opens with this node: payloads are
 * sealed, summaries and indexes rebuilt, the plain values gone from the files, the history intact.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  decodeCanonical,
  docHash,
  encodeCanonical,
  fromBase64url,
  fromHex,
  generateKeyPair,
  type KeyPair,
  loadDoc,
  type SignedCharter,
  utf8ToBytes,
} from '@legation/protocol'
import { afterEach, expect, it, vi } from 'vitest'
import { auditStore } from '../../src/audit.ts'
import { Engine } from '../../src/engine/engine.ts'
import {
  deleteEntryRows,
  docPlaceOf,
  docStates,
  readEntries,
  readEntry,
  readRecords,
} from '../../src/engine/entry-rows.ts'
import { idOfKeyPart, K, recordIdOf, seqKey } from '../../src/engine/keys.ts'
import { beginMigration, STORE_FORMAT, storeFormat } from '../../src/engine/migrate.ts'
import { decodeSummaryRow, indexKeysOf } from '../../src/engine/summary-row.ts'
import { Vault } from '../../src/engine/vault.ts'
import { accessLog } from '../../src/engine/views.ts'
import { LevelStore } from '../../src/storage/level-store.ts'
import { type BatchOp, prefixRange, type Store } from '../../src/storage/store.ts'
import { allBytes, ed, travelDocumentNumber } from '../fixtures.ts'

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'store-v0')
const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

interface Fixture {
  nodeSecretKey: string
  charter: string
  people: Array<{
    citizen: string
    given: string
    family: string
    passport: string
    region: string
    email: string
  }>
}

/** A copy of the format-1 fixture in a folder of its own, with the node's keys and charter. */
async function copyOfFixture() {
  const dir = await mkdtemp(join(tmpdir(), 'legation-upgrade-'))
  dirs.push(dir)
  await cp(join(FIXTURE, 'db'), join(dir, 'db'), { recursive: true })
  const f = JSON.parse(await readFile(join(FIXTURE, 'fixture.json'), 'utf8')) as Fixture
  const nodeKeys = generateKeyPair(ed, fromHex(f.nodeSecretKey))
  const charter = decodeCanonical(fromBase64url(f.charter)) as SignedCharter[]
  return { dir, f, nodeKeys, charter }
}

/** The fixture opened once by this node (so in this node's format), then stopped: its store still open. */
async function migratedFixture() {
  const fixture = await copyOfFixture()
  const store = await LevelStore.open(join(fixture.dir, 'db'))
  const first = await Engine.open({ store, ed, nodeKeys: fixture.nodeKeys, charter: fixture.charter })
  const root = first.stateRoot()
  const vv = first.versionVector()
  await first.stop()
  return { ...fixture, store, root, vv }
}

/**
 * A store's docs: each one's Yjs state by doc id (read where its row names a place in an entry),
 * each one's hash by doc id, and how many rows name a place (data format 6).
 */
async function docRows(store: LevelStore) {
  const keys: string[] = []
  const rows: Uint8Array[] = []
  for await (const [key, row] of store.range(prefixRange('doc/'))) {
    keys.push(key)
    rows.push(row)
  }
  const resolved = await docStates(store, rows)
  const states = new Map<string, Uint8Array>()
  const hashes = new Map<string, Uint8Array>()
  keys.forEach((key, i) => {
    const docId = idOfKeyPart(key.slice('doc/'.length))
    states.set(docId, resolved[i]!)
    hashes.set(docId, docHash(docId, loadDoc(resolved[i], 1, docId)))
  })
  return { states, hashes, places: rows.filter((r) => docPlaceOf(r) !== undefined).length }
}

/**
 * The docs after a rebuild hold what they held, and a doc that took one update from empty is
 * kept as that update's place in its entry (data format 6), not a copy.
 */
async function expectDocsKept(store: LevelStore, states: ReadonlyMap<string, Uint8Array>) {
  const after = await docRows(store)
  expect(after.states).toEqual(states)
  expect(states.size).toBeGreaterThan(0)
  expect(after.places).toBeGreaterThan(0)
}

/** `store` read as it is, written through `write` (which may watch, or fail), never closed. */
function writingThrough(store: Store, write: Store['write']): Store {
  return {
    get: (k) => store.get(k),
    getMany: (k) => store.getMany(k),
    range: (o) => store.range(o),
    sideFile: (n) => store.sideFile(n),
    close: async () => {},
    write,
  }
}

/** Opens an engine over `store`, noting each migration it reports. */
async function openWatching(store: Store, nodeKeys: KeyPair, charter: SignedCharter[]) {
  const migrated: unknown[] = []
  const engine = await Engine.open({
    store,
    ed,
    nodeKeys,
    charter,
    observer: { migrated: (r) => migrated.push(r) },
  })
  return { engine, migrated }
}

it('opens a store of the format before sealing: migrates it, and its plain values leave the files', async () => {
  const { dir, f, nodeKeys, charter } = await copyOfFixture()
  const values = f.people.flatMap((p) => [p.given, p.family, p.passport, p.region, p.email])
  // The fixture is what it says: plain values in a store without a format mark.
  const before = await allBytes(dir)
  expect(values.filter((v) => !before.includes(v))).toEqual([])

  const store = await LevelStore.open(join(dir, 'db'))
  expect(await storeFormat(store)).toBe(1)
  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 1, to: STORE_FORMAT, sealed: 6 }])
  expect(await storeFormat(store)).toBe(STORE_FORMAT)
  for (const p of f.people) {
    const s = await engine.getSummary(p.citizen)
    expect(s).toMatchObject({ nationality: 'AAA', presence: { region: p.region } })
    expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
    expect(await engine.indexKeys(engine.blindPrefix('td', p.passport), 10)).toEqual([p.citizen])
  }
  // The search keys of the old format are gone.
  expect(await engine.indexKeys(`ix/td/${f.people[0]!.passport}/`, 10)).toEqual([])
  const root = engine.stateRoot()
  await engine.stop()
  await store.close()
  const bytes = await allBytes(dir)
  expect(values.filter((v) => bytes.includes(v))).toEqual([])

  // Opened again: nothing more to migrate, same state, and the history audits clean.
  const again = await LevelStore.open(join(dir, 'db'))
  const twice: unknown[] = []
  const reopened = await Engine.open({
    store: again,
    ed,
    nodeKeys,
    charter,
    observer: { migrated: (r) => twice.push(r) },
  })
  expect(twice).toEqual([])
  expect(reopened.stateRoot()).toBe(root)
  expect(await travelDocumentNumber(reopened, f.people[1]!.citizen)).toBe(f.people[1]!.passport)
  await reopened.stop()
  const report = await auditStore(again, ed, { charter })
  expect(report.problems).toEqual([])
  await again.close()
})

it('refuses a store of a newer format than it reads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'legation-upgrade-'))
  dirs.push(dir)
  await cp(join(FIXTURE, 'db'), join(dir, 'db'), { recursive: true })
  const f = JSON.parse(await readFile(join(FIXTURE, 'fixture.json'), 'utf8')) as Fixture
  const store = await LevelStore.open(join(dir, 'db'))
  await store.write([
    { type: 'put', key: K.format, value: new TextEncoder().encode(String(STORE_FORMAT + 1)) },
  ])
  const nodeKeys = generateKeyPair(ed, fromHex(f.nodeSecretKey))
  const charter = decodeCanonical(fromBase64url(f.charter)) as SignedCharter[]
  await expect(Engine.open({ store, ed, nodeKeys, charter })).rejects.toMatchObject({
    code: 'STORE_FORMAT_NEWER',
  })
  await store.close()
})

it('opens a store of format 2, each doc hash in a row of its own: rebuilt without them, the state root kept', async () => {
  const { f, nodeKeys, charter, store, root } = await migratedFixture()
  // Format 2 as its node wrote it: a doc row holds the Yjs state alone, its hash is under `dh/`.
  const ops: BatchOp[] = []
  const { states, hashes } = await docRows(store)
  for (const [docId, hash] of hashes) ops.push({ type: 'put', key: `dh/${docId}`, value: hash })
  for (const [docId, state] of states) ops.push({ type: 'put', key: K.doc(docId), value: state })
  expect(ops.length).toBeGreaterThan(0)
  ops.push({ type: 'put', key: K.format, value: new TextEncoder().encode('2') })
  await store.write(ops)

  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 2, to: STORE_FORMAT, sealed: 0 }])
  expect(await storeFormat(store)).toBe(STORE_FORMAT)
  expect(engine.stateRoot()).toBe(root)
  for (const p of f.people) {
    expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
  }
  const hashRows: string[] = []
  for await (const [key] of store.range(prefixRange('dh/'))) hashRows.push(key)
  expect(hashRows).toEqual([])
  await expectDocsKept(store, states)
  await engine.stop()
  const report = await auditStore(store, ed, { charter })
  expect(report.problems).toEqual([])
  await store.close()
})

it('opens a store of format 3, each entry whole and each record stored twice: entries cut into rows, records once', async () => {
  const { f, nodeKeys, charter, store, root, vv } = await migratedFixture()
  const origins = Object.keys(vv).filter((o) => (vv[o] ?? 0) > 0)
  // Format 3 as its node wrote it: an entry in one row, a record's row a copy of it with its place.
  const ops: BatchOp[] = []
  const entries = new Map<string, Uint8Array>()
  for (const origin of origins) {
    for await (const { seq, bytes } of readEntries(store, origin, { from: 1 })) {
      ops.push(...(await deleteEntryRows(store, origin, seq)))
      const key = `${K.entries(origin)}${seqKey(seq)}`
      ops.push({ type: 'put', key, value: bytes })
      entries.set(key, bytes)
    }
  }
  const records: string[] = []
  for await (const [key] of store.range(prefixRange(K.records))) {
    records.push(recordIdOf(key))
    ops.push({ type: 'del', key })
  }
  for (const [i, r] of (await readRecords(store, records)).entries()) {
    ops.push({ type: 'put', key: `${K.records}${records[i]!}`, value: encodeCanonical({ ...r! }) })
  }
  expect(entries.size).toBeGreaterThan(0)
  expect(records.length).toBe(f.people.length * 2)
  ops.push({ type: 'put', key: K.format, value: new TextEncoder().encode('3') })
  await store.write(ops)
  // The offline audit reads a store its node has not migrated yet (and a backup of that format).
  const early = await auditStore(store, ed, { charter })
  expect(early.problems).toEqual([])
  expect(early.entries).toBe(entries.size)

  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 3, to: STORE_FORMAT, sealed: 0 }])
  expect(engine.stateRoot()).toBe(root)
  // Every entry reads back as signed, and no whole one is left.
  for (const [key, bytes] of entries) {
    const [, origin, seq] = key.split('/')
    expect(await readEntry(store, origin!, Number(seq))).toEqual(bytes)
    expect(await store.get(key)).toBeUndefined()
  }
  // A record's row says where it is, and is a small fraction of the record.
  for (const id of records) {
    const row = (await store.get(K.record(id)))!
    const stored = (await engine.getRecord(id))!
    expect(decodeCanonical(row)).toEqual([stored.origin, stored.seq, expect.any(Number)])
    expect(row.length).toBeLessThan(encodeCanonical(stored.record).length / 10)
  }
  for (const p of f.people) {
    expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
  }
  await engine.stop()
  const report = await auditStore(store, ed, { charter })
  expect(report.problems).toEqual([])
  await store.close()
})

it('opens a store of format 4, summaries in JSON naming their index keys, record keys in hex, doc rows with their hash: rebuilt in binary', async () => {
  const { f, nodeKeys, charter, store, root } = await migratedFixture()
  // Format 4 as its node wrote it: a summary in JSON with its index keys listed, an index row
  // holding the citizen (or case's citizen), a record's key its id in hex.
  const ops: BatchOp[] = []
  const summaries = new Map<string, unknown>()
  for await (const [key, row] of store.range(prefixRange('sum/'))) {
    const citizen = idOfKeyPart(key.slice('sum/'.length))
    const s = decodeSummaryRow(row)
    const old = {
      nationality: s.nationality,
      cases: s.cases,
      welfare: s.welfare,
      ix: indexKeysOf(citizen, s),
      r: s.r,
    }
    summaries.set(citizen, old)
    ops.push({ type: 'put', key, value: utf8ToBytes(JSON.stringify(old)) })
  }
  let indexRows = 0
  for await (const [key] of store.range(prefixRange('ix/'))) {
    indexRows++
    ops.push({ type: 'put', key, value: utf8ToBytes(key.split('/').at(-1)!) })
  }
  // A doc row: the doc's hash, then its Yjs state.
  const { states, hashes } = await docRows(store)
  for (const [docId, hash] of hashes) {
    const key = K.doc(docId)
    ops.push({ type: 'put', key, value: new Uint8Array([...hash, ...states.get(docId)!]) })
  }
  let recordRows = 0
  for await (const [key, row] of store.range(prefixRange(K.records))) {
    recordRows++
    ops.push({ type: 'del', key }, { type: 'put', key: `${K.records}${recordIdOf(key)}`, value: row })
  }
  const listed = [...summaries.values()].flatMap((s) => (s as { ix: string[] }).ix)
  expect([summaries.size, indexRows, recordRows]).toEqual([
    f.people.length,
    listed.length,
    2 * f.people.length,
  ])
  expect(listed.length).toBeGreaterThanOrEqual(2 * f.people.length)
  ops.push({ type: 'put', key: K.format, value: new TextEncoder().encode('4') })
  await store.write(ops)

  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 4, to: STORE_FORMAT, sealed: 0 }])
  expect(await storeFormat(store)).toBe(STORE_FORMAT)
  expect(engine.stateRoot()).toBe(root)
  for (const p of f.people) {
    expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
    expect(await engine.indexKeys(engine.blindPrefix('td', p.passport), 10)).toEqual([p.citizen])
  }
  // Every summary is binary again and lists no keys; index rows are empty; record keys are short.
  for await (const [key, row] of store.range(prefixRange('sum/'))) {
    expect(row[0]).not.toBe('{'.charCodeAt(0))
    const s = decodeSummaryRow(row)
    const citizen = idOfKeyPart(key.slice('sum/'.length))
    const old = summaries.get(citizen) as { ix: string[] }
    expect(indexKeysOf(citizen, s)).toEqual(old.ix)
  }
  for await (const [, row] of store.range(prefixRange('ix/'))) expect(row.length).toBe(0)
  const recordKeys: string[] = []
  for await (const [key] of store.range(prefixRange(K.records))) recordKeys.push(key)
  expect(recordKeys).toHaveLength(recordRows)
  for (const key of recordKeys) expect(key.length).toBe(K.records.length + 43)
  await expectDocsKept(store, states)
  await engine.stop()
  const report = await auditStore(store, ed, { charter })
  expect(report.problems).toEqual([])
  await store.close()
})

it('marks the new format before the compaction after a migration, and compacts at the next start if it was cut short', async () => {
  const { nodeKeys, charter, store, root } = await migratedFixture()
  // A migration done: the store says the new format, and no compaction is owed.
  expect(await storeFormat(store)).toBe(STORE_FORMAT)
  expect(await store.get(K.compact)).toBeUndefined()
  // As a stop during that compaction leaves it: the mark written, the compaction still owed. An
  // older node reading this store refuses it (its rows are of the new format already).
  await store.write([{ type: 'put', key: K.compact, value: new Uint8Array([1]) }])
  const compact = vi.spyOn(store, 'compact')
  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([])
  expect(compact).toHaveBeenCalledTimes(1)
  expect(await store.get(K.compact)).toBeUndefined()
  expect(engine.stateRoot()).toBe(root)
  await engine.stop()
  // Once done, a start compacts nothing.
  const again = await openWatching(store, nodeKeys, charter)
  expect(compact).toHaveBeenCalledTimes(1)
  await again.engine.stop()
  await store.close()
})

it('finishes a migration from format 1 whose rebuild was cut short, when the node starts again', async () => {
  const { f, nodeKeys, charter, store, root } = await migratedFixture()
  // As a stop during that rebuild leaves it: payloads sealed, some record rows already written
  // anew by the rebuild, the marker still there and no format mark yet.
  await store.write([
    { type: 'del', key: K.format },
    { type: 'put', key: K.rebuild, value: new Uint8Array([1]) },
  ])
  expect(await storeFormat(store)).toBe(1)
  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 1, to: STORE_FORMAT, sealed: 0 }])
  expect(engine.stateRoot()).toBe(root)
  expect(await travelDocumentNumber(engine, f.people[0]!.citizen)).toBe(f.people[0]!.passport)
  await engine.stop()
  await store.close()
})

/**
 * Rewrites a store of this node's format as a node of format 5 wrote it: ids in the keys of data
 * keys, summaries, docs and indexes in hex, each doc row its whole Yjs state, each payload under
 * its digest in hex with its citizen as text. Answers what it moved, by new key.
 */
async function asFormat5(store: LevelStore, people: number) {
  const hex = (part: string) =>
    part.startsWith('!') ? part.slice(1) : Buffer.from(part, 'base64url').toString('hex')
  const { states } = await docRows(store)
  const ops: BatchOp[] = []
  for (const [docId, state] of states)
    ops.push({ type: 'del', key: K.doc(docId) }, { type: 'put', key: `doc/${docId}`, value: state })
  const payloads = new Map<string, Uint8Array>()
  for await (const [key, value] of store.range(prefixRange('pay/'))) {
    expect(value[0]).toBe(2)
    const owner = utf8ToBytes(Buffer.from(value.subarray(1, 17)).toString('hex'))
    const old = Uint8Array.of(1, owner.length, ...owner, ...value.subarray(17))
    ops.push({ type: 'del', key }, { type: 'put', key: `pay/${hex(key.slice(4))}`, value: old })
    payloads.set(key, value)
  }
  const moves = new Map<string, string>()
  for (const prefix of ['ck/', 'sum/', 'ix/']) {
    for await (const [key, value] of store.range(prefixRange(prefix))) {
      const cut = key.lastIndexOf('/') + 1
      const old = `${key.slice(0, cut)}${hex(key.slice(cut))}`
      ops.push({ type: 'del', key }, { type: 'put', key: old, value })
      moves.set(key, old)
    }
  }
  expect([...moves.keys()].filter((k) => k.startsWith('ck/'))).toHaveLength(people)
  expect(payloads.size).toBeGreaterThanOrEqual(people)
  ops.push({ type: 'put', key: K.format, value: new TextEncoder().encode('5') })
  await store.write(ops)
  return { states, payloads, moves }
}

/** Whether any citizen's data key is still under its format-5 key (the citizen in hex). */
async function hexDataKeys(store: Store): Promise<number> {
  let n = 0
  for await (const [key] of store.range(prefixRange('ck/'))) if (/^ck\/..\/[0-9a-f]{32}$/.test(key)) n++
  return n
}

it('opens a store of format 5, ids in keys in hex, doc rows whole: keys moved, a doc of one update kept as its place', async () => {
  const { f, nodeKeys, charter, store, root } = await migratedFixture()
  const { states, payloads, moves } = await asFormat5(store, f.people.length)
  // The data keys move before the vault reads them: it rewraps a bucket whose key rotation a
  // stop cut short, by its keys.
  const seen: number[] = []
  const load = Vault.prototype.load
  vi.spyOn(Vault.prototype, 'load').mockImplementation(async function (this: Vault) {
    seen.push(await hexDataKeys(store))
    return load.call(this)
  })
  expect((await docRows(store)).places).toBe(0)

  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 5, to: STORE_FORMAT, sealed: 0 }])
  expect(engine.stateRoot()).toBe(root)
  await expectDocsKept(store, states)
  expect(seen).toEqual([0])
  // Every key is back in its short form, none left in the old.
  for (const [key, old] of moves) {
    expect(await store.get(key)).toBeDefined()
    expect(await store.get(old)).toBeUndefined()
  }
  // Each payload is back under its short key, in the compact form (the rebuild seals it anew),
  // and opens.
  const moved = new Map<string, Uint8Array>()
  for await (const [key, value] of store.range(prefixRange('pay/'))) moved.set(key, value)
  expect([...moved.keys()]).toEqual([...payloads.keys()])
  for (const [key, value] of moved) {
    expect(value[0]).toBe(2)
    expect(value.length).toBe(payloads.get(key)!.length)
  }
  for (const p of f.people) expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
  await engine.stop()
  const report = await auditStore(store, ed, { charter })
  expect(report.problems).toEqual([])
  await store.close()
})

it('marks a store it migrates at once, so that an older node refuses it half done, and goes on after a stop', async () => {
  const { f, nodeKeys, charter, store, root } = await migratedFixture()
  await asFormat5(store, f.people.length)
  // The node stops after its first write: the marks.
  let writes = 0
  const stopping = writingThrough(store, (ops) =>
    writes++ === 0 ? store.write(ops) : Promise.reject(new Error('the node stopped')),
  )
  await expect(beginMigration(stopping)).rejects.toThrow('the node stopped')
  // A node of format 5 refuses what it reads now (its keys half moved); this one goes on.
  expect(await storeFormat(store)).toBe(STORE_FORMAT)
  expect(new TextDecoder().decode(await store.get(K.migrating))).toBe('5')
  expect(await hexDataKeys(store)).toBe(f.people.length)

  const { engine, migrated } = await openWatching(store, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 5, to: STORE_FORMAT, sealed: 0 }])
  expect(engine.stateRoot()).toBe(root)
  for (const p of f.people) expect(await travelDocumentNumber(engine, p.citizen)).toBe(p.passport)
  expect(await hexDataKeys(store)).toBe(0)
  expect(await store.get(K.migrating)).toBeUndefined()
  await engine.stop()
  await store.close()
})

it('opens a store of format 6, a file’s reads not listed apart: lists them from the entries, with no rebuild', async () => {
  const { f, nodeKeys, charter, store } = await migratedFixture()
  const first = await Engine.open({ store, ed, nodeKeys, charter })
  // Each citizen's file read twice, by two officers.
  await first.logAccess(
    f.people.flatMap((p) =>
      ['a', 'b'].map((o) => ({
        citizen: p.citizen,
        officer: o.repeat(64),
        state: 'AAA',
        purpose: 'legal-obligation' as const,
        shown: 'file' as const,
      })),
    ),
  )
  const logs = await Promise.all(f.people.map((p) => accessLog(first, p.citizen)))
  const root = first.stateRoot()
  await first.stop()
  // The store as a node of format 6 left it: no list of reads. One read's record is not
  // stored (as in an entry a rebuild kept and has not applied again): it is not listed.
  const ops: BatchOp[] = []
  for await (const [key] of store.range(prefixRange(K.accessLogs))) ops.push({ type: 'del', key })
  expect(ops).toHaveLength(2 * f.people.length)
  const unstored = logs[0]![0]!
  ops.push({ type: 'del', key: K.record(unstored.id) })
  ops.push({ type: 'put', key: K.format, value: utf8ToBytes('6') })
  await store.write(ops)

  const written = new Set<string>()
  const watched = writingThrough(store, (w) => {
    for (const op of w) written.add(op.key)
    return store.write(w)
  })
  const { engine, migrated } = await openWatching(watched, nodeKeys, charter)
  expect(migrated).toEqual([{ from: 6, to: STORE_FORMAT, sealed: 0 }])
  expect(written.has(K.rebuild)).toBe(false)
  expect(engine.stateRoot()).toBe(root)
  for (const [i, p] of f.people.entries()) {
    expect(logs[i]).toHaveLength(2)
    const listed = logs[i]!.filter((l) => l.id !== unstored.id).map((l) => l.id)
    expect((await engine.accessLogRecords(p.citizen)).sort()).toEqual(listed.sort())
  }
  await engine.stop()
  await store.close()
})

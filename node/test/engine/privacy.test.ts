import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  fromBase64url,
  fromHex,
  generateKeyPair,
  keyId,
  type LegationClient,
  toHex,
  verifyReceipt,
} from '@legation/protocol'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { Level } from 'level'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { accessRecords } from '../../src/engine/access-records.ts'
import { Engine } from '../../src/engine/engine.ts'
import { idKeyPart, K } from '../../src/engine/keys.ts'
import { open, seal, Vault } from '../../src/engine/vault.ts'
import { accessLog, caseView, citizenExport, citizenView } from '../../src/engine/views.ts'
import { LevelStore } from '../../src/storage/level-store.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { type BatchOp, prefixRange } from '../../src/storage/store.ts'
import { allBytes, countingEd, ed, registration, testBloc, travelDocumentNumber } from '../fixtures.ts'

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'legation-privacy-'))
  dirs.push(d)
  return d
}

/** Personal values no test fixture or key could contain by chance. */
function person(n: number) {
  const tag = randomBytes(5).toString('hex').toUpperCase()
  return {
    given: `Zephyrine${tag}`,
    family: `Okonkwo${tag}${n}`,
    place: `Quillabamba${tag}`,
    passport: `QX${tag}${n}`,
    email: `z${tag.toLowerCase()}@mail${n}.example`,
    phone: `+61 ${400000000 + n} ${tag.replace(/\D/g, '').slice(0, 3) || '777'}`,
    region: `Highlands${tag}`,
    address: `${n} Rue Calixte${tag}`,
    note: `CaseNote${tag}`,
  }
}
type Person = ReturnType<typeof person>
const values = (p: Person) => Object.values(p)

function records(officer: LegationClient, p: Person, nationality = 'AAA') {
  const citizenKeys = generateKeyPair(ed)
  const citizenId = keyId(citizenKeys.publicKey)
  const reg = officer.record(
    'citizen.registered',
    citizenId,
    {
      citizenKey: citizenKeys.publicKey,
      nationality,
      consent: { purposes: ['consular-assistance'], version: 1 },
    },
    {
      salt: officer.salt(),
      names: { given: p.given, family: p.family },
      birth: { date: '1979-11-23', place: p.place },
      travelDocument: { type: 'passport', number: p.passport, issuer: nationality, expires: '2032-02-02' },
      contact: { email: p.email, phone: p.phone },
    },
  )
  const presence = officer.record(
    'presence.registered',
    citizenId,
    { from: Date.now() - 1000, until: null },
    { salt: officer.salt(), country: 'FJ', region: p.region, address: p.address },
  )
  const opened = officer.record(
    'case.opened',
    citizenId,
    { caseType: 'emergency-travel-document' },
    { salt: officer.salt(), details: p.note },
  )
  return { citizenId, citizenKeys, reg, presence, opened }
}

/** Every key and value a stock LevelDB reader gets from the database, as text and bytes. */
async function readWithStockLevel(path: string): Promise<Buffer> {
  const db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
  const parts: Buffer[] = []
  for await (const [k, v] of db.iterator()) parts.push(Buffer.from(k), Buffer.from(v))
  await db.close()
  return Buffer.concat(parts)
}

const found = (haystack: Buffer, needles: readonly string[]) => needles.filter((v) => haystack.includes(v))

/** A one-node bloc's engine on an in-memory store. */
async function memoryEngine() {
  const bloc = testBloc(1)
  const engine = await Engine.open({
    store: new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[0]!.keys,
    charter: bloc.chain,
  })
  return { bloc, engine }
}

describe('privacy: sealed at rest', () => {
  it('seals with the cipher a browser has: node:crypto and @noble/ciphers give the same bytes', () => {
    const key = randomBytes(32)
    const aad = Buffer.from('pay/00ff\0citizen')
    const plain = randomBytes(300)
    const sealed = seal(key, plain, aad)
    const nonce = sealed.subarray(0, 12)
    expect(Buffer.from(chacha20poly1305(key, nonce, aad).encrypt(plain))).toEqual(
      Buffer.from(sealed.subarray(12)),
    )
    expect(Buffer.from(open(key, sealed, aad))).toEqual(plain)
    const tampered = Uint8Array.from(sealed)
    tampered[20]! ^= 1
    expect(() => open(key, tampered, aad)).toThrow()
    expect(() => open(key, sealed, Buffer.from('pay/00ff\0someone-else'))).toThrow()
  })

  it('a stock LevelDB reader and a scan of the files find no personal value; officers still search', async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    const store = await LevelStore.open(join(dir, 'db'))
    const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const officer = bloc.officer('AAA')
    const people = [person(1), person(2), person(3)]
    const made = people.map((p) => records(officer, p))
    for (const m of made) {
      const out = await engine.submit([m.reg, m.presence, m.opened])
      expect(out.every((o) => o.ok)).toBe(true)
    }
    // The node reads them back in plain form for those allowed to see them.
    const s = await engine.getSummary(made[0]!.citizenId)
    expect(await travelDocumentNumber(engine, made[0]!.citizenId)).toBe(people[0]!.passport)
    expect(s?.presence?.region).toBe(people[0]!.region)
    expect(await engine.indexKeys(engine.blindPrefix('td', people[1]!.passport), 10)).toEqual([
      made[1]!.citizenId,
    ])
    expect(await engine.indexKeys(engine.blindPrefix('pres', 'FJ'), 10)).toHaveLength(3)
    await engine.stop()
    await store.close()

    const everything = people.flatMap(values)
    expect(found(await readWithStockLevel(join(dir, 'db')), everything)).toEqual([])
    expect(found(await allBytes(dir), everything)).toEqual([])
    // Nor is the country of presence an index key any more.
    const keys = (await readWithStockLevel(join(dir, 'db'))).toString('latin1')
    expect(keys).not.toContain('ix/pres/FJ/')

    // Reopened with the same node key, everything reads again (the keys are derived, not lost).
    const again = await LevelStore.open(join(dir, 'db'))
    const reopened = await Engine.open({
      store: again,
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    expect(await travelDocumentNumber(reopened, made[2]!.citizenId)).toBe(people[2]!.passport)
    const payload = await reopened.getPayload(made[2]!.reg.record.header.payload!)
    expect(Buffer.from(payload!).includes(people[2]!.given)).toBe(true)
    await reopened.stop()
    await again.close()
  })
})

describe('privacy: the read log', () => {
  it('only a node certified in the charter signs a logged read; an officer or a citizen cannot forge one', async () => {
    const { bloc, engine } = await memoryEngine()
    const officer = bloc.officer('AAA')
    const m = records(officer, person(1))
    await engine.submit([m.reg])
    const body = {
      officer: 'a'.repeat(64),
      state: 'BBB',
      purpose: 'case-processing' as const,
      shown: 'file' as const,
      case: null,
    }
    const forged = [
      officer.record('access.logged', m.citizenId, body),
      bloc.citizen(m.citizenKeys).record('access.logged', m.citizenId, body),
    ]
    const out = await engine.submit(forged)
    expect(out.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual([
      'RECORD_UNAUTHORIZED',
      'RECORD_UNAUTHORIZED',
    ])
    // The node's own log of a read is accepted, and names it.
    await engine.logAccess([
      {
        citizen: m.citizenId,
        officer: 'b'.repeat(64),
        state: 'AAA',
        purpose: 'legal-obligation',
        shown: 'file',
      },
    ])
    const ids = await engine.docRecords(m.citizenId)
    const kinds = await Promise.all(ids.map(async (id) => (await engine.getRecord(id))?.record.header.kind))
    expect(kinds.filter((k) => k === 'access.logged')).toHaveLength(1)
  })
  it('a logged read costs the node two signatures, its record’s and its entry’s: none checked again, no receipt; a client’s write, its entry’s and its receipt’s', async () => {
    const bloc = testBloc(1)
    const { ed: counting, count: n } = countingEd()
    const node = bloc.nodes[0]!.keys
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed: counting,
      nodeKeys: node,
      charter: bloc.chain,
    })
    const m = records(bloc.officer('AAA'), person(1))
    expect((await engine.submit([m.reg]))[0]?.ok).toBe(true)
    const read = {
      citizen: m.citizenId,
      officer: 'b'.repeat(64),
      state: 'AAA',
      purpose: 'legal-obligation' as const,
      shown: 'file' as const,
    }
    n.sign = n.verify = 0
    await engine.logAccess([read])
    expect(n).toEqual({ sign: 2, verify: 0 })
    // A record in the node's name that it did not sign just now is verified like any other.
    const [made] = accessRecords(ed, node, { bloc: engine.bloc, charter: engine.charter.hash }, Date.now(), [
      read,
    ])
    const flipped = made!.record.sig.slice()
    flipped[9]! ^= 1
    n.sign = 0
    const [refused, copied] = await engine.submit([
      { record: { ...made!.record, sig: flipped }, payload: null },
      { record: { ...made!.record, sig: made!.record.sig.slice() }, payload: null },
    ])
    expect(!refused?.ok && refused?.error.code).toBe('SIGNATURE_INVALID')
    expect(copied?.ok).toBe(true)
    expect(n.verify).toBe(2)
    // A client's write still gets its signed receipt, signed with its entry (while the entry
    // was synced), not when the reply reads it.
    expect(n.sign).toBe(2)
    if (!copied?.ok) throw new Error('unreachable')
    const r = copied.receipt
    const body = { node: r.node, origin: r.origin, seq: r.seq, entry: fromHex(r.entry) }
    expect(verifyReceipt(ed, { body, sig: fromBase64url(r.sig) }, node.publicKey)).toBe(true)
    expect(n.sign).toBe(2)
  })
})

/** A store in memory that counts the records read from it. */
class CountingStore extends MemoryStore {
  recordsRead = 0
  /** Citizens' wrapped data keys read. */
  keysRead = 0
  override getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    this.recordsRead += keys.filter((k) => k.startsWith(K.records)).length
    this.keysRead += keys.filter((k) => k.startsWith(K.citizenKeys)).length
    return super.getMany(keys)
  }
  override get(key: string): Promise<Uint8Array | undefined> {
    if (key.startsWith(K.citizenKeys)) this.keysRead++
    return super.get(key)
  }
}

/** A store whose batched reads, while `holding`, answer what the store held when asked only once released. */
class HeldReadsStore extends MemoryStore {
  holding = false
  readonly held: Array<() => void> = []
  override async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const values = await super.getMany(keys)
    if (this.holding) await new Promise<void>((release) => this.held.push(release))
    return values
  }
  override async get(key: string): Promise<Uint8Array | undefined> {
    const value = await super.get(key)
    if (this.holding) await new Promise<void>((release) => this.held.push(release))
    return value
  }
}

describe('privacy: a file and the reads of it', () => {
  it('lists a file’s reads apart: the file and its case read none of them, the access log all, at a replica too, and after a rebuild', async () => {
    const bloc = testBloc(2)
    const stores = [new CountingStore(), new CountingStore()]
    const open = (i: number) =>
      Engine.open({ store: stores[i]!, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
    const a = await open(0)
    let b = await open(1)
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads: new Map(payloads) }))
    const m = records(bloc.officer('AAA'), person(1))
    expect((await a.submit([m.reg, m.presence, m.opened])).every((o) => o.ok)).toBe(true)
    const officers = Array.from({ length: 30 }, () => randomBytes(32).toString('hex'))
    // Read in three sittings: three entries of ten logged reads each.
    for (let i = 0; i < 3; i++) {
      await a.logAccess(
        officers.slice(i * 10, i * 10 + 10).map((officer) => ({
          citizen: m.citizenId,
          officer,
          state: 'BBB',
          purpose: 'consular-assistance' as const,
          shown: 'file' as const,
        })),
      )
    }
    for (const s of sent) expect(await b.applyRemote(s.bytes, s.payloads)).toBe('applied')

    const expectApart = async (e: Engine, store: CountingStore) => {
      store.recordsRead = 0
      const file = await citizenView(e, m.citizenId)
      expect(file?.timeline.map((i) => i.kind).sort()).toEqual([
        'case.opened',
        'citizen.registered',
        'presence.registered',
      ])
      expect(file?.cases.map((c) => c.id)).toEqual([m.opened.id])
      expect((await caseView(e, m.opened.id))?.citizen).toBe(m.citizenId)
      // The file's three records, once for the file and once for its case: none of the reads.
      expect(store.recordsRead).toBe(6)
      const log = await accessLog(e, m.citizenId)
      expect(log.map((l) => l.officer).sort()).toEqual([...officers].sort())
      expect(new Set(log.map((l) => l.node))).toEqual(new Set([a.nodeId]))
      expect((await e.accessLogRecords(m.citizenId)).sort()).toEqual(log.map((l) => l.id).sort())
    }
    await expectApart(a, stores[0]!)
    await expectApart(b, stores[1]!)

    // The list is derived: a rebuild writes it anew, dropping what does not belong in it.
    await b.stop()
    await stores[1]!.write([
      { type: 'put', key: K.accessLog(m.citizenId, m.reg.id), value: new Uint8Array(0) },
      { type: 'put', key: K.rebuild, value: new Uint8Array([1]) },
    ])
    b = await open(1)
    expect(await stores[1]!.get(K.rebuild)).toBeUndefined()
    await expectApart(b, stores[1]!)

    // A read not listed (the list is read as far as it is durable) is still left out of the
    // file, by its kind; the access log and the export, read from the doc, still show it.
    const [unlisted] = await a.accessLogRecords(m.citizenId)
    await stores[0]!.write([{ type: 'del', key: K.accessLog(m.citizenId, unlisted!) }])
    expect((await citizenView(a, m.citizenId))?.timeline.map((i) => i.kind)).not.toContain('access.logged')
    expect(await accessLog(a, m.citizenId)).toHaveLength(30)
    expect((await citizenExport(a, m.citizenId))?.accessLog).toHaveLength(30)
    await a.stop()
    await b.stop()
  })
})

describe('privacy: a change to a file read often', () => {
  it('does not read the file’s logged reads to apply the identity rule, and folds identity as before', async () => {
    const bloc = testBloc(1)
    const store = new CountingStore()
    const e = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const officer = bloc.officer('AAA')
    const m = records(officer, person(2))
    expect((await e.submit([m.reg])).every((o) => o.ok)).toBe(true)
    const read = { state: 'AAA', purpose: 'consular-assistance', shown: 'file' } as const
    await e.logAccess(
      Array.from({ length: 40 }, () => ({
        citizen: m.citizenId,
        officer: randomBytes(32).toString('hex'),
        ...read,
      })),
    )
    expect(await e.accessLogRecords(m.citizenId)).toHaveLength(40)
    store.recordsRead = 0
    expect((await e.submit([m.presence]))[0]?.ok).toBe(true)
    // The registration (the identity rule) and the presence (the summary): none of the 40 reads.
    expect(store.recordsRead).toBeLessThan(10)
    const summary = await e.getSummary(m.citizenId)
    expect(summary?.nationality).toBe('AAA')
    expect(summary?.presence?.country).toBe('FJ')
    await e.stop()
  })
})

describe('privacy: the key ring', () => {
  it('a store whose ring is missing, damaged or another node’s does not start (nothing is lost)', async () => {
    const dir = await tempDir()
    const bloc = testBloc(2)
    const open = async (i = 0) => {
      const store = await LevelStore.open(join(dir, 'db'))
      try {
        const e = await Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
        await e.stop()
        await store.close()
        return 'started'
      } catch (err) {
        await store.close()
        return (err as { code?: string }).code
      }
    }
    const store = await LevelStore.open(join(dir, 'db'))
    const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const m = records(bloc.officer('AAA'), person(1))
    expect((await engine.submit([m.reg]))[0]?.ok).toBe(true)
    await engine.stop()
    await store.close()
    const ring = join(dir, 'db.vault-ring')
    const kept = await readFile(ring)
    expect(await open(1)).toBe('VAULT_RING_INVALID')
    await rm(ring)
    expect(await open()).toBe('VAULT_RING_MISSING')
    await writeFile(ring, kept.subarray(0, kept.length - 1))
    expect(await open()).toBe('VAULT_RING_INVALID')
    await writeFile(ring, kept)
    expect(await open()).toBe('started')
  })
})

describe('privacy: erasure', () => {
  it('only the nationality state erases freely; a citizen cannot while a case holds their data', async () => {
    const { bloc, engine } = await memoryEngine()
    const m = records(bloc.officer('AAA'), person(1))
    await engine.submit([m.reg, m.presence, m.opened])
    const byOther = bloc.officer('BBB').record('citizen.erased', m.citizenId, { reason: 'court-order' })
    const citizen = bloc.citizen(m.citizenKeys)
    const bySelf = citizen.record('citizen.erased', m.citizenId, { reason: 'citizen-request' })
    const [other, self] = await engine.submit([byOther, bySelf])
    expect(other).toMatchObject({ ok: false, error: { code: 'RECORD_UNAUTHORIZED' } })
    expect(self).toMatchObject({ ok: false, error: { code: 'RECORD_LEGAL_HOLD' } })
    // Once the case is withdrawn, the citizen's own request is enough.
    const withdrawn = citizen.record('case.transition', m.citizenId, {
      case: m.opened.id,
      from: 'submitted',
      to: 'withdrawn',
    })
    const again = citizen.record('citizen.erased', m.citizenId, { reason: 'citizen-request' })
    const out = await engine.submit([withdrawn, again])
    expect(out.map((o) => o.ok)).toEqual([true, true])
    expect(await engine.getPayload(m.reg.record.header.payload!)).toBeUndefined()
  })

  it('reads many payloads at once in the order asked, none of an erased citizen nor an unknown digest', async () => {
    const { bloc, engine } = await memoryEngine()
    const officer = bloc.officer('AAA')
    const [a, b] = [records(officer, person(1)), records(officer, person(2))]
    await engine.submit([a.reg, a.presence, b.reg, b.presence])
    const digests = [b.presence, a.reg, b.reg].map((r) => r.record.header.payload!)
    const unknown = new Uint8Array(32).fill(9)
    const many = await engine.getPayloads([...digests, unknown])
    expect(many).toEqual([...(await Promise.all(digests.map((d) => engine.getPayload(d)))), undefined])
    expect(many.slice(0, 3).map((p) => p?.length)).toEqual(
      [b.presence, a.reg, b.reg].map((r) => r.payload!.length),
    )
    const erased = officer.record('citizen.erased', a.citizenId, { reason: 'court-order' })
    expect((await engine.submit([erased]))[0]!.ok).toBe(true)
    expect((await engine.getPayloads(digests)).map((p) => p !== undefined)).toEqual([true, false, true])
  })

  it('keeps a data key it made: the next record and the payloads served read no wrapped key; an erasure still destroys it', async () => {
    const bloc = testBloc(1)
    const store = new CountingStore()
    const e = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const officer = bloc.officer('AAA')
    const m = records(officer, person(3))
    expect((await e.submit([m.reg]))[0]?.ok).toBe(true)
    store.keysRead = 0
    expect((await e.submit([m.presence]))[0]?.ok).toBe(true)
    const digests = [m.reg, m.presence].map((r) => r.record.header.payload!)
    expect((await e.getPayloads(digests)).map((p) => p?.length)).toEqual(
      [m.reg, m.presence].map((r) => r.payload!.length),
    )
    expect(store.keysRead).toBe(0)
    const erased = officer.record('citizen.erased', m.citizenId, { reason: 'court-order' })
    expect((await e.submit([erased]))[0]?.ok).toBe(true)
    expect(await e.getPayloads(digests)).toEqual([undefined, undefined])
    await e.stop()
  })

  it('serves a history of more citizens than its key cache holds, oldest first, without pushing out the keys of the newest', async () => {
    const store = new CountingStore()
    const root = randomBytes(32)
    const vault = new Vault(root, { store }, { keyCacheSize: 4 })
    await vault.load()
    const officer = testBloc(1).officer('AAA')
    const written: Array<{ hex: string; plain: Uint8Array }> = []
    for (let i = 0; i < 8; i++) {
      const citizen = registration(officer).citizenId
      const plain = randomBytes(40)
      const hex = toHex(randomBytes(32))
      const ops: BatchOp[] = []
      ops.push({
        type: 'put',
        key: K.payload(hex),
        value: (await vault.sealPayload(citizen, hex, plain, ops))!,
      })
      await store.write(ops)
      vault.handed(ops)
      written.push({ hex, plain })
    }
    // The newest four citizens' keys are cached. A catch-up served two frames at a time, oldest first:
    store.keysRead = 0
    const served: Array<Uint8Array | undefined> = []
    for (let i = 0; i < 8; i += 2) {
      const frame = written.slice(i, i + 2)
      const sealed = await store.getMany(frame.map((w) => K.payload(w.hex)))
      served.push(
        ...(await vault.openPayloads(
          frame.map((w) => w.hex),
          sealed,
        )),
      )
    }
    expect(served).toEqual(written.map((w) => new Uint8Array(w.plain)))
    // The oldest four keys were read; the newest four were still cached when their frames came.
    expect(store.keysRead).toBe(4)
    // After a restart, a cache with room keeps what it served: the next peer's catch-up reads none.
    const restarted = new Vault(root, { store }, { keyCacheSize: 8 })
    await restarted.load()
    const sealed = await store.getMany(written.map((w) => K.payload(w.hex)))
    for (const expected of [8, 8]) {
      const got = await restarted.openPayloads(
        written.map((w) => w.hex),
        sealed,
      )
      expect(got).toEqual(served)
      expect(store.keysRead).toBe(4 + expected)
    }
  })

  it('keeps a data key read while an erasure re-wrapped its bucket and retired the old key: read again, not replaced', async () => {
    const store = new HeldReadsStore()
    const root = randomBytes(32)
    const sealer = new Vault(root, { store })
    await sealer.load()
    // Two citizens of one bucket (their ids' first byte): Z is erased, X's key is re-wrapped.
    const [x, z] = [`ab${toHex(randomBytes(15))}`, `ab${toHex(randomBytes(15))}`]
    const plain = randomBytes(40)
    const hex = toHex(randomBytes(32))
    const ops: BatchOp[] = []
    const sealed = (await sealer.sealPayload(x, hex, plain, ops))!
    await sealer.sealPayload(z, toHex(randomBytes(32)), randomBytes(40), ops)
    await store.write(ops)
    // After a restart, X's key is read to serve its payload; the read returns what the store
    // held then (wrapped under the bucket's first key) only after Z's erasure is durable and
    // that key destroyed.
    const vault = new Vault(root, { store })
    await vault.load()
    store.holding = true
    const serving = vault.openPayloads([hex], [sealed])
    await vi.waitUntil(() => store.held.length === 1)
    store.holding = false
    const erasure: BatchOp[] = []
    await vault.erase(z, 'cd'.repeat(32), erasure)
    await store.write(erasure)
    await vault.retire()
    for (const release of store.held.splice(0)) release()
    expect(await serving).toEqual([new Uint8Array(plain)])
    // X's next record is sealed under the same key: no fresh key replaces it.
    const next: BatchOp[] = []
    await vault.sealPayload(x, toHex(randomBytes(32)), randomBytes(40), next)
    expect(next.filter((op) => op.key.startsWith(K.citizenKeys))).toEqual([])
    expect(await vault.openPayload(hex, sealed)).toEqual(new Uint8Array(plain))
    // The same race on a record's own read of its key: a fresh key would replace X's.
    const [y, w] = [`cd${toHex(randomBytes(15))}`, `cd${toHex(randomBytes(15))}`]
    const first: BatchOp[] = []
    const ySealed = (await vault.sealPayload(y, hex, plain, first))!
    await vault.sealPayload(w, toHex(randomBytes(32)), randomBytes(40), first)
    await store.write(first)
    const again = new Vault(root, { store })
    await again.load()
    store.holding = true
    const sealing: BatchOp[] = []
    const yNext = again.sealPayload(y, toHex(randomBytes(32)), randomBytes(40), sealing)
    await vi.waitUntil(() => store.held.length === 1)
    store.holding = false
    const erasing: BatchOp[] = []
    await again.erase(w, 'ef'.repeat(32), erasing)
    await store.write(erasing)
    await again.retire()
    for (const release of store.held.splice(0)) release()
    await yNext
    expect(sealing.filter((op) => op.key.startsWith(K.citizenKeys))).toEqual([])
    expect(await again.openPayload(hex, ySealed)).toEqual(new Uint8Array(plain))
  })

  it('destroys the key and payloads on every replica, keeps history verifiable, and nothing brings them back', async () => {
    const dir = await tempDir()
    const bloc = testBloc(2)
    const storeA = await LevelStore.open(join(dir, 'a'))
    const storeB = await LevelStore.open(join(dir, 'b'))
    const a = await Engine.open({ store: storeA, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const b = await Engine.open({ store: storeB, ed, nodeKeys: bloc.nodes[1]!.keys, charter: bloc.chain })
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads: new Map(payloads) }))
    const officer = bloc.officer('AAA')
    const gone = person(1)
    const kept = person(2)
    const g = records(officer, gone)
    const k = records(officer, kept)
    await a.submit([g.reg, g.presence, g.opened, k.reg, k.presence])
    for (const s of sent) expect(await b.applyRemote(s.bytes, s.payloads)).toBe('applied')
    const wrappedKey = async (s: LevelStore, citizen: string) => {
      for await (const [key, v] of s.range(prefixRange(K.citizenKeys)))
        if (key.endsWith(`/${idKeyPart(citizen)}`)) return { key, v }
      return undefined
    }
    // What a forensic reader of B's files could still find after the erasure: LevelDB keeps
    // deleted values in its files until a compaction reaches them.
    const wrappedAtB = (await wrappedKey(storeB, g.citizenId))!
    const regDigest = toHex(g.reg.record.header.payload!)
    const sealedAtB = (await storeB.get(K.payload(regDigest)))!
    expect(wrappedAtB).toBeDefined()
    const oldPayloads = new Map(sent.flatMap((s) => [...s.payloads]))

    const erase = officer.record('citizen.erased', g.citizenId, { reason: 'court-order' })
    const [ok] = await a.submit([erase])
    expect(ok?.ok).toBe(true)
    expect(await b.applyRemote(sent.at(-1)!.bytes, sent.at(-1)!.payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())

    for (const e of [a, b]) {
      for (const r of [g.reg, g.presence, g.opened])
        expect(await e.getPayload(r.record.header.payload!)).toBeUndefined()
      expect(await e.getSummary(g.citizenId)).toMatchObject({ presence: null })
      expect(await travelDocumentNumber(e, g.citizenId)).toBeNull()
      expect(await e.indexKeys(e.blindPrefix('td', gone.passport), 10)).toEqual([])
      expect(await e.isErased(g.citizenId)).toBe(true)
      // The other citizen is untouched, and the signed history is all still there.
      expect(await travelDocumentNumber(e, k.citizenId)).toBe(kept.passport)
      expect(await e.getRecord(g.reg.id)).toBeDefined()
    }

    // A stale peer sends the old payloads again: they are not stored.
    expect(await b.storePayloads([...oldPayloads].map(([d, p]) => ({ d: Buffer.from(d, 'hex'), p })))).toBe(0)
    expect(await b.getPayload(g.reg.record.header.payload!)).toBeUndefined()
    expect(await b.missingPayloads(100)).toEqual([])

    for (const [e, s] of [
      [a, storeA],
      [b, storeB],
    ] as const) {
      await e.stop()
      await s.close()
    }
    // Nothing of the erased citizen is left in the files — not the values, not the sealed key.
    expect(found(await allBytes(dir), values(gone))).toEqual([])
    expect(found(await readWithStockLevel(join(dir, 'b')), values(gone))).toEqual([])
    // The ring beside each database still opens the kept citizen's key: A and B read them.
    for (const [i, path] of ['a', 'b'].entries()) {
      const s = await LevelStore.open(join(dir, path))
      const e = await Engine.open({ store: s, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
      expect(await travelDocumentNumber(e, k.citizenId)).toBe(kept.passport)
      expect(await wrappedKey(s, g.citizenId)).toBeUndefined()
      await e.stop()
      await s.close()
    }
    // Even with B's own secret key, and the sealed key and payload put back where they were,
    // nothing opens: the bucket key that wrapped the citizen's key is destroyed.
    const forensic = await LevelStore.open(join(dir, 'b'))
    await forensic.write([
      { type: 'put', key: wrappedAtB.key, value: wrappedAtB.v },
      { type: 'put', key: K.payload(regDigest), value: sealedAtB },
      { type: 'del', key: K.gone(g.citizenId) },
    ])
    const reader = await Engine.open({
      store: forensic,
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
    })
    expect(await reader.getPayload(g.reg.record.header.payload!)).toBeUndefined()
    await reader.stop()
    await forensic.close()
  })

  it('payloads that arrive after the erasure, with entries or alone, are never stored', async () => {
    const bloc = testBloc(2)
    const a = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    const b = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[1]!.keys,
      charter: bloc.chain,
    })
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads: new Map(payloads) }))
    const officer = bloc.officer('AAA')
    const g = records(officer, person(1))
    await a.submit([g.reg])
    await a.submit([g.presence])
    await a.submit([officer.record('citizen.erased', g.citizenId, { reason: 'deceased' })])
    // B hears of the registration without its payload, then of the erasure; the presence and
    // its payload come last.
    expect(await b.applyRemote(sent[0]!.bytes, new Map())).toBe('applied')
    expect(await b.applyRemote(sent[2]!.bytes, new Map())).toBe('pending')
    expect(await b.applyRemote(sent[1]!.bytes, sent[1]!.payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())
    expect(await b.getPayload(g.presence.record.header.payload!)).toBeUndefined()
    expect(await b.missingPayloads(10)).toEqual([])
    const late = [...sent[0]!.payloads].map(([d, p]) => ({ d: Buffer.from(d, 'hex'), p }))
    expect(await b.storePayloads(late)).toBe(0)
  })
})

describe('privacy: retention', () => {
  it('erases old presences and check-ins (not the presence in force) and stores no stale copy', async () => {
    const DAY = 86_400_000
    const bloc = testBloc(1)
    let now = Date.now()
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
      retentionMs: 30 * DAY,
      clock: () => now,
    })
    const officer = bloc.officer('AAA')
    const m = records(officer, person(1))
    const alert = officer.record('alert.issued', null, {
      country: 'FJ',
      region: null,
      severity: 'warning',
      title: 'Cyclone',
      message: 'Shelter',
    })
    const checkin = officer.record(
      'welfare.checkin',
      m.citizenId,
      { alert: alert.id, status: 'safe' },
      { salt: officer.salt(), note: 'at the school' },
    )
    const sent = new Map<string, Uint8Array>()
    engine.onEntry((_e, _b, p) => {
      for (const [d, x] of p) sent.set(d, x)
    })
    const first = await engine.submit([m.reg, m.presence, alert, checkin])
    expect(first.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(['ok', 'ok', 'ok', 'ok'])
    // A month later the citizen moved: a new presence, in force, open-ended.
    now += 31 * DAY
    const moved = officer.record(
      'presence.registered',
      m.citizenId,
      { from: now - 1000, until: null },
      { salt: officer.salt(), country: 'WS', region: 'Upolu' },
      now,
    )
    expect((await engine.submit([moved]))[0]?.ok).toBe(true)
    expect(await engine.sweepRetention()).toBe(2)
    const payload = (r: { record: { header: { payload: Uint8Array | null } } }) =>
      engine.getPayload(r.record.header.payload!)
    expect(await payload(m.presence)).toBeUndefined()
    expect(await payload(checkin)).toBeUndefined()
    // The registration, the presence in force and the welfare status (a signed code) stay.
    expect(await payload(m.reg)).toBeDefined()
    expect(await payload(moved)).toBeDefined()
    const s = await engine.getSummary(m.citizenId)
    expect(s?.presence).toMatchObject({ country: 'WS', region: 'Upolu' })
    expect(s?.welfare[alert.id]).toBe('safe')
    // Nothing left to sweep; a stale copy from a peer is not stored again.
    expect(await engine.sweepRetention()).toBe(0)
    const stale = [m.presence, checkin].map((r) => {
      const d = toHex(r.record.header.payload!)
      return { d: Buffer.from(d, 'hex'), p: sent.get(d)! }
    })
    expect(await engine.storePayloads(stale)).toBe(0)
    expect(await payload(m.presence)).toBeUndefined()
    // Without a retention period nothing is swept.
    const keeper = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    expect(await keeper.sweepRetention()).toBe(0)
  })
})

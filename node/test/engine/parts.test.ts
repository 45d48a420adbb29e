/**
 * The engine's parts on their own: held entries keep their budgets, the doc cache keeps what
 * is used within its count and memory, and Trust answers for officers' certificates as HTTP
 * authentication needs.
 */
import {
  createDoc,
  encodeCanonical,
  encodeDoc,
  generateKeyPair,
  keyId,
  openEntry,
  type SignedEntry,
  setQuorum,
  signAmendment,
  verifyCharterChain,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { DocCache, docMemoryBytes } from '../../src/engine/doc-cache.ts'
import { Engine } from '../../src/engine/engine.ts'
import { HeldEntries } from '../../src/engine/held-entries.ts'
import { K } from '../../src/engine/keys.ts'
import { Trust } from '../../src/engine/trust.ts'
import type { Prepared } from '../../src/engine/types.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, registration, type TestBloc, testBloc } from '../fixtures.ts'

/** Every byte string in a decoded value. */
function byteStrings(value: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (value instanceof Uint8Array) out.push(value)
  else if (value !== null && typeof value === 'object')
    for (const v of Object.values(value)) byteStrings(v, out)
  return out
}

/** A held entry as remote application makes one; only its place and size matter here. */
function prepared(origin: string, seq: number, size: number): Prepared {
  const entry = { body: { origin, seq, changes: [] }, sig: new Uint8Array(64) } as unknown as SignedEntry
  return {
    entry,
    bytes: new Uint8Array(size).fill(seq),
    hash: new Uint8Array(32),
    payloads: new Map(),
    ids: [],
  }
}

describe('held entries', () => {
  it('holds entries up to its count budget, then refuses more', () => {
    const held = new HeldEntries({ maxPending: 2 })
    expect(held.hold(prepared('a', 2, 10))).toBe(true)
    expect(held.hold(prepared('a', 3, 10))).toBe(true)
    expect(held.hold(prepared('b', 5, 10))).toBe(false)
    expect(held.size).toBe(2)
    held.drop('a', 2)
    expect(held.hold(prepared('b', 5, 10))).toBe(true)
    expect([...held.origins()].map(([o, bySeq]) => [o, [...bySeq.keys()]])).toEqual([
      ['a', [3]],
      ['b', [5]],
    ])
  })

  it('holds entries up to its byte budget, counting their decoded copies, and gives it back when they go', () => {
    const held = new HeldEntries({ maxPendingBytes: 200 })
    expect(held.hold(prepared('a', 2, 60))).toBe(true)
    expect(held.hold(prepared('a', 3, 60))).toBe(false)
    // 60 bytes and the decoded copy of them.
    expect(held.bytes).toBe(120)
    held.dropThrough('a', 2)
    expect(held.bytes).toBe(0)
    expect(held.size).toBe(0)
    expect(held.hold(prepared('a', 3, 60))).toBe(true)
  })

  it('lets go of entries held longer than their age allows', () => {
    let now = 1_000_000
    const held = new HeldEntries({ maxPendingAgeMs: 60_000 }, () => now)
    expect(held.hold(prepared('a', 2, 10))).toBe(true)
    now += 30_000
    expect(held.hold(prepared('a', 3, 10))).toBe(true)
    now += 40_000 // the first is 70 s old, the second 40 s
    held.expire()
    expect(held.get('a', 2)).toBeUndefined()
    expect(held.get('a', 3)).toBeDefined()
    expect(held.size).toBe(1)
  })

  it('keeps one entry per place', () => {
    const held = new HeldEntries()
    expect(held.hold(prepared('a', 2, 8))).toBe(true)
    expect(held.hold(prepared('a', 2, 9))).toBe(false)
    expect(held.get('a', 2)!.bytes).toHaveLength(8)
  })

  it('keeps an entry, bytes and decoded form, with nothing a view into the frame it came in', async () => {
    const bloc = testBloc(1)
    const engine = await Engine.open({
      store: new MemoryStore(),
      ed,
      nodeKeys: bloc.nodes[0]!.keys,
      charter: bloc.chain,
    })
    let sent: Uint8Array | undefined
    engine.onEntry((_e, bytes) => {
      sent = bytes
    })
    expect((await engine.submit([registration(bloc.officer('AAA'))]))[0]?.ok).toBe(true)
    await engine.stop()
    // The entry as it comes in: bytes amid a larger frame, decoded into views of them.
    const frame = new Uint8Array(sent!.length + 10)
    frame.set(sent!, 5)
    const opened = openEntry(frame.subarray(5, 5 + sent!.length))
    const { origin, seq } = opened.entry.body
    const held = new HeldEntries()
    expect(held.hold({ ...opened, payloads: new Map(), ids: [] })).toBe(true)
    const decoded = encodeCanonical(opened.entry)
    frame.fill(0) // the frame's buffer is reused
    const kept = held.get(origin, seq)!
    expect(kept.bytes).toEqual(sent)
    expect(encodeCanonical(kept.entry)).toEqual(decoded)
    expect(kept.bytes.buffer).not.toBe(frame.buffer)
    const strings = byteStrings(kept.entry)
    // The signature, the record's signature, the officer's certificate, the doc's update…
    expect(strings.length).toBeGreaterThan(4)
    for (const b of strings) expect(b.buffer).not.toBe(frame.buffer)
  })
})

describe('doc cache', () => {
  it('keeps the docs in use: a doc read again outlives one read once (LRU, not FIFO)', async () => {
    const store = new MemoryStore()
    const stored = createDoc(1, 'a')
    stored.getArray<string>('records').push(['0'.repeat(64)])
    await store.write([{ type: 'put', key: K.doc('a'), value: encodeDoc(stored) }])
    const cache = new DocCache({ docCacheSize: 2 }, { store, clientId: () => 7 })
    const a = await cache.load('a')
    const b = await cache.load('b')
    expect(await cache.load('a')).toBe(a) // a is now the most recently used
    await cache.load('c') // evicts b, the least recently used
    expect(await cache.load('a')).toBe(a)
    expect(await cache.load('b')).not.toBe(b)
    // A stored doc is decoded as this node's to write to; one not stored yet is the shared empty doc.
    expect(a.doc.clientID).toBe(7)
    expect(a.doc.getArray('records').length).toBe(1)
    expect(b.doc).toBe(cache.empty)
  })

  it('keeps a state that is a view into a frame as a copy of its own; one that is its whole buffer reads back the same', async () => {
    const source = createDoc(1, 'a')
    source.getArray<string>('records').push(['1'.repeat(64), '2'.repeat(64)])
    const update = encodeDoc(source)
    const cache = new DocCache({ docCacheSize: 10 }, { store: new MemoryStore(), clientId: () => 7 })
    // A replica's: the update inside the frame it came in, which is then reused.
    const frame = new Uint8Array(update.length + 100)
    frame.set(update, 40)
    cache.setState('a', frame.subarray(40, 40 + update.length), new Uint8Array(32))
    frame.fill(0)
    // An origin's: an update that is its whole buffer.
    const own = update.slice()
    cache.setState('b', own, new Uint8Array(32))
    for (const id of ['a', 'b']) {
      const d = await cache.load(id)
      expect(d.doc.getArray('records').toArray()).toEqual(['1'.repeat(64), '2'.repeat(64)])
      expect(d.bytes).toBe(update.length)
    }
  })

  it('never writes the shared empty doc: new citizens, at their origin and at a replica, get docs of their own', async () => {
    const bloc = testBloc(2)
    const open = (i: number) =>
      Engine.open({ store: new MemoryStore(), ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
    const [a, b] = [await open(0), await open(1)]
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads: new Map(payloads) }))
    const officer = bloc.officer('AAA')
    // Two new citizens in one entry: two docs that were not stored, written in one transaction.
    const regs = [registration(officer), registration(officer)]
    const out = await a.submit(regs)
    expect(out.filter((o) => !o.ok)).toEqual([])
    for (const s of sent) expect(await b.applyRemote(s.bytes, s.payloads)).toBe('applied')
    for (const e of [a, b]) {
      for (const r of regs) expect(await e.docRecords(r.citizenId)).toEqual([r.id])
      expect(await e.docRecords('ff'.repeat(32))).toEqual([])
    }
    expect(b.stateRoot()).toBe(a.stateRoot())
    await a.stop()
    await b.stop()
  })

  it('a replica takes a new citizen’s first update as its doc, and builds on it as on any doc', async () => {
    // A new citizen's doc is read off its first update at a replica, not decoded (`newDocContents`):
    // what it hashes, stores, caches and summarizes must be what the origin has, change after change.
    const bloc = testBloc(2)
    const storeB = new MemoryStore()
    const open = (i: number, store: MemoryStore) =>
      Engine.open({ store, ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
    const a = await open(0, new MemoryStore())
    let b = await open(1, storeB)
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads: new Map(payloads) }))
    const officer = bloc.officer('AAA')
    const presence = (citizenId: string, region: string) =>
      officer.record(
        'presence.registered',
        citizenId,
        { from: Date.now() - 1000, until: null },
        { salt: officer.salt(), country: 'FJ', region },
      )
    const [r1, r2, r3] = [registration(officer), registration(officer), registration(officer)]
    const roots: string[] = []
    for (const subs of [[r1, r2], [presence(r1.citizenId, 'Suva')], [r3], [presence(r3.citizenId, 'Nadi')]]) {
      expect((await a.submit(subs)).filter((o) => !o.ok)).toEqual([])
      roots.push(a.stateRoot())
    }
    expect(sent).toHaveLength(4)
    // Two new citizens in one entry; then a later change to one of them, in a transaction of its own.
    expect(await b.applyRemote(sent[0]!.bytes, sent[0]!.payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(roots[0])
    // Read off, not decoded: the cache holds the doc as its update, to decode when it is used.
    const cache = (b as unknown as { docs: DocCache }).docs
    expect(Object.getOwnPropertyDescriptor(await cache.load(r2.citizenId), 'doc')?.get).toBeDefined()
    expect(await b.applyRemote(sent[1]!.bytes, sent[1]!.payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(roots[1])
    // A new citizen and a change to it, in one transaction.
    const both = new Map([...sent[2]!.payloads, ...sent[3]!.payloads])
    expect(await b.applyRemoteMany([sent[2]!.bytes, sent[3]!.bytes], both)).toEqual(['applied', 'applied'])
    expect(b.stateRoot()).toBe(roots[3])
    // The replica writes to a doc it has held as an update only; the origin takes the change.
    const back: typeof sent = []
    b.onEntry((_e, bytes, payloads) => back.push({ bytes, payloads: new Map(payloads) }))
    expect((await b.submit([presence(r2.citizenId, 'Lautoka')])).filter((o) => !o.ok)).toEqual([])
    expect(await a.applyRemote(back[0]!.bytes, back[0]!.payloads)).toBe('applied')
    expect(b.stateRoot()).toBe(a.stateRoot())
    const same = async (e: Engine) => {
      for (const r of [r1, r2, r3])
        expect(await e.docRecords(r.citizenId)).toEqual(await a.docRecords(r.citizenId))
      expect((await e.getSummary(r1.citizenId))?.presence?.region).toBe('Suva')
      expect((await e.getSummary(r2.citizenId))?.presence?.region).toBe('Lautoka')
      expect((await e.getSummary(r2.citizenId))?.nationality).toBe('AAA')
      expect((await e.getSummary(r3.citizenId))?.presence?.region).toBe('Nadi')
    }
    await same(b)
    // As stored: a restart reads the docs from the store.
    await b.stop()
    b = await open(1, storeB)
    expect(b.stateRoot()).toBe(a.stateRoot())
    await same(b)
    await a.stop()
    await b.stop()
  })

  it('holds fewer docs when they are large: its memory is bounded, not only its count', async () => {
    // A citizen read by many officers: a doc of 300 records (each logged read is one).
    const big = createDoc(1, 'big')
    for (let i = 0; i < 300; i++) big.getArray<string>('records').push([`${i}`.padStart(64, '0')])
    const state = encodeDoc(big)
    const store = new MemoryStore()
    const row = state
    await store.write(
      ['a', 'b', 'c', 'huge'].map((id) => ({ type: 'put' as const, key: K.doc(id), value: row })),
    )
    const budget = 3 * docMemoryBytes(state.length) - 1
    const cache = new DocCache({ docCacheSize: 1000, docCacheBytes: budget }, { store, clientId: () => 7 })
    const [a, b, c] = [await cache.load('a'), await cache.load('b'), await cache.load('c')]
    expect(a.bytes).toBe(state.length)
    expect(await cache.load('c')).toBe(c)
    expect(await cache.load('b')).toBe(b)
    expect(await cache.load('a')).not.toBe(a) // the third large doc pushed out the oldest
    // Docs of citizens not stored yet (nothing decoded) fill the same budget by the dozen.
    const fresh = new DocCache({ docCacheSize: 1000, docCacheBytes: budget }, { store, clientId: () => 7 })
    const empty = await Promise.all(Array.from({ length: 30 }, (_, i) => fresh.load(`e${i}`)))
    for (const [i, d] of empty.entries()) expect(await fresh.load(`e${i}`)).toBe(d)
    // Nor do they push a stored doc out: they hold the one shared empty doc, not one each.
    const mixed = new DocCache(
      { docCacheSize: 1000, docCacheBytes: docMemoryBytes(state.length) + 10 * 4096 },
      { store, clientId: () => 7 },
    )
    const kept = await mixed.load('a')
    for (let i = 0; i < 100; i++) await mixed.load(`unknown${i}`)
    expect(await mixed.load('a')).toBe(kept)
    // A doc larger than the whole budget is not kept at all; what is kept stays.
    const small = new DocCache(
      { docCacheBytes: docMemoryBytes(state.length) - 1 },
      { store, clientId: () => 7 },
    )
    const e = await small.load('e')
    const huge = await small.load('huge')
    expect(await small.load('huge')).not.toBe(huge)
    expect(await small.load('e')).toBe(e)
  })

  it('does not cache a doc read before a transaction changed it (a read racing a commit)', async () => {
    // Reads load docs outside the transaction lock: the store answers only when let go here.
    let release = (): void => {}
    const held = new Promise<void>((r) => {
      release = r
    })
    class SlowStore extends MemoryStore {
      override async get(key: string): Promise<Uint8Array | undefined> {
        const v = await super.get(key)
        await held
        return v
      }
      override async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
        const v = await super.getMany(keys)
        await held
        return v
      }
    }
    const cache = new DocCache({}, { store: new SlowStore(), clientId: () => 7 })
    const reading = cache.load('a')
    const prefetching = cache.prefetch(['b'])
    // A transaction commits docs a and b meanwhile, and caches them as it left them.
    const committed = (id: string) => ({ doc: createDoc(7, id), hash: new Uint8Array(32).fill(1), bytes: 1 })
    const [a, b] = [committed('a'), committed('b')]
    cache.set('a', a)
    cache.set('b', b)
    release()
    expect((await reading).hash).toHaveLength(0) // the read answers what it read...
    expect((await prefetching).get('b')?.hash).toHaveLength(0)
    expect(await cache.load('a')).toBe(a) // ...but the next transaction builds on the commit
    expect((await cache.prefetch(['b'])).get('b')).toBe(b)
  })

  it('forgets a doc a transaction left too large to keep, rather than keep its older state', async () => {
    const store = new MemoryStore()
    const cache = new DocCache({ docCacheBytes: docMemoryBytes(100) }, { store, clientId: () => 7 })
    const before = { doc: createDoc(7, 'a'), hash: new Uint8Array(32).fill(1), bytes: 10 }
    cache.set('a', before)
    expect(await cache.load('a')).toBe(before)
    cache.set('a', { doc: createDoc(7, 'a'), hash: new Uint8Array(32).fill(2), bytes: 1000 })
    const after = await cache.load('a') // read from the store again, not the state before
    expect(after).not.toBe(before)
    expect(after.hash).toHaveLength(0)
  })
})

describe('trust', () => {
  async function loaded(bloc = testBloc(1)) {
    const trust = new Trust({ store: new MemoryStore(), ed }, bloc.chain)
    await trust.load()
    return { trust, bloc }
  }

  it('accepts an officer certificate of a member state presented with its key', async () => {
    const { trust, bloc } = await loaded()
    const officer = bloc.officer('BBB')
    expect(() => trust.checkOfficer(officer.cert!, officer.keys.publicKey, Date.now())).not.toThrow()
    expect(trust.bloc).toBe(bloc.bloc)
  })

  it('refuses a certificate shown with another key, out of its validity, or of another bloc', async () => {
    const { trust, bloc } = await loaded()
    const officer = bloc.officer('AAA')
    const refused = { code: 'REQUEST_AUTH_INVALID' }
    expect(() => trust.checkOfficer(officer.cert!, generateKeyPair(ed).publicKey, Date.now())).toThrow(
      expect.objectContaining(refused),
    )
    expect(() =>
      trust.checkOfficer(officer.cert!, officer.keys.publicKey, Date.now() + 400 * 86_400_000),
    ).toThrow(expect.objectContaining(refused))
    const stranger = testBloc(1).officer('AAA')
    expect(() => trust.checkOfficer(stranger.cert!, stranger.keys.publicKey, Date.now())).toThrow(
      expect.objectContaining(refused),
    )
  })

  it('reads a longer charter chain stored earlier back instead of the one it was given', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const first = new Trust({ store, ed }, bloc.chain)
    await first.load()
    expect(first.chain).toHaveLength(1)
    // A second start with an older (shorter) file: the stored chain stands.
    const again = new Trust({ store, ed }, bloc.chain.slice(0, 1))
    await again.load()
    expect(again.charter.hash).toBe(first.charter.hash)
    expect(again.certifiedNode('nobody')).toBeUndefined()
  })
})

describe('trust: the data folder and the charter given', () => {
  it('stores nothing and refuses to start a node its charter never certified', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const stranger = generateKeyPair(ed)
    const trust = new Trust({ store, ed }, bloc.chain)
    await expect(trust.load(keyId(stranger.publicKey))).rejects.toMatchObject({ code: 'NODE_NOT_CERTIFIED' })
    expect(await store.get('meta/charter')).toBeUndefined()
  })

  it('refuses a data folder that holds another bloc’s charter', async () => {
    const store = new MemoryStore()
    await new Trust({ store, ed }, testBloc(1).chain).load()
    await expect(new Trust({ store, ed }, testBloc(1).chain).load()).rejects.toMatchObject({
      code: 'CHARTER_CHAIN_BROKEN',
    })
  })
})

describe('trust: adopting an amendment', () => {
  function amended(bloc: TestBloc) {
    const prev = verifyCharterChain(ed, bloc.chain).at(-1)!
    const signers = ['AAA', 'BBB'].map((code) => ({ code, secretKey: bloc.stateKeys[code]!.secretKey }))
    return signAmendment(ed, setQuorum(prev, 3, { issuedAt: Date.now() }), signers)
  }

  it('keeps its own copy of the versions it held, whatever signatures the submitter attached to them', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const trust = new Trust({ store, ed }, bloc.chain)
    await trust.load()
    // The genesis as sent carries garbage signatures: the body is ours, the copy is not verified.
    const tampered = {
      ...bloc.chain[0]!,
      sigs: bloc.chain[0]!.sigs.map((x) => ({ ...x, sig: new Uint8Array(64) })),
    }
    expect(await trust.adoptCharter([tampered, amended(bloc)])).toBe(true)
    expect(trust.charter.version).toBe(2)
    // What was stored still verifies: the node starts again on it.
    const again = new Trust({ store, ed }, bloc.chain)
    await again.load()
    expect(again.charter.version).toBe(2)
  })

  it('refuses another bloc’s chain by its genesis hash, and a chain that does not extend this one', async () => {
    const bloc = testBloc(1)
    const trust = new Trust({ store: new MemoryStore(), ed }, bloc.chain)
    await trust.load()
    const other = testBloc(1)
    await expect(trust.adoptCharter([...other.chain, amended(other)])).rejects.toMatchObject({
      code: 'BLOC_MISMATCH',
    })
    const unsigned = { ...amended(bloc), sigs: [] }
    await expect(trust.adoptCharter([...bloc.chain, unsigned])).rejects.toMatchObject({
      code: 'CHARTER_QUORUM_NOT_MET',
    })
    expect(trust.charter.version).toBe(1)
  })
})

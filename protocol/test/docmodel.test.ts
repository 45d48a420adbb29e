import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { DOMAINS, domainHash, encodeCanonical } from '../src/encoding.ts'
import {
  ALERTS_DOC,
  accumulate,
  applyLocal,
  contentsHash,
  contentsOf,
  createDoc,
  depsSatisfied,
  docHash,
  docView,
  EMPTY_ACCUMULATOR,
  encodeDoc,
  FIELDS,
  type KnownRecord,
  loadDoc,
  newDocContents,
  newDocUpdate,
  RECORDS,
  type RecordHeader,
  stateRoot,
  toHex,
  type VersionVector,
  validateRemoteUpdate,
} from '../src/index.ts'
import { DAY, expectCode, makeBloc, registration, registrationPayload, T0, testSalt } from './fixtures.ts'

const bloc = makeBloc()
const consul = bloc.officer('AT', ['consul'], 200)
const crisis = bloc.officer('AT', ['crisis'], 201)
const ana = bloc.citizen(300)
const bob = bloc.citizen(301)

interface Rec {
  readonly id: string
  readonly header: RecordHeader
}
const records = new Map<string, Rec>()
function keep<T extends { id: string; record: { header: RecordHeader } }>(built: T): Rec {
  const r = { id: built.id, header: built.record.header }
  records.set(r.id, r)
  return r
}
const known = (id: string): KnownRecord | undefined => {
  const r = records.get(id)
  return r && { subject: r.header.subject, header: r.header }
}
const headerOf = (id: string) => records.get(id)?.header

/** A crisis alert for Kenya. */
const issued = (title: string, message: string) =>
  keep(
    crisis.client.record('alert.issued', null, {
      country: 'KE',
      region: null,
      severity: 'advisory',
      title,
      message,
    }),
  )
const alert = issued('Elections', 'Avoid crowds.')

/** A pool of records about one citizen, at assorted times, to be accepted at assorted nodes. */
function pool(citizen: typeof ana, n: number): Rec[] {
  const out = [
    keep(
      consul.client.record(
        'citizen.registered',
        citizen.id,
        registration(citizen.keys.publicKey, 'BE'),
        registrationPayload(n),
        T0 + DAY,
      ),
    ),
  ]
  for (let i = 0; i < 3; i++) {
    out.push(
      keep(
        citizen.record(
          'citizen.updated',
          citizen.id,
          { fields: i === 1 ? ['contact', 'names'] : ['contact'] },
          { salt: testSalt(n * 10 + i), contact: { phone: `+32 ${i}` } },
          T0 + (2 + (i % 2)) * DAY,
        ),
      ),
    )
    out.push(
      keep(
        citizen.record(
          'presence.registered',
          citizen.id,
          { from: T0 + i, until: null },
          { salt: testSalt(n * 10 + 5 + i), country: 'KE', region: `Region ${i}` },
          T0 + (3 + i) * DAY,
        ),
      ),
    )
  }
  out.push(
    keep(
      citizen.record('welfare.checkin', citizen.id, { alert: alert.id, status: 'safe' }, null, T0 + 9 * DAY),
    ),
  )
  return out
}
const anaPool = pool(ana, 1)
const bobPool = pool(bob, 2)
const [anaReg, anaUpd1, anaPres1, anaUpd2] = anaPool as [Rec, Rec, Rec, Rec]
const bobReg = bobPool[0]!

const A = 1001
const B = 1002

/** What node A sends after accepting `recs` into `doc`. */
const local = (doc: Y.Doc, recs: Rec[]) => applyLocal(doc, recs, headerOf)

/** An update made by hand as client `client` on top of `base` (what a rogue node could send). */
function craft(base: Y.Doc, client: number, change: (doc: Y.Doc) => void): Uint8Array {
  const doc = loadDoc(encodeDoc(base), client)
  const before = Y.encodeStateVector(doc)
  change(doc)
  return Y.encodeStateAsUpdate(doc, before)
}

describe('the Yjs doc model', () => {
  it('an honest update validates and gives the replica the same view and hash', () => {
    const docA = createDoc(A)
    const u = local(docA, [anaReg, anaUpd1])
    const docB = createDoc(B)
    const next = validateRemoteUpdate(docB, ana.id, u, A, known)
    expect(docView(next)).toEqual(docView(docA))
    expect(docView(next).records).toEqual([anaReg.id, anaUpd1.id].sort())
    expect(docView(next).fields).toMatchObject({
      registration: anaReg.id,
      names: anaReg.id,
      contact: anaUpd1.id,
    })
    expect(toHex(docHash(ana.id, next))).toBe(toHex(docHash(ana.id, docA)))
    // The copy is what the caller swaps in; it still writes as B.
    expect(next.clientID).toBe(B)
    const u2 = local(next, [anaPres1])
    const back = validateRemoteUpdate(docA, ana.id, u2, B, known)
    expect(docView(back).fields.presence).toBe(anaPres1.id)
  })

  it('validation never touches the doc it is given', () => {
    const docB = createDoc(B)
    const before = encodeDoc(docB)
    validateRemoteUpdate(docB, ana.id, local(createDoc(A), [anaReg]), A, known)
    expect(encodeDoc(docB)).toEqual(before)
  })

  it('newer records win their slots, by time then id; older ones only join the timeline', () => {
    const doc = createDoc(A)
    local(doc, [anaReg, anaUpd2]) // at T0 + 3 days: takes contact and names from the registration
    expect(docView(doc).fields).toMatchObject({ contact: anaUpd2.id, names: anaUpd2.id, birth: anaReg.id })
    local(doc, [anaUpd1]) // at T0 + 2 days: older, so it does not take the contact slot
    expect(docView(doc).fields.contact).toBe(anaUpd2.id)
    expect(docView(doc).records).toContain(anaUpd1.id)
  })

  it('a saved doc reloads with its own client id, so the node keeps writing as itself', () => {
    const docA = createDoc(A)
    local(docA, [anaReg])
    const reloaded = loadDoc(encodeDoc(docA), A)
    expect(reloaded.clientID).toBe(A)
    const u = local(reloaded, [anaUpd1])
    const replica = validateRemoteUpdate(loadDoc(encodeDoc(docA), B), ana.id, u, A, known)
    expect(docView(replica)).toEqual(docView(reloaded))
  })

  it('refuses structs of another client id with ENTRY_FOREIGN_CLIENT', () => {
    const u = local(createDoc(B), [anaReg])
    expectCode(() => validateRemoteUpdate(createDoc(A), ana.id, u, A, known), 'ENTRY_FOREIGN_CLIENT')
    // An update relaying both A's and B's structs is refused as a whole.
    const docA = createDoc(A)
    local(docA, [anaReg])
    const docB = validateRemoteUpdate(createDoc(B), ana.id, encodeDoc(docA), A, known)
    local(docB, [anaUpd1])
    expectCode(
      () => validateRemoteUpdate(createDoc(3), ana.id, encodeDoc(docB), B, known),
      'ENTRY_FOREIGN_CLIENT',
    )
    // So is one that repeats structs of A a replica already holds, and one whose foreign
    // structs wait on a dependency the replica lacks.
    expectCode(() => validateRemoteUpdate(docB, ana.id, encodeDoc(docB), B, known), 'ENTRY_FOREIGN_CLIENT')
    const later = createDoc(A)
    local(later, [anaReg])
    const gap = local(later, [anaUpd2])
    expectCode(() => validateRemoteUpdate(createDoc(3), ana.id, gap, B, known), 'ENTRY_FOREIGN_CLIENT')
  })

  it('refuses an update that deletes a record id from the timeline with ENTRY_REWRITE', () => {
    const docA = createDoc(A)
    const u1 = local(docA, [anaReg, anaUpd1])
    const docB = validateRemoteUpdate(createDoc(B), ana.id, u1, A, known)
    // A deletes its own entry…
    const del = craft(docA, A, (d) => d.getArray(RECORDS).delete(0, 1))
    expectCode(() => validateRemoteUpdate(docB, ana.id, del, A, known), 'ENTRY_REWRITE')
    // …or replaces it by another record.
    const replace = craft(docA, A, (d) => {
      d.getArray(RECORDS).delete(1, 1)
      d.getArray(RECORDS).insert(1, [anaPres1.id])
    })
    expectCode(() => validateRemoteUpdate(docB, ana.id, replace, A, known), 'ENTRY_REWRITE')
    // B deletes a record A wrote (a delete set may name anyone's structs).
    const byB = craft(docB, B, (d) => d.getArray(RECORDS).delete(0, 2))
    expectCode(() => validateRemoteUpdate(docA, ana.id, byB, B, known), 'ENTRY_REWRITE')
  })

  it('refuses timeline values that name unknown records, records about someone else, or non-ids', () => {
    const base = createDoc(A)
    const cases: [string, (d: Y.Doc) => void][] = [
      ['unknown record', (d) => d.getArray(RECORDS).push(['ff'.repeat(32)])],
      ["another citizen's record", (d) => d.getArray(RECORDS).push([bobReg.id])],
      ['an alert in a citizen doc', (d) => d.getArray(RECORDS).push([alert.id])],
      ['a number', (d) => d.getArray(RECORDS).push([42])],
      ['a nested type', (d) => d.getArray(RECORDS).push([new Y.Map()])],
    ]
    for (const [what, change] of cases) {
      const u = craft(base, A, change)
      expectCode(() => validateRemoteUpdate(createDoc(B), ana.id, u, A, known), 'ENTRY_INVALID')
      expect(what).toBeTruthy()
    }
  })

  it('refuses field values outside the timeline or in slots their record does not set', () => {
    const docA = createDoc(A)
    local(docA, [anaReg])
    const cases: [string, (d: Y.Doc) => void][] = [
      ['a record not in the timeline', (d) => d.getMap(FIELDS).set('contact', anaUpd1.id)],
      ['a slot the record may not set', (d) => d.getMap(FIELDS).set('presence', anaReg.id)],
      ['an invented slot', (d) => d.getMap(FIELDS).set('nickname', anaReg.id)],
      ['a non-id value', (d) => d.getMap(FIELDS).set('contact', 'ana@example.org')],
      ['a number', (d) => d.getMap(FIELDS).set('contact', 7)],
    ]
    for (const [what, change] of cases) {
      const u = craft(docA, A, change)
      const replica = loadDoc(encodeDoc(docA), B)
      expectCode(() => validateRemoteUpdate(replica, ana.id, u, A, known), 'ENTRY_INVALID')
      expect(what).toBeTruthy()
    }
  })

  it('asks about the records an update brings, never about what the doc held before', () => {
    // A doc with a long past: the replica's validator knows only the records of the entry at hand.
    const docA = createDoc(A)
    const past = local(docA, [anaReg, anaUpd1, anaPres1])
    const replica = validateRemoteUpdate(createDoc(B), ana.id, past, A, known)
    const asked: string[] = []
    const onlyNew = (id: string): KnownRecord | undefined => {
      asked.push(id)
      return id === anaUpd2.id ? known(id) : undefined
    }
    const next = validateRemoteUpdate(replica, ana.id, local(docA, [anaUpd2]), A, onlyNew)
    expect(docView(next)).toEqual(docView(docA))
    expect(new Set(asked)).toEqual(new Set([anaUpd2.id]))
    // A field set anew to a record of that past is asked about, and refused if unknown.
    const reset = craft(docA, A, (d) => d.getMap(FIELDS).set('contact', anaUpd1.id))
    expectCode(() => validateRemoteUpdate(next, ana.id, reset, A, onlyNew), 'ENTRY_INVALID')
    expect(validateRemoteUpdate(next, ana.id, reset, A, known).getMap(FIELDS).get('contact')).toBe(anaUpd1.id)
  })

  it('judges an update by its own structs, whatever the replica held before (one verdict at every node)', () => {
    const docA = createDoc(A)
    const past = local(docA, [anaReg])
    const held = validateRemoteUpdate(createDoc(B), ana.id, past, A, known)
    const none = (): KnownRecord | undefined => undefined
    // A rogue origin names again a record the replica holds but its entry does not carry: refused
    // at a replica that holds it as at one that does not (where it is unknown).
    const pushAgain = craft(docA, A, (d) => d.getArray(RECORDS).push([anaReg.id]))
    expectCode(() => validateRemoteUpdate(held, ana.id, pushAgain, A, none), 'ENTRY_INVALID')
    const setAgain = craft(docA, A, (d) => d.getMap(FIELDS).set('contact', anaReg.id))
    expect(docView(validateRemoteUpdate(held, ana.id, setAgain, A, known))).toEqual(docView(held))
    expectCode(() => validateRemoteUpdate(held, ana.id, setAgain, A, none), 'ENTRY_INVALID')
  })

  it('asks about the new values only when Yjs merges an origin’s new struct into its older one', () => {
    // Alerts set no field: two in a row are consecutive items of one client, which Yjs merges.
    const second = issued('Floods', 'Move to higher ground.')
    const docA = createDoc(A)
    const replica = validateRemoteUpdate(createDoc(B), ALERTS_DOC, local(docA, [alert]), A, known)
    const onlySecond = (id: string) => (id === second.id ? known(id) : undefined)
    const next = validateRemoteUpdate(replica, ALERTS_DOC, local(docA, [second]), A, onlySecond)
    expect(docView(next)).toEqual(docView(docA))
    expect(docView(next).records).toHaveLength(2)
  })

  it('refuses new shared types and shared types used in the wrong shape', () => {
    const cases: [string, (d: Y.Doc) => void][] = [
      ['a new map', (d) => d.getMap('notes').set('x', 'personal data')],
      ['a new text', (d) => d.getText('notes').insert(0, 'personal data')],
      ['keyed values in the timeline', (d) => d.getMap(RECORDS).set('x', 'personal data')],
      ['positional values in the fields', (d) => d.getArray(FIELDS).push(['personal data'])],
    ]
    for (const [what, change] of cases) {
      const u = craft(createDoc(A), A, change)
      expectCode(() => validateRemoteUpdate(createDoc(B), ana.id, u, A, known), 'ENTRY_INVALID')
      expect(what).toBeTruthy()
    }
  })

  it('refuses an update whose dependencies have not arrived, and accepts it once they have', () => {
    const docA = createDoc(A)
    const u1 = local(docA, [anaReg])
    const u2 = local(docA, [anaUpd1])
    const docB = createDoc(B)
    expectCode(() => validateRemoteUpdate(docB, ana.id, u2, A, known), 'ENTRY_INVALID')
    const after1 = validateRemoteUpdate(docB, ana.id, u1, A, known)
    const after2 = validateRemoteUpdate(after1, ana.id, u2, A, known)
    expect(docView(after2)).toEqual(docView(docA))
    // A deletion of something not yet received is a missing dependency too.
    const docC = validateRemoteUpdate(createDoc(3), ana.id, u1, A, known)
    const onlyDelete = craft(docC, 3, (d) => d.getArray(RECORDS).delete(0, 1))
    expectCode(() => validateRemoteUpdate(createDoc(B), ana.id, onlyDelete, 3, known), 'ENTRY_INVALID')
  })

  it('refuses bytes that are not a Yjs update', () => {
    expectCode(
      () => validateRemoteUpdate(createDoc(B), ana.id, Uint8Array.of(1, 2, 3), A, known),
      'ENTRY_INVALID',
    )
  })

  it('the alerts doc holds alerts only', () => {
    const u = local(createDoc(A), [alert])
    const next = validateRemoteUpdate(createDoc(B), ALERTS_DOC, u, A, known)
    expect(docView(next).records).toEqual([alert.id])
    const wrong = local(createDoc(A), [anaReg])
    expectCode(() => validateRemoteUpdate(createDoc(B), ALERTS_DOC, wrong, A, known), 'ENTRY_INVALID')
  })
})

describe('a new doc read off its first update (newDocContents)', () => {
  /**
   * Both ways of taking an update into a doc not stored yet: read off its structs, and the full
   * validation on a Y.Doc. Where the first answers, the second must accept, with the same
   * contents, timeline order included, and the same hash.
   */
  function bothWays(docId: string, u: Uint8Array, origin = A, k = known) {
    const fast = newDocContents(docId, u, origin, k)
    let full: Y.Doc | undefined
    try {
      full = validateRemoteUpdate(createDoc(B), docId, u, origin, k)
    } catch (err) {
      if (fast) throw new Error(`read off its structs, refused in full: ${(err as Error).message}`)
    }
    if (fast) {
      expect(fast).toEqual(contentsOf(full!))
      expect(toHex(contentsHash(docId, fast))).toBe(toHex(docHash(docId, full!)))
    }
    return { fast, full }
  }

  it('reads an honest first update as Yjs applies it', () => {
    const cases: [string, Rec[]][] = [
      ['a registration', [anaReg]],
      ['a registration and a presence', [anaReg, anaPres1]],
      ['a registration, a presence and a welfare check-in', [anaReg, anaPres1, anaPool[7]!]],
      ['an update and a presence', [anaUpd1, anaPres1]],
      ['a presence alone', [anaPres1]],
    ]
    for (const [what, recs] of cases) {
      const { fast } = bothWays(ana.id, local(createDoc(A), recs))
      expect(fast?.records, what).toEqual(recs.map((r) => r.id))
    }
    const alerts = bothWays(ALERTS_DOC, local(createDoc(A), [alert]))
    expect(alerts.fast?.records).toEqual([alert.id])
    expect(alerts.fast?.fields.size).toBe(0)
  })

  it('leaves to Yjs a slot set twice, and an update that is not a first one', () => {
    // The update takes the registration's contact and names: Yjs deletes the first values.
    const twice = bothWays(ana.id, local(createDoc(A), [anaReg, anaUpd2]))
    expect(twice.fast).toBeUndefined()
    expect(twice.full && docView(twice.full).fields.contact).toBe(anaUpd2.id)
    // A second update starts past clock 0: applied alone, it waits on the first (refused).
    const docA = createDoc(A)
    local(docA, [anaReg])
    const second = bothWays(ana.id, local(docA, [anaUpd1]))
    expect(second.fast).toBeUndefined()
    expect(second.full).toBeUndefined()
  })

  it('answers nothing for what the full validation refuses', () => {
    const refused: [string, Uint8Array, number][] = [
      ['another client’s structs', local(createDoc(B), [anaReg]), A],
      ['another citizen’s record', craft(createDoc(A), A, (d) => d.getArray(RECORDS).push([bobReg.id])), A],
      ['an unknown record', craft(createDoc(A), A, (d) => d.getArray(RECORDS).push(['ff'.repeat(32)])), A],
      ['a number', craft(createDoc(A), A, (d) => d.getArray(RECORDS).push([42])), A],
      [
        'a field outside the timeline',
        craft(createDoc(A), A, (d) => d.getMap(FIELDS).set('names', anaReg.id)),
        A,
      ],
      [
        'a slot the record may not set',
        craft(createDoc(A), A, (d) => {
          d.getArray(RECORDS).push([anaReg.id])
          d.getMap(FIELDS).set('presence', anaReg.id)
        }),
        A,
      ],
      ['a new shared type', craft(createDoc(A), A, (d) => d.getMap('notes').set('x', anaReg.id)), A],
      [
        'keyed values in the timeline',
        craft(createDoc(A), A, (d) => d.getMap(RECORDS).set('x', anaReg.id)),
        A,
      ],
      ['no update at all', Uint8Array.of(1, 2, 3), A],
    ]
    for (const [what, u, origin] of refused) {
      const { fast, full } = bothWays(ana.id, u, origin)
      expect(fast, what).toBeUndefined()
      expect(full, what).toBeUndefined()
    }
    // An alert in a citizen's doc, a registration in the alerts doc.
    expect(bothWays(ana.id, local(createDoc(A), [alert])).fast).toBeUndefined()
    expect(bothWays(ALERTS_DOC, local(createDoc(A), [anaReg])).fast).toBeUndefined()
  })

  /**
   * A V1 update made struct by struct, as a rogue origin could write it: groups of items, each
   * group from the clock of its first item, and no deletions. (`writeLen` writes a varuint.)
   */
  function encodeGroups(groups: readonly (readonly Y.Item[])[]): Uint8Array {
    const enc = new Y.UpdateEncoderV1()
    enc.writeLen(groups.length)
    for (const items of groups) {
      enc.writeLen(items.length)
      enc.writeClient(items[0]!.id.client)
      enc.writeLen(items[0]!.id.clock)
      for (const item of items) item.write(enc, 0)
    }
    enc.writeLen(0)
    return enc.toUint8Array()
  }
  const itemsOf = (u: Uint8Array) => Y.decodeUpdate(u).structs as Y.Item[]
  /** An item of the timeline: at its start without an origin, else right after `origin`. */
  const timelineItem = (clock: number, ids: string[], origin: Y.ID | null = null) =>
    new Y.Item(
      Y.createID(A, clock),
      null,
      origin,
      null,
      null,
      origin ? null : (RECORDS as never),
      null,
      new Y.ContentAny(ids),
    )
  const fieldItem = (clock: number, slot: string, id: string) =>
    new Y.Item(Y.createID(A, clock), null, null, null, null, FIELDS as never, slot, new Y.ContentAny([id]))

  it('leaves to Yjs every shape whose result it does not read off as Yjs would', () => {
    // Each of these is accepted or refused by Yjs with other contents than a plain reading gives.
    const chain = itemsOf(local(createDoc(A), [anaReg, anaPres1, anaPool[7]!]))
    expect(encodeGroups([chain])).toEqual(local(createDoc(A), [anaReg, anaPres1, anaPool[7]!]))
    const last = chain.at(-1)!
    // The last item placed after the first one rather than after the one before it.
    const misplaced = chain.map((s) =>
      s === last ? new Y.Item(s.id, null, Y.createID(A, 0), null, null, null, null, s.content) : s,
    )
    // A slot set twice at the start of the fields: Yjs keeps the first value.
    const both = timelineItem(0, [anaReg.id, anaUpd1.id])
    const twice = [both, fieldItem(2, 'contact', anaReg.id), fieldItem(3, 'contact', anaUpd1.id)]
    // A group of the same client repeated: Yjs keeps the last one, which then starts past 0.
    const [head, ...rest] = itemsOf(local(createDoc(A), [anaReg]))
    // A deletion: the timeline's second record deleted, in a doc that keeps deleted content.
    const keeps = new Y.Doc({ gc: false })
    keeps.clientID = A
    keeps.transact(() => keeps.getArray(RECORDS).push([anaReg.id, anaPres1.id]))
    keeps.transact(() => keeps.getArray(RECORDS).delete(1, 1))
    // The first update of a doc whose client wrote before (clock 0 taken by another change).
    const wrote = createDoc(A)
    wrote.getMap(FIELDS).set('x', 'y')
    const late = local(wrote, [anaReg])
    // Items of no values: an origin naming "the end" of one names the struct before it.
    const none = (clock: number, origin: Y.ID | null) => timelineItem(clock, [], origin)
    const emptyAtEnd = [timelineItem(0, [anaReg.id]), none(1, Y.createID(A, 0))]
    const intoAField = [
      fieldItem(0, 'names', anaReg.id),
      none(1, null),
      timelineItem(1, [anaReg.id], Y.createID(A, 0)),
    ]
    const overAField = [
      both,
      fieldItem(2, 'contact', anaReg.id),
      none(3, Y.createID(A, 1)),
      timelineItem(3, [anaUpd1.id], Y.createID(A, 2)),
    ]
    // Content of another kind than ContentAny (ContentJSON holds an array of values too).
    const kind = (content: Y.Item['content']) =>
      encodeGroups([[new Y.Item(Y.createID(A, 0), null, null, null, null, RECORDS as never, null, content)]])
    const cases: [string, Uint8Array][] = [
      ['JSON content', kind(new Y.ContentJSON([anaReg.id]))],
      ['a string', kind(new Y.ContentString(anaReg.id))],
      ['a nested type', kind(new Y.ContentType(new Y.Map()))],
      ['an item of no values at the end of the timeline', encodeGroups([emptyAtEnd])],
      ['an item after an empty one, into a field', encodeGroups([intoAField])],
      ['an item after an empty one, over a field', encodeGroups([overAField])],
      ['an item placed elsewhere than after the one before', encodeGroups([misplaced])],
      ['a slot set twice', encodeGroups([twice])],
      ['a group repeated', encodeGroups([[head!], rest])],
      ['a deletion', Y.encodeStateAsUpdate(keeps)],
      ['a first update that starts past clock 0', late],
    ]
    for (const [what, u] of cases) expect(bothWays(ana.id, u).fast, what).toBeUndefined()
  })

  it('agrees with Yjs on updates made struct by struct', () => {
    // Items of any placement a V1 update can say: at the start of either root type, or after
    // (and before) any clock of the origin, with zero to two values of records in and out of
    // this doc. Where the contents are read off, Yjs must accept and give the same.
    const ids = [anaReg.id, anaReg.id, anaPres1.id, anaUpd1.id, bobReg.id]
    const item = fc.record({
      place: fc.constantFrom('records', 'fields', 'after', 'after'),
      // How far before the last clock so far its origin is (0: right after the item before).
      back: fc.constantFrom(0, 0, 0, 1, 2),
      right: fc.oneof(
        { arbitrary: fc.constant(null), weight: 6 },
        { arbitrary: fc.nat({ max: 8 }), weight: 1 },
      ),
      slot: fc.constantFrom('registration', 'names', 'contact', 'presence'),
      values: fc.array(fc.constantFrom(...ids), { maxLength: 2 }),
    })
    let read = 0
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 8 }), (specs) => {
        let clock = 0
        const items = specs.map((x) => {
          const right = x.right === null ? null : Y.createID(A, x.right)
          const origin = x.place === 'after' ? Y.createID(A, Math.max(0, clock - 1 - x.back)) : null
          const root = origin || right ? null : x.place === 'fields' ? FIELDS : RECORDS
          const sub = root === FIELDS ? x.slot : null
          const made = new Y.Item(
            Y.createID(A, clock),
            null,
            origin,
            null,
            right,
            root as never,
            sub,
            new Y.ContentAny(x.values),
          )
          clock += x.values.length
          return made
        })
        if (bothWays(ana.id, encodeGroups([items])).fast) read++
      }),
      { numRuns: 3000 },
    )
    // Most are refused or left to Yjs; enough of them are read off to compare.
    expect(read).toBeGreaterThan(25)
  })

  it('agrees with Yjs on honest updates and on their mutations', () => {
    const honest = fc
      .subarray([anaReg, anaUpd1, anaPres1, anaUpd2, ...anaPool.slice(4)], { minLength: 1 })
      .map((recs) => local(createDoc(A), recs))
    const mutation = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      how: fc.constantFrom('set', 'insert', 'delete'),
    })
    let read = 0
    fc.assert(
      fc.property(honest, fc.array(mutation, { maxLength: 3 }), (u, mutations) => {
        let bytes = [...u]
        for (const m of mutations) {
          const i = m.at % (bytes.length + 1)
          if (m.how === 'set' && i < bytes.length) bytes[i] = m.byte
          else if (m.how === 'insert') bytes.splice(i, 0, m.byte)
          else bytes = bytes.filter((_, j) => j !== i)
        }
        if (bothWays(ana.id, Uint8Array.from(bytes)).fast) read++
      }),
      { numRuns: 1500 },
    )
    // Honest updates, left unmutated, are a part of the runs: most of them are read off.
    expect(read).toBeGreaterThan(100)
  })
})

describe('a new doc’s first update written without a Y.Doc (newDocUpdate)', () => {
  /** Records about one doc, some setting no slot (their pushes merge into one item). */
  const kinds = [
    ...anaPool,
    alert,
    issued('Floods', 'Move to higher ground.'),
    issued('Strike', 'No trains.'),
  ]

  it('writes the bytes applyLocal writes on an empty doc, and the contents the doc then holds', () => {
    let written = 0
    fc.assert(
      fc.property(
        fc.shuffledSubarray(kinds, { minLength: 1 }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 127, 128, 2 ** 31)),
        (recs, client) => {
          const doc = createDoc(client, ana.id)
          const update = local(doc, recs)
          const w = newDocUpdate(client, recs, headerOf)
          if (w) {
            written++
            expect(w.update).toEqual(update)
            expect(w.contents).toEqual(contentsOf(doc))
            expect(toHex(contentsHash(ana.id, w.contents))).toBe(toHex(docHash(ana.id, doc)))
          } else {
            // Only where Yjs deleted a value: a slot set twice.
            expect(Y.decodeUpdate(update).ds.clients.size).toBeGreaterThan(0)
          }
        },
      ),
      { numRuns: 2000 },
    )
    expect(written).toBeGreaterThan(200)
  })

  it('writes what a replica reads off, for a registration and what follows it in one group', () => {
    for (const recs of [[anaReg], [anaReg, anaPres1], [anaPres1, anaPool[7]!], [alert]]) {
      const w = newDocUpdate(A, recs, headerOf)!
      const docId = recs[0] === alert ? ALERTS_DOC : ana.id
      expect(newDocContents(docId, w.update, A, known)).toEqual(w.contents)
      expect(docView(loadDoc(w.update, A, docId))).toEqual(
        docView(validateRemoteUpdate(createDoc(B), docId, w.update, A, known)),
      )
    }
    // A registration then an update of its contact in one group: the slot is set twice.
    expect(newDocUpdate(A, [anaReg, anaUpd2], headerOf)).toBeUndefined()
    expect(newDocUpdate(A, [], headerOf)).toBeUndefined()
  })
})

describe('the state root', () => {
  const docs = [anaPool, bobPool].map((p, i) => {
    const d = createDoc(A)
    local(d, p.slice(0, 3))
    return { id: [ana.id, bob.id][i]!, hash: docHash([ana.id, bob.id][i]!, d), doc: d }
  })

  it('does not depend on the order docs were added or changed in', () => {
    const ab = accumulate(
      accumulate(EMPTY_ACCUMULATOR, docs[0]!.id, undefined, docs[0]!.hash),
      docs[1]!.id,
      undefined,
      docs[1]!.hash,
    )
    const ba = accumulate(
      accumulate(EMPTY_ACCUMULATOR, docs[1]!.id, undefined, docs[1]!.hash),
      docs[0]!.id,
      undefined,
      docs[0]!.hash,
    )
    expect(stateRoot(ab)).toBe(stateRoot(ba))
    expect(stateRoot(ab)).not.toBe(stateRoot(EMPTY_ACCUMULATOR))
  })

  it('moves a doc from its old hash to its new one in O(1)', () => {
    const acc1 = accumulate(EMPTY_ACCUMULATOR, docs[0]!.id, undefined, docs[0]!.hash)
    local(docs[0]!.doc, [anaPool[5]!])
    const newHash = docHash(docs[0]!.id, docs[0]!.doc)
    const moved = accumulate(acc1, docs[0]!.id, docs[0]!.hash, newHash)
    const fresh = accumulate(EMPTY_ACCUMULATOR, docs[0]!.id, undefined, newHash)
    expect(toHex(moved)).toBe(toHex(fresh))
    // The doc id is part of the leaf: the same doc hash under another id is another state.
    const other = accumulate(EMPTY_ACCUMULATOR, docs[1]!.id, undefined, newHash)
    expect(stateRoot(other)).not.toBe(stateRoot(fresh))
  })

  it('is the sum of the doc terms mod 2^256, with every carry and borrow', () => {
    // The reference: the arithmetic in BigInt, as the accumulator was first written.
    const big = (b: Uint8Array) => (b.length === 0 ? 0n : BigInt(`0x${toHex(b)}`))
    const term = (id: string, hash: Uint8Array) =>
      big(domainHash(DOMAINS.stateRoot, encodeCanonical({ id, hash })))
    const MOD = 1n << 256n
    const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
    // Accumulators at the edges too: all zeros (borrows run the whole width), all ones (carries do).
    const acc = fc.oneof(bytes32, fc.constant(new Uint8Array(32)), fc.constant(new Uint8Array(32).fill(0xff)))
    fc.assert(
      fc.property(
        acc,
        fc.string(),
        fc.option(bytes32, { nil: undefined }),
        bytes32,
        (a, id, oldHash, newHash) => {
          let want = big(a)
          if (oldHash) want = (want - term(id, oldHash) + MOD) % MOD
          want = (want + term(id, newHash)) % MOD
          const got = accumulate(a, id, oldHash, newHash)
          expect(got).toHaveLength(32)
          expect(big(got)).toBe(want)
        },
      ),
      { numRuns: 300 },
    )
  })
})

// ---- Convergence, the Yjs way: seeded random delivery with duplicates and delays ----

/** mulberry32: a tiny seeded PRNG, so a failing delivery order can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Message {
  readonly origin: number
  readonly seq: number
  readonly deps: VersionVector
  readonly doc: string
  readonly update: Uint8Array
}

class SimNode {
  readonly docs = new Map<string, Y.Doc>()
  readonly vv: VersionVector = {}
  readonly held: Message[] = []
  readonly accepted = new Set<string>()
  seq = 0
  readonly clientId: number
  constructor(clientId: number) {
    this.clientId = clientId
  }

  doc(id: string): Y.Doc {
    let d = this.docs.get(id)
    if (!d) {
      d = createDoc(this.clientId)
      this.docs.set(id, d)
    }
    return d
  }

  /** Accepts a record from a client: a local change, sent to the others as the next message. */
  accept(doc: string, rec: Rec): Message | undefined {
    if (this.accepted.has(rec.id)) return undefined
    this.accepted.add(rec.id)
    const update = local(this.doc(doc), [rec])
    const deps = Object.fromEntries(Object.entries(this.vv).filter(([k]) => k !== String(this.clientId)))
    this.seq++
    this.vv[this.clientId] = this.seq
    return { origin: this.clientId, seq: this.seq, deps, doc, update }
  }

  /** Receives a message: applies it when causally ready, holds it otherwise, drops duplicates. */
  receive(m: Message): void {
    if (m.origin === this.clientId) return
    this.held.push(m)
    let progress = true
    while (progress) {
      progress = false
      for (let i = 0; i < this.held.length; i++) {
        const h = this.held[i]!
        const have = this.vv[h.origin] ?? 0
        if (h.seq <= have) {
          this.held.splice(i--, 1) // duplicate
        } else if (h.seq === have + 1 && depsSatisfied(h.deps, this.vv)) {
          this.held.splice(i--, 1)
          // Validation throws for any bad update: an honest run must never see one.
          this.docs.set(h.doc, validateRemoteUpdate(this.doc(h.doc), h.doc, h.update, h.origin, known))
          this.vv[h.origin] = h.seq
          progress = true
        }
      }
    }
  }
}

describe('convergence', () => {
  const CITIZENS = [
    { id: ana.id, pool: anaPool },
    { id: bob.id, pool: bobPool },
  ]
  const op = fc.oneof(
    {
      arbitrary: fc.record({
        type: fc.constant('accept' as const),
        node: fc.nat(2),
        citizen: fc.nat(1),
        record: fc.nat(anaPool.length - 1),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ type: fc.constant('deliver' as const), pick: fc.nat(), to: fc.nat(2) }),
      weight: 3,
    },
  )

  it('nodes that received the same updates, in any order and with duplicates, have identical docs', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 50 }), fc.integer(), (ops, seed) => {
        const nodes = [new SimNode(A), new SimNode(B), new SimNode(1003)]
        const sent: Message[] = []
        const acceptedAnywhere = new Map<string, Set<string>>()
        for (const o of ops) {
          if (o.type === 'accept') {
            const c = CITIZENS[o.citizen]!
            // A citizen's registration comes first at the node that accepts their other records.
            const reg = c.pool[0]!
            const recs = o.record === 0 ? [reg] : [reg, c.pool[o.record]!]
            for (const rec of recs) {
              const m = nodes[o.node]!.accept(c.id, rec)
              if (m) sent.push(m)
              if (!acceptedAnywhere.has(c.id)) acceptedAnywhere.set(c.id, new Set())
              acceptedAnywhere.get(c.id)!.add(rec.id)
            }
          } else if (sent.length > 0) {
            nodes[o.to]!.receive(sent[o.pick % sent.length]!)
          }
        }
        // Eventually everyone gets everything: a seeded shuffle, every message twice.
        const random = prng(seed)
        const all = [...sent, ...sent]
        for (let i = all.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1))
          ;[all[i], all[j]] = [all[j]!, all[i]!]
        }
        for (const m of all) for (const n of nodes) n.receive(m)

        for (const n of nodes) expect(n.held, `seed ${seed}: messages left undelivered`).toEqual([])
        for (const c of CITIZENS) {
          const expected = [...(acceptedAnywhere.get(c.id) ?? [])].sort()
          const hashes = nodes.map((n) =>
            n.docs.has(c.id) ? toHex(docHash(c.id, n.docs.get(c.id)!)) : 'absent',
          )
          const views = nodes.map((n) => (n.docs.has(c.id) ? docView(n.docs.get(c.id)!) : undefined))
          if (expected.length === 0) continue
          expect(new Set(hashes).size, `seed ${seed}: doc hashes differ for ${c.id}`).toBe(1)
          expect(views[1], `seed ${seed}: views differ`).toEqual(views[0])
          expect(views[2], `seed ${seed}: views differ`).toEqual(views[0])
          expect(views[0]!.records, `seed ${seed}: timeline incomplete`).toEqual(expected)
        }
        const roots = nodes.map((n) => {
          let acc: Uint8Array = EMPTY_ACCUMULATOR
          for (const [id, d] of n.docs) acc = accumulate(acc, id, undefined, docHash(id, d))
          return stateRoot(acc)
        })
        expect(new Set(roots).size, `seed ${seed}: state roots differ`).toBe(1)
      }),
      { numRuns: 200 },
    )
  })
})

/**
 * Malformed input at every decoder: random bytes and mutations (bit flips, truncation,
 * insertion, deletion) of valid encoded records, entries, charters, certificates, Yjs updates
 * and request headers. Each call either succeeds or throws a ProtocolError with a known code —
 * never another exception type, never a hang. (Bounded: a few hundred runs per decoder.)
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyLocal,
  checkChain,
  concatBytes,
  createDoc,
  decodeCanonical,
  decodeEntry,
  type EntryBody,
  encodeCanonical,
  encodeEntry,
  entryHash,
  fromBase64url,
  fromHex,
  keyId,
  openPayload,
  PROTOCOL_ERRORS,
  ProtocolError,
  parseOfficerCertificate,
  parseSignedCharter,
  parseSignedRecord,
  type RecordHeader,
  signEntry,
  signRequest,
  toBase64url,
  validateRemoteUpdate,
  verifyEntrySignature,
  verifyGenesis,
  verifyRecord,
  verifyRequest,
} from '../src/index.ts'
import { DAY, makeBloc, registration, registrationPayload, T0 } from './fixtures.ts'

const RUNS = 300
const bloc = makeBloc()
const ed = bloc.ed
const BLOC = bloc.view.bloc
const officer = bloc.officer('AT', ['consul'], 200)
const citizen = bloc.citizen(300)
const reg = officer.client.record(
  'citizen.registered',
  citizen.id,
  registration(citizen.keys.publicKey, 'BE'),
  registrationPayload(1),
)
const checkin = citizen.record(
  'presence.registered',
  citizen.id,
  { from: T0, until: null },
  { salt: new Uint8Array(16), country: 'KE', region: 'Nairobi', note: 'hotel' },
)
const atNode = bloc.founders[0]!.nodes[0]!
const headers = new Map<string, RecordHeader>([
  [reg.id, reg.record.header],
  [checkin.id, checkin.record.header],
])
const doc = createDoc(atNode.clientId)
const update1 = applyLocal(doc, [{ id: reg.id, header: reg.record.header }], (id) => headers.get(id))
const update2 = applyLocal(doc, [{ id: checkin.id, header: checkin.record.header }], (id) => headers.get(id))
const body1: EntryBody = {
  v: 1,
  bloc: BLOC,
  origin: keyId(atNode.keys.publicKey),
  seq: 1,
  prev: null,
  hlc: [T0 + DAY, 0],
  deps: {},
  changes: [{ doc: citizen.id, update: update1, records: [reg.record] }],
}
const entry1 = signEntry(ed, body1, atNode.keys.secretKey)
const entry2 = signEntry(
  ed,
  {
    ...body1,
    seq: 2,
    prev: entryHash(body1),
    changes: [{ doc: citizen.id, update: update2, records: [checkin.record] }],
  },
  atNode.keys.secretKey,
)

const SAMPLES = {
  record: encodeCanonical(reg.record),
  citizenRecord: encodeCanonical(checkin.record),
  payload: reg.payload!,
  entry: encodeEntry(entry1),
  entry2: encodeEntry(entry2),
  charter: encodeCanonical(bloc.genesis),
  certificate: encodeCanonical(officer.cert),
  update: update1,
  update2,
}

/** Every failure must be a ProtocolError with a known code. */
function refusesCleanly(fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof ProtocolError)) {
      throw new Error(`expected a ProtocolError, got ${String(err)}`, { cause: err })
    }
    expect(Object.keys(PROTOCOL_ERRORS)).toContain(err.code)
  }
}

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
)

function mutate(base: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(base)
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length
    switch (m.op) {
      case 'flip':
        if (b.length) b[at]! ^= 1 << m.bit
        break
      case 'set':
        if (b.length) b[at] = m.value
        break
      case 'truncate':
        b = b.slice(0, at)
        break
      case 'insert':
        b = concatBytes(b.subarray(0, at), m.bytes, b.subarray(at))
        break
      case 'delete':
        b = concatBytes(b.subarray(0, at), b.subarray(Math.min(b.length, at + m.length)))
        break
    }
  }
  return b
}

/** Random bytes, or a valid sample with 1–4 mutations. */
const inputFor = (base: Uint8Array) =>
  fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 300 }), weight: 1 },
    {
      arbitrary: fc.array(mutation, { minLength: 1, maxLength: 4 }).map((ms) => mutate(base, ms)),
      weight: 4,
    },
  )

const verifyCtx = bloc.ctx

/** Paths to every node of a decoded value (maps and arrays included). */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix]
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return out
  for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, Array.isArray(v) ? Number(k) : k]))
  return out
}

/** A copy of `v` with the node at `path` replaced, dropped, or (in a map) a sibling key added. */
function replaceAt(
  v: unknown,
  path: (string | number)[],
  by: unknown,
  edit: 'set' | 'drop' | 'add',
): unknown {
  if (path.length === 0) return edit === 'set' ? by : v
  const [head, ...rest] = path
  if (Array.isArray(v)) {
    const copy = [...v]
    if (rest.length === 0 && edit === 'drop') copy.splice(head as number, 1)
    else copy[head as number] = replaceAt(copy[head as number], rest, by, edit)
    return copy
  }
  const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) }
  if (rest.length === 0 && edit === 'drop')
    return Object.fromEntries(Object.entries(copy).filter(([k]) => k !== head))
  if (rest.length === 0 && edit === 'add') copy[`${String(head)}x`] = by
  else copy[head as string] = replaceAt(copy[head as string], rest, by, edit)
  return copy
}

const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 2 ** 32 }),
  fc.constantFrom(0, 1, 2, T0, 2 ** 53 - 1),
  fc.string({ maxLength: 70 }),
  fc.constantFrom('citizen.registered', 'alert.issued', 'AT', 'XX', 'consul', 'crisis', 'node', 'officer'),
  fc.uint8Array({ maxLength: 70 }),
  fc.constantFrom(new Uint8Array(16), new Uint8Array(32), new Uint8Array(64)),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2, noNullPrototype: true }),
)

/** A valid object with 1–3 nodes replaced, dropped or added to, re-encoded canonically. */
function structural(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const value = decodeCanonical(base)
  const all = paths(value)
  const edit = fc.tuple(
    fc.nat(all.length - 1),
    leaf,
    fc.constantFrom('set' as const, 'drop' as const, 'add' as const),
  )
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) => {
    let v = value
    for (const [i, by, how] of edits) v = replaceAt(v, all[i]!, by, how)
    try {
      return encodeCanonical(v)
    } catch {
      return base
    }
  })
}

/** As inputFor, plus structural mutations of canonical objects (which get past the decoder). */
const objectInputFor = (base: Uint8Array) =>
  fc.oneof({ arbitrary: inputFor(base), weight: 1 }, { arbitrary: structural(base), weight: 2 })

describe('fuzz: decoders never throw anything but ProtocolError', () => {
  it('mutate() really mutates (the fuzzer is not feeding valid samples only)', () => {
    expect(mutate(SAMPLES.record, [{ op: 'truncate', at: 5 }])).toHaveLength(5)
    expect(mutate(Uint8Array.of(1, 2, 3, 4), [{ op: 'delete', at: 1, length: 2 }])).toEqual(
      Uint8Array.of(1, 4),
    )
    expect(mutate(Uint8Array.of(1, 2), [{ op: 'insert', at: 1, bytes: Uint8Array.of(9) }])).toEqual(
      Uint8Array.of(1, 9, 2),
    )
    expect(() =>
      decodeCanonical(mutate(SAMPLES.record, [{ op: 'insert', at: 0, bytes: Uint8Array.of(0) }])),
    ).toThrow(ProtocolError)
  })

  for (const [name, base] of Object.entries(SAMPLES)) {
    it(`decodeCanonical: ${name}`, () => {
      fc.assert(
        fc.property(inputFor(base), (bytes) => refusesCleanly(() => decodeCanonical(bytes))),
        { numRuns: 150 },
      )
    })
  }

  it('decodeEntry, then signature and chain checks', () => {
    fc.assert(
      fc.property(fc.oneof(objectInputFor(SAMPLES.entry), objectInputFor(SAMPLES.entry2)), (bytes) =>
        refusesCleanly(() => {
          const e = decodeEntry(bytes)
          verifyEntrySignature(ed, e, BLOC, [bloc.view])
          checkChain(e.body.seq === 1 ? undefined : entry1.body, e.body)
        }),
      ),
      { numRuns: RUNS },
    )
  })

  it('parseSignedRecord ∘ decodeCanonical, then verifyRecord and openPayload', () => {
    fc.assert(
      fc.property(
        fc.oneof(objectInputFor(SAMPLES.record), objectInputFor(SAMPLES.citizenRecord)),
        objectInputFor(SAMPLES.payload),
        (bytes, payload) =>
          refusesCleanly(() => {
            const value = decodeCanonical(bytes)
            parseSignedRecord(value)
            const v = verifyRecord(verifyCtx, value, BLOC)
            openPayload(v.record.header, payload)
          }),
      ),
      { numRuns: RUNS },
    )
  })

  it('verifyRecord on arbitrary JavaScript values', () => {
    const value = fc.anything({
      withTypedArray: true,
      withNullPrototype: true,
      withObjectString: true,
      maxDepth: 3,
      values: [fc.constant(reg.record), fc.constant(reg.record.header), fc.constant(officer.cert)],
    })
    fc.assert(
      fc.property(value, (v) => refusesCleanly(() => verifyRecord(verifyCtx, v, BLOC))),
      { numRuns: RUNS },
    )
  })

  it('parseSignedCharter ∘ decodeCanonical, then verifyGenesis', () => {
    fc.assert(
      fc.property(objectInputFor(SAMPLES.charter), (bytes) =>
        refusesCleanly(() => {
          const c = parseSignedCharter.parse(decodeCanonical(bytes))
          verifyGenesis(ed, c)
        }),
      ),
      { numRuns: RUNS },
    )
  })

  it('parseOfficerCertificate ∘ decodeCanonical', () => {
    fc.assert(
      fc.property(objectInputFor(SAMPLES.certificate), (bytes) =>
        refusesCleanly(() => parseOfficerCertificate.parse(decodeCanonical(bytes))),
      ),
      { numRuns: RUNS },
    )
  })

  it('verifyRequest: Authorization and certificate header parsing', () => {
    const req = { method: 'GET', path: '/v1/citizens/x' }
    const valid = signRequest(ed, req, officer.client.keys, T0 + DAY, officer.cert)
    const text = (base: string) =>
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc
          .array(mutation, { minLength: 1, maxLength: 3 })
          .map((ms) => new TextDecoder().decode(mutate(new TextEncoder().encode(base), ms))),
      )
    fc.assert(
      fc.property(
        text(valid.authorization!),
        fc.option(text(valid['legation-certificate']!), { nil: undefined }),
        (authorization, certificate) =>
          refusesCleanly(() => verifyRequest(ed, req, { authorization, certificate }, T0 + DAY)),
      ),
      { numRuns: RUNS },
    )
  })

  it('hex and base64url parsing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        refusesCleanly(() => fromHex(s))
        refusesCleanly(() => fromBase64url(s))
      }),
      { numRuns: RUNS },
    )
    expect(toBase64url(fromBase64url('AQID'))).toBe('AQID')
  })

  it('validateRemoteUpdate (Y.decodeUpdate) on random and mutated Yjs updates', () => {
    const known = (id: string) => {
      const h = headers.get(id)
      return h && { subject: h.subject, header: h }
    }
    const replica = validateRemoteUpdate(createDoc(2), citizen.id, update1, atNode.clientId, known)
    fc.assert(
      fc.property(
        fc.oneof(inputFor(SAMPLES.update), inputFor(SAMPLES.update2)),
        fc.boolean(),
        (bytes, onReplica) => {
          const started = performance.now()
          refusesCleanly(() =>
            validateRemoteUpdate(
              onReplica ? replica : createDoc(2),
              citizen.id,
              bytes,
              atNode.clientId,
              known,
            ),
          )
          expect(performance.now() - started).toBeLessThan(2000)
        },
      ),
      { numRuns: 400 },
    )
  })
})

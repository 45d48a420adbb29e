/**
 * A citizen's summary as stored (summary-row.ts, data format 5): any summary reads back as it
 * was written, the index keys follow from it alone, record keys map back to their ids, and a
 * damaged row is named `STORAGE_FAILED`, never misread.
 */
import { encodeCanonical, toHex } from '@legation/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { idKeyPart, idOfKeyPart, K, recordIdOf } from '../../src/engine/keys.ts'
import {
  decodeSummaryRow,
  encodeSummaryRow,
  indexKeysOf,
  type StoredSummary,
} from '../../src/engine/summary-row.ts'

/** Record ids as the engine makes them (64 hex digits), and anything else a caller could pass. */
const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex)
const id = fc.oneof(hexId, fc.string({ minLength: 1, maxLength: 70 }))
/** Any id a key may spell: a citizen's (32 hex digits), a record's (64), anything else. */
const anyId = fc.oneof(
  id,
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
)
const token = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('base64url'))
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })

const summary: fc.Arbitrary<StoredSummary> = fc.record({
  nationality: fc.option(fc.constantFrom('AUT', 'DVB', 'FJ'), { nil: null }),
  cases: fc.dictionary(
    id,
    fc.record({
      type: fc.constantFrom('lost-passport', 'passport-renewal', 'birth-registration'),
      state: fc.constantFrom('submitted', 'in-review', 'needs-info'),
      opened: time,
      updated: time,
    }),
    { maxKeys: 4 },
  ) as fc.Arbitrary<StoredSummary['cases']>,
  welfare: fc.dictionary(id, fc.constantFrom('safe' as const, 'needs-help' as const), { maxKeys: 4 }),
  r: fc.record({ pres: id }, { requiredKeys: [] }),
  t: fc.record({ td: token, pres: token }, { requiredKeys: [] }),
})

describe('summary rows', () => {
  it('read back as written, and the index keys derived from a row are those of its summary', () => {
    fc.assert(
      fc.property(summary, hexId, (s, citizen) => {
        const back = decodeSummaryRow(encodeSummaryRow(s))
        expect(back).toEqual(s)
        expect(indexKeysOf(citizen, back)).toEqual(indexKeysOf(citizen, s))
      }),
    )
  })

  it('keep a registered citizen with a travel document and a presence under 100 bytes', () => {
    const s: StoredSummary = {
      nationality: 'DVB',
      cases: {},
      welfare: {},
      r: { pres: 'cd'.repeat(32) },
      t: { td: 'A'.repeat(22), pres: 'B'.repeat(22) },
    }
    // The JSON of format 4 took ~240 bytes with only the travel document (docs/performance-history.md).
    expect(encodeSummaryRow(s).length).toBeLessThan(100)
    // Tokens as their bytes (format 6): 12 bytes each where their text took 16.
    const now: StoredSummary = { ...s, t: { td: 'Ab-_'.repeat(4), pres: 'xY09'.repeat(4) } }
    const row = encodeSummaryRow(now)
    expect(decodeSummaryRow(row)).toEqual(now)
    // The array, "DVB", the presence id (32 bytes), two tokens of 12 bytes, two empty lists.
    expect(row.length).toBe(1 + 4 + 34 + 2 * 13 + 2)
    // A token that is not base64url as this node writes it is kept as text, and reads back.
    const odd: StoredSummary = { ...s, t: { td: 'not base64url' } }
    expect(decodeSummaryRow(encodeSummaryRow(odd))).toEqual(odd)
  })

  it('put the keys every search reads: nationality, blind tokens, case states', () => {
    const citizen = 'c'.repeat(32)
    const caseId = 'e'.repeat(64)
    const keys = indexKeysOf(citizen, {
      nationality: 'AUT',
      t: { td: 'TD', pres: 'PR' },
      cases: { [caseId]: { type: 'lost-passport', state: 'submitted', opened: 1, updated: 2 } },
    })
    // Ids in base64url: the citizen's 16 bytes in 22 characters, the case's 32 in 43.
    const c = Buffer.from(citizen, 'hex').toString('base64url')
    const e = Buffer.from(caseId, 'hex').toString('base64url')
    expect([c.length, e.length]).toEqual([22, 43])
    expect(keys).toEqual([
      `ix/nat/AUT/${c}`,
      `ix/td/TD/${c}`,
      `ix/pres/PR/${c}`,
      `ix/case/submitted/${e}`,
      `ix/ncase/AUT/submitted/${e}`,
    ])
    expect(indexKeysOf(citizen, { nationality: null, t: {}, cases: {} })).toEqual([])
  })

  it('name a damaged row STORAGE_FAILED', () => {
    const good = encodeSummaryRow({ nationality: 'AUT', cases: {}, welfare: {}, r: {}, t: {} })
    const damaged = [
      new Uint8Array(),
      new TextEncoder().encode('{"nationality":"AUT"}'),
      good.subarray(0, good.length - 1),
      encodeCanonical(['AUT', null, null, null, []]),
      encodeCanonical([7, null, null, null, [], []]),
      encodeCanonical(['AUT', 5, null, null, [], []]),
      encodeCanonical(['AUT', null, null, null, [['x', 'lost-passport', 'closed', 1]], []]),
      encodeCanonical(['AUT', null, null, null, [['x', 'lost-passport', 'closed', 1, 'late']], []]),
      encodeCanonical(['AUT', null, null, null, [], [['x', 3]]]),
    ]
    for (const raw of damaged)
      expect(() => decodeSummaryRow(raw)).toThrow(expect.objectContaining({ code: 'STORAGE_FAILED' }))
  })
})

describe('record keys', () => {
  it('spell an id in base64url (43 characters where hex took 64) and map back to it', () => {
    fc.assert(
      fc.property(id, (recordId) => {
        const key = K.record(recordId)
        expect(key.startsWith(K.records)).toBe(true)
        expect(recordIdOf(key)).toBe(recordId)
      }),
    )
    expect(K.record('ab'.repeat(32))).toHaveLength(K.records.length + 43)
  })

  it('never give two ids one key', () => {
    fc.assert(
      fc.property(id, id, (a, b) => {
        fc.pre(a !== b)
        expect(K.record(a)).not.toBe(K.record(b))
      }),
    )
  })

  it('spell every id a key holds so that it maps back, and no two ids alike', () => {
    fc.assert(
      fc.property(anyId, anyId, (a, b) => {
        expect(idOfKeyPart(idKeyPart(a))).toBe(a)
        if (a !== b) expect(idKeyPart(a)).not.toBe(idKeyPart(b))
      }),
    )
    expect(idKeyPart('ab'.repeat(16))).toHaveLength(22)
    expect(K.summary('ab'.repeat(16))).toBe(
      `sum/${Buffer.from('ab'.repeat(16), 'hex').toString('base64url')}`,
    )
    expect(K.doc('alerts')).toBe('doc/!alerts')
    // A part longer than any id a key spells still reads back whole.
    expect(idOfKeyPart(Buffer.alloc(64, 7).toString('base64url'))).toBe('07'.repeat(64))
  })

  it('spell ids as Buffer does, whatever the input', () => {
    const hex = fc.constantFrom(16, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
    fc.assert(
      fc.property(hex, fc.boolean(), (bytes, upper) => {
        const id = Buffer.from(bytes).toString('hex')
        const asked = upper ? id.toUpperCase() : id
        const spelled = idKeyPart(asked)
        // Uppercase hex is not an id a key shortens: it is kept as it is.
        expect(spelled).toBe(asked === id ? Buffer.from(bytes).toString('base64url') : `!${asked}`)
      }),
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 90 }), (part) => {
        fc.pre(!part.startsWith('!'))
        expect(idOfKeyPart(part)).toBe(Buffer.from(part, 'base64url').toString('hex'))
      }),
    )
  })
})

/**
 * Text people read — citizens' names, places, notes, alert titles — carries no control
 * characters and nothing that changes how it displays without being seen (a right-to-left
 * override makes "Ana" and "anA" look alike). Checked where a record is first accepted; a
 * replica still takes such a record (refusing what another node accepted would split the bloc).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  encodeCanonical,
  openPayload,
  payloadDigest,
  type RecordHeader,
  unsafeDisplayText,
} from '../src/index.ts'
import { registrationPayload } from './fixtures.ts'

const withNames = (given: string, family = 'Peeters', extra: Record<string, unknown> = {}) =>
  unsafeDisplayText({ ...registrationPayload(1), names: { given, family }, ...extra }, 'payload')

describe('text fields people read', () => {
  it('refuse bidirectional overrides and isolates, zero-width spaces and the byte-order mark', () => {
    for (const sneaky of [
      '\u202EanA',
      'An\u200Ba',
      '\u2066Ana\u2069',
      '\uFEFFAna',
      'A\u2028na',
      'An\u202Aa',
    ]) {
      expect(withNames(sneaky), JSON.stringify(sneaky)).toBe('payload/names/given')
    }
  })

  it('refuse control characters: NUL, escape, C1 controls, and line breaks in a name', () => {
    for (const bad of ['Ana\u0000', '\u001B[31mAna', 'Ana\u0085', 'Ana\nPeeters', 'Ana\tP', 'Ana\rP']) {
      expect(withNames(bad), JSON.stringify(bad)).toBe('payload/names/given')
    }
    expect(withNames('Ana', 'Peeters', { contact: { email: 'ana\u202E@example.org' } })).toBe(
      'payload/contact/email',
    )
    expect(unsafeDisplayText({ title: 'Flood\u0007', message: 'ok' }, 'body')).toBe('body/title')
  })

  it('take every script, bidi marks and joiners, and line breaks (CRLF too) in free text', () => {
    for (const name of [
      'Ana',
      'Zoë',
      'Łukasz',
      'Ἀθηνᾶ',
      'محمد',
      'می\u200Cخواهم',
      'क्\u200Dष',
      '王小明',
      'Nguyễn',
      '\u200Fשרה',
    ]) {
      expect(withNames(name), name).toBeUndefined()
    }
    expect(
      withNames('Ana', 'Peeters', { contact: { address: 'Rue Haute 1\r\n1000 Brussels\tBE' } }),
    ).toBeUndefined()
  })

  it('accept any printable text (property)', () => {
    const printable = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter(
      (s) =>
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the controls this test keeps out of its input
        !/[\u0000-\u001F\u007F-\u009F\u200B\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\uFFF9-\uFFFB]/.test(
          s,
        ),
    )
    fc.assert(
      fc.property(printable, (s) => {
        expect(withNames(s)).toBeUndefined()
      }),
      { numRuns: 200 },
    )
  })

  it('is not a replica’s check: a payload with such text still opens (history is not refused)', () => {
    const payload = encodeCanonical({ ...registrationPayload(1), names: { given: '\u202EanA', family: 'P' } })
    const header = { kind: 'citizen.registered', payload: payloadDigest(payload) } as unknown as RecordHeader
    expect(() => openPayload(header, payload)).not.toThrow()
  })
})

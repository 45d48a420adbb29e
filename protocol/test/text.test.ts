/**
 * Text people read — citizens' names, places, notes, alert titles — carries no control
 * characters and nothing that changes how it displays without being seen (a right-to-left
 * override makes "Ana" and "anA" look alike). Scripts that need joiners keep them.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCanonical, openPayload, payloadDigest, type RecordHeader } from '../src/index.ts'
import { registrationPayload } from './fixtures.ts'

/** Opens a registration payload with these names (the header only names the payload's digest). */
function withNames(given: string, family = 'Peeters', extra: Record<string, unknown> = {}) {
  const payload = encodeCanonical({ ...registrationPayload(1), names: { given, family }, ...extra })
  const header = { kind: 'citizen.registered', payload: payloadDigest(payload) } as unknown as RecordHeader
  return () => openPayload(header, payload)
}

describe('text fields people read', () => {
  it('refuse bidirectional overrides and isolates, zero-width spaces and the byte-order mark', () => {
    for (const sneaky of [
      '\u202EanA',
      'An\u200Ba',
      '\u2066Ana\u2069',
      '\uFEFFAna',
      'Ana\u200F',
      'A\u2028na',
      'A\u061Cna',
    ]) {
      expect(withNames(sneaky), JSON.stringify(sneaky)).toThrow(
        expect.objectContaining({ code: 'SCHEMA_INVALID' }),
      )
    }
  })

  it('refuse control characters: NUL, escape, C1 controls, and line breaks in a name', () => {
    for (const bad of ['Ana\u0000', '\u001B[31mAna', 'Ana\u0085', 'Ana\nPeeters', 'Ana\tP']) {
      expect(withNames(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'SCHEMA_INVALID' }))
    }
    expect(withNames('Ana', 'Peeters', { contact: { email: 'ana\u202E@example.org' } })).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
  })

  it('take every script, with the joiners Persian and Indic names need, and lines in an address', () => {
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
    ]) {
      expect(withNames(name), name).not.toThrow()
    }
    expect(withNames('Ana', 'Peeters', { contact: { address: 'Rue Haute 1\n1000 Brussels' } })).not.toThrow()
  })

  it('accept any printable text (property)', () => {
    const printable = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter(
      (s) =>
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the controls this test keeps out of its input
        !/[\u0000-\u001F\u007F-\u009F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2069\uFEFF\uFFF9-\uFFFB]/.test(
          s,
        ),
    )
    fc.assert(
      fc.property(printable, (s) => void withNames(s)()),
      { numRuns: 200 },
    )
  })
})

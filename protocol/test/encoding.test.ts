import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as plain from '../src/byte-text.ts'
import * as native from '../src/byte-text-native.ts'
import { withEncoded } from '../src/cbor.ts'
import { bytesAt, firstItemLength, itemStarts } from '../src/cbor-scan.ts'
import {
  type CanonicalValue,
  contentId,
  DOMAINS,
  decodeCanonical,
  domainHash,
  EncodingError,
  encodeCanonical,
  fromBase64url,
  fromHex,
  hashOfCanonical,
  MAX_DEPTH,
  signingInput,
  toBase64url,
  toHex,
  utf8ToBytes,
} from '../src/index.ts'
import * as joined from '../src/joined.ts'
import * as joinedNative from '../src/joined-native.ts'
import { expectCode } from './fixtures.ts'

const decodeHex = (hex: string) => decodeCanonical(fromHex(hex))

/** Values of the canonical subset: safe integers, text, bytes, booleans, null, arrays, text-keyed maps. */
const canonicalValues = (
  key: fc.Arbitrary<string>,
  text: fc.Arbitrary<string>,
  bytes: fc.Arbitrary<Uint8Array>,
): fc.Arbitrary<CanonicalValue> =>
  fc.letrec<{ value: CanonicalValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger().filter((n) => !Object.is(n, -0)),
      text,
      bytes,
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
    ),
  })).value
const canonicalValue = canonicalValues(
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.uint8Array({ maxLength: 40 }),
)

describe('canonical encoding', () => {
  it('round-trips every value of the subset, and one value has one encoding', () => {
    fc.assert(
      fc.property(canonicalValue, (v) => {
        const bytes = encodeCanonical(v)
        const back = decodeCanonical(bytes)
        expect(back).toEqual(v)
        expect(toHex(encodeCanonical(back))).toBe(toHex(bytes))
      }),
      { numRuns: 300 },
    )
  })

  it('hashes a value as its canonical bytes hash, an encode inside the hashing left apart', () => {
    fc.assert(
      fc.property(canonicalValue, canonicalValue, (v, w) => {
        expect(toHex(hashOfCanonical(DOMAINS.doc, v))).toBe(
          toHex(domainHash(DOMAINS.doc, encodeCanonical(v))),
        )
        // The scratch bytes handed out are the value's while an encode runs inside the call.
        const inner = withEncoded(v, (bytes) => {
          const before = toHex(bytes)
          const other = encodeCanonical(w)
          expect(toHex(bytes)).toBe(before)
          return { before, other }
        })
        expect(inner.before).toBe(toHex(encodeCanonical(v)))
        expect(toHex(inner.other)).toBe(toHex(encodeCanonical(w)))
      }),
      { numRuns: 300 },
    )
  })

  it('sorts map keys by their encoded bytes: shorter first, then bytewise', () => {
    const bytes = encodeCanonical({ b: 1, aa: 2, a: 3, é: 4, A: 5 })
    // a5 | "A" 05 | "a" 03 | "b" 01 | "aa" 02 | "é" (c3 a9) 04
    expect(toHex(bytes)).toBe('a5' + '614105' + '616103' + '616201' + '62616102' + '62c3a904')
    expect(Object.keys(decodeCanonical(bytes) as object)).toEqual(['A', 'a', 'b', 'aa', 'é'])
  })

  it('writes ASCII keys in canonical order whatever order an object holds them, short lists and long', () => {
    const canonical = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
    // The expected bytes, written out by hand for this shape: fewer than 256 keys of fewer than
    // 24 ASCII characters, each mapped to an integer below 256.
    const head = (major: number, n: number) => (n < 24 ? [major | n] : [major | 24, n])
    const expected = (value: Record<string, number>) => {
      const keys = Object.keys(value).sort(canonical)
      return Uint8Array.from([
        ...head(0xa0, keys.length),
        ...keys.flatMap((k) => [...head(0x60, k.length), ...utf8ToBytes(k), ...head(0x00, value[k]!)]),
      ])
    }
    const ascii = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c))
    fc.assert(
      // Up to 32 keys are sorted one way, more another: lists on both sides of that.
      fc.property(
        fc.uniqueArray(fc.string({ unit: ascii, maxLength: 6 }), { maxLength: 70, size: 'max' }),
        (keys) => {
          const value = Object.fromEntries(keys.map((k, i) => [k, i]))
          expect(toHex(encodeCanonical(value))).toBe(toHex(expected(value)))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('returns plain Uint8Arrays whatever the size (slice() copies; no Node Buffer views)', () => {
    for (const size of [0, 10, 100, 200, 1000, 5000, 70_000]) {
      const bytes = encodeCanonical({ x: 'a'.repeat(size) })
      expect(bytes.constructor).toBe(Uint8Array)
      const copy = bytes.slice()
      copy[0] = 0
      expect(bytes[0]).toBe(0xa1)
    }
  })

  it('decodes a Node Buffer into plain Uint8Arrays that do not alias it', () => {
    const bytes = encodeCanonical({ sig: new Uint8Array(64).fill(7), nested: [new Uint8Array([1, 2])] })
    const buffer = Buffer.from(bytes)
    const value = decodeCanonical(buffer) as { sig: Uint8Array; nested: Uint8Array[] }
    expect(value.sig.constructor).toBe(Uint8Array)
    expect(value.nested[0]!.constructor).toBe(Uint8Array)
    buffer.fill(0)
    expect(value.sig[0]).toBe(7)
    expect([...value.nested[0]!]).toEqual([1, 2])
  })

  it('uses the shortest integer forms and negative integers', () => {
    expect(toHex(encodeCanonical([0, 23, 24, 255, 256, -1, -24, -25, -256, -257]))).toBe(
      '8a00171818' + '18ff' + '190100' + '20' + '37' + '3818' + '38ff' + '390100',
    )
  })

  describe('refuses non-canonical bytes with ENCODING_NON_CANONICAL', () => {
    const cases: [string, string][] = [
      ['unsorted map keys', 'a2616201616102'],
      ['map keys sorted as text, not by encoded length', 'a262616101616202'],
      ['non-minimal integer (1 in two bytes)', '1801'],
      ['non-minimal integer (255 in three bytes)', '1900ff'],
      ['non-minimal negative integer', '3800'],
      ['non-minimal array length', '980101'],
      ['non-minimal text length', '780161'],
      ['non-minimal map key length', 'a178016101'],
      ['indefinite-length array', '9f0102ff'],
      ['indefinite-length map', 'bf616101ff'],
      ['nested indefinite-length array', '819fff'],
      ['a float that is an integer', 'f93c00'],
      ['a float', 'fb3ff8000000000000'],
      ['nesting deeper than MAX_DEPTH', `${'81'.repeat(MAX_DEPTH + 1)}00`],
    ]
    for (const [what, hex] of cases) {
      it(what, () => {
        expectCode(() => decodeHex(hex), 'ENCODING_NON_CANONICAL')
      })
    }
  })

  describe('refuses bytes outside the subset or not CBOR with ENCODING_MALFORMED', () => {
    const cases: [string, string][] = [
      ['undefined', 'f7'],
      ['undefined inside an array', '8201f7'],
      ['a tag (epoch time)', 'c11a514b67b0'],
      ['a tag on bytes (bignum)', 'c249010000000000000000'],
      ['a simple value', 'f0'],
      ['integer beyond the safe range', '1b0020000000000000'],
      ['negative integer beyond the safe range', '3b0020000000000000'],
      ['non-text map key', 'a10102'],
      ['duplicate map key', 'a2616101616102'],
      ['trailing bytes', '0100'],
      ['two values', 'f6f6'],
      ['truncated array', '8201'],
      ['truncated text', '636162'],
      ['truncated byte string length', '59'],
      ['empty input', ''],
      ['a lone break', 'ff'],
      ['indefinite-length text (not supported at all)', '7f616161ffff'],
      ['byte string longer than the input', '5bffffffffffffffff'],
    ]
    for (const [what, hex] of cases) {
      it(what, () => {
        expectCode(() => decodeHex(hex), 'ENCODING_MALFORMED')
      })
    }
  })

  it('refuses anything that is not a Uint8Array', () => {
    expectCode(() => decodeCanonical('a0' as unknown as Uint8Array), 'ENCODING_MALFORMED')
  })

  it('refuses input over the size limit with ENCODING_TOO_LARGE before decoding it', () => {
    const big = encodeCanonical(new Uint8Array(2000))
    expect(decodeCanonical(big, big.length)).toEqual(new Uint8Array(2000))
    const err = expectCode(() => decodeCanonical(big, big.length - 1), 'ENCODING_TOO_LARGE')
    expect(err.statusCode).toBe(413)
  })

  describe('refuses to encode values outside the subset with ENCODING_UNSUPPORTED_VALUE', () => {
    const cases: [string, unknown][] = [
      ['a float', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['an unsafe integer', 2 ** 53],
      ['-0', -0],
      ['undefined', undefined],
      ['undefined in a map', { a: undefined }],
      ['undefined in an array', [undefined]],
      ['a bigint', 1n],
      ['a Map', new Map()],
      ['a Date', new Date(0)],
      ['a class instance', new (class X {})()],
      ['a function', () => 1],
      ['a symbol', Symbol('x')],
      [
        'nesting deeper than MAX_DEPTH',
        JSON.parse(`${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}`),
      ],
    ]
    for (const [what, value] of cases) {
      it(what, () => {
        expectCode(() => encodeCanonical(value), 'ENCODING_UNSUPPORTED_VALUE')
      })
    }
  })

  it('accepts an own "__proto__" key as plain data, without touching the prototype', () => {
    // {"__proto__": {}}
    const v = decodeHex('a1695f5f70726f746f5f5fa0') as Record<string, unknown>
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype)
    expect(Object.keys(v)).toEqual(['__proto__'])
  })

  it('decodes map keys to their text whether seen before or not, keys sharing a cache slot included', () => {
    // Short ASCII keys come from a cache by their bytes (512 slots): 3,000 keys of 1–24
    // characters fill every slot several times over, each decoded cold and then warm.
    const keys = fc.sample(
      fc.string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 24,
      }),
      { numRuns: 3000, seed: 7 },
    )
    for (let i = 0; i + 3 <= keys.length; i += 3) {
      const map = Object.fromEntries(keys.slice(i, i + 3).map((k, j) => [k, j]))
      for (let pass = 0; pass < 2; pass++) expect(decodeCanonical(encodeCanonical(map))).toEqual(map)
    }
    // A key seen as ASCII, then as bytes that differ in one place, reads as itself each time.
    expect(decodeCanonical(encodeCanonical({ header: 1 }))).toEqual({ header: 1 })
    expect(decodeCanonical(encodeCanonical({ headex: 1 }))).toEqual({ headex: 1 })
  })

  it('every decode failure is an EncodingError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCanonical(bytes)
        } catch (err) {
          expect(err).toBeInstanceOf(EncodingError)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('domain-separated hashing and signing input', () => {
  it('prefixes the body with "legation/v1/sig/<domain>" and a zero byte', () => {
    const body = encodeCanonical({ a: 1 })
    const input = signingInput(DOMAINS.record, body)
    expect(toHex(input)).toBe(toHex(utf8ToBytes('legation/v1/sig/record\u0000')) + toHex(body))
  })

  it('hashes are SHA-256 over "legation/v1/hash/<domain>" 0x00 body, different per domain', () => {
    const body = encodeCanonical('x')
    const seen = new Set<string>()
    for (const d of Object.values(DOMAINS)) seen.add(toHex(domainHash(d, body)))
    expect(seen.size).toBe(Object.values(DOMAINS).length)
    // Parts are concatenated: hashing in two parts equals hashing the whole.
    expect(toHex(domainHash(DOMAINS.doc, body.subarray(0, 1), body.subarray(1)))).toBe(
      toHex(domainHash(DOMAINS.doc, body)),
    )
  })

  it('contentId is the hex domain hash of the canonical bytes, independent of key order', () => {
    expect(contentId(DOMAINS.record, { a: 1, b: 2 })).toBe(contentId(DOMAINS.record, { b: 2, a: 1 }))
    expect(contentId(DOMAINS.record, { a: 1 })).toBe(
      toHex(domainHash(DOMAINS.record, encodeCanonical({ a: 1 }))),
    )
    expect(contentId(DOMAINS.record, { a: 1 })).not.toBe(contentId(DOMAINS.certificate, { a: 1 }))
  })
})

describe('hex and base64url', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        expect(fromHex(toHex(b))).toEqual(b)
        expect(fromBase64url(toBase64url(b))).toEqual(b)
      }),
      { numRuns: 200 },
    )
  })

  it('Node’s native codecs and the browsers’ plain-JavaScript ones give the same text and bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(native.hexOf(b)).toBe(plain.hexOf(b))
        expect(native.base64urlOf(b)).toBe(plain.base64urlOf(b))
        expect(native.bytesOfHex(plain.hexOf(b))).toEqual(b)
        expect(native.bytesOfBase64url(plain.base64urlOf(b))).toEqual(b)
        // A fresh array, not a view into Buffer's shared pool.
        expect(native.bytesOfBase64url(plain.base64urlOf(b)).byteOffset).toBe(0)
      }),
      { numRuns: 300 },
    )
    // Any text, lone surrogates included: the same UTF-8, in a fresh plain array.
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (text) => {
        const bytes = native.bytesOfUtf8(text)
        expect(bytes).toEqual(plain.bytesOfUtf8(text))
        expect(bytes).toEqual(new TextEncoder().encode(text))
        expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype)
        expect(bytes.byteOffset).toBe(0)
      }),
      { numRuns: 1_000 },
    )
  })

  it('joins bytes for a signature the same in Node (from Buffer’s pool) as in browsers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 3000 }), (a, b) => {
        const out = joinedNative.joinedForOnce(a, b)
        expect(out).toEqual(joined.joinedForOnce(a, b))
        expect(out).toEqual(new Uint8Array([...a, ...b]))
        expect(Object.getPrototypeOf(out)).toBe(Uint8Array.prototype)
        // Its own bytes: the inputs changed afterwards leave it as it was.
        const before = out.slice()
        a.fill(0xa5)
        b.fill(0x5a)
        expect(out).toEqual(before)
        // Each call's bytes are its own: a check waiting for the verifier keeps its message.
        joinedNative.joinedForOnce(b, a)
        expect(out).toEqual(before)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses every base64url spelling with padding bits set, whatever its length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 15 }),
        (b, bits) => {
          const text = toBase64url(b)
          const rest = text.length % 4
          if (rest === 0) return
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
          const mask = rest === 2 ? 0x0f : 0x03
          const last = alphabet.indexOf(text.at(-1)!) | (bits & mask)
          const other = text.slice(0, -1) + alphabet[last]
          if (other === text) return
          expectCode(() => fromBase64url(other), 'ENCODING_NON_CANONICAL')
        },
      ),
      { numRuns: 300 },
    )
  })

  it('accept one spelling only', () => {
    expectCode(() => fromHex('AB'), 'ENCODING_MALFORMED')
    expectCode(() => fromHex('abc'), 'ENCODING_MALFORMED')
    expectCode(() => fromBase64url('AA=='), 'ENCODING_MALFORMED')
    expectCode(() => fromBase64url('A'), 'ENCODING_MALFORMED')
    expectCode(() => fromBase64url('a+b/'), 'ENCODING_MALFORMED')
    // "AB" has non-zero padding bits: the canonical spelling of the byte 0x00 is "AA".
    expectCode(() => fromBase64url('AB'), 'ENCODING_NON_CANONICAL')
    expect(fromBase64url('AA')).toEqual(Uint8Array.of(0))
  })
})

describe('bytesAt: byte strings read off the encoding', () => {
  /** The same walk over the decoded value. */
  const reference = (v: unknown, path: readonly string[]): Uint8Array[] => {
    const [step, ...rest] = path
    if (step === undefined) return v instanceof Uint8Array ? [v] : []
    if (step === '*') return Array.isArray(v) ? v.flatMap((x) => reference(x, rest)) : []
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return []
    return Object.hasOwn(v, step) ? reference((v as Record<string, unknown>)[step], rest) : []
  }
  // Few keys, so that paths meet the values they name.
  const shaped = canonicalValues(
    fc.constantFrom('a', 'b', 'payload', 'ab', ''),
    fc.string({ maxLength: 6 }),
    fc.uint8Array({ maxLength: 8 }),
  )
  const path = fc.array(fc.constantFrom('a', 'b', 'payload', '*'), { maxLength: 5 })

  it('finds what a decode and a walk would find, in the same order', () => {
    fc.assert(
      fc.property(fc.oneof(shaped, canonicalValue), path, (v, p) => {
        const bytes = encodeCanonical(v)
        expect(bytesAt(bytes, p)).toEqual(reference(decodeCanonical(bytes), p))
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses truncated, trailing and malformed input as a decode does, with EncodingError only', () => {
    const bytes = encodeCanonical({ a: [{ payload: Uint8Array.of(1, 2) }, { payload: null }] })
    expect(bytesAt(bytes, ['a', '*', 'payload'])).toEqual([Uint8Array.of(1, 2)])
    // A key that is not ASCII is found by its UTF-8 spelling, and not by a byte of its code.
    const accented = encodeCanonical({ é: Uint8Array.of(3), e: Uint8Array.of(4) })
    expect(bytesAt(accented, ['é'])).toEqual([Uint8Array.of(3)])
    expect(bytesAt(Uint8Array.of(0xa1, 0x61, 0xe9, 0x41, 5), ['é'])).toEqual([])
    for (let cut = 0; cut < bytes.length; cut++) {
      expectCode(() => bytesAt(bytes.subarray(0, cut), ['a', '*', 'payload']), 'ENCODING_MALFORMED')
    }
    expectCode(() => bytesAt(Uint8Array.of(...bytes, 0), ['a']), 'ENCODING_MALFORMED')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), path, (junk, p) => {
        try {
          bytesAt(junk, p)
        } catch (err) {
          expect(err).toBeInstanceOf(EncodingError)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('cuts an encoding before each item at a path: each piece starts with the item, whole', () => {
    /** Every item at the path in the decoded value, anything but a byte string included. */
    const items = (v: unknown, path: readonly string[]): unknown[] => {
      const [step, ...rest] = path
      if (step === undefined) return [v]
      if (step === '*') return Array.isArray(v) ? v.flatMap((x) => items(x, rest)) : []
      if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return []
      return Object.hasOwn(v, step) ? items((v as Record<string, unknown>)[step], rest) : []
    }
    fc.assert(
      fc.property(fc.oneof(shaped, canonicalValue), path, (v, p) => {
        const bytes = encodeCanonical(v)
        const starts = itemStarts(bytes, p)
        const found = starts.map((at) => {
          const len = firstItemLength(bytes.subarray(at))
          return decodeCanonical(bytes.subarray(at, at + len))
        })
        expect(found).toEqual(items(decodeCanonical(bytes), p))
        // In order, and what follows an item is never taken for it.
        for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThan(starts[i - 1]!)
      }),
      { numRuns: 2000 },
    )
    expectCode(() => firstItemLength(Uint8Array.of(0x82, 1)), 'ENCODING_MALFORMED')
    expectCode(() => itemStarts(Uint8Array.of(0x81, 1, 2), ['*']), 'ENCODING_MALFORMED')
  })
})

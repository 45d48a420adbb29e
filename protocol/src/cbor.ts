/**
 * The canonical CBOR subset, encoded and decoded in one pass each.
 *
 * Why not a general CBOR library: proving that bytes are canonical with one means decoding
 * and then re-encoding to compare, which costs twice (a 500-record entry: 17 ms to decode that
 * way against 10 ms to encode), and every feed entry, sync frame and stored record goes
 * through here. The subset is small — safe integers, text, bytes, booleans, null, arrays,
 * text-keyed maps — so one careful pass checks the form while it reads. `cborg` stays in the
 * test suite as the oracle: the codec must produce its bytes and refuse what it refuses, with
 * the same error codes (protocol/test/cbor-oracle.test.ts).
 *
 * Grammar and error codes: docs/protocol.md, docs/errors.md.
 */
import { cachedKey, keepKey, keySlot, MAX_CACHED_KEY_BYTES } from './cbor-keys.ts'
import { EncodingError } from './errors.ts'

/** Nesting deeper than this is never produced by the protocol and is refused. */
export const MAX_DEPTH = 32

const MAJOR_UINT = 0
const MAJOR_NEGINT = 1
export const MAJOR_BYTES = 2
export const MAJOR_TEXT = 3
export const MAJOR_ARRAY = 4
export const MAJOR_MAP = 5
const TWO_32 = 0x1_0000_0000

const utf8 = new TextEncoder()
const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

// ---- Encoding ----

const unsupported = (message: string) => new EncodingError('ENCODING_UNSUPPORTED_VALUE', message)

class Writer {
  buf: Uint8Array
  view: DataView
  pos = 0

  constructor(size: number) {
    this.buf = new Uint8Array(size)
    this.view = new DataView(this.buf.buffer)
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  head(major: number, n: number): void {
    this.reserve(9)
    const m = major << 5
    if (n < 24) {
      this.buf[this.pos++] = m | n
    } else if (n < 0x100) {
      this.buf[this.pos++] = m | 24
      this.buf[this.pos++] = n
    } else if (n < 0x1_0000) {
      this.buf[this.pos++] = m | 25
      this.view.setUint16(this.pos, n)
      this.pos += 2
    } else if (n < TWO_32) {
      this.buf[this.pos++] = m | 26
      this.view.setUint32(this.pos, n)
      this.pos += 4
    } else {
      this.buf[this.pos++] = m | 27
      this.view.setUint32(this.pos, Math.floor(n / TWO_32))
      this.view.setUint32(this.pos + 4, n >>> 0)
      this.pos += 8
    }
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }

  text(s: string): void {
    // Most text in the protocol is ASCII (ids, kinds, codes): assume its UTF-8 length is its
    // length and let the native encoder write it in place. If it is not, the encoder stops
    // short of the end and the string is written again with its real length. Strings shorter
    // than 32 (ids, kinds, field names) are copied by hand: faster than the native call below
    // up to ~40 characters here, and without the view of the buffer it needs.
    const n = s.length
    this.head(MAJOR_TEXT, n)
    this.reserve(n)
    if (n < 32) {
      let p = this.pos
      const buf = this.buf
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) {
          this.textSlow(s, n)
          return
        }
        buf[p++] = c
      }
      this.pos = p
      return
    }
    const { read, written } = utf8.encodeInto(s, this.buf.subarray(this.pos, this.pos + n))
    if (read === n && written === n) {
      this.pos += n
      return
    }
    this.textSlow(s, n)
  }

  /** Takes back the head written for `n` bytes and writes `s` with its real UTF-8 length. */
  textSlow(s: string, n: number): void {
    this.pos -= n < 24 ? 1 : n < 0x100 ? 2 : n < 0x1_0000 ? 3 : n < TWO_32 ? 5 : 9
    const b = utf8.encode(s)
    this.head(MAJOR_TEXT, b.length)
    this.bytes(b)
  }
}

/** A map key with its UTF-8 bytes, for the canonical order: shorter first, then bytewise. */
interface Key {
  readonly key: string
  readonly utf8: Uint8Array | null // null when the key is ASCII: the string compares as its bytes
  readonly length: number
}

function keyOf(key: string): Key {
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0x7f) {
      const b = utf8.encode(key)
      return { key, utf8: b, length: b.length }
    }
  }
  return { key, utf8: null, length: key.length }
}

function compareKeys(a: Key, b: Key): number {
  if (a.length !== b.length) return a.length - b.length
  if (a.utf8 === null && b.utf8 === null) return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
  const x = a.utf8 ?? utf8.encode(a.key)
  const y = b.utf8 ?? utf8.encode(b.key)
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

/**
 * Keys in canonical order. Most objects have ASCII keys already in that order (they were
 * decoded, or built so): checked without allocating; otherwise sorted by their UTF-8 bytes.
 */
function canonicalKeys(keys: string[]): string[] {
  let sorted = true
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    for (let j = 0; j < k.length; j++) if (k.charCodeAt(j) > 0x7f) return sortByUtf8(keys)
    if (sorted && i > 0 && asciiAfter(keys[i - 1]!, k)) sorted = false
  }
  if (sorted) return keys
  // All ASCII: a string's length is its UTF-8 length and it compares as its bytes.
  if (keys.length > INSERTION_SORT_MAX)
    return keys.sort((a, b) => (asciiAfter(a, b) ? 1 : asciiAfter(b, a) ? -1 : 0))
  // In place, by insertion: Array.prototype.sort copied the keys into a work array of its own
  // each time, and objects built in code (a record's header, its payload) are sorted every time
  // they are encoded: that was a fifth of all a node allocated per record written.
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!
    let j = i - 1
    for (; j >= 0 && asciiAfter(keys[j]!, k); j--) keys[j + 1] = keys[j]!
    keys[j + 1] = k
  }
  return keys
}

/** Key lists up to this long are sorted by insertion, longer ones by `Array.prototype.sort`. */
const INSERTION_SORT_MAX = 32

/** Whether ASCII key `a` comes after `b` in canonical order (shorter first, then bytewise). */
function asciiAfter(a: string, b: string): boolean {
  return a.length > b.length || (a.length === b.length && a > b)
}

function sortByUtf8(keys: string[]): string[] {
  return keys
    .map(keyOf)
    .sort(compareKeys)
    .map((k) => k.key)
}

/**
 * Objects whose canonical bytes the caller already holds (a record decoded from exactly those
 * bytes, say): written as they are instead of encoded again. The caller vouches for them.
 */
export type KnownEncodings = WeakMap<object, Uint8Array>

function write(w: Writer, value: unknown, depth: number, known?: KnownEncodings): void {
  if (depth > MAX_DEPTH) throw unsupported('nesting too deep')
  switch (typeof value) {
    case 'string':
      w.text(value)
      return
    case 'number':
      if (!Number.isSafeInteger(value)) throw unsupported('only safe integers are encodable')
      if (value >= 0) {
        if (Object.is(value, -0)) throw unsupported('-0 is not encodable')
        w.head(MAJOR_UINT, value)
      } else {
        w.head(MAJOR_NEGINT, -1 - value)
      }
      return
    case 'boolean':
      w.reserve(1)
      w.buf[w.pos++] = value ? 0xf5 : 0xf4
      return
    case 'object': {
      if (value === null) {
        w.reserve(1)
        w.buf[w.pos++] = 0xf6
        return
      }
      if (value instanceof Uint8Array) {
        w.head(MAJOR_BYTES, value.length)
        w.bytes(value)
        return
      }
      const encoded = known?.get(value)
      if (encoded) {
        w.bytes(encoded)
        return
      }
      if (Array.isArray(value)) {
        w.head(MAJOR_ARRAY, value.length)
        for (let i = 0; i < value.length; i++) write(w, value[i], depth + 1, known)
        return
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw unsupported('only plain objects are encodable')
      const obj = value as Record<string, unknown>
      const keys = canonicalKeys(Object.keys(obj))
      w.head(MAJOR_MAP, keys.length)
      for (const k of keys) {
        const v = obj[k]
        if (v === undefined) throw unsupported('undefined is not encodable')
        w.text(k)
        write(w, v, depth + 1, known)
      }
      return
    }
    default:
      throw unsupported(`${typeof value} is not encodable`)
  }
}

// One scratch writer, reused: encoding is synchronous, and a getter that encodes while we
// encode (never in the protocol, but possible) gets a writer of its own.
let scratch: Writer | undefined = new Writer(64 * 1024)

/** Canonical bytes of a value. Throws EncodingError for values outside the subset. */
export function encode(value: unknown, known?: KnownEncodings): Uint8Array {
  return withEncoded(value, (bytes) => bytes.slice(), known)
}

/**
 * Encodes a value and hands its bytes to `use` at once, as a view into the scratch writer that
 * is valid only during the call: for bytes hashed or signed and dropped, which then get no
 * array of their own (one of more than 64 bytes costs ~5 µs of CPU in Node, outside the heap).
 * An encode inside `use` gets a writer of its own.
 */
export function withEncoded<T>(value: unknown, use: (bytes: Uint8Array) => T, known?: KnownEncodings): T {
  const w = scratch ?? new Writer(256)
  scratch = undefined
  w.pos = 0
  try {
    write(w, value, 0, known)
    return use(w.buf.subarray(0, w.pos))
  } finally {
    // Do not keep a huge buffer alive for the next small value.
    scratch = w.buf.length <= 1024 * 1024 ? w : new Writer(64 * 1024)
  }
}

// ---- Decoding ----

export const malformed = (message: string) => new EncodingError('ENCODING_MALFORMED', message)

/**
 * One decoding pass. Bytes that are not CBOR of the subset throw ENCODING_MALFORMED at once;
 * bytes that are well-formed but not the canonical spelling (a longer head than needed,
 * unsorted keys, an indefinite-length array or map, a float) are noted and the pass goes
 * on, so that anything malformed later in the input still wins — the same code a decoder
 * that first parses and then re-encodes to compare would give. Nesting past MAX_DEPTH stops
 * the pass at once (as NON_CANONICAL): it bounds the recursion.
 */
export class Reader {
  readonly buf: Uint8Array
  readonly view: DataView
  pos = 0
  nonCanonical: string | null = null

  constructor(buf: Uint8Array) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  noncanonical(why: string): void {
    this.nonCanonical ??= why
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw malformed('truncated')
  }

  /** Reads an argument (length or value) of additional info `ai`; -1 for indefinite. */
  arg(ai: number, major: number): number {
    if (ai < 24) return ai
    let n: number
    let min: number
    switch (ai) {
      case 24:
        this.need(1)
        n = this.buf[this.pos]!
        this.pos += 1
        min = 24
        break
      case 25:
        this.need(2)
        n = this.view.getUint16(this.pos)
        this.pos += 2
        min = 0x100
        break
      case 26:
        this.need(4)
        n = this.view.getUint32(this.pos)
        this.pos += 4
        min = 0x1_0000
        break
      case 27: {
        this.need(8)
        const hi = this.view.getUint32(this.pos)
        const lo = this.view.getUint32(this.pos + 4)
        this.pos += 8
        if (hi > 0x1f_ffff) throw malformed('an integer outside the safe range')
        n = hi * TWO_32 + lo
        min = TWO_32
        break
      }
      case 31:
        return -1
      default:
        throw malformed(`reserved additional information ${ai} (major type ${major})`)
    }
    if (n < min) this.noncanonical('a longer head than needed')
    return n
  }

  bytesOf(n: number): Uint8Array {
    this.need(n)
    const start = this.pos
    this.pos += n
    // A view into the decode's own copy of its input (see decodeCopy): one allocation per message,
    // not one per signature, key and digest.
    return this.buf.subarray(start, start + n)
  }

  textOf(n: number): string {
    this.need(n)
    const start = this.pos
    const end = start + n
    this.pos = end
    const buf = this.buf
    let ascii = true
    for (let i = start; i < end; i++) {
      if (buf[i]! > 0x7f) {
        ascii = false
        break
      }
    }
    if (ascii) {
      // Short ASCII strings (keys, kinds, hex ids) are faster built directly.
      if (n <= 64) {
        return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[])
      }
      return utf8Lenient.decode(buf.subarray(start, end))
    }
    try {
      return utf8Fatal.decode(buf.subarray(start, end))
    } catch {
      // Not UTF-8: as text it would read back with replacement characters, a different spelling.
      this.noncanonical('text that is not UTF-8')
      return utf8Lenient.decode(buf.subarray(start, end))
    }
  }

  /** A map key: a short ASCII one from the cache of keys read before (cbor-keys.ts). */
  keyOf(n: number): string {
    if (n > MAX_CACHED_KEY_BYTES) return this.textOf(n)
    this.need(n)
    const start = this.pos
    const slot = keySlot(this.buf, start, n)
    if (slot < 0) return this.textOf(n)
    const cached = cachedKey(slot, this.buf, start, n)
    if (cached !== undefined) {
      this.pos = start + n
      return cached
    }
    const key = this.textOf(n)
    keepKey(slot, this.buf, start, n, key)
    return key
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new EncodingError('ENCODING_NON_CANONICAL', 'nesting too deep')
    this.need(1)
    const ib = this.buf[this.pos++]!
    const major = ib >> 5
    const ai = ib & 0x1f
    switch (major) {
      case MAJOR_UINT: {
        const n = this.arg(ai, major)
        if (n < 0) throw malformed('an indefinite-length integer')
        return n
      }
      case MAJOR_NEGINT: {
        const n = this.arg(ai, major)
        if (n < 0) throw malformed('an indefinite-length integer')
        const v = -1 - n
        if (v < Number.MIN_SAFE_INTEGER) throw malformed('an integer outside the safe range')
        return v
      }
      case MAJOR_BYTES: {
        const n = this.arg(ai, major)
        if (n < 0) throw malformed('an indefinite-length byte string')
        return this.bytesOf(n)
      }
      case MAJOR_TEXT: {
        const n = this.arg(ai, major)
        if (n < 0) throw malformed('an indefinite-length text string')
        return this.textOf(n)
      }
      case MAJOR_ARRAY: {
        const n = this.arg(ai, major)
        const out: unknown[] = []
        if (n < 0) {
          this.noncanonical('an indefinite-length array')
          while (!this.atBreak()) out.push(this.value(depth + 1))
          return out
        }
        // Each item takes at least one byte: a length beyond the input is truncation, found
        // before allocating anything for it.
        if (n > this.buf.length - this.pos) throw malformed('truncated')
        for (let i = 0; i < n; i++) out.push(this.value(depth + 1))
        return out
      }
      case MAJOR_MAP:
        return this.map(this.arg(ai, major), depth)
      case 6:
        throw malformed('a tag')
      default:
        return this.simple(ai)
    }
  }

  atBreak(): boolean {
    this.need(1)
    if (this.buf[this.pos] === 0xff) {
      this.pos++
      return true
    }
    return false
  }

  map(n: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    if (n < 0) this.noncanonical('an indefinite-length map')
    else if (n > (this.buf.length - this.pos) / 2) throw malformed('truncated')
    let prevStart = -1
    let prevEnd = -1
    for (let i = 0; n < 0 ? !this.atBreak() : i < n; i++) {
      this.need(1)
      const ib = this.buf[this.pos++]!
      if (ib >> 5 !== MAJOR_TEXT) throw malformed('a map key that is not text')
      const len = this.arg(ib & 0x1f, MAJOR_TEXT)
      if (len < 0) throw malformed('an indefinite-length text string')
      const start = this.pos
      const key = this.keyOf(len)
      if (Object.hasOwn(out, key)) throw malformed('a duplicate map key')
      // Canonical order compares the keys' encodings: shorter first, then bytewise.
      if (prevStart >= 0 && compareSpans(this.buf, prevStart, prevEnd, start, this.pos) >= 0) {
        this.noncanonical('map keys out of order')
      }
      prevStart = start
      prevEnd = this.pos
      const v = this.value(depth + 1)
      if (key === '__proto__') {
        // Plain data, never the prototype.
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
      } else {
        out[key] = v
      }
    }
    return out
  }

  simple(ai: number): unknown {
    switch (ai) {
      case 20:
        return false
      case 21:
        return true
      case 22:
        return null
      case 23:
        throw malformed('undefined')
      case 25:
      case 26:
      case 27: {
        const size = ai === 25 ? 2 : ai === 26 ? 4 : 8
        this.need(size)
        const f =
          size === 2
            ? half(this.view.getUint16(this.pos))
            : size === 4
              ? this.view.getFloat32(this.pos)
              : this.view.getFloat64(this.pos)
        this.pos += size
        if (!Number.isFinite(f)) throw malformed('NaN or an infinity')
        this.noncanonical('a float')
        return f
      }
      case 31:
        throw malformed('a break outside an indefinite-length item')
      default:
        throw malformed('a simple value')
    }
  }
}

function compareSpans(buf: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const la = a1 - a0
  const lb = b1 - b0
  if (la !== lb) return la - lb
  for (let i = 0; i < la; i++) {
    const d = buf[a0 + i]! - buf[b0 + i]!
    if (d !== 0) return d
  }
  return 0
}

function half(bits: number): number {
  const exp = (bits >> 10) & 0x1f
  const frac = bits & 0x3ff
  const sign = bits & 0x8000 ? -1 : 1
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

/**
 * Decodes canonical bytes in one pass. Throws ENCODING_MALFORMED for anything that is not
 * CBOR of the subset, ENCODING_NON_CANONICAL for another spelling of a value of it. Answers
 * the value and the copy of the input it made, into which the value's byte strings are views.
 */
export function decodeCopy(bytes: Uint8Array): { value: unknown; copy: Uint8Array } {
  if (bytes.length === 0) throw malformed('empty input')
  // The input is copied once, into a plain Uint8Array (never a Node Buffer): the value's byte
  // strings do not change with the caller's buffer (a socket's, reused), and cost one
  // allocation per message. A value keeps its message's copy alive: to keep the value and the
  // message, keep this copy.
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  const r = new Reader(copy)
  let value: unknown
  try {
    value = r.value(0)
  } catch (err) {
    if (err instanceof EncodingError) throw err
    // A RangeError from a DataView read past the end, say: the input is not what it claims.
    throw new EncodingError('ENCODING_MALFORMED', undefined, { cause: err })
  }
  if (r.pos !== bytes.length) throw malformed('trailing bytes')
  if (r.nonCanonical !== null) throw new EncodingError('ENCODING_NON_CANONICAL', r.nonCanonical)
  return { value, copy }
}

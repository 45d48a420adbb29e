/**
 * Reading a few fields of a CBOR item without decoding it: `bytesAt` walks items by their
 * heads, on cbor.ts's Reader, and makes nothing but the byte strings it was asked for.
 */
import { MAJOR_ARRAY, MAJOR_BYTES, MAJOR_MAP, MAJOR_TEXT, MAX_DEPTH, malformed, Reader } from './cbor.ts'
import { EncodingError } from './errors.ts'

/**
 * The byte strings at `path` in one CBOR item (map keys; `*` for every item of an array),
 * read without decoding anything else: a few small fields of a large value this node already
 * checked (an entry from its own store, whose payload digests a catch-up frame needs) cost a
 * scan, not the hundreds of objects of a decode. Values of another type at the path are passed
 * over. The input is not checked for canonical form; malformed input throws as `decode` does.
 * The answers are views into `bytes`.
 */
export function bytesAt(bytes: Uint8Array, path: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = []
  walk(bytes, path, (scan, _start, depth) => {
    if (scan.major === MAJOR_BYTES) out.push(scan.r.bytesOf(scan.n))
    else scan.skip(depth)
  })
  return out
}

/**
 * Where each item at `path` starts in one CBOR item (as `bytesAt`, `*` for every item of an
 * array), in order: an entry is stored cut before each of its records (node's entry-rows.ts),
 * so that a record is read from its own row and the entry is put back together by
 * concatenation. Not checked for canonical form; malformed input throws as `decode` does.
 */
export function itemStarts(bytes: Uint8Array, path: readonly string[]): number[] {
  return itemsAt(bytes, path).map((item) => item.byteOffset - bytes.byteOffset)
}

/** Each item at `path` (as `bytesAt`), whole, as views into `bytes`, in order. */
export function itemsAt(bytes: Uint8Array, path: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = []
  walk(bytes, path, (scan, start, depth) => {
    scan.skip(depth)
    out.push(bytes.subarray(start, scan.r.pos))
  })
  return out
}

/** The length of the CBOR item `bytes` starts with (what follows it is not read). */
export function firstItemLength(bytes: Uint8Array): number {
  const scan = new Scan(new Reader(bytes))
  guarded(() => {
    scan.head()
    scan.skip(0)
  })
  return scan.r.pos
}

/** Walks `bytes` to the items at `path`, handing each to `leaf` with its head read. */
function walk(bytes: Uint8Array, path: readonly string[], leaf: Leaf): void {
  const scan = new Scan(new Reader(bytes))
  guarded(() => scan.collect(path, 0, leaf, 0))
  if (scan.r.pos !== bytes.length) throw malformed('trailing bytes')
}

function guarded(run: () => void): void {
  try {
    run()
  } catch (err) {
    if (err instanceof EncodingError) throw err
    throw new EncodingError('ENCODING_MALFORMED', undefined, { cause: err })
  }
}

/** What a walk does with an item at its path: its head is read, `start` is where it began. */
type Leaf = (scan: Scan, start: number, depth: number) => void

/** Walks items by their heads (`bytesAt`); the last head read is in `major` and `n`. */
class Scan {
  major = 0
  /** The head's argument: a length, a count or a value. */
  n = 0
  readonly r: Reader

  constructor(r: Reader) {
    this.r = r
  }

  head(): void {
    const r = this.r
    r.need(1)
    const ib = r.buf[r.pos++]!
    this.major = ib >> 5
    const ai = ib & 0x1f
    if (this.major === 7) {
      // false, true, null, undefined: the subset has no float and no other simple value.
      if (ai < 20 || ai > 23) throw malformed('a float or simple value outside the subset')
      this.n = 0
      return
    }
    if (this.major === 6) throw malformed('a tag')
    this.n = r.arg(ai, this.major)
    if (this.n < 0) throw malformed('an indefinite length')
  }

  /** Passes over the rest of the item whose head was just read. */
  skip(depth: number): void {
    if (depth > MAX_DEPTH) throw malformed('nesting too deep')
    const { major, n } = this
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) {
      this.r.need(n)
      this.r.pos += n
    } else if (major === MAJOR_ARRAY || major === MAJOR_MAP) {
      const items = major === MAJOR_MAP ? 2 * n : n
      for (let i = 0; i < items; i++) {
        this.head()
        this.skip(depth + 1)
      }
    }
  }

  collect(path: readonly string[], at: number, leaf: Leaf, depth: number): void {
    if (depth > MAX_DEPTH) throw malformed('nesting too deep')
    const start = this.r.pos
    this.head()
    const { major, n } = this
    const step = path[at]
    if (step === undefined) {
      leaf(this, start, depth)
    } else if (step === '*' && major === MAJOR_ARRAY) {
      for (let i = 0; i < n; i++) this.collect(path, at + 1, leaf, depth + 1)
    } else if (step !== '*' && major === MAJOR_MAP) {
      for (let i = 0; i < n; i++) {
        this.head()
        let found = false
        // Compared in place: a string made of every key passed over was most of what a scan
        // of an entry allocated (a catch-up server scans each entry it sends).
        if (this.major === MAJOR_TEXT) found = textIs(this.r, this.n, step)
        else this.skip(depth + 1)
        if (found) {
          this.collect(path, at + 1, leaf, depth + 1)
        } else {
          this.head()
          this.skip(depth + 1)
        }
      }
    } else {
      this.skip(depth)
    }
  }
}

/**
 * Whether the text string of `n` bytes at `r` is `text`, read past: an ASCII `text`, as every
 * key a scan looks for is, is compared byte by byte without making a string.
 */
function textIs(r: Reader, n: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return r.textOf(n) === text
  r.need(n)
  const start = r.pos
  r.pos += n
  if (n !== text.length) return false
  for (let i = 0; i < n; i++) if (r.buf[start + i] !== text.charCodeAt(i)) return false
  return true
}

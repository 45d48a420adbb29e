/**
 * The backup file: one consistent snapshot of a node's store and the vault key ring beside it,
 * as `POST /v1/node/backup` streams it and `legation backup` saves it, byte for byte.
 *
 *   backup   := MAGIC • manifest • ring • kv* • trailer
 *   MAGIC    := "LEGATION-BACKUP\n"                       (16 ASCII bytes)
 *   frame    := kind(u8) • length(u32 big-endian) • body(length bytes)
 *   manifest := frame(0x01, JSON Manifest)                what this backup is of
 *   ring     := frame(0x02, the key ring file's bytes)    sealed under the node's key (vault.ts)
 *   kv       := frame(0x03, (u32 keyLen • key UTF-8 • u32 valueLen • value)*)   store pairs, key order
 *   trailer  := frame(0x7f, JSON Trailer)                 counts, and SHA-256 of every byte before it
 *
 * The store's values are copied as stored: payloads stay sealed under their citizens' keys, the
 * citizens' keys stay wrapped under the ring, and the ring stays sealed under a key derived from
 * the node's secret key, which is not in the backup. A backup is therefore only readable with the
 * node's key file (kept, sealed, apart from it), and erasing a citizen on the live node does not
 * reach into old backups: a restored node learns the erasure from its peers before it serves
 * personal data (docs/privacy.md).
 *
 * A stream cut short has no trailer (BACKUP_TRUNCATED); a byte changed anywhere before the
 * trailer fails its checksum (BACKUP_CHECKSUM_MISMATCH); a frame out of place or too large is
 * BACKUP_INVALID. The signed contents are checked apart from this, by replaying them (audit.ts).
 */
import { createHash, type Hash } from 'node:crypto'
import { entryKeyOf } from '../engine/entry-rows.ts'
import { NodeError } from '../errors.ts'

export const BACKUP_MAGIC = new TextEncoder().encode('LEGATION-BACKUP\n')
export const BACKUP_VERSION = 1
/** The media type the node answers a backup with. */
export const BACKUP_MEDIA_TYPE = 'application/vnd.legation.backup'
/** Store pairs per kv frame, about: frames stay well under MAX_FRAME. */
export const KV_FRAME_BYTES = 1024 * 1024
/** No frame is larger: a length beyond it is damage, not data. */
export const MAX_FRAME = 64 * 1024 * 1024

export const FRAME = { manifest: 0x01, ring: 0x02, kv: 0x03, trailer: 0x7f } as const

export interface BackupManifest {
  format: 'legation-backup'
  version: number
  /** When the snapshot was taken (ms since the epoch, the node's clock). */
  createdAt: number
  /** The node software that made it. */
  software: string
  bloc: string
  /** The node whose store this is: only its key opens the ring. */
  nodeId: string
  state: string
  charter: { version: number; hash: string }
  /** The store's data format (migrate.ts). */
  storeFormat: number
}

export interface BackupTrailer {
  /** Store pairs in the backup. */
  keys: number
  /** Entries per feed origin (node id): the feeds' sizes in the snapshot. */
  feeds: Record<string, number>
  /** Records and payloads (as stored: sealed). */
  records: number
  payloads: number
  /** SHA-256 (hex) of every byte before the trailer frame, MAGIC included. */
  sha256: string
}

export function frame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length)
  out[0] = kind
  new DataView(out.buffer).setUint32(1, body.length)
  out.set(body, 5)
  return out
}

export const jsonBytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

/** Builds kv frames from pairs, about KV_FRAME_BYTES each. */
export class KvFramer {
  #parts: Uint8Array[] = []
  #size = 0

  /** Adds a pair; answers a full frame's body when there is one. */
  add(key: string, value: Uint8Array): Uint8Array | undefined {
    const k = new TextEncoder().encode(key)
    const head = new Uint8Array(4 + k.length + 4)
    const view = new DataView(head.buffer)
    view.setUint32(0, k.length)
    head.set(k, 4)
    view.setUint32(4 + k.length, value.length)
    this.#parts.push(head, value)
    this.#size += head.length + value.length
    return this.#size >= KV_FRAME_BYTES ? this.flush() : undefined
  }

  /** The pairs added since the last frame (undefined if none). */
  flush(): Uint8Array | undefined {
    if (this.#size === 0) return undefined
    const body = Buffer.concat(this.#parts, this.#size)
    this.#parts = []
    this.#size = 0
    return new Uint8Array(body.buffer, body.byteOffset, body.length)
  }
}

/** Counts what a trailer states, from the pairs as they pass. */
export class BackupCounts {
  keys = 0
  records = 0
  payloads = 0
  feeds: Record<string, number> = {}

  add(key: string): void {
    this.keys++
    if (key.startsWith('rec/')) this.records++
    else if (key.startsWith('pay/')) this.payloads++
    else if (key.startsWith('ent/')) {
      // An entry is counted at its row 0 (data format 4), or once whole (a backup of format 3 or before).
      const { origin, row } = entryKeyOf(key)
      if (row === undefined || row === 0) this.feeds[origin] = (this.feeds[origin] ?? 0) + 1
    }
  }
}

export type BackupItem =
  | { type: 'manifest'; manifest: BackupManifest }
  | { type: 'ring'; ring: Uint8Array }
  | { type: 'pairs'; pairs: Array<[string, Uint8Array]> }
  | { type: 'trailer'; trailer: BackupTrailer }

const invalid = (why: string) => new NodeError('BACKUP_INVALID', `not a valid backup: ${why}`)

/**
 * Reads a backup from its bytes, in chunks of any size, checking as it goes: the order of the
 * frames, their sizes, and at the end the trailer's checksum and counts. Yields the manifest, the
 * ring and the store's pairs; a caller writing them somewhere must treat them as unproven until
 * the trailer has been yielded (the last item).
 */
export async function* readBackup(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<BackupItem> {
  const hash: Hash = createHash('sha256')
  const counts = new BackupCounts()
  // Chunks not yet read, joined only once a whole frame (or its header) is there: chunks of any
  // size cost linear time.
  let pending: Buffer[] = []
  let have = 0
  const take = (n: number): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, have)
    const rest = all.subarray(n)
    pending = rest.length > 0 ? [rest] : []
    have = rest.length
    return all.subarray(0, n)
  }
  const peek = (n: number): Buffer => {
    if (pending[0]!.length < n) pending = [Buffer.concat(pending, have)]
    return pending[0]!.subarray(0, n)
  }
  let magicSeen = false
  /** The frame being waited for: its kind and whole size, once its header is there. */
  let next: { kind: number; size: number } | undefined
  let stage: 'manifest' | 'ring' | 'kv' | 'done' = 'manifest'
  let lastKey: string | undefined
  let seen = 0
  for await (const chunk of chunks) {
    if (chunk.length === 0) continue
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))
    have += chunk.length
    seen += chunk.length
    if (!magicSeen) {
      if (have < BACKUP_MAGIC.length) continue
      const magic = take(BACKUP_MAGIC.length)
      if (!magic.equals(BACKUP_MAGIC)) throw invalid('it does not begin with LEGATION-BACKUP')
      hash.update(magic)
      magicSeen = true
    }
    // Bounded: every turn reads one frame, or waits for more bytes.
    for (;;) {
      if (!next) {
        if (have < 5) break
        if (stage === 'done') throw invalid('bytes after the trailer')
        const header = peek(5)
        const length = header.readUInt32BE(1)
        if (length > MAX_FRAME) throw invalid(`a frame of ${length} bytes`)
        next = { kind: header[0]!, size: 5 + length }
      }
      if (have < next.size) break
      const { kind, size } = next
      next = undefined
      const whole = take(size)
      const body = whole.subarray(5)
      if (kind === FRAME.trailer) {
        if (stage !== 'kv') throw invalid('the trailer comes before the store')
        const trailer = parseJson<BackupTrailer>(body, 'trailer')
        const sha256 = hash.digest('hex')
        if (trailer.sha256 !== sha256) {
          throw new NodeError(
            'BACKUP_CHECKSUM_MISMATCH',
            `the backup's bytes do not hash to its trailer's checksum (${sha256} ≠ ${String(trailer.sha256)}): it was damaged or altered`,
          )
        }
        checkCounts(trailer, counts)
        stage = 'done'
        yield { type: 'trailer', trailer }
        continue
      }
      hash.update(whole)
      if (stage === 'manifest') {
        if (kind !== FRAME.manifest) throw invalid('it has no manifest')
        const manifest = parseJson<BackupManifest>(body, 'manifest')
        if (manifest.format !== 'legation-backup') throw invalid('its manifest is not a backup manifest')
        if (manifest.version !== BACKUP_VERSION) {
          throw invalid(`backup format version ${manifest.version}; this version reads ${BACKUP_VERSION}`)
        }
        stage = 'ring'
        yield { type: 'manifest', manifest }
      } else if (stage === 'ring') {
        if (kind !== FRAME.ring) throw invalid('it has no key ring')
        stage = 'kv'
        yield { type: 'ring', ring: new Uint8Array(body) }
      } else {
        if (kind !== FRAME.kv) throw invalid(`a frame of unknown kind ${kind}`)
        const pairs = parsePairs(body)
        for (const [key] of pairs) {
          if (lastKey !== undefined && key <= lastKey) throw invalid('store keys out of order')
          lastKey = key
          counts.add(key)
        }
        yield { type: 'pairs', pairs }
      }
    }
  }
  if (seen === 0) throw invalid('it is empty')
  if (!magicSeen) throw invalid('it does not begin with LEGATION-BACKUP')
  if (stage !== 'done') {
    throw new NodeError('BACKUP_TRUNCATED', 'the backup ends before its trailer: it was cut short')
  }
  if (have > 0) throw invalid('bytes after the trailer')
}

function parseJson<T>(body: Uint8Array, what: string): T {
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    return v as T
  } catch (cause) {
    throw new NodeError('BACKUP_INVALID', `not a valid backup: its ${what} is not a JSON object`, { cause })
  }
}

function parsePairs(body: Buffer): Array<[string, Uint8Array]> {
  const pairs: Array<[string, Uint8Array]> = []
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let at = 0
  // Bounded: every turn moves `at` forward by at least 8 bytes.
  while (at < body.length) {
    if (at + 4 > body.length) throw invalid('a store pair is cut short')
    const kLen = body.readUInt32BE(at)
    at += 4
    if (at + kLen + 4 > body.length) throw invalid('a store pair is cut short')
    let key: string
    try {
      key = decoder.decode(body.subarray(at, at + kLen))
    } catch (cause) {
      throw new NodeError('BACKUP_INVALID', 'not a valid backup: a store key is not UTF-8', { cause })
    }
    at += kLen
    const vLen = body.readUInt32BE(at)
    at += 4
    if (at + vLen > body.length) throw invalid('a store pair is cut short')
    pairs.push([key, new Uint8Array(body.subarray(at, at + vLen))])
    at += vLen
  }
  return pairs
}

function checkCounts(t: BackupTrailer, c: BackupCounts): void {
  const same =
    t.keys === c.keys &&
    t.records === c.records &&
    t.payloads === c.payloads &&
    JSON.stringify(sorted(t.feeds ?? {})) === JSON.stringify(sorted(c.feeds))
  if (!same) {
    throw new NodeError(
      'BACKUP_CHECKSUM_MISMATCH',
      `the backup holds ${c.keys} store pairs (${c.records} records) but its trailer says ${t.keys} (${t.records} records)`,
    )
  }
}

const sorted = (o: Record<string, number>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b))

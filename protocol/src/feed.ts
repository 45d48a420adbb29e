/**
 * The per-node signed feed. Each node appends entries to its own hash-chained feed:
 * (origin, seq, prev, hlc, deps, changes) signed by the node key. `deps` is the version
 * vector of other origins the entry was built on, so a replica applies it only after
 * those (causal delivery: a Yjs update never arrives before the structs it builds on).
 */
import { type Static, Type } from '@sinclair/typebox'
import { concatBytes, equalBytes } from './bytes.ts'
import { bytesAt, itemStarts, itemsAt } from './cbor-scan.ts'
import type { CertifiedNode, CharterView } from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import {
  DOMAINS,
  decodeCanonical,
  decodeCanonicalCopy,
  domainHash,
  encodeCanonical,
  type KnownEncodings,
  signingInput,
} from './encoding.ts'
import { EntryError, SignatureError } from './errors.ts'
import type { Hlc } from './hlc.ts'
import type { SignedRecord as SignedRecordType } from './records.ts'
import { SignedRecord } from './records.ts'
import { Digest, Id, KeyIdString, parser, Signature } from './schema.ts'

/** A version vector: origin node id → highest contiguous seq applied. */
export type VersionVector = Record<string, number>

export const MAX_CHANGES_PER_ENTRY = 1024
export const MAX_RECORDS_PER_CHANGE = 64
export const MAX_ENTRY_BYTES = 1024 * 1024
/** The doc id of the bloc-wide document that holds crisis alerts. */
export const ALERTS_DOC = 'alerts'

export const Change = Type.Object(
  {
    /** The document changed: a citizen id, or ALERTS_DOC. */
    doc: Type.Union([KeyIdString, Type.Literal(ALERTS_DOC)]),
    /** A Yjs update (v1 encoding) of that document, authored by the origin's client id only. */
    update: Type.Uint8Array({ maxByteLength: 256 * 1024 }),
    /** The signed records the update refers to. */
    records: Type.Array(SignedRecord, { maxItems: MAX_RECORDS_PER_CHANGE }),
  },
  { additionalProperties: false },
)
export type Change = Omit<Static<typeof Change>, 'records'> & { records: SignedRecordType[] }

export const EntryBody = Type.Object(
  {
    v: Type.Literal(1),
    bloc: Id,
    origin: KeyIdString,
    seq: Type.Integer({ minimum: 1 }),
    prev: Type.Union([Digest, Type.Null()]),
    hlc: Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0, maximum: 0xffff_ffff })]),
    /**
     * The hash of the charter version the origin applied when it signed (its latest). Absent
     * means the genesis charter (entries written before versions were named). Replicas judge
     * the entry under that version, not any version the signer might prefer.
     */
    charter: Type.Optional(Id),
    // Without additionalProperties: false, keys that are not node ids would pass unchecked.
    deps: Type.Record(KeyIdString, Type.Integer({ minimum: 1 }), { additionalProperties: false }),
    changes: Type.Array(Change, { minItems: 1, maxItems: MAX_CHANGES_PER_ENTRY }),
  },
  { additionalProperties: false },
)
export type EntryBody = Omit<Static<typeof EntryBody>, 'changes'> & { changes: Change[] }

export const SignedEntry = Type.Object({ body: EntryBody, sig: Signature }, { additionalProperties: false })
export interface SignedEntry {
  body: EntryBody
  sig: Uint8Array
}
const parseEntryShape = parser(SignedEntry)

/** The entry's hash, which the next entry of the same origin names as `prev`. */
export function entryHash(body: EntryBody): Uint8Array {
  return domainHash(DOMAINS.entry, encodeCanonical(body))
}

export function signEntry(ed: Ed25519, body: EntryBody, nodeSecretKey: Uint8Array): SignedEntry {
  return { body, sig: ed.sign(signingInput(DOMAINS.entry, encodeCanonical(body)), nodeSecretKey) }
}

export function encodeEntry(entry: SignedEntry): Uint8Array {
  return encodeCanonical(entry)
}

/**
 * The payload digests an entry's records name, in order, read from its bytes without decoding
 * it (`bytesAt`): for an entry this node stored, so checked already. Views into `bytes`.
 */
export function entryPayloadDigests(bytes: Uint8Array): Uint8Array[] {
  return bytesAt(bytes, PAYLOAD_DIGESTS)
}
const PAYLOAD_DIGESTS = ['body', 'changes', '*', 'records', '*', 'header', 'payload'] as const

/**
 * Where each of an entry's records starts in its bytes, in order (changes, then their records),
 * read as `entryPayloadDigests` is: a node stores an entry cut there, each record in a row of
 * its own (node's entry-rows.ts).
 */
export function entryRecordStarts(bytes: Uint8Array): number[] {
  return itemStarts(bytes, ENTRY_RECORDS)
}
const ENTRY_RECORDS = ['body', 'changes', '*', 'records', '*'] as const

/**
 * The Yjs update of each of an entry's changes, in order, read without decoding the entry: a
 * node keeps a doc that took one update from empty as the place of that update in its stored
 * entry (node's entry-rows.ts). Views into `bytes`.
 */
export function entryUpdates(bytes: Uint8Array): Uint8Array[] {
  return bytesAt(bytes, ENTRY_UPDATES)
}
const ENTRY_UPDATES = ['body', 'changes', '*', 'update'] as const

export { firstItemLength } from './cbor-scan.ts'

const RECORD_HEADERS = ['body', 'changes', '*', 'records', '*', 'header'] as const
const RECORD_CERTS = ['body', 'changes', '*', 'records', '*', 'cert'] as const

/**
 * Adds to `into` the canonical bytes of each record's header and certificate in an entry, as
 * views into `bytes`, for `verifyRecord` to hash and check them as they are
 * (`VerifyContext.known`): encoding them again was over a quarter of a replica's record
 * checks. Only for an entry `decodeEntry` decoded from these very bytes: canonical, so each
 * part's bytes are its encoding, and of the entry's shape, so the n-th header in them is the
 * n-th record's.
 */
export function recordEncodings(entry: SignedEntry, bytes: Uint8Array, into: KnownEncodings): void {
  const records = entry.body.changes.flatMap((c) => c.records)
  const headers = itemsAt(bytes, RECORD_HEADERS)
  const certs = itemsAt(bytes, RECORD_CERTS)
  // Not the decoded entry's bytes (a caller's mistake): nothing is known, all is encoded again.
  if (headers.length !== records.length || certs.length !== records.length) return
  for (const [i, r] of records.entries()) {
    into.set(r.header, headers[i]!)
    if (r.cert !== null) into.set(r.cert, certs[i]!)
  }
}

/**
 * As `recordEncodings`, for records submitted with the bytes `decodeCanonical` decoded each
 * from (`bytes`, when the caller has them), their shape not checked yet: a header or
 * certificate that is not an object is left out.
 */
export function submittedEncodings(
  submissions: ReadonlyArray<{ readonly record: unknown; readonly bytes?: Uint8Array | undefined }>,
): KnownEncodings {
  const into: KnownEncodings = new WeakMap()
  for (const { record, bytes } of submissions) {
    if (!bytes || typeof record !== 'object' || record === null) continue
    const { header, cert } = record as { header?: unknown; cert?: unknown }
    // A canonical map holds each key once: one item, or none.
    const [h] = itemsAt(bytes, ['header'])
    if (h && typeof header === 'object' && header !== null) into.set(header, h)
    const [c] = itemsAt(bytes, ['cert'])
    if (c && typeof cert === 'object' && cert !== null) into.set(cert, c)
  }
  return into
}

/** Decodes and checks an entry's shape (no signature check). */
export function decodeEntry(bytes: Uint8Array): SignedEntry {
  return parseEntryShape.parse(decodeCanonical(bytes, MAX_ENTRY_BYTES), 'entry') as SignedEntry
}

// A signed entry is the map { sig, body }: canonical order puts "sig" (3 bytes) first, so its
// bytes are a fixed prefix, the 64-byte signature, "body", then the body's own canonical bytes.
// Knowing that lets a node encode a body once to sign, hash and send it, and a receiver
// verify and hash the body without encoding it again.
const ENTRY_PREFIX = Uint8Array.of(0xa2, 0x63, 0x73, 0x69, 0x67, 0x58, 0x40)
const BODY_KEY = Uint8Array.of(0x64, 0x62, 0x6f, 0x64, 0x79)
const BODY_OFFSET = ENTRY_PREFIX.length + 64 + BODY_KEY.length

/** An entry with its canonical bytes and hash, encoded once. */
export interface SealedEntry {
  readonly entry: SignedEntry
  readonly bytes: Uint8Array
  readonly hash: Uint8Array
}

/**
 * Signs a body, encoding it once for the signature, the hash and the wire bytes. `known`: the
 * canonical bytes of records the caller decoded from them, spliced in as they are.
 */
export function sealEntry(
  ed: Ed25519,
  body: EntryBody,
  nodeSecretKey: Uint8Array,
  known?: KnownEncodings,
): SealedEntry {
  const bodyBytes = encodeCanonical(body, known)
  const sig = ed.sign(signingInput(DOMAINS.entry, bodyBytes), nodeSecretKey)
  return {
    entry: { body, sig },
    bytes: concatBytes(ENTRY_PREFIX, sig, BODY_KEY, bodyBytes),
    hash: domainHash(DOMAINS.entry, bodyBytes),
  }
}

/**
 * Decodes canonical entry bytes (shape checked) and gives the body's bytes and the hash. The
 * bytes it gives are the decode's own copy, into which the entry's byte strings are views: an
 * entry kept with its bytes holds one copy of them, and no view into the frame it came in.
 */
export function openEntry(bytes: Uint8Array): SealedEntry & { readonly bodyBytes: Uint8Array } {
  const { value, copy } = decodeCanonicalCopy(bytes, MAX_ENTRY_BYTES)
  const entry = parseEntryShape.parse(value, 'entry') as SignedEntry
  // The decode proved the bytes canonical, so the layout above holds.
  const bodyBytes = copy.subarray(BODY_OFFSET)
  return { entry, bytes: copy, bodyBytes, hash: domainHash(DOMAINS.entry, bodyBytes) }
}

/** Like verifyEntrySignature, for an opened entry: no re-encoding of the body. */
export function verifyOpenedEntry(
  ed: Ed25519,
  opened: { entry: SignedEntry; bodyBytes: Uint8Array },
  bloc: string,
  charters: readonly CharterView[],
): CertifiedNode {
  return verifyEntrySignature(ed, opened.entry, bloc, charters, opened.bodyBytes)
}

/**
 * The charter version an entry names (absent: genesis) and its place in `charters` (genesis
 * first), or undefined when that version is not among them — not known here yet.
 */
export function entryCharter(
  body: EntryBody,
  charters: readonly CharterView[],
): { view: CharterView; index: number } | undefined {
  if (body.charter === undefined) return charters[0] && { view: charters[0], index: 0 }
  const index = charters.findIndex((c) => c.hash === body.charter)
  return index < 0 ? undefined : { view: charters[index]!, index }
}

/**
 * Verifies an entry's bloc and signature under the charter version it names: its origin is a
 * node that version certifies, and the entry's time is within that node's certificate window.
 * An expelled node's earlier entries stay valid (history is not rewritten); for the entries it
 * signed after its removal see `withdrawnAt`. Throws ENTRY_CHARTER_UNKNOWN when the version
 * named is not in `charters` (a node that has not received the amendment yet waits for it).
 */
export function verifyEntrySignature(
  ed: Ed25519,
  entry: SignedEntry,
  bloc: string,
  charters: readonly CharterView[],
  bodyBytes: Uint8Array = encodeCanonical(entry.body),
): CertifiedNode {
  const b = entry.body
  if (b.bloc !== bloc) throw new EntryError('BLOC_MISMATCH', 'entry belongs to another bloc')
  if (b.deps[b.origin] !== undefined)
    throw new EntryError('ENTRY_INVALID', 'an entry does not depend on its own origin')
  const named = entryCharter(b, charters)
  if (!named) throw new EntryError('ENTRY_CHARTER_UNKNOWN')
  const node = named.view.nodes.get(b.origin)
  if (!node)
    throw new EntryError('ENTRY_INVALID', 'entry origin is not certified in the charter version it names')
  if (b.hlc[0] < node.notBefore || b.hlc[0] > node.notAfter) {
    throw new EntryError(
      'ENTRY_INVALID',
      'entry is dated outside its node’s certificate in the charter it names',
    )
  }
  if (!ed.verify(entry.sig, signingInput(DOMAINS.entry, bodyBytes), node.nodeKey)) {
    throw new SignatureError('SIGNATURE_INVALID', 'entry signature does not verify')
  }
  return node
}

/**
 * When the origin of an entry lost its authority, if it did before the entry's time: the
 * issue time of the first charter version after the one the entry names that no longer
 * certifies its node (its state expelled, or the node removed). An entry stamped at or after
 * that is void everywhere that knows the amendment, whichever node relayed it and whatever
 * version it names. Undefined when the entry stands.
 */
export function withdrawnAt(body: EntryBody, charters: readonly CharterView[]): number | undefined {
  const named = entryCharter(body, charters)
  if (!named) return undefined
  for (let i = named.index + 1; i < charters.length; i++) {
    const v = charters[i]!
    if (v.nodes.has(body.origin)) continue
    return body.hlc[0] >= v.charter.issuedAt ? v.charter.issuedAt : undefined
  }
  return undefined
}

/** Checks that `next` follows `prevEntry` (or is the first entry) in its origin's chain. */
export function checkChain(prevEntry: EntryBody | undefined, next: EntryBody): void {
  if (!prevEntry) {
    if (next.seq !== 1 || next.prev !== null)
      throw new EntryError('ENTRY_CHAIN_BROKEN', 'first entry must have seq 1')
    return
  }
  if (next.origin !== prevEntry.origin || next.seq !== prevEntry.seq + 1) {
    throw new EntryError('ENTRY_CHAIN_BROKEN', 'sequence gap')
  }
  if (next.prev === null || !equalBytes(next.prev, entryHash(prevEntry))) {
    throw new EntryError('ENTRY_CHAIN_BROKEN', 'prev does not name the previous entry')
  }
}

/**
 * Whether all of an entry's dependencies are covered by `vv`, as far as their feeds go: `ends`
 * gives, for a feed that ends early, the last seq of it that will ever be applied (a feed closed
 * by a charter amendment, docs/protocol.md § Charter versions; an equivocating origin's cut,
 * § Forks that heal). A dependency beyond its feed's end is met once the feed reaches its end.
 */
export function depsSatisfied(
  deps: VersionVector,
  vv: VersionVector,
  ends: Readonly<Record<string, number>> = {},
): boolean {
  for (const [origin, seq] of Object.entries(deps)) {
    if ((vv[origin] ?? 0) < Math.min(seq, ends[origin] ?? seq)) return false
  }
  return true
}

/** Proof that an origin signed two different entries for one seq. */
export interface Equivocation {
  readonly origin: string
  readonly seq: number
  readonly a: SignedEntry
  readonly b: SignedEntry
}

export function isEquivocation(a: SignedEntry, b: SignedEntry): boolean {
  return (
    a.body.origin === b.body.origin &&
    a.body.seq === b.body.seq &&
    !equalBytes(entryHash(a.body), entryHash(b.body))
  )
}

export type { Hlc }

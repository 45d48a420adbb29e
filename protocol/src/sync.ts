/**
 * The sync protocol `/legation/<bloc>/sync/1.0.0`: messages exchanged on one long-lived
 * stream per peer, each a length-prefixed frame holding one canonical-CBOR message.
 *
 *   hello       := { t: "hello", bloc, charter: { hash, version }, vv }      on connect
 *   status      := { t: "status", vv }                                       periodically
 *   want        := { t: "want", origin, from, limit }                        range pull
 *   entries     := { t: "entries", entries: [bytes], payloads: [{ d, p }] }  push and pull answers
 *   stored      := { t: "stored", receipts: [Receipt] }                      "I stored these" (write concern)
 *   wantReceipts := { t: "wantReceipts", entries: [{ origin, seq }] }       "sign receipts for these, if you hold them"
 *   charter     := { t: "charter", chain: [SignedCharter] }                  a newer charter chain
 *   wantPayload := { t: "wantPayload", digests: [bytes32] }
 *   evidence    := { t: "evidence", a: bytes, b: bytes }                     two entries, one (origin, seq)
 *   dutyDone    := { t: "dutyDone", done: [{ id, node, at }] }              duties done (takeover)
 *   revocations := { t: "revocations", list: [Revocation] }                 officer certificates revoked
 *   nodeUrls    := { t: "nodeUrls", list: [NodeUrl] }                       nodes' public HTTP addresses
 *
 * A receipt is a node's signature over `{ node, origin, seq, entry }` (receipt domain): it
 * stored that entry durably, and with it every record the entry carries.
 */
import { type Static, Type } from '@sinclair/typebox'
import { toHex } from './bytes.ts'
import { Revocation } from './certificates.ts'
import { SignedCharter } from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import { DOMAINS, decodeCanonical, encodeCanonical, signingInput } from './encoding.ts'
import { SchemaError } from './errors.ts'
import { NodeUrl } from './node-url.ts'
import { Digest, Id, KeyIdString, parser, Signature } from './schema.ts'

export const SYNC_PROTOCOL_VERSION = '1.0.0'
/** The sync protocol id of a bloc (the prefix keeps the DHT and sync private to the bloc). */
export function protocolPrefix(bloc: string): string {
  return `/legation/${bloc.slice(0, 16)}`
}
export function syncProtocol(bloc: string): string {
  return `${protocolPrefix(bloc)}/sync/${SYNC_PROTOCOL_VERSION}`
}

/** Largest frame a peer may send (an `entries` frame is filled up to about half of it). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024
export const MAX_WANT = 1024
/** Revocations in one message (a node sends all it knows on connect, in messages of this many). */
export const MAX_REVOCATIONS_PER_MESSAGE = 1024

// additionalProperties: false, or TypeBox lets keys that are not node ids through unchecked.
const VV = Type.Record(KeyIdString, Type.Integer({ minimum: 0 }), { additionalProperties: false })
const strict = { additionalProperties: false } as const

export const ReceiptBody = Type.Object(
  { node: KeyIdString, origin: KeyIdString, seq: Type.Integer({ minimum: 1 }), entry: Digest },
  strict,
)
export type ReceiptBody = Static<typeof ReceiptBody>
export const SignedReceipt = Type.Object({ body: ReceiptBody, sig: Signature }, strict)
export type SignedReceipt = Static<typeof SignedReceipt>

export function signReceipt(ed: Ed25519, body: ReceiptBody, nodeSecretKey: Uint8Array): SignedReceipt {
  return { body, sig: ed.sign(signingInput(DOMAINS.receipt, encodeCanonical(body)), nodeSecretKey) }
}

export function verifyReceipt(ed: Ed25519, r: SignedReceipt, nodeKey: Uint8Array): boolean {
  return ed.verify(r.sig, signingInput(DOMAINS.receipt, encodeCanonical(r.body)), nodeKey)
}

export const SyncMessage = Type.Union([
  Type.Object(
    {
      t: Type.Literal('hello'),
      bloc: Id,
      charter: Type.Object({ hash: Id, version: Type.Integer({ minimum: 1 }) }, strict),
      vv: VV,
    },
    strict,
  ),
  Type.Object({ t: Type.Literal('status'), vv: VV }, strict),
  Type.Object(
    {
      t: Type.Literal('want'),
      origin: KeyIdString,
      from: Type.Integer({ minimum: 1 }),
      limit: Type.Integer({ minimum: 1, maximum: MAX_WANT }),
    },
    strict,
  ),
  Type.Object(
    {
      t: Type.Literal('entries'),
      entries: Type.Array(Type.Uint8Array({ maxByteLength: MAX_FRAME_BYTES }), { maxItems: MAX_WANT }),
      payloads: Type.Array(
        Type.Object({ d: Digest, p: Type.Uint8Array({ maxByteLength: 64 * 1024 }) }, strict),
        {
          maxItems: 64 * MAX_WANT,
        },
      ),
    },
    strict,
  ),
  Type.Object(
    { t: Type.Literal('stored'), receipts: Type.Array(SignedReceipt, { maxItems: MAX_WANT }) },
    strict,
  ),
  Type.Object(
    {
      t: Type.Literal('wantReceipts'),
      entries: Type.Array(Type.Object({ origin: KeyIdString, seq: Type.Integer({ minimum: 1 }) }, strict), {
        minItems: 1,
        maxItems: MAX_WANT,
      }),
    },
    strict,
  ),
  Type.Object(
    { t: Type.Literal('charter'), chain: Type.Array(SignedCharter, { minItems: 1, maxItems: 1024 }) },
    strict,
  ),
  Type.Object({ t: Type.Literal('wantPayload'), digests: Type.Array(Digest, { maxItems: 4096 }) }, strict),
  Type.Object(
    {
      t: Type.Literal('dutyDone'),
      done: Type.Array(Type.Object({ id: Id, node: KeyIdString, at: Type.Integer({ minimum: 0 }) }, strict), {
        maxItems: 4096,
      }),
    },
    strict,
  ),
  /** Nodes' own announcements of their public HTTP addresses (node-url.ts), relayed as received. */
  Type.Object(
    { t: Type.Literal('nodeUrls'), list: Type.Array(NodeUrl, { minItems: 1, maxItems: 1024 }) },
    strict,
  ),
  Type.Object(
    {
      t: Type.Literal('revocations'),
      list: Type.Array(Revocation, { minItems: 1, maxItems: MAX_REVOCATIONS_PER_MESSAGE }),
    },
    strict,
  ),
  /**
   * A checkpoint of one node's feed as a C2SP signed note: the origin's own signature and the
   * cosignatures (tlog-cosignature) of the witnesses that checked it (docs/protocol.md § Witnesses).
   */
  Type.Object(
    {
      t: Type.Literal('checkpoint'),
      note: Type.String({ minLength: 1, maxLength: 64 * 1024 }),
      /**
       * Where the checkpoint's origin equivocated at `seq`: the entry hash its tree holds there
       * and the RFC 6962 inclusion proof of it under the checkpoint's root — which version stands
       * (docs/protocol.md § Forks that heal).
       */
      fork: Type.Optional(
        Type.Object(
          { seq: Type.Integer({ minimum: 1 }), entry: Digest, path: Type.Array(Digest, { maxItems: 64 }) },
          strict,
        ),
      ),
    },
    strict,
  ),
  Type.Object(
    {
      t: Type.Literal('evidence'),
      a: Type.Uint8Array({ maxByteLength: MAX_FRAME_BYTES }),
      b: Type.Uint8Array({ maxByteLength: MAX_FRAME_BYTES }),
    },
    strict,
  ),
])
export type SyncMessage = Static<typeof SyncMessage>
const parseSync = parser(SyncMessage)

export function encodeSyncMessage(m: SyncMessage): Uint8Array {
  return encodeCanonical(m)
}

/**
 * Decodes one frame; throws an EncodingError or SchemaError for anything malformed — a list
 * that names one thing twice included: each answer costs the receiver work (a receipt signed,
 * a payload read, a revocation verified), so a peer that repeats itself is refused, not served
 * a thousand times.
 */
export function decodeSyncMessage(frame: Uint8Array): SyncMessage {
  const msg = parseSync.parse(decodeCanonical(frame, MAX_FRAME_BYTES), 'sync message')
  const repeated = repeatedItem(msg)
  if (repeated) throw new SchemaError('SCHEMA_INVALID', `sync message ${msg.t} names one ${repeated} twice`)
  return msg
}

/** What a message names twice, if it does. */
function repeatedItem(msg: SyncMessage): string | undefined {
  const twice = (keys: Iterable<string>) => {
    const seen = new Set<string>()
    for (const k of keys) {
      if (seen.has(k)) return true
      seen.add(k)
    }
    return false
  }
  switch (msg.t) {
    case 'wantReceipts':
      return twice(msg.entries.map((e) => `${e.origin}/${e.seq}`)) ? 'entry' : undefined
    case 'wantPayload':
      return twice(msg.digests.map(toHex)) ? 'payload' : undefined
    case 'entries':
      return twice(msg.payloads.map((p) => toHex(p.d))) ? 'payload' : undefined
    case 'stored':
      return twice(msg.receipts.map((r) => `${r.body.node}/${r.body.origin}/${r.body.seq}`))
        ? 'receipt'
        : undefined
    case 'revocations':
      return twice(msg.list.map((r) => `${r.body.state}/${r.body.cert}`)) ? 'revocation' : undefined
    case 'dutyDone':
      return twice(msg.done.map((d) => d.id)) ? 'duty' : undefined
    case 'nodeUrls':
      return twice(msg.list.map((a) => a.body.node)) ? 'node' : undefined
    default:
      return undefined
  }
}

/**
 * Inclusion receipts: what a citizen keeps to prove, offline and with nothing but the charter,
 * that the bloc holds one of their records in its append-only history.
 *
 *   inclusionReceipt := { v: 1, bloc, record: signedRecord, placement: signedPlacement,
 *                         proof: { size, index, path: [bytes32] }, checkpoint: note,
 *                         consistency?: { from, path: [bytes32] } }
 *   placement        := { node: keyid, record: id, origin: keyid, seq, entry: bytes32 }
 *                       signed by `node`: "record `record` is carried by entry (origin, seq),
 *                       whose hash is `entry`"
 *
 * The record is its header and signatures only (never a payload). The entry itself is not in
 * the receipt — it holds other people's records — so the node that issued the receipt attests
 * that the record is in it (a false attestation is signed evidence against that node: the entry
 * is in every node's store and in the secretariat's audit). The rest is proof: the entry's hash
 * is leaf `seq − 1` (RFC 6962, leaf data the entry hash) of its origin's feed tree, under the
 * root of a checkpoint signed by the origin and, when bloc-final, cosigned by nodes of a quorum
 * of member states (docs/protocol.md § Witnesses). `consistency`, if present, proves that the
 * tree of `from` entries (another receipt's checkpoint) is a prefix of this one.
 */
import { type Static, Type } from '@sinclair/typebox'
import { fromBase64url, fromHex, toHex } from './bytes.ts'
import type { CharterView } from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import { DOMAINS, decodeCanonical, encodeCanonical, signingInput } from './encoding.ts'
import { ProtocolError, SignatureError } from './errors.ts'
import { leafHash, verifyConsistency, verifyInclusion } from './merkle.ts'
import { noteParts, parseCheckpoint } from './note.ts'
import { verifyRecord } from './records.ts'
import { Digest, Id, KeyIdString, parser, Signature } from './schema.ts'
import { certifiedNode, openWitnessedCheckpoint } from './witnessed.ts'

export const PlacementBody = Type.Object(
  { node: KeyIdString, record: Id, origin: KeyIdString, seq: Type.Integer({ minimum: 1 }), entry: Digest },
  { additionalProperties: false },
)
export type PlacementBody = Static<typeof PlacementBody>
export const SignedPlacement = Type.Object(
  { body: PlacementBody, sig: Signature },
  { additionalProperties: false },
)
export type SignedPlacement = Static<typeof SignedPlacement>

export function signPlacement(ed: Ed25519, body: PlacementBody, nodeSecretKey: Uint8Array): SignedPlacement {
  return { body, sig: ed.sign(signingInput(DOMAINS.placement, encodeCanonical(body)), nodeSecretKey) }
}

const Path = Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }), { maxItems: 64 })

/** An inclusion receipt as JSON (bytes as base64url, the record and placement as base64url CBOR). */
export const InclusionReceiptJson = Type.Object(
  {
    v: Type.Literal(1),
    bloc: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** The signed record (header, signature, certificate), canonical CBOR, base64url. */
    record: Type.String({ maxLength: 256 * 1024 }),
    /** The signed placement, canonical CBOR, base64url. */
    placement: Type.String({ maxLength: 4096 }),
    proof: Type.Object(
      { size: Type.Integer({ minimum: 1 }), index: Type.Integer({ minimum: 0 }), path: Path },
      { additionalProperties: false },
    ),
    /** The checkpoint of the record's origin feed as a signed note, with its cosignatures. */
    checkpoint: Type.String({ maxLength: 64 * 1024 }),
    consistency: Type.Optional(
      Type.Object({ from: Type.Integer({ minimum: 1 }), path: Path }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
)
export type InclusionReceiptJson = Static<typeof InclusionReceiptJson>
const parseReceiptJson = parser(InclusionReceiptJson)
const parsePlacement = parser(SignedPlacement)

export interface ReceiptVerdict {
  /** The record's id, and where the bloc's history holds it. */
  readonly record: string
  readonly origin: string
  readonly seq: number
  /** The checkpoint the proof is against, and its root (hex). */
  readonly size: number
  readonly root: string
  /** The member states whose nodes cosigned that checkpoint, and whether they reach the quorum. */
  readonly states: readonly string[]
  readonly final: boolean
  /** The node that attested the record's place in the entry. */
  readonly attestedBy: string
}

/**
 * Checks an inclusion receipt offline against the charter chain (genesis first). Throws a
 * ProtocolError naming the first thing that does not hold; answers what it proves. `final` is
 * whether the checkpoint is cosigned by nodes of a quorum of member states of the latest
 * charter version given: a receipt that is not final proves only what its origin signed.
 */
export function verifyInclusionReceipt(
  ed: Ed25519,
  value: unknown,
  charters: readonly CharterView[],
): ReceiptVerdict {
  const r = parseReceiptJson.parse(value, 'inclusion receipt')
  const latest = charters.at(-1)
  if (!latest || r.bloc !== latest.bloc) throw new ProtocolError('BLOC_MISMATCH', 'a receipt of another bloc')
  const byHash = (h: string) => charters.find((c) => c.hash === h)
  const { id } = verifyRecord({ ed, charter: byHash }, decodeB64Cbor(r.record), r.bloc)
  const placement = parsePlacement.parse(decodeB64Cbor(r.placement), 'placement') as SignedPlacement
  const p = placement.body
  if (p.record !== id) throw new ProtocolError('RECEIPT_INVALID', 'the placement names another record')
  const attester = certifiedNode(charters, p.node)
  if (
    !attester ||
    !ed.verify(placement.sig, signingInput(DOMAINS.placement, encodeCanonical(p)), attester.nodeKey)
  ) {
    throw new SignatureError('SIGNATURE_INVALID', 'the placement is not signed by a node of this bloc')
  }
  if (!certifiedNode(charters, p.origin)) {
    throw new ProtocolError('RECEIPT_INVALID', 'the entry’s origin is no node of this bloc')
  }
  if (parseCheckpoint(noteParts(r.checkpoint).text).origin !== `legation/${r.bloc}/${p.origin}`) {
    throw new ProtocolError('RECEIPT_INVALID', 'the checkpoint is of another feed')
  }
  const cp = openWitnessedCheckpoint(ed, r.bloc, charters, r.checkpoint, p.origin)
  if (r.proof.size !== cp.size || r.proof.index !== p.seq - 1) {
    throw new ProtocolError('RECEIPT_INVALID', 'the proof is not for this entry in this checkpoint')
  }
  const path = r.proof.path.map(fromBase64url)
  if (!verifyInclusion(leafHash(p.entry), r.proof.index, cp.size, path, cp.root)) {
    throw new ProtocolError('RECEIPT_INVALID', 'the entry is not in the checkpoint’s tree')
  }
  return {
    record: id,
    origin: p.origin,
    seq: p.seq,
    size: cp.size,
    root: toHex(cp.root),
    states: cp.states,
    final: cp.final,
    attestedBy: p.node,
  }
}

/**
 * Checks that two receipts' checkpoints of the same feed agree: the later one's `consistency`
 * proves the earlier one's tree a prefix of its own (or, of one size, their roots are equal).
 * Both must have verified (`verifyInclusionReceipt`). Throws RECEIPT_INVALID otherwise.
 */
export function verifyReceiptsAgree(
  a: { verdict: ReceiptVerdict; receipt: InclusionReceiptJson },
  b: { verdict: ReceiptVerdict; receipt: InclusionReceiptJson },
): void {
  const [older, newer] = a.verdict.size <= b.verdict.size ? [a, b] : [b, a]
  if (older.verdict.origin !== newer.verdict.origin) {
    throw new ProtocolError('RECEIPT_INVALID', 'the receipts are of different feeds')
  }
  if (older.verdict.size === newer.verdict.size) {
    if (older.verdict.root !== newer.verdict.root) {
      throw new ProtocolError('RECEIPT_INVALID', 'two checkpoints of one size with different roots')
    }
    return
  }
  const c = newer.receipt.consistency
  if (
    !c ||
    c.from !== older.verdict.size ||
    !verifyConsistency(
      older.verdict.size,
      newer.verdict.size,
      fromHex(older.verdict.root),
      fromHex(newer.verdict.root),
      c.path.map(fromBase64url),
    )
  ) {
    throw new ProtocolError('RECEIPT_INVALID', 'the later checkpoint does not extend the earlier one')
  }
}

function decodeB64Cbor(s: string): unknown {
  return decodeCanonical(fromBase64url(s))
}

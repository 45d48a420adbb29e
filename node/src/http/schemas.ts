/**
 * The bodies the node answers with, as TypeBox schemas: the routes declare them as their
 * response schemas (which also keeps undeclared fields from leaving the node), and clients
 * (the admin CLI, the test network) take their types from them, so the API is one contract.
 * Only TypeBox here: a client imports this file (`@legation/node/http/schemas`) without
 * loading the node.
 *
 * @example
 * import { NodeInfo } from '@legation/node/http/schemas'
 * const info = (await res.json()) as Static<typeof NodeInfo>
 */
import { Type } from '@sinclair/typebox'

const VersionVector = Type.Record(Type.String(), Type.Integer())

export const NodeInfo = Type.Object({
  nodeId: Type.String(),
  peerId: Type.String(),
  name: Type.String(),
  state: Type.String(),
  version: Type.String(),
  bloc: Type.String(),
  charter: Type.Object({ hash: Type.String(), version: Type.Integer(), members: Type.Array(Type.String()) }),
  versionVector: VersionVector,
  stateRoot: Type.String(),
  pendingEntries: Type.Integer(),
  /** True while the node rebuilds its derived state (engine/healing.ts): reads answer 503 REBUILDING. */
  rebuilding: Type.Boolean(),
  quarantined: Type.Array(Type.Object({ nodeId: Type.String(), fromSeq: Type.Integer() })),
  /** Feeds closed here: the next entry was signed after an amendment removed the node. */
  closed: Type.Array(Type.Object({ nodeId: Type.String(), lastSeq: Type.Integer() })),
  peers: Type.Array(
    Type.Object({
      peerId: Type.String(),
      nodeId: Type.Union([Type.String(), Type.Null()]),
      state: Type.Union([Type.String(), Type.Null()]),
      connected: Type.Boolean(),
      versionVector: VersionVector,
      lag: Type.Integer(),
    }),
  ),
  /** Evidence kept here (equivocations, refused signed entries, split views), counted up to EVIDENCE_COUNT_CAP. */
  evidence: Type.Optional(Type.Integer({ minimum: 0 })),
  /** This node's latest checkpoint of its own feed, and the latest of it that is bloc-final (null: none yet). */
  checkpoint: Type.Optional(
    Type.Object({
      size: Type.Union([Type.Integer(), Type.Null()]),
      finalSize: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
})

export const Receipt = Type.Object({
  record: Type.String(),
  node: Type.String(),
  origin: Type.String(),
  seq: Type.Integer(),
  entry: Type.String(),
  sig: Type.String(),
})

export const Accepted = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate')]),
  receipt: Receipt,
  replicas: Type.Optional(Type.Array(Receipt)),
})

export const ItemResult = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('refused')]),
  receipt: Type.Optional(Receipt),
  code: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
})

export const RecordView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  bloc: Type.String(),
  charter: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  at: Type.Integer(),
  author: Type.String(),
  signedBy: Type.String(),
  body: Type.Unknown(),
  payloadDigest: Type.Union([Type.String(), Type.Null()]),
  sig: Type.String(),
  origin: Type.String(),
  seq: Type.Integer(),
})

export const RevocationView = Type.Object({
  cert: Type.String({ description: 'Id of the revoked officer certificate' }),
  state: Type.String({ description: 'The member state that issued and revoked it' }),
  at: Type.Integer({ description: 'From this time (ms since the epoch) its signatures are refused' }),
  reason: Type.String(),
  revocation: Type.String({ description: 'The signed revocation, canonical CBOR, base64url' }),
})

export const Case = Type.Object({
  id: Type.String(),
  citizen: Type.String(),
  type: Type.String(),
  state: Type.String(),
  opened: Type.Integer(),
  updated: Type.Integer(),
  details: Type.Optional(Type.String()),
  history: Type.Array(
    Type.Object({
      id: Type.String(),
      from: Type.String(),
      to: Type.String(),
      at: Type.Integer(),
      by: Type.String(),
    }),
  ),
})

export const Alert = Type.Object({
  id: Type.String(),
  country: Type.String(),
  region: Type.Union([Type.String(), Type.Null()]),
  severity: Type.String(),
  title: Type.String(),
  message: Type.String(),
  issuedAt: Type.Integer(),
  issuedBy: Type.String(),
})

/** `POST /v1/records/batch`: one result per submitted record, in order. */
export const BatchResults = Type.Object({
  results: Type.Array(ItemResult),
  replicas: Type.Optional(Type.Array(Receipt)),
})

export const RevocationList = Type.Object({ revocations: Type.Array(RevocationView) })

/** `GET /v1/charter`. */
export const CharterView = Type.Object({
  version: Type.Integer(),
  hash: Type.String(),
  bloc: Type.String(),
  chain: Type.String(),
})

/** `POST /v1/charter`. */
export const CharterAdoption = Type.Object({
  adopted: Type.Boolean(),
  version: Type.Integer(),
  hash: Type.String(),
})

/** `GET /v1/audit/evidence`. */
export const EvidenceList = Type.Object({
  evidence: Type.Array(Type.Object({ kind: Type.String(), id: Type.String(), bytes: Type.String() })),
  next: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `after` for the next page; null on the last page',
  }),
})

// ---- Audit (the secretariat's auditor) ----

const Hash = Type.String({ description: 'A SHA-256 hash, base64url' })

export const FeedTreeList = Type.Object({
  feeds: Type.Array(
    Type.Object({
      origin: Type.String({ description: 'Node id of the feed’s origin' }),
      size: Type.Integer({ description: 'Entries of the feed this node holds durably' }),
      root: Hash,
    }),
  ),
})

export const SignedCheckpointView = Type.Object({
  origin: Type.String({ description: 'The checkpoint’s origin line: legation/<bloc>/<node id>' }),
  size: Type.Integer(),
  note: Type.String({
    description: 'A C2SP tlog-checkpoint in a C2SP signed note, signed with the node key',
  }),
  verifierKey: Type.String({ description: 'The C2SP verifier key (name+keyid+key) that opens the note' }),
})

export const InclusionProofView = Type.Object({
  origin: Type.String(),
  seq: Type.Integer(),
  index: Type.Integer({ description: 'The leaf’s index in the tree, from 0 as RFC 6962 counts: seq − 1' }),
  size: Type.Integer(),
  entry: Type.String({
    description:
      'The leaf data: the entry’s hash (hex, as receipts give it); the leaf hash is SHA-256(0x00 ‖ entry)',
  }),
  root: Hash,
  proof: Type.Array(Hash, { description: 'The RFC 6962 audit path, leaf to root' }),
})

/** `GET /v1/audit/feeds/{origin}/entries`: signed entries as stored, never a payload. */
export const AuditEntryPage = Type.Object({
  origin: Type.String(),
  size: Type.Integer({ description: 'Entries of the feed this node holds durably' }),
  entries: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      hash: Type.Union([Type.String(), Type.Null()], {
        description:
          'The entry’s hash (hex), its leaf data in the feed’s tree; null if the stored bytes do not decode',
      }),
      entry: Type.String({
        description:
          'The signed entry as stored, canonical CBOR, base64url: record headers and signatures; payloads only by digest',
      }),
    }),
  ),
  next: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Pass as `after` for the next page; null once the page reaches `size`',
  }),
})

export const ConsistencyProofView = Type.Object({
  origin: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  fromRoot: Hash,
  toRoot: Hash,
  proof: Type.Array(Hash, { description: 'The RFC 6962 consistency proof' }),
})

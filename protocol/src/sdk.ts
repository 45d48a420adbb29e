/**
 * The client SDK: make keys, build and sign records and requests, set up a bloc.
 * Used by tests, the admin CLI and (through a bundler) the citizen portal. Sending them to the
 * bloc, with failover between nodes, is `NodePool` (`@legation/protocol/http`, node-pool.ts):
 * this file stays pure.
 *
 * @example
 * const client = new LegationClient({ ed: nobleEd25519, bloc, charter, keys, cert })
 * const presence = client.record('presence.registered', citizenId,
 *   { from: Date.now(), until: null },
 *   { salt: client.salt(), country: 'KE', region: 'Nairobi' })
 * const pool = new NodePool({ nodes: ['http://127.0.0.1:8080', 'http://127.0.0.1:8081'] })
 * const { results, replicas, writeConcernMet } = await pool.submit([presence], { writeConcern: 2, signer: client })
 */

import { toBase64url } from './bytes.ts'
import {
  type NodeCertBody,
  type OfficerCertBody,
  type OfficerCertificate,
  type OfficerRole,
  signCertificate,
} from './certificates.ts'
import { type CharterBody, charterHash, type Member, type SignedCharter, signCharter } from './charter.ts'
import { type Ed25519, randomSecretKey } from './crypto.ts'
import { encodeCanonical } from './encoding.ts'
import { generateKeyPair, type KeyPair, keyId, peerIdOf } from './keys.ts'
import {
  encodePayload,
  payloadDigest,
  type RecordBody,
  type RecordHeader,
  type RecordKind,
  type RecordPayload,
  recordId,
  type SignedRecord,
  signRecord,
} from './records.ts'
import { type RequestToSign, signRequest } from './request-auth.ts'

export interface ClientInit {
  ed: Ed25519
  bloc: string
  /** Hash of the charter version the signer's certificate chains to. */
  charter: string
  keys: KeyPair
  /** The officer's certificate; omit for a citizen signing with their own key. */
  cert?: OfficerCertificate | null
  /** @default Date.now */
  clock?: () => number
  /** @default Web Crypto getRandomValues */
  random?: (n: number) => Uint8Array
}

export interface BuiltRecord<K extends RecordKind = RecordKind> {
  readonly id: string
  readonly record: SignedRecord<K>
  readonly payload: Uint8Array | null
}

export class LegationClient {
  readonly ed: Ed25519
  readonly bloc: string
  readonly charter: string
  readonly keys: KeyPair
  readonly cert: OfficerCertificate | null
  readonly #clock: () => number
  readonly #random: (n: number) => Uint8Array
  /** The `at` of the last signed request: signing times are strictly increasing. */
  #lastSignedAt = Number.NEGATIVE_INFINITY

  constructor(init: ClientInit) {
    this.ed = init.ed
    this.bloc = init.bloc
    this.charter = init.charter
    this.keys = init.keys
    this.cert = init.cert ?? null
    this.#clock = init.clock ?? Date.now
    this.#random = init.random ?? ((n) => globalThis.crypto.getRandomValues(new Uint8Array(n)))
  }

  /** The signer's id: for a citizen, their citizen id. */
  get id(): string {
    return keyId(this.keys.publicKey)
  }

  /** A fresh 16-byte payload salt. */
  salt(): Uint8Array {
    return this.#random(16)
  }

  record<K extends RecordKind>(
    kind: K,
    subject: string | null,
    body: RecordBody<K>,
    payload?: RecordPayload<K> | null,
    at = this.#clock(),
  ): BuiltRecord<K> {
    const payloadBytes = payload ? encodePayload(kind, payload) : null
    const header: RecordHeader<K> = {
      v: 1,
      bloc: this.bloc,
      charter: this.charter,
      kind,
      subject,
      at,
      author: this.keys.publicKey,
      body,
      payload: payloadBytes ? payloadDigest(payloadBytes) : null,
    }
    const record = signRecord(this.ed, header, this.keys.secretKey, this.cert)
    return { id: recordId(header), record, payload: payloadBytes }
  }

  /**
   * Headers that authenticate a request as this officer or citizen. Each call signs at a later
   * millisecond than the one before (a node accepts a signed POST only once, and two identical
   * requests signed in the same millisecond would otherwise carry the same signature).
   */
  sign(req: RequestToSign): Record<string, string> {
    const at = Math.max(this.#clock(), this.#lastSignedAt + 1)
    this.#lastSignedAt = at
    return signRequest(this.ed, req, this.keys, at, this.cert ?? undefined)
  }
}

/** The JSON body of `POST /v1/records` for one record. */
export function toSubmission(built: { record: SignedRecord; payload: Uint8Array | null }): {
  record: string
  payload?: string
} {
  const out: { record: string; payload?: string } = { record: toBase64url(encodeCanonical(built.record)) }
  if (built.payload) out.payload = toBase64url(built.payload)
  return out
}

/**
 * A batch for `POST /v1/records/batch` as CBOR (`content-type: application/cbor`): records and
 * payloads as byte strings, without the base64url and JSON of `toSubmission`.
 */
export function toCborBatch(
  built: readonly { record: SignedRecord; payload: Uint8Array | null }[],
  writeConcern?: number,
): Uint8Array {
  const records = built.map((b) =>
    b.payload
      ? { record: encodeCanonical(b.record), payload: b.payload }
      : { record: encodeCanonical(b.record) },
  )
  return encodeCanonical(writeConcern === undefined ? { records } : { records, writeConcern })
}

// ---- Bloc set-up (the ceremony, and development blocs) ----

export interface NodeSpec {
  name: string
  keys: KeyPair
  clientId: number
  addrs: string[]
}

export interface MemberSpec {
  code: string
  name: string
  stateKeys: KeyPair
  nodes: NodeSpec[]
}

export function certifyNode(
  ed: Ed25519,
  state: string,
  stateSecretKey: Uint8Array,
  node: NodeSpec,
  validity: { notBefore: number; notAfter: number },
) {
  const body: NodeCertBody = {
    type: 'node',
    state,
    name: node.name,
    nodeKey: node.keys.publicKey,
    peerId: peerIdOf(node.keys.publicKey),
    clientId: node.clientId,
    ...validity,
  }
  return { cert: signCertificate(ed, body, stateSecretKey), addrs: node.addrs }
}

export function certifyOfficer(
  ed: Ed25519,
  bloc: string,
  state: string,
  stateSecretKey: Uint8Array,
  officerKey: Uint8Array,
  roles: OfficerRole[],
  validity: { notBefore: number; notAfter: number },
): OfficerCertificate {
  const body: OfficerCertBody = { type: 'officer', bloc, state, officerKey, roles, ...validity }
  return signCertificate(ed, body, stateSecretKey)
}

export function memberOf(
  ed: Ed25519,
  spec: MemberSpec,
  validity: { notBefore: number; notAfter: number },
): Member {
  return {
    code: spec.code,
    name: spec.name,
    stateKey: spec.stateKeys.publicKey,
    nodes: spec.nodes.map((n) => certifyNode(ed, spec.code, spec.stateKeys.secretKey, n, validity)),
  }
}

/** Builds and signs (by every founder) a genesis charter. */
export function createGenesis(
  ed: Ed25519,
  opts: {
    name: string
    members: MemberSpec[]
    auditorKey: Uint8Array
    quorum: number
    issuedAt: number
    validity: { notBefore: number; notAfter: number }
  },
): SignedCharter {
  const charter: CharterBody = {
    v: 1,
    name: opts.name,
    version: 1,
    prev: null,
    bloc: null,
    issuedAt: opts.issuedAt,
    members: opts.members.map((m) => memberOf(ed, m, opts.validity)),
    auditorKey: opts.auditorKey,
    quorum: opts.quorum,
  }
  return { charter, sigs: opts.members.map((m) => signCharter(ed, charter, m.code, m.stateKeys.secretKey)) }
}

/** Signs an amendment draft with the given members' keys. */
export function signAmendment(
  ed: Ed25519,
  draft: CharterBody,
  signers: { code: string; secretKey: Uint8Array }[],
): SignedCharter {
  return { charter: draft, sigs: signers.map((s) => signCharter(ed, draft, s.code, s.secretKey)) }
}

export { charterHash, generateKeyPair, randomSecretKey }

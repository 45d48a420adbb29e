/**
 * Signed consular records.
 *
 * A record is a signed header plus, optionally, a personal-data payload bound to the header
 * by its digest only. Signatures, ids, hash chains and proofs cover the header, never the
 * payload, so a payload can later be encrypted per citizen and erased while all history
 * still verifies. Every payload starts with a random salt, so its digest reveals nothing
 * about low-entropy contents (a document number, a birth date).
 */

import { type Static, type TSchema, Type } from '@sinclair/typebox'
import { equalBytes, toHex } from './bytes.ts'
import type { KnownEncodings } from './cbor.ts'
import {
  assertValidAt,
  type OfficerCertificate,
  OfficerCertificate as OfficerCertificateSchema,
  type OfficerRole,
  verifyCertificateSignature,
} from './certificates.ts'
import type { CharterView } from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import {
  ACCESS_PURPOSES,
  ACCESS_SHOWN,
  ALERT_SEVERITIES,
  CASE_STATES,
  CASE_TRANSITIONS,
  CASE_TYPES,
  type CaseState,
  type CaseType,
  CONSENT_PURPOSES,
  ERASURE_REASONS,
  NATIONAL_APPROVAL,
  PROFILE_FIELDS,
} from './domain.ts'
import { contentId, DOMAINS, decodeCanonical, domainHash, encodeCanonical, signingInput } from './encoding.ts'
import { CertificateError, RecordError, SignatureError } from './errors.ts'
import { identityRuleRefuses, signerOf } from './identity.ts'
import { keyId } from './keys.ts'
import {
  Bytes,
  Digest,
  Id,
  KeyIdString,
  Millis,
  PublicKey,
  parser,
  Signature,
  StateCode,
  Text,
} from './schema.ts'

// The consular domain's vocabulary (case types and states, purposes, reasons): domain.ts.
export * from './domain.ts'

/** A union of string literals that keeps its literal type. */
const lit = <T extends readonly string[]>(values: T) =>
  Type.Unsafe<T[number]>(Type.Union(values.map((v) => Type.Literal(v))))
const Country = Type.String({ pattern: '^[A-Z]{2}$' })
const Region = Type.String({ minLength: 1, maxLength: 64 })
const Salt = Bytes(16)
const strict = { additionalProperties: false } as const

// Personal data. Only ever inside payloads.
const Names = Type.Object({ given: Text(128), family: Text(128) }, strict)
const TravelDocument = Type.Object(
  {
    type: lit(['passport', 'id-card', 'emergency-travel-document'] as const),
    number: Type.String({ minLength: 3, maxLength: 32, pattern: '^[A-Z0-9]+$' }),
    issuer: StateCode,
    expires: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
  },
  strict,
)
const Contact = Type.Object(
  {
    email: Type.Optional(Type.String({ minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$' })),
    phone: Type.Optional(Type.String({ minLength: 3, maxLength: 32, pattern: '^\\+?[0-9 ()-]+$' })),
    address: Type.Optional(Text(512)),
  },
  strict,
)
const Birth = Type.Object(
  { date: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), place: Type.Optional(Text(128)) },
  strict,
)

/** Per kind: the schema of the signed body (no personal data) and of the payload (or null). */
export const RECORD_KINDS = {
  'citizen.registered': {
    body: Type.Object(
      {
        citizenKey: PublicKey,
        nationality: StateCode,
        consent: Type.Object(
          {
            purposes: Type.Array(lit(CONSENT_PURPOSES), { minItems: 1, maxItems: 3, uniqueItems: true }),
            version: Type.Integer({ minimum: 1 }),
          },
          strict,
        ),
      },
      strict,
    ),
    payload: Type.Object(
      { salt: Salt, names: Names, birth: Birth, travelDocument: TravelDocument, contact: Contact },
      strict,
    ),
    payloadRequired: true,
  },
  'citizen.updated': {
    body: Type.Object(
      { fields: Type.Array(lit(PROFILE_FIELDS), { minItems: 1, maxItems: 4, uniqueItems: true }) },
      strict,
    ),
    payload: Type.Object(
      {
        salt: Salt,
        names: Type.Optional(Names),
        birth: Type.Optional(Birth),
        travelDocument: Type.Optional(TravelDocument),
        contact: Type.Optional(Contact),
      },
      strict,
    ),
    payloadRequired: true,
  },
  'presence.registered': {
    body: Type.Object({ from: Millis, until: Type.Union([Millis, Type.Null()]) }, strict),
    payload: Type.Object(
      {
        salt: Salt,
        country: Country,
        region: Region,
        address: Type.Optional(Text(512)),
        note: Type.Optional(Text(512)),
      },
      strict,
    ),
    payloadRequired: true,
  },
  'alert.issued': {
    body: Type.Object(
      {
        country: Country,
        region: Type.Union([Region, Type.Null()]),
        severity: lit(ALERT_SEVERITIES),
        title: Text(200),
        message: Text(4000),
      },
      strict,
    ),
    payload: null,
    payloadRequired: false,
  },
  'welfare.checkin': {
    body: Type.Object({ alert: Id, status: lit(['safe', 'needs-help'] as const) }, strict),
    payload: Type.Object(
      { salt: Salt, note: Type.Optional(Text(1000)), location: Type.Optional(Text(256)) },
      strict,
    ),
    payloadRequired: false,
  },
  'case.opened': {
    body: Type.Object({ caseType: lit(CASE_TYPES) }, strict),
    payload: Type.Object({ salt: Salt, details: Type.Optional(Text(4000)) }, strict),
    payloadRequired: false,
  },
  'case.transition': {
    body: Type.Object({ case: Id, from: lit(CASE_STATES), to: lit(CASE_STATES) }, strict),
    payload: Type.Object({ salt: Salt, note: Type.Optional(Text(4000)) }, strict),
    payloadRequired: false,
  },
  'document.attested': {
    body: Type.Object(
      { documentHash: Digest, documentType: Text(64), case: Type.Union([Id, Type.Null()]) },
      strict,
    ),
    payload: Type.Object({ salt: Salt, note: Type.Optional(Text(1000)) }, strict),
    payloadRequired: false,
  },
  /**
   * Erases the subject's personal data on every node: each destroys its key for the citizen and
   * every payload, summary value and index token derived from it. The signed history stays.
   */
  'citizen.erased': {
    body: Type.Object({ reason: lit(ERASURE_REASONS) }, strict),
    payload: null,
    payloadRequired: false,
  },
  /**
   * A node's signed statement that an officer read the subject's personal data: who (their
   * certificate and state), why, what it showed, and the request's own signature time. Holds no
   * personal data; signed by the node that served the read (a node certified in the charter).
   */
  'access.logged': {
    body: Type.Object(
      {
        officer: Id,
        state: StateCode,
        purpose: lit(ACCESS_PURPOSES),
        shown: lit(ACCESS_SHOWN),
        /** The case the read was for, when the officer named one. */
        case: Type.Union([Id, Type.Null()]),
      },
      strict,
    ),
    payload: null,
    payloadRequired: false,
  },
} as const satisfies Record<string, { body: TSchema; payload: TSchema | null; payloadRequired: boolean }>

export type RecordKind = keyof typeof RECORD_KINDS
export const RECORD_KIND_NAMES = Object.keys(RECORD_KINDS) as RecordKind[]
type Kinds = typeof RECORD_KINDS
export type RecordBodies = { [K in RecordKind]: Static<Kinds[K]['body']> }
export type RecordPayloads = {
  [K in RecordKind]: Kinds[K]['payload'] extends null ? never : Static<Exclude<Kinds[K]['payload'], null>>
}
export type RecordBody<K extends RecordKind> = RecordBodies[K]
export type RecordPayload<K extends RecordKind> = RecordPayloads[K]

/** Which officer roles may sign which kinds. Citizens' own rights are in `authorize`. */
export const ROLE_KINDS: Readonly<Record<OfficerRole, readonly RecordKind[]>> = {
  registrar: [
    'citizen.registered',
    'citizen.updated',
    'presence.registered',
    'welfare.checkin',
    'case.opened',
    'citizen.erased',
  ],
  consul: [
    'citizen.registered',
    'citizen.updated',
    'presence.registered',
    'welfare.checkin',
    'case.opened',
    'case.transition',
    'document.attested',
    'citizen.erased',
  ],
  crisis: ['alert.issued', 'welfare.checkin'],
}
const CITIZEN_KINDS: ReadonlySet<RecordKind> = new Set([
  'citizen.registered',
  'citizen.updated',
  'presence.registered',
  'welfare.checkin',
  'case.opened',
  'case.transition',
  'citizen.erased',
])

// ---- Header and signed record ----

export const RecordHeader = Type.Object(
  {
    v: Type.Literal(1),
    bloc: Id,
    /** Hash of the charter version the author's certificate chains to. */
    charter: Id,
    kind: lit(RECORD_KIND_NAMES as unknown as readonly string[]),
    /** The citizen (key id of their key) the record is about; null for crisis alerts. */
    subject: Type.Union([KeyIdString, Type.Null()]),
    /** When the author signed it (the author's clock). */
    at: Millis,
    author: PublicKey,
    body: Type.Unknown(),
    /** Digest of the personal-data payload, or null if there is none. */
    payload: Type.Union([Digest, Type.Null()]),
  },
  strict,
)
export interface RecordHeader<K extends RecordKind = RecordKind> {
  v: 1
  bloc: string
  charter: string
  kind: K
  subject: string | null
  at: number
  author: Uint8Array
  body: RecordBody<K>
  payload: Uint8Array | null
}

export const SignedRecord = Type.Object(
  {
    header: RecordHeader,
    sig: Signature,
    /** The officer's certificate; null when the citizen signed with their own key. */
    cert: Type.Union([OfficerCertificateSchema, Type.Null()]),
  },
  strict,
)
export interface SignedRecord<K extends RecordKind = RecordKind> {
  header: RecordHeader<K>
  sig: Uint8Array
  cert: OfficerCertificate | null
}

const parseSignedRecordShape = parser(SignedRecord)
const bodyParsers = Object.fromEntries(
  RECORD_KIND_NAMES.map((k) => [k, parser(RECORD_KINDS[k].body)]),
) as unknown as Record<RecordKind, ReturnType<typeof parser>>
const payloadParsers = Object.fromEntries(
  RECORD_KIND_NAMES.flatMap((k) => {
    const p = RECORD_KINDS[k].payload
    return p ? [[k, parser(p)]] : []
  }),
) as unknown as Partial<Record<RecordKind, ReturnType<typeof parser>>>

/** Checks a record's shape (header, body of its kind) without verifying anything. */
export function parseSignedRecord(value: unknown): SignedRecord {
  const rec = parseSignedRecordShape.parse(value, 'record') as SignedRecord
  bodyParsers[rec.header.kind].parse(rec.header.body, `${rec.header.kind} body`)
  const spec = RECORD_KINDS[rec.header.kind]
  if (spec.payload === null && rec.header.payload !== null) {
    throw new RecordError('SCHEMA_INVALID', `${rec.header.kind} carries no payload`)
  }
  if (spec.payloadRequired && rec.header.payload === null) {
    throw new RecordError('SCHEMA_INVALID', `${rec.header.kind} requires a payload`)
  }
  if ((rec.header.kind === 'alert.issued') !== (rec.header.subject === null)) {
    throw new RecordError('SCHEMA_INVALID', 'only crisis alerts have no subject')
  }
  return rec
}

/** The record's id: content address of its header (the signature is deterministic over it). */
export function recordId(header: RecordHeader): string {
  return contentId(DOMAINS.record, header)
}

// ---- Payloads ----

export function encodePayload<K extends RecordKind>(kind: K, payload: RecordPayload<K>): Uint8Array {
  const p = payloadParsers[kind]
  if (!p) throw new RecordError('SCHEMA_INVALID', `${kind} carries no payload`)
  p.parse(payload, `${kind} payload`)
  return encodeCanonical(payload)
}

export function payloadDigest(bytes: Uint8Array): Uint8Array {
  return domainHash(DOMAINS.payload, bytes)
}

/** Checks the payload bytes against the header's digest and the kind's schema; returns it decoded. */
export function openPayload(header: RecordHeader, bytes: Uint8Array): Record<string, unknown> {
  if (header.payload === null || !equalBytes(payloadDigest(bytes), header.payload)) {
    throw new RecordError('RECORD_PAYLOAD_MISMATCH')
  }
  const value = decodeCanonical(bytes, 64 * 1024)
  payloadParsers[header.kind]!.parse(value, `${header.kind} payload`)
  return value as Record<string, unknown>
}

// ---- Signing and verification ----

export function signRecord<K extends RecordKind>(
  ed: Ed25519,
  header: RecordHeader<K>,
  secretKey: Uint8Array,
  cert: OfficerCertificate | null,
): SignedRecord<K> {
  return { header, sig: ed.sign(signingInput(DOMAINS.record, encodeCanonical(header)), secretKey), cert }
}

/**
 * What authorized a record: the citizen themself, an officer of a state with roles, or (for a
 * logged read only) a node certified in the charter.
 */
export type Authority =
  | { readonly type: 'citizen'; readonly citizen: string }
  | { readonly type: 'node'; readonly node: string; readonly state: string }
  | {
      readonly type: 'officer'
      readonly state: string
      readonly roles: readonly OfficerRole[]
      readonly certId: string
    }

export interface VerifyContext {
  readonly ed: Ed25519
  /** Charter versions by hash (the record names the version its author chains to). */
  readonly charter: (hash: string) => CharterView | undefined
  /**
   * Officer certificates already verified, by certificate id and state key: an officer signs
   * many records with one certificate, and verifying it again each time would double the cost.
   */
  readonly verifiedCerts?: BoundedSet
  /** Canonical bytes of headers and certificates the caller holds (`recordEncodings`), used as they are. */
  readonly known?: KnownEncodings
}

/**
 * A set that forgets its least recently used members past a size (pure: no timers). A member
 * found is moved to the newest end (a Set keeps insertion order), so the certificates of
 * officers at work stay however many others pass through.
 */
export class BoundedSet {
  readonly #max: number
  readonly #items = new Set<string>()
  constructor(max = 10_000) {
    this.#max = max
  }
  has(key: string): boolean {
    if (!this.#items.delete(key)) return false
    this.#items.add(key)
    return true
  }
  add(key: string): void {
    this.#items.add(key)
    if (this.#items.size > this.#max) this.#items.delete(this.#items.values().next().value as string)
  }
}

/**
 * Stateless verification: shape, bloc, signature, certificate chain to the named charter
 * version, validity window at the record's time, and whether that author may sign that kind.
 * Anything that depends on other records (the case's current state, the citizen's
 * nationality) is `authorizeInContext`.
 */
export function verifyRecord(
  ctx: VerifyContext,
  value: unknown,
  bloc: string,
): { record: SignedRecord; id: string; authority: Authority } {
  const record = parseSignedRecord(value)
  const h = record.header
  if (h.bloc !== bloc) throw new RecordError('BLOC_MISMATCH')
  const charter = ctx.charter(h.charter)
  if (!charter) throw new RecordError('RECORD_UNKNOWN_SUBJECT', 'record names an unknown charter version')
  if (charter.bloc !== bloc) throw new RecordError('BLOC_MISMATCH', 'record names a charter of another bloc')
  const headerBytes = ctx.known?.get(h) ?? encodeCanonical(h)
  if (!ctx.ed.verify(record.sig, signingInput(DOMAINS.record, headerBytes), h.author)) {
    throw new SignatureError('SIGNATURE_INVALID', 'record signature does not verify')
  }
  const authority = authorize(ctx, charter, record)
  return { record, id: toHex(domainHash(DOMAINS.record, headerBytes)), authority }
}

function authorize(ctx: VerifyContext, charter: CharterView, record: SignedRecord): Authority {
  const ed = ctx.ed
  const h = record.header
  if (record.cert === null && h.kind === 'access.logged') {
    const node = charter.nodes.get(keyId(h.author))
    if (!node || h.subject === null) {
      throw new RecordError('RECORD_UNAUTHORIZED', 'only a node certified in the charter logs a read')
    }
    return { type: 'node', node: node.nodeId, state: node.state }
  }
  if (record.cert === null) {
    // A citizen signs with the key they enrolled: their id is that key's id.
    if (!CITIZEN_KINDS.has(h.kind) || h.subject === null || keyId(h.author) !== h.subject) {
      throw new RecordError('RECORD_UNAUTHORIZED', `a citizen may not sign ${h.kind} for this subject`)
    }
    if (h.kind === 'citizen.registered') {
      const body = h.body as RecordBody<'citizen.registered'>
      if (!equalBytes(body.citizenKey, h.author))
        throw new RecordError('RECORD_UNAUTHORIZED', 'self-registration must enrol the signing key')
    }
    if (h.kind === 'case.transition') {
      const b = h.body as RecordBody<'case.transition'>
      if (!CASE_TRANSITIONS[`${b.from}>${b.to}`]?.citizen) {
        throw new RecordError(
          'RECORD_UNAUTHORIZED',
          `a citizen may not move a case from ${b.from} to ${b.to}`,
        )
      }
    }
    checkRegistrationSubject(h)
    return { type: 'citizen', citizen: h.subject }
  }
  const cert = record.cert.body
  const member = charter.members.get(cert.state)
  if (!member) throw new CertificateError('CERT_INVALID', `officer's state ${cert.state} is not a member`)
  if (cert.bloc !== h.bloc)
    throw new CertificateError('BLOC_MISMATCH', 'officer certificate is for another bloc')
  // The id covers the whole signed certificate; with the state key it names one verification.
  const certBytes = ctx.known?.get(record.cert) ?? encodeCanonical(record.cert)
  const certId = toHex(domainHash(DOMAINS.certificate, certBytes))
  const cacheKey = `${certId}/${toHex(member.stateKey)}`
  if (!ctx.verifiedCerts?.has(cacheKey)) {
    verifyCertificateSignature(ed, record.cert, member.stateKey)
    ctx.verifiedCerts?.add(cacheKey)
  }
  if (!equalBytes(cert.officerKey, h.author))
    throw new CertificateError('CERT_INVALID', 'record not signed by the certified key')
  assertValidAt(cert, h.at)
  if (!cert.roles.some((r) => ROLE_KINDS[r].includes(h.kind))) {
    throw new RecordError('RECORD_UNAUTHORIZED', `roles ${cert.roles.join(',')} may not sign ${h.kind}`)
  }
  if (h.kind === 'case.transition') {
    const b = h.body as RecordBody<'case.transition'>
    if (!CASE_TRANSITIONS[`${b.from}>${b.to}`]?.officer) {
      throw new RecordError('RECORD_INVALID_TRANSITION', `no transition from ${b.from} to ${b.to}`)
    }
  }
  checkRegistrationSubject(h)
  return {
    type: 'officer',
    state: cert.state,
    roles: cert.roles,
    certId,
  }
}

function checkRegistrationSubject(h: RecordHeader): void {
  if (h.kind === 'citizen.registered') {
    const body = h.body as RecordBody<'citizen.registered'>
    if (keyId(body.citizenKey) !== h.subject) {
      throw new RecordError('SCHEMA_INVALID', 'a registration’s subject is the id of the enrolled key')
    }
  }
}

/** What `authorizeInContext` needs to know about the records already accepted. */
export interface RecordContext {
  /** The nationality of a registered citizen, or undefined if not registered here. */
  nationality(citizen: string): string | undefined
  /** A case's type, subject and current state, or undefined if unknown. */
  caseOf(caseId: string): { type: CaseType; subject: string; state: CaseState } | undefined
  /** Whether a crisis alert is known. */
  hasAlert(alertId: string): boolean
  /** How many of the citizen's cases are open (OPEN_CASE_STATES). */
  openCases(citizen: string): number
  /**
   * When the certificate was revoked by `state` — the state that issued it — or undefined.
   * A revocation signed by another member state does not count.
   */
  revokedAt(certId: string, state: string): number | undefined
}

/**
 * Checks that depend on accepted state, made by the node that first accepts a record from a
 * client: the citizen is registered, the case exists and is in the `from` state, and only the
 * nationality state's officers approve passports. (Replicas do not repeat these checks:
 * concurrent writes at two nodes are both valid where made, and the views merge them
 * deterministically.)
 */
export function authorizeInContext(record: SignedRecord, authority: Authority, ctx: RecordContext): void {
  const h = record.header
  if (authority.type === 'officer') {
    const revoked = ctx.revokedAt(authority.certId, authority.state)
    if (revoked !== undefined && revoked <= h.at) throw new CertificateError('CERT_REVOKED')
  }
  if (h.kind === 'alert.issued' || h.kind === 'access.logged') return
  const nationality = ctx.nationality(h.subject!)
  // Identity and nationality change only by the nationality state (protocol/src/identity.ts).
  const refused = identityRuleRefuses(h, signerOf(record), nationality)
  if (refused) throw new RecordError('RECORD_UNAUTHORIZED', refused)
  if (h.kind === 'citizen.registered') return
  if (nationality === undefined) throw new RecordError('RECORD_UNKNOWN_SUBJECT', 'citizen is not registered')
  if (h.kind === 'citizen.erased') {
    if (authority.type === 'officer' && authority.state !== nationality) {
      throw new RecordError('RECORD_UNAUTHORIZED', `only officers of ${nationality} may erase this citizen`)
    }
    if (authority.type === 'citizen') {
      if ((h.body as RecordBody<'citizen.erased'>).reason !== 'citizen-request') {
        throw new RecordError('RECORD_UNAUTHORIZED', 'a citizen erases their data by request only')
      }
      const open = ctx.openCases(h.subject!)
      if (open > 0) {
        throw new RecordError('RECORD_LEGAL_HOLD', `${open} open case(s) hold this citizen's data`)
      }
    }
    return
  }
  if (h.kind === 'welfare.checkin') {
    const b = h.body as RecordBody<'welfare.checkin'>
    if (!ctx.hasAlert(b.alert)) throw new RecordError('RECORD_UNKNOWN_SUBJECT', 'unknown crisis alert')
  }
  const caseRef =
    h.kind === 'case.transition'
      ? (h.body as RecordBody<'case.transition'>).case
      : h.kind === 'document.attested'
        ? (h.body as RecordBody<'document.attested'>).case
        : null
  if (caseRef === null) return
  const c = ctx.caseOf(caseRef)
  if (!c || c.subject !== h.subject)
    throw new RecordError('RECORD_UNKNOWN_SUBJECT', 'unknown case for this citizen')
  if (h.kind !== 'case.transition') return
  const b = h.body as RecordBody<'case.transition'>
  if (c.state !== b.from)
    throw new RecordError('RECORD_INVALID_TRANSITION', `case is ${c.state}, not ${b.from}`)
  if (b.to === 'approved' && NATIONAL_APPROVAL.has(c.type)) {
    if (authority.type !== 'officer' || authority.state !== nationality) {
      throw new RecordError('RECORD_UNAUTHORIZED', `only officers of ${nationality} may approve a ${c.type}`)
    }
  }
}

export type { OfficerCertificate }

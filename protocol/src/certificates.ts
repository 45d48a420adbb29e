/**
 * Certificates signed by a member state's key: state → node (binds the node's signing key,
 * the libp2p peer id derived from it and its Yjs client id) and state → officer (roles and a
 * validity window). Revocations are signed by the state too.
 */
import { type Static, Type } from '@sinclair/typebox'
import type { Ed25519 } from './crypto.ts'
import { contentId, DOMAINS, encodeCanonical, signingInput } from './encoding.ts'
import { CertificateError } from './errors.ts'
import { peerIdOf } from './keys.ts'
import { Id, Millis, PublicKey, parser, Signature, StateCode, Text } from './schema.ts'

export const OFFICER_ROLES = ['registrar', 'consul', 'crisis'] as const
export type OfficerRole = (typeof OFFICER_ROLES)[number]

export const NodeCertBody = Type.Object(
  {
    type: Type.Literal('node'),
    state: StateCode,
    name: Text(64),
    nodeKey: PublicKey,
    peerId: Type.String({ minLength: 1, maxLength: 128 }),
    /** Yjs client id: the only client id whose document changes this node may author. */
    clientId: Type.Integer({ minimum: 1, maximum: 0xffff_ffff }),
    notBefore: Millis,
    notAfter: Millis,
  },
  { additionalProperties: false },
)
export type NodeCertBody = Static<typeof NodeCertBody>

export const OfficerCertBody = Type.Object(
  {
    type: Type.Literal('officer'),
    bloc: Id,
    state: StateCode,
    officerKey: PublicKey,
    roles: Type.Array(Type.Unsafe<OfficerRole>(Type.Union(OFFICER_ROLES.map((r) => Type.Literal(r)))), {
      minItems: 1,
      maxItems: OFFICER_ROLES.length,
      uniqueItems: true,
    }),
    notBefore: Millis,
    notAfter: Millis,
  },
  { additionalProperties: false },
)
export type OfficerCertBody = Static<typeof OfficerCertBody>

const signed = <T extends ReturnType<typeof Type.Object>>(body: T) =>
  Type.Object({ body, sig: Signature }, { additionalProperties: false })

export const NodeCertificate = signed(NodeCertBody)
export type NodeCertificate = Static<typeof NodeCertificate>
export const OfficerCertificate = signed(OfficerCertBody)
export type OfficerCertificate = Static<typeof OfficerCertificate>

export const RevocationBody = Type.Object(
  {
    type: Type.Literal('revocation'),
    bloc: Id,
    state: StateCode,
    cert: Id,
    /** From this time on, the certificate's signatures are refused. */
    at: Millis,
    reason: Type.Union([Type.Literal('key-compromise'), Type.Literal('superseded'), Type.Literal('ceased')]),
  },
  { additionalProperties: false },
)
export const Revocation = signed(RevocationBody)
export type Revocation = Static<typeof Revocation>

export const parseNodeCertificate = parser(NodeCertificate)
export const parseOfficerCertificate = parser(OfficerCertificate)
export const parseRevocation = parser(Revocation)

type AnyCertBody = NodeCertBody | OfficerCertBody

export function signCertificate<B extends AnyCertBody>(ed: Ed25519, body: B, stateSecretKey: Uint8Array) {
  return { body, sig: ed.sign(signingInput(DOMAINS.certificate, encodeCanonical(body)), stateSecretKey) }
}

export function signRevocation(
  ed: Ed25519,
  body: Static<typeof RevocationBody>,
  stateSecretKey: Uint8Array,
): Revocation {
  return { body, sig: ed.sign(signingInput(DOMAINS.revocation, encodeCanonical(body)), stateSecretKey) }
}

/** A certificate's id: the content address of the signed certificate. */
export function certificateId(cert: { body: AnyCertBody; sig: Uint8Array }): string {
  return contentId(DOMAINS.certificate, cert)
}

/** Throws CertificateError unless `stateKey` signed this certificate. */
export function verifyCertificateSignature(
  ed: Ed25519,
  cert: { body: AnyCertBody; sig: Uint8Array },
  stateKey: Uint8Array,
): void {
  if (!ed.verify(cert.sig, signingInput(DOMAINS.certificate, encodeCanonical(cert.body)), stateKey)) {
    throw new CertificateError(
      'CERT_INVALID',
      `certificate of ${cert.body.state} is not signed by its state key`,
    )
  }
  if (cert.body.notAfter <= cert.body.notBefore) {
    throw new CertificateError('CERT_INVALID', 'certificate validity window is empty')
  }
  if (cert.body.type === 'node' && cert.body.peerId !== peerIdOf(cert.body.nodeKey)) {
    throw new CertificateError('CERT_INVALID', 'node certificate peer id does not match its node key')
  }
}

export function verifyRevocation(ed: Ed25519, rev: Revocation, stateKey: Uint8Array): void {
  if (!ed.verify(rev.sig, signingInput(DOMAINS.revocation, encodeCanonical(rev.body)), stateKey)) {
    throw new CertificateError('CERT_INVALID', 'revocation is not signed by its state key')
  }
}

export function assertValidAt(body: { notBefore: number; notAfter: number }, at: number): void {
  if (at < body.notBefore || at >= body.notAfter) {
    throw new CertificateError('CERT_NOT_VALID_AT')
  }
}

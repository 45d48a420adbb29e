/**
 * Who is asking. Requests signed with an officer's key and certificate, the auditor's key,
 * or a citizen's own key (scheme: protocol/src/request-auth.ts, docs/api.md). Anonymous
 * callers see nothing personal.
 */
import {
  assertValidAt,
  CERT_HEADER,
  certificateId,
  type Ed25519,
  equalBytes,
  keyId,
  type OfficerRole,
  ProtocolError,
  verifyCertificateSignature,
  verifyRequest,
} from '@legation/protocol'
import type { FastifyRequest } from 'fastify'
import type { Engine } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'

export type Principal =
  | { readonly type: 'anonymous' }
  | { readonly type: 'citizen'; readonly id: string }
  | {
      readonly type: 'officer'
      readonly state: string
      readonly roles: readonly OfficerRole[]
      readonly certId: string
    }
  | { readonly type: 'auditor' }

export const ANONYMOUS: Principal = { type: 'anonymous' }

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal
    rawBody?: Buffer
  }
}

export function authenticate(request: FastifyRequest, engine: Engine, ed: Ed25519, now: number): Principal {
  const authorization = request.headers.authorization
  if (authorization === undefined) return ANONYMOUS
  const certificate = request.headers[CERT_HEADER]
  const signer = verifyRequest(
    ed,
    { method: request.method, path: request.url, body: request.rawBody },
    { authorization, certificate: typeof certificate === 'string' ? certificate : undefined },
    now,
  )
  if (!signer) return ANONYMOUS
  if (signer.cert) {
    const body = signer.cert.body
    const member = engine.charter.members.get(body.state)
    if (!member || body.bloc !== engine.bloc) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'officer certificate is not of a member of this bloc')
    }
    try {
      verifyCertificateSignature(ed, signer.cert, member.stateKey)
      assertValidAt(body, now)
    } catch (cause) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'officer certificate is not valid', { cause })
    }
    if (!equalBytes(body.officerKey, signer.key)) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'request not signed by the certified key')
    }
    return { type: 'officer', state: body.state, roles: body.roles, certId: certificateId(signer.cert) }
  }
  if (equalBytes(signer.key, engine.charter.charter.auditorKey)) return { type: 'auditor' }
  return { type: 'citizen', id: keyId(signer.key) }
}

export function requireOfficer(p: Principal): asserts p is Extract<Principal, { type: 'officer' }> {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type !== 'officer') throw new NodeError('FORBIDDEN', 'officers only')
}

/** Personal data: officers, or the citizen themself. */
export function requirePersonalAccess(p: Principal, citizen: string): void {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type === 'auditor')
    throw new NodeError('FORBIDDEN', 'the auditor reads signed history, not personal data')
  if (p.type === 'citizen' && p.id !== citizen)
    throw new NodeError('FORBIDDEN', 'a citizen may read only their own data')
}

/** Signed record headers about a citizen: officers, the auditor, or the citizen themself. */
export function requireRecordAccess(p: Principal, subject: string | null): void {
  if (subject === null) return
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type === 'citizen' && p.id !== subject)
    throw new NodeError('FORBIDDEN', 'a citizen may read only their own records')
}

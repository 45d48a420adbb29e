/**
 * Who is asking. Requests signed with an officer's key and certificate, the auditor's key,
 * or a citizen's own key (scheme: protocol/src/request-auth.ts, docs/api.md). Anonymous
 * callers see nothing personal.
 */

import { createHash } from 'node:crypto'
import {
  CERT_HEADER,
  type Ed25519,
  equalBytes,
  keyId,
  type OfficerRole,
  verifyRequest,
} from '@legation/protocol'
import type { FastifyRequest } from 'fastify'
import type { Engine } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'
import type { ReplayGuard } from './replay.ts'

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

/** Methods that change nothing: their signed requests may be sent again within the window. */
const SAFE_METHODS = new Set(['GET', 'HEAD'])

/**
 * Who signed the request (or ANONYMOUS). Throws REQUEST_AUTH_INVALID for a request that tries
 * to sign and fails, and — given a `replay` guard — REQUEST_REPLAYED for a signed request
 * other than GET or HEAD that was already accepted.
 */
export function authenticate(
  request: FastifyRequest,
  engine: Engine,
  ed: Ed25519,
  now: number,
  replay?: ReplayGuard,
): Principal {
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
  const principal = principalOf(signer, engine, now)
  // Only once the whole check passed: a refused request must not use up its signature.
  if (replay && !SAFE_METHODS.has(request.method.toUpperCase())) {
    replay.check(requestId(request, signer.key, signer.at), signer.at, now)
  }
  return principal
}

/**
 * Names what was signed (key, method, path and query, time, body), not the signature bytes,
 * so that no other encoding of the same signature can pass as a new request.
 */
function requestId(request: FastifyRequest, key: Uint8Array, at: number): string {
  return createHash('sha256')
    .update(key)
    .update(`${request.method.toUpperCase()}\n${request.url}\n${at}\n`)
    .update(request.rawBody ?? new Uint8Array())
    .digest('base64url')
}

function principalOf(
  signer: NonNullable<ReturnType<typeof verifyRequest>>,
  engine: Engine,
  now: number,
): Principal {
  if (signer.cert) {
    // The same trust component that authorizes records answers for requests.
    const certId = engine.trust.checkOfficer(signer.cert, signer.key, now)
    const body = signer.cert.body
    return { type: 'officer', state: body.state, roles: body.roles, certId }
  }
  if (equalBytes(signer.key, engine.charter.charter.auditorKey)) return { type: 'auditor' }
  return { type: 'citizen', id: keyId(signer.key) }
}

export function requireOfficer(p: Principal): asserts p is Extract<Principal, { type: 'officer' }> {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type !== 'officer') throw new NodeError('FORBIDDEN', 'officers only')
}

/**
 * The node's operator: whoever signs with the node's own key (the key file it runs with). Such a
 * request carries no certificate, so it reads as a bare key's, the id of which is the node id.
 */
export function requireOperator(p: Principal, nodeId: string): void {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type !== 'citizen' || p.id !== nodeId) {
    throw new NodeError('FORBIDDEN', 'the node’s operator only: sign the request with the node’s own key')
  }
}

/** Personal data: officers, or the citizen themself. */
export function requirePersonalAccess(p: Principal, citizen: string): void {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type === 'auditor')
    throw new NodeError('FORBIDDEN', 'the auditor reads signed history, not personal data')
  if (p.type === 'citizen' && p.id !== citizen)
    throw new NodeError('FORBIDDEN', 'a citizen may read only their own data')
}

/**
 * Signed record headers: a public record (no subject: a crisis alert) to anyone; one about a
 * citizen to officers, the auditor and that citizen. Callers answer "may not see" exactly as
 * "does not exist", so that the answer does not tell whether the record exists.
 */
export function canReadRecord(p: Principal, subject: string | null): boolean {
  if (subject === null) return true
  if (p.type === 'anonymous') return false
  return p.type !== 'citizen' || p.id === subject
}

/**
 * Signed HTTP requests: how officers and citizens prove who is reading.
 *
 * The client signs `{ method, path, at, body }` (path includes the query; body is the
 * SHA-256 of the request body, or of nothing) under the `request` domain and sends
 *   Authorization: Legation key=<base64url public key>, at=<ms>, sig=<base64url signature>
 * plus, for an officer, `Legation-Certificate: <base64url canonical certificate>`.
 * The node accepts a signature within ±`maxSkewMs` of its own clock. There is no nonce: the
 * node also refuses a second use of a signed request other than GET or HEAD (REQUEST_REPLAYED,
 * node/src/http/replay.ts), so a client signs every such request anew. See docs/api.md.
 */
import { sha256 } from '#sha256'
import { equalBytes, fromBase64url, toBase64url } from './bytes.ts'
import { type OfficerCertificate, parseOfficerCertificate } from './certificates.ts'
import type { Ed25519 } from './crypto.ts'
import { DOMAINS, decodeCanonical, encodeCanonical, signingInput } from './encoding.ts'
import { ProtocolError } from './errors.ts'

export const AUTH_SCHEME = 'Legation'
export const CERT_HEADER = 'legation-certificate'
export const DEFAULT_MAX_SKEW_MS = 120_000

export interface RequestToSign {
  method: string
  /** Path and query exactly as sent, e.g. `/v1/citizens?nationality=AT`. */
  path: string
  body?: Uint8Array | undefined
}

function message(req: RequestToSign, at: number): Uint8Array {
  return signingInput(
    DOMAINS.request,
    encodeCanonical({
      method: req.method.toUpperCase(),
      path: req.path,
      at,
      body: sha256(req.body ?? new Uint8Array()),
    }),
  )
}

export function signRequest(
  ed: Ed25519,
  req: RequestToSign,
  keys: { publicKey: Uint8Array; secretKey: Uint8Array },
  at: number,
  cert?: OfficerCertificate,
): Record<string, string> {
  const sig = ed.sign(message(req, at), keys.secretKey)
  const headers: Record<string, string> = {
    authorization: `${AUTH_SCHEME} key=${toBase64url(keys.publicKey)}, at=${at}, sig=${toBase64url(sig)}`,
  }
  if (cert) headers[CERT_HEADER] = toBase64url(encodeCanonical(cert))
  return headers
}

export interface RequestSigner {
  readonly key: Uint8Array
  readonly at: number
  readonly cert: OfficerCertificate | null
}

const AUTH_RE = /^Legation key=([A-Za-z0-9_-]{43}), at=(0|[1-9]\d{0,14}), sig=([A-Za-z0-9_-]{86})$/

/** Verifies a signed request; throws REQUEST_AUTH_INVALID. Returns undefined if unsigned. */
export function verifyRequest(
  ed: Ed25519,
  req: RequestToSign,
  headers: { authorization?: string | undefined; certificate?: string | undefined },
  now: number,
  maxSkewMs = DEFAULT_MAX_SKEW_MS,
): RequestSigner | undefined {
  if (headers.authorization === undefined) return undefined
  const m = AUTH_RE.exec(headers.authorization)
  if (!m) throw new ProtocolError('REQUEST_AUTH_INVALID', 'malformed Authorization header')
  let key: Uint8Array
  let sig: Uint8Array
  try {
    // The pattern admits base64url with non-zero padding bits, which fromBase64url refuses.
    key = fromBase64url(m[1]!)
    sig = fromBase64url(m[3]!)
  } catch (cause) {
    throw new ProtocolError('REQUEST_AUTH_INVALID', 'malformed Authorization header', { cause })
  }
  const at = Number(m[2])
  if (Math.abs(now - at) > maxSkewMs)
    throw new ProtocolError('REQUEST_AUTH_INVALID', 'request signature is stale')
  if (!ed.verify(sig, message(req, at), key))
    throw new ProtocolError('REQUEST_AUTH_INVALID', 'request signature does not verify')
  let cert: OfficerCertificate | null = null
  if (headers.certificate !== undefined) {
    try {
      cert = parseOfficerCertificate.parse(
        decodeCanonical(fromBase64url(headers.certificate), 8192),
        'certificate',
      ) as OfficerCertificate
    } catch (cause) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'malformed certificate header', { cause })
    }
    // A certificate is public: presenting one proves nothing unless the request is signed by
    // the key it certifies. (Whether a member state signed it is the caller's check.)
    if (!equalBytes(cert.body.officerKey, key)) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'certificate does not certify the signing key')
    }
  }
  return { key, at, cert }
}

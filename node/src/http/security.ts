/**
 * How the OpenAPI document describes request signatures (docs/api.md § Authentication).
 * The scheme is an HTTP signature of our own, so it is declared as an API key in the
 * `Authorization` header, with the grammar left to the description.
 */

/** The name of the security scheme in the OpenAPI document. */
export const SIGNATURE_SCHEME = 'legationSignature'

export const SIGNATURE_SECURITY_SCHEME = {
  type: 'apiKey',
  in: 'header',
  name: 'Authorization',
  description:
    'A signed request: `Authorization: Legation key=<base64url Ed25519 public key>, at=<ms>, sig=<base64url signature>` ' +
    'over the method, path and query, time and body hash, plus `Legation-Certificate` for an officer. ' +
    'Valid for ±120 s; a signed request other than GET or HEAD is accepted once. ' +
    'See docs/api.md § Authentication.',
} as const

type SecurityRequirements = ReadonlyArray<Readonly<Record<string, readonly string[]>>>

/** A route only signed callers may use (anonymous callers get 401 UNAUTHENTICATED). */
export const SIGNATURE_REQUIRED: SecurityRequirements = [{ [SIGNATURE_SCHEME]: [] }]

/** A route anyone may use; a signature, if sent, must verify (`{}`: no requirement). */
export const OPTIONAL_SIGNATURE: SecurityRequirements = [{}, { [SIGNATURE_SCHEME]: [] }]

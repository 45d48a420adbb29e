/**
 * The passkey: the citizen's way back in on a new device or a fresh browser, with the passkey alone.
 *
 * The passkey's PRF extension gives a secret only the authenticator can compute (HMAC over a fixed
 * salt, per credential); HKDF turns it into an AES-256-GCM key that encrypts the citizen's Ed25519
 * seed. The encrypted seed is kept on the authenticator itself, in the credential's large blob
 * (the `largeBlob` extension), so signing in needs nothing else: one ceremony reads the blob and
 * evaluates the PRF, the page decrypts the seed and keeps it in IndexedDB. Neither the node nor
 * anyone holding the blob can open it without the passkey. Design and limits: docs/portal.md.
 */

const PRF_LABEL = 'legation/v1/portal/key-backup'
const BLOB_VERSION = 1
const NONCE_BYTES = 12

export type PasskeyErrorCode =
  | 'PASSKEY_UNSUPPORTED'
  | 'PASSKEY_CANCELLED'
  | 'PASSKEY_NO_BACKUP'
  | 'PASSKEY_BACKUP_INVALID'

export class PasskeyError extends Error {
  override name = 'PasskeyError'
  readonly code: PasskeyErrorCode
  constructor(code: PasskeyErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** The extension inputs and outputs this module uses (not all in TypeScript's DOM types yet). */
interface PrfLargeBlobInputs {
  prf?: { eval?: { first: BufferSource } }
  largeBlob?: { support?: 'required' | 'preferred'; read?: boolean; write?: BufferSource }
}
interface PrfLargeBlobOutputs {
  prf?: { enabled?: boolean; results?: { first?: ArrayBuffer } }
  largeBlob?: { supported?: boolean; blob?: ArrayBuffer; written?: boolean }
}

const bytes = (b: ArrayBuffer | ArrayBufferView): Uint8Array =>
  b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

async function prfSalt(): Promise<Uint8Array> {
  return bytes(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(PRF_LABEL)))
}

async function aesKey(prfOutput: ArrayBuffer): Promise<CryptoKey> {
  const ikm = await crypto.subtle.importKey('raw', prfOutput, 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: new TextEncoder().encode(PRF_LABEL) },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

/** `version • nonce • AES-GCM(seed)`, bound to the credential by the additional data. */
async function seal(prf: ArrayBuffer, credentialId: Uint8Array, seed: Uint8Array): Promise<Uint8Array> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES))
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: credentialId as BufferSource },
    await aesKey(prf),
    seed as BufferSource,
  )
  const out = new Uint8Array(1 + NONCE_BYTES + ct.byteLength)
  out[0] = BLOB_VERSION
  out.set(nonce, 1)
  out.set(new Uint8Array(ct), 1 + NONCE_BYTES)
  return out
}

async function open(prf: ArrayBuffer, credentialId: Uint8Array, blob: Uint8Array): Promise<Uint8Array> {
  if (blob[0] !== BLOB_VERSION || blob.length !== 1 + NONCE_BYTES + 32 + 16)
    throw new PasskeyError('PASSKEY_BACKUP_INVALID', 'the passkey holds no key backup of this portal')
  try {
    const seed = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: blob.slice(1, 1 + NONCE_BYTES), additionalData: credentialId as BufferSource },
      await aesKey(prf),
      blob.slice(1 + NONCE_BYTES),
    )
    return new Uint8Array(seed)
  } catch {
    throw new PasskeyError('PASSKEY_BACKUP_INVALID', 'the key backup does not open with this passkey')
  }
}

/** Runs a WebAuthn ceremony; a refusal or cancellation by the person is PASSKEY_CANCELLED. */
async function ceremony<T>(run: () => Promise<T>): Promise<T> {
  if (!window.PublicKeyCredential || !navigator.credentials)
    throw new PasskeyError('PASSKEY_UNSUPPORTED', 'this browser has no passkeys')
  try {
    return await run()
  } catch (err) {
    if (err instanceof PasskeyError) throw err
    throw new PasskeyError('PASSKEY_CANCELLED', (err as Error).message)
  }
}

async function getAssertion(
  ext: PrfLargeBlobInputs,
  credentialId?: Uint8Array,
): Promise<{ id: Uint8Array; ext: PrfLargeBlobOutputs }> {
  const cred = (await navigator.credentials.get({
    publicKey: {
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      rpId: location.hostname,
      userVerification: 'required',
      ...(credentialId
        ? { allowCredentials: [{ type: 'public-key', id: credentialId as BufferSource }] }
        : {}),
      extensions: ext as AuthenticationExtensionsClientInputs,
    },
  })) as PublicKeyCredential | null
  if (!cred) throw new PasskeyError('PASSKEY_CANCELLED', 'no passkey was chosen')
  return { id: bytes(cred.rawId), ext: cred.getClientExtensionResults() as PrfLargeBlobOutputs }
}

/**
 * Creates a passkey for this citizen and stores their seed on it, encrypted under its PRF.
 * Three ceremonies: create (asking for PRF and large-blob support), get (the PRF's output),
 * get (writing the blob, which depends on that output). Returns the credential id.
 */
export async function createPasskey(citizen: {
  id: string
  seed: Uint8Array
  label: string
}): Promise<Uint8Array> {
  return ceremony(async () => {
    const cred = (await navigator.credentials.create({
      publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        rp: { id: location.hostname, name: 'Legation' },
        user: { id: new TextEncoder().encode(citizen.id), name: citizen.id, displayName: citizen.label },
        pubKeyCredParams: [
          { type: 'public-key', alg: -8 },
          { type: 'public-key', alg: -7 },
        ],
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
        extensions: { prf: {}, largeBlob: { support: 'required' } } as AuthenticationExtensionsClientInputs,
      },
    })) as PublicKeyCredential | null
    if (!cred) throw new PasskeyError('PASSKEY_CANCELLED', 'no passkey was made')
    const made = cred.getClientExtensionResults() as PrfLargeBlobOutputs
    if (!made.prf?.enabled || !made.largeBlob?.supported)
      throw new PasskeyError(
        'PASSKEY_UNSUPPORTED',
        'this passkey cannot keep an encrypted key (PRF, large blob)',
      )
    const id = bytes(cred.rawId)
    const salt = await prfSalt()
    const { ext } = await getAssertion({ prf: { eval: { first: salt as BufferSource } } }, id)
    const prf = ext.prf?.results?.first
    if (!prf) throw new PasskeyError('PASSKEY_UNSUPPORTED', 'the passkey gave no PRF output')
    const blob = await seal(prf, id, citizen.seed)
    const written = await getAssertion({ largeBlob: { write: blob as BufferSource } }, id)
    if (!written.ext.largeBlob?.written)
      throw new PasskeyError('PASSKEY_UNSUPPORTED', 'the passkey did not keep the key backup')
    return id
  })
}

/** Signs in with a passkey alone: reads the blob, evaluates the PRF, returns the citizen's seed. */
export async function recoverWithPasskey(): Promise<{ seed: Uint8Array; credentialId: Uint8Array }> {
  return ceremony(async () => {
    const salt = await prfSalt()
    const { id, ext } = await getAssertion({
      prf: { eval: { first: salt as BufferSource } },
      largeBlob: { read: true },
    })
    const prf = ext.prf?.results?.first
    const blob = ext.largeBlob?.blob
    if (!prf) throw new PasskeyError('PASSKEY_UNSUPPORTED', 'the passkey gave no PRF output')
    if (!blob) throw new PasskeyError('PASSKEY_NO_BACKUP', 'the passkey holds no key backup')
    return { seed: await open(prf, id, new Uint8Array(blob)), credentialId: id }
  })
}

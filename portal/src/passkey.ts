/**
 * The passkey: the citizen's way back in on a new device or a fresh browser, with the passkey alone.
 *
 * The citizen's Ed25519 seed is kept in the credential's large blob (the `largeBlob` extension):
 * part of the credential, so it travels wherever the passkey does (synced to another device, or
 * the same security key plugged in elsewhere). The authenticator keeps large blobs encrypted
 * under a key of that credential (CTAP 2.1 `largeBlobKey`) that it releases only in a ceremony of
 * that credential for this site, with user verification. Signing in is one ceremony: it reads
 * the blob, the page keeps the seed in IndexedDB. Nothing is kept at a node, and nothing of the
 * first browser is needed. Design, and why not the PRF: docs/portal.md.
 *
 * Passkeys made before (version 1) keep the seed encrypted under the passkey's PRF; they still
 * open where the PRF is available.
 */

const PRF_LABEL = 'legation/v1/portal/key-backup'
/** `0x02 • seed(32)`: the seed as the authenticator keeps it in the large blob. */
const BLOB_VERSION = 2
/** `0x01 • nonce(12) • AES-GCM(PRF-derived key, seed)`: passkeys made by the first version. */
const BLOB_VERSION_PRF = 1
const NONCE_BYTES = 12
const SEED_BYTES = 32

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

/** Opens a version-1 blob: `version • nonce • AES-GCM(seed)`, bound to the credential id. */
async function openPrfBlob(
  prf: ArrayBuffer,
  credentialId: Uint8Array,
  blob: Uint8Array,
): Promise<Uint8Array> {
  if (blob.length !== 1 + NONCE_BYTES + SEED_BYTES + 16)
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
 * Creates a passkey for this citizen and keeps their seed in its large blob. Two ceremonies:
 * create (a discoverable credential that supports large blobs), then get (writing the blob).
 * Returns the credential id.
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
        extensions: { largeBlob: { support: 'required' } } as AuthenticationExtensionsClientInputs,
      },
    })) as PublicKeyCredential | null
    if (!cred) throw new PasskeyError('PASSKEY_CANCELLED', 'no passkey was made')
    const made = cred.getClientExtensionResults() as PrfLargeBlobOutputs
    if (!made.largeBlob?.supported)
      throw new PasskeyError('PASSKEY_UNSUPPORTED', 'this passkey cannot keep a key (no large blob)')
    const id = bytes(cred.rawId)
    const blob = new Uint8Array(1 + SEED_BYTES)
    blob[0] = BLOB_VERSION
    blob.set(citizen.seed, 1)
    const written = await getAssertion({ largeBlob: { write: blob as BufferSource } }, id)
    blob.fill(0)
    if (!written.ext.largeBlob?.written)
      throw new PasskeyError('PASSKEY_UNSUPPORTED', 'the passkey did not keep the key backup')
    return id
  })
}

/**
 * Signs in with a passkey alone: reads the large blob (and, for a version-1 blob, evaluates the
 * PRF that opens it), returns the citizen's seed.
 */
export async function recoverWithPasskey(): Promise<{ seed: Uint8Array; credentialId: Uint8Array }> {
  return ceremony(async () => {
    const salt = await prfSalt()
    const { id, ext } = await getAssertion({
      prf: { eval: { first: salt as BufferSource } },
      largeBlob: { read: true },
    })
    const blob = ext.largeBlob?.blob ? new Uint8Array(ext.largeBlob.blob) : undefined
    if (!blob || blob.length === 0)
      throw new PasskeyError('PASSKEY_NO_BACKUP', 'the passkey holds no key backup')
    if (blob[0] === BLOB_VERSION && blob.length === 1 + SEED_BYTES)
      return { seed: blob.slice(1), credentialId: id }
    if (blob[0] === BLOB_VERSION_PRF) {
      const prf = ext.prf?.results?.first
      if (!prf) throw new PasskeyError('PASSKEY_UNSUPPORTED', 'the passkey gave no PRF output')
      return { seed: await openPrfBlob(prf, id, blob), credentialId: id }
    }
    throw new PasskeyError('PASSKEY_BACKUP_INVALID', 'the passkey holds no key backup of this portal')
  })
}

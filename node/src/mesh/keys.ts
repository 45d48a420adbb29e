/**
 * Node identity: a node's libp2p key pair, and so its peer id, is derived
 * deterministically from a 32-byte Ed25519 seed, so the same seed always
 * yields the same peer id (certificates can name the peer id ahead of time).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { MeshInvalidConfigError } from './errors.ts'

const SEED_BYTES = 32

/** DER header of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])

function assertSeed(seed: Uint8Array): void {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_BYTES) {
    throw new MeshInvalidConfigError(`privateKey must be a ${SEED_BYTES}-byte Ed25519 seed`)
  }
}

/** Build the libp2p private key for a seed. */
export async function privateKeyFromSeed(seed: Uint8Array): Promise<Ed25519PrivateKey> {
  assertSeed(seed)
  return generateKeyPairFromSeed('Ed25519', seed)
}

/**
 * The peer id (base58btc string) that a mesh created with this seed will
 * have. Synchronous, unlike @libp2p/crypto's key generation, so it can be used
 * when building configuration: the public key is derived with node:crypto.
 */
export function peerIdFromSeed(seed: Uint8Array): string {
  assertSeed(seed)
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.byteLength + SEED_BYTES)
  der.set(PKCS8_ED25519_PREFIX, 0)
  der.set(seed, PKCS8_ED25519_PREFIX.byteLength)
  const privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  if (typeof jwk.x !== 'string') {
    throw new MeshInvalidConfigError('Could not derive an Ed25519 public key from the seed')
  }
  const publicKey = publicKeyFromRaw(Buffer.from(jwk.x, 'base64url'))
  return peerIdFromPublicKey(publicKey).toString()
}

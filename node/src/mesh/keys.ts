/**
 * Node identity: a node's libp2p key pair, and so its peer id, is derived
 * deterministically from its 32-byte Ed25519 seed (the node key), so the same
 * seed always yields the same peer id and certificates can name the peer id
 * ahead of time. The peer id is computed the way the protocol computes it for a
 * certificate (`peerIdOf`), so the two can never disagree.
 */
import { peerIdOf } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { MeshError } from './errors.ts'

const SEED_BYTES = 32

export function assertSeed(seed: Uint8Array): void {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_BYTES) {
    throw new MeshError('MESH_INVALID_CONFIG', `privateKey must be a ${SEED_BYTES}-byte Ed25519 seed`)
  }
}

/** The libp2p private key for a seed. */
export function privateKeyFromSeed(seed: Uint8Array): Ed25519PrivateKey {
  assertSeed(seed)
  // libp2p's raw Ed25519 private key is the seed followed by the public key
  const raw = new Uint8Array(2 * SEED_BYTES)
  raw.set(seed, 0)
  raw.set(nativeEd25519.publicKey(seed), SEED_BYTES)
  return privateKeyFromRaw(raw) as Ed25519PrivateKey
}

/** The peer id (base58btc string) that a mesh created with this seed will have. */
export function peerIdFromSeed(seed: Uint8Array): string {
  assertSeed(seed)
  return peerIdOf(nativeEd25519.publicKey(seed))
}

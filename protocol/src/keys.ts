/** Key pairs, key ids and the libp2p peer id a node key implies. */
import { base58 } from '@scure/base'
import { concatBytes, toHex } from './bytes.ts'
import { type Ed25519, randomSecretKey } from './crypto.ts'
import { DOMAINS, domainHash } from './encoding.ts'
import { ProtocolError } from './errors.ts'

export interface KeyPair {
  readonly publicKey: Uint8Array
  /** 32-byte Ed25519 seed. */
  readonly secretKey: Uint8Array
}

export function generateKeyPair(ed: Ed25519, secretKey: Uint8Array = randomSecretKey()): KeyPair {
  if (secretKey.length !== 32) throw new ProtocolError('KEY_INVALID', 'secret key must be 32 bytes')
  return { publicKey: ed.publicKey(secretKey), secretKey }
}

/** A key's id: 32 hex chars (128 bits) of its domain hash. Citizens are known by their key id. */
export function keyId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new ProtocolError('KEY_INVALID', 'public key must be 32 bytes')
  return toHex(domainHash(DOMAINS.key, publicKey).subarray(0, 16))
}

// libp2p encodes an Ed25519 public key as protobuf {Type: Ed25519 (1), Data: key}
// and, being short, puts it in an identity multihash (code 0x00, length 0x24).
const PEER_ID_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)

/** The libp2p peer id ("12D3KooW…") of a node whose libp2p identity is this Ed25519 key. */
export function peerIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new ProtocolError('KEY_INVALID', 'public key must be 32 bytes')
  return base58.encode(concatBytes(PEER_ID_PREFIX, publicKey))
}

import { randomBytes } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { peerIdFromSeed, privateKeyFromSeed } from '../../src/mesh/keys.ts'

describe('mesh keys', () => {
  it('derives the same peer id and key as libp2p does from the seed', async () => {
    const seeds = [
      new Uint8Array(32),
      new Uint8Array(32).fill(0xff),
      ...Array.from({ length: 20 }, () => randomBytes(32)),
    ]
    for (const seed of seeds) {
      const libp2pKey = await generateKeyPairFromSeed('Ed25519', seed)
      const expected = peerIdFromPrivateKey(libp2pKey).toString()
      expect(peerIdFromSeed(seed)).toBe(expected)
      const key = privateKeyFromSeed(seed)
      expect(Buffer.from(key.raw).equals(Buffer.from(libp2pKey.raw))).toBe(true)
      expect(peerIdFromPrivateKey(key).toString()).toBe(expected)
    }
  })

  it('a known seed keeps its peer id', () => {
    // frozen: certificates name peer ids, so the derivation must never change
    expect(peerIdFromSeed(new Uint8Array(32))).toBe('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')
  })

  it('refuses a seed that is not 32 bytes', () => {
    for (const seed of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(() => peerIdFromSeed(seed)).toThrow(expect.objectContaining({ code: 'MESH_INVALID_CONFIG' }))
      expect(() => privateKeyFromSeed(seed)).toThrow(expect.objectContaining({ code: 'MESH_INVALID_CONFIG' }))
    }
  })
})

/**
 * Ed25519: the two implementations produce and accept the same bytes, keys ids and peer ids
 * are what the spec says (the peer id is checked against libp2p's own derivation).
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  concatBytes,
  DOMAINS,
  domainHash,
  fromHex,
  generateKeyPair,
  isStrictPublicKey,
  keyId,
  nobleEd25519,
  peerIdOf,
  randomSecretKey,
  toHex,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'
import { sha256 as nobleSha256 } from '../src/sha256.ts'
import { sha256 as nativeSha256 } from '../src/sha256-native.ts'
import { expectCode } from './fixtures.ts'

const IMPLS = [nobleEd25519, nativeEd25519]

/** RFC 8032 §7.1, tests 1–3. */
const RFC8032 = [
  {
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

/** Small-order points (libsodium's blocklist): OpenSSL alone would accept some of them as keys. */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]

const leBytes = (n: bigint): Uint8Array => {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn)
  return out
}
const leNumber = (b: Uint8Array): bigint => {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!)
  return n
}

describe.each(IMPLS)('Ed25519 ($name)', (ed) => {
  it('reproduces the RFC 8032 test vectors', () => {
    for (const v of RFC8032) {
      const sk = fromHex(v.secret)
      expect(toHex(ed.publicKey(sk))).toBe(v.public)
      expect(toHex(ed.sign(fromHex(v.message), sk))).toBe(v.signature)
      expect(ed.verify(fromHex(v.signature), fromHex(v.message), fromHex(v.public))).toBe(true)
    }
  })

  it('verify returns false, never throws, for wrong lengths, garbage and other messages', () => {
    const v = RFC8032[1]!
    const [sig, msg, pub] = [fromHex(v.signature), fromHex(v.message), fromHex(v.public)]
    expect(ed.verify(sig.subarray(1), msg, pub)).toBe(false)
    expect(ed.verify(sig, msg, pub.subarray(1))).toBe(false)
    expect(ed.verify(new Uint8Array(64), msg, pub)).toBe(false)
    expect(ed.verify(sig, Uint8Array.of(0x73), pub)).toBe(false)
    expect(ed.verify(sig, msg, new Uint8Array(32).fill(0xff))).toBe(false)
  })

  it('refuses a non-canonical S (S + L)', () => {
    const v = RFC8032[0]!
    const sig = fromHex(v.signature)
    const L = ed25519.Point.Fn.ORDER
    const bumped = concatBytes(sig.subarray(0, 32), leBytes(leNumber(sig.subarray(32)) + L))
    expect(ed.verify(bumped, new Uint8Array(), fromHex(v.public))).toBe(false)
  })

  it('refuses small-order public keys (with them R = identity, S = 0 would verify anything)', () => {
    const identitySig = concatBytes(fromHex(SMALL_ORDER[1]!), new Uint8Array(32))
    for (const hex of SMALL_ORDER) {
      const key = fromHex(hex)
      expect(isStrictPublicKey(key), hex).toBe(false)
      expect(ed.verify(identitySig, Uint8Array.of(1, 2, 3), key), hex).toBe(false)
      const signBit = key.slice()
      signBit[31]! |= 0x80
      expect(ed.verify(identitySig, Uint8Array.of(1, 2, 3), signBit), hex).toBe(false)
    }
  })

  it('refuses a signature whose R carries a small-order component (cofactored vs cofactorless)', () => {
    // Crafted by a key's owner: valid under noble's cofactored equation, not under OpenSSL's.
    const ext = ed25519.utils.getExtendedPublicKey(new Uint8Array(32).fill(3))
    const L = ed25519.Point.Fn.ORDER
    const T = ed25519.Point.fromBytes(fromHex(SMALL_ORDER[2]!))
    const msg = Uint8Array.of(104, 105)
    const r = 123456789n
    const R = ed25519.Point.BASE.multiply(r).add(T).toBytes()
    const k = leNumber(sha512(concatBytes(R, ext.pointBytes, msg))) % L
    const s = (r + k * ext.scalar) % L
    expect(ed.verify(concatBytes(R, leBytes(s)), msg, ext.pointBytes)).toBe(false)
    // The honest signature by the same key verifies.
    expect(ed.verify(ed.sign(msg, new Uint8Array(32).fill(3)), msg, ext.pointBytes)).toBe(true)
  })

  it('refuses a mixed-order public key (a small-order point added to an honest key)', () => {
    const honest = ed25519.Point.fromBytes(ed.publicKey(new Uint8Array(32).fill(4)))
    const mixed = honest.add(ed25519.Point.fromBytes(fromHex(SMALL_ORDER[3]!))).toBytes()
    expect(isStrictPublicKey(mixed)).toBe(false)
    expect(ed.verify(new Uint8Array(64), new Uint8Array(), mixed)).toBe(false)
  })
})

describe('the two Ed25519 implementations agree', () => {
  it('on keys, signatures and verification, including of altered signatures', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(63),
        fc.integer({ min: 1, max: 255 }),
        (sk, msg, pos, flip) => {
          const pub = nobleEd25519.publicKey(sk)
          expect(toHex(nativeEd25519.publicKey(sk))).toBe(toHex(pub))
          const sig = nobleEd25519.sign(msg, sk)
          expect(toHex(nativeEd25519.sign(msg, sk))).toBe(toHex(sig))
          for (const ed of IMPLS) expect(ed.verify(sig, msg, pub)).toBe(true)
          const bad = sig.slice()
          bad[pos]! ^= flip
          expect(nobleEd25519.verify(bad, msg, pub)).toBe(nativeEd25519.verify(bad, msg, pub))
          expect(nobleEd25519.verify(bad, msg, pub)).toBe(false)
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('keys', () => {
  it('a key id is the first 16 bytes of the key domain hash, in hex', () => {
    const pub = fromHex(RFC8032[0]!.public)
    expect(keyId(pub)).toBe(toHex(domainHash(DOMAINS.key, pub).subarray(0, 16)))
    expect(keyId(pub)).toMatch(/^[0-9a-f]{32}$/)
  })

  it("a peer id is libp2p's for that Ed25519 key", () => {
    for (let i = 0; i < 5; i++) {
      const { publicKey } = generateKeyPair(nativeEd25519)
      expect(peerIdOf(publicKey)).toBe(peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString())
      expect(peerIdOf(publicKey)).toMatch(/^12D3KooW/)
    }
  })

  it('wrong key lengths are refused with KEY_INVALID', () => {
    expectCode(() => generateKeyPair(nobleEd25519, new Uint8Array(31)), 'KEY_INVALID')
    expectCode(() => keyId(new Uint8Array(33)), 'KEY_INVALID')
    expectCode(() => peerIdOf(new Uint8Array(0)), 'KEY_INVALID')
  })

  it('random secret keys are 32 fresh bytes', () => {
    const a = randomSecretKey()
    expect(a).toHaveLength(32)
    expect(toHex(a)).not.toBe(toHex(randomSecretKey()))
  })
})

describe('the two SHA-256 implementations agree', () => {
  it('on the standard vectors and on random parts, whatever the split', () => {
    const abc = new TextEncoder().encode('abc')
    const expected = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    expect(toHex(nobleSha256(abc))).toBe(expected)
    expect(toHex(nativeSha256(abc))).toBe(expected)
    expect(toHex(nativeSha256(abc.subarray(0, 1), abc.subarray(1)))).toBe(expected)
    fc.assert(
      // Parts of up to 3,000 bytes: some inputs are copied into one, some streamed (over 4 KiB).
      fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 4 }), (parts) => {
        expect(toHex(nativeSha256(...parts))).toBe(toHex(nobleSha256(...parts)))
        expect(toHex(nativeSha256(...parts))).toBe(toHex(nobleSha256(concatBytes(...parts))))
      }),
      { numRuns: 300 },
    )
  })
})

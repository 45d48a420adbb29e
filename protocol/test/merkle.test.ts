/**
 * RFC 6962 / 9162 Merkle trees: roots checked against Certificate Transparency's published test
 * vectors (the eight leaves of its reference implementation's tests), proofs checked for every
 * leaf and every prefix of trees up to 40 leaves, and proofs that must fail.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CompactTree,
  consistencyProof,
  consistencyProofFrom,
  fromHex,
  inclusionProof,
  inclusionProofFrom,
  leafHash,
  rangeRootFromSubtrees,
  rootOf,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../src/index.ts'

/** The leaves of CT's reference tests, and the root of each prefix. */
const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
]
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i, i >> 8)))

describe('Merkle trees (RFC 6962)', () => {
  it('hash the empty tree and CT’s reference leaves to the published roots', () => {
    expect(toHex(rootOf([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const leaves = CT_LEAVES.map((h) => leafHash(fromHex(h)))
    for (const [i, root] of CT_ROOTS.entries()) {
      expect(toHex(rootOf(leaves.slice(0, i + 1))), `size ${i + 1}`).toBe(root)
    }
  })

  it('prove every leaf included, and refuse a proof for another leaf, index or root', async () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = leavesOf(n)
      const root = rootOf(leaves)
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(leaves, i)
        expect(verifyInclusion(leaves[i]!, i, n, proof, root), `${i} of ${n}`).toBe(true)
        if (n > 1) {
          expect(verifyInclusion(leaves[(i + 1) % n]!, i, n, proof, root)).toBe(false)
          expect(verifyInclusion(leaves[i]!, (i + 1) % n, n, proof, root)).toBe(false)
        }
        expect(verifyInclusion(leaves[i]!, i, n, proof, leafHash(Uint8Array.of(9)))).toBe(false)
      }
    }
  })

  it('prove every prefix consistent, and refuse a proof against another old root or size', async () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = leavesOf(n)
      const root = rootOf(leaves)
      for (let m = 0; m <= n; m++) {
        const old = rootOf(leaves.slice(0, m))
        const proof = await consistencyProof(leaves, m)
        expect(verifyConsistency(m, n, old, root, proof), `${m} → ${n}`).toBe(true)
        if (m > 0 && m < n) {
          const other = rootOf(
            leavesOf(m).map((l, i) => (i === m - 1 ? leafHash(Uint8Array.of(7, 7, 7)) : l)),
          )
          expect(verifyConsistency(m, n, other, root, proof), `forged old ${m} → ${n}`).toBe(false)
          expect(verifyConsistency(m + 1, n, old, root, proof)).toBe(false)
        }
      }
    }
  })

  it('keeps the same root as the whole tree when extended one leaf at a time (CompactTree)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
        const leaves = leavesOf(n)
        const tree = new CompactTree()
        for (const l of leaves) tree.append(l)
        expect(tree.size).toBe(n)
        expect(toHex(tree.root())).toBe(toHex(rootOf(leaves)))
        // Saved and restored, it goes on the same.
        const again = new CompactTree(tree.state)
        again.append(leafHash(Uint8Array.of(1)))
        expect(toHex(again.root())).toBe(toHex(rootOf([...leaves, leafHash(Uint8Array.of(1))])))
      }),
      { numRuns: 60 },
    )
  })

  it('proves from stored subtrees exactly what it proves from the leaves', async () => {
    const leaves = leavesOf(37)
    const tree = new CompactTree()
    const stored = new Map<string, Uint8Array>()
    for (const l of leaves) for (const n of tree.append(l)) stored.set(`${n.level}/${n.index}`, n.hash)
    const range = rangeRootFromSubtrees((level, index) => {
      const h = stored.get(`${level}/${index}`)
      if (!h) throw new Error(`no subtree ${level}/${index}`)
      return h
    })
    for (const n of [1, 2, 5, 16, 31, 37]) {
      expect(toHex(await range(0, n))).toBe(toHex(rootOf(leaves.slice(0, n))))
      for (const i of [0, Math.floor(n / 2), n - 1]) {
        expect((await inclusionProofFrom(n, i, range)).map(toHex)).toEqual(
          (await inclusionProof(leaves.slice(0, n), i)).map(toHex),
        )
      }
      for (const m of [0, 1, Math.floor(n / 3), n]) {
        expect((await consistencyProofFrom(m, n, range)).map(toHex)).toEqual(
          (await consistencyProof(leaves.slice(0, n), m)).map(toHex),
        )
      }
    }
  })
})

/**
 * Merkle trees as RFC 6962 / RFC 9162 (§2.1) define them, for the audit of each node's feed:
 * the tree over the feed's entries in sequence order, its root (the tree head), inclusion proofs
 * (this entry is in the tree of size n) and consistency proofs (the tree of size n is the tree of
 * size m with entries appended, nothing rewritten). Hashing is exactly the RFC's, so transparency-log
 * tooling verifies what Legation produces:
 *
 *   leafHash(d) = SHA-256(0x00 ‖ d)      nodeHash(l, r) = SHA-256(0x01 ‖ l ‖ r)
 *   MTH({})     = SHA-256()               MTH(D[n]) = nodeHash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 < n
 *
 * Pure; proofs are built from the leaf hashes. `CompactTree` keeps only the right edge of the tree
 * (at most log2 n hashes), so a node can extend a feed's tree by one entry in O(log n).
 *
 * @example
 * const leaves = entries.map(leafHash)
 * const proof = inclusionProof(leaves, 3)
 * verifyInclusion(leaves[3], 3, leaves.length, proof, rootOf(leaves)) // true
 */
import { sha256 } from '#sha256'
import { equalBytes } from './bytes.ts'

const LEAF = Uint8Array.of(0x00)
const NODE = Uint8Array.of(0x01)

/** The hash of a leaf whose data is `data` (RFC 6962 §2.1: prefix 0x00). */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256(LEAF, data)
}

/** The hash of an interior node (prefix 0x01). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE, left, right)
}

/** The largest power of two smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** The tree head of the leaves `leaves[from:to]`. */
function mth(leaves: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from
  if (n === 0) return sha256()
  if (n === 1) return leaves[from]!
  const k = split(n)
  return nodeHash(mth(leaves, from, from + k), mth(leaves, from + k, to))
}

/** The tree head (root) of a tree whose leaf hashes are `leaves`. */
export function rootOf(leaves: readonly Uint8Array[]): Uint8Array {
  return mth(leaves, 0, leaves.length)
}

/**
 * The root of the leaves `[from, to)`, however a caller holds the tree: an array of leaf hashes,
 * or stored subtrees (`rangeRootFromSubtrees`). Proofs only ask for ranges the RFC's recursion
 * makes, whose start is a multiple of the largest power of two not above their length.
 */
export type RangeRoot = (from: number, to: number) => Uint8Array | Promise<Uint8Array>

/** A `RangeRoot` over an array of leaf hashes. */
export function rangeRootOf(leaves: readonly Uint8Array[]): RangeRoot {
  return (from, to) => mth(leaves, from, to)
}

/**
 * A `RangeRoot` over stored complete subtrees: `subtree(level, index)` is the root of the 2^level
 * leaves from index·2^level (level 0: the leaf hashes), as `CompactTree.append` reports them.
 * A range costs O(log n) lookups.
 */
export function rangeRootFromSubtrees(
  subtree: (level: number, index: number) => Uint8Array | Promise<Uint8Array>,
): RangeRoot {
  const root = async (from: number, to: number): Promise<Uint8Array> => {
    const n = to - from
    if (n === 0) return sha256()
    if (isPowerOfTwo(n) && from % n === 0) return subtree(Math.log2(n), from / n)
    const k = split(n)
    return nodeHash(await root(from, from + k), await root(from + k, to))
  }
  return root
}

/** The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1 PATH). */
export async function inclusionProofFrom(
  size: number,
  index: number,
  range: RangeRoot,
): Promise<Uint8Array[]> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`leaf ${index} is not in a tree of ${size}`)
  }
  const path = async (m: number, from: number, to: number): Promise<Uint8Array[]> => {
    const n = to - from
    if (n === 1) return []
    const k = split(n)
    return m < k
      ? [...(await path(m, from, from + k)), await range(from + k, to)]
      : [...(await path(m - k, from + k, to)), await range(from, from + k)]
  }
  return path(index, 0, size)
}

/** The audit path of leaf `index` in the tree of `leaves`. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Promise<Uint8Array[]> {
  return inclusionProofFrom(leaves.length, index, rangeRootOf(leaves))
}

/** Whether `proof` shows leaf `index` (hash `leaf`) in the tree of `size` whose root is `root` (RFC 9162 §2.1.3.2). */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && equalBytes(r, root)
}

/** The proof that the tree of `oldSize` leaves is a prefix of the tree of `size` (RFC 6962 §2.1.2 PROOF). */
export async function consistencyProofFrom(
  oldSize: number,
  size: number,
  range: RangeRoot,
): Promise<Uint8Array[]> {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(size) || oldSize < 0 || oldSize > size) {
    throw new RangeError(`a tree of ${oldSize} is not a prefix of a tree of ${size}`)
  }
  if (oldSize === 0 || oldSize === size) return []
  const subproof = async (m: number, from: number, to: number, whole: boolean): Promise<Uint8Array[]> => {
    const n = to - from
    if (m === n) return whole ? [] : [await range(from, to)]
    const k = split(n)
    return m <= k
      ? [...(await subproof(m, from, from + k, whole)), await range(from + k, to)]
      : [...(await subproof(m - k, from + k, to, false)), await range(from, from + k)]
  }
  return subproof(oldSize, 0, size, true)
}

/** The proof that the tree of `oldSize` leaves is a prefix of the tree of `leaves`. */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number): Promise<Uint8Array[]> {
  return consistencyProofFrom(oldSize, leaves.length, rangeRootOf(leaves))
}

/**
 * Whether `proof` shows the tree of `oldSize` with root `oldRoot` to be a prefix of the tree of
 * `newSize` with root `newRoot` (RFC 9162 §2.1.4.2).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) {
    return false
  }
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot)
  // The empty tree is a prefix of every tree, if the root given for it is the empty root.
  if (oldSize === 0) return proof.length === 0 && equalBytes(oldRoot, sha256())
  let path = [...proof]
  // When the old tree is a complete subtree, its root is the proof's first hash.
  if (isPowerOfTwo(oldSize)) path = [oldRoot, ...path]
  if (path.length === 0) return false
  let fn = oldSize - 1
  let sn = newSize - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return equalBytes(fr, oldRoot) && equalBytes(sr, newRoot) && sn === 0
}

/**
 * A tree kept as its right edge only: the roots of its complete subtrees, largest first (at most
 * log2 n hashes). Appending a leaf costs O(log n) hashes amortized O(1); the root costs O(log n).
 * Serializable (`state`) so a node stores it with the feed and extends it after a restart.
 */
export class CompactTree {
  #size: number
  /** Roots of the complete subtrees, largest first; their sizes are the 1-bits of `size`. */
  readonly #edge: Uint8Array[]

  constructor(state: { size: number; edge: readonly Uint8Array[] } = { size: 0, edge: [] }) {
    if (
      !Number.isSafeInteger(state.size) ||
      state.size < 0 ||
      popCount(state.size) !== state.edge.length ||
      state.edge.some((h) => h.length !== 32)
    ) {
      throw new RangeError('a compact tree’s edge does not match its size')
    }
    this.#size = state.size
    this.#edge = [...state.edge]
  }

  get size(): number {
    return this.#size
  }

  get state(): { size: number; edge: Uint8Array[] } {
    return { size: this.#size, edge: [...this.#edge] }
  }

  /**
   * Appends a leaf (its hash). Answers the complete subtrees it completes, the leaf first
   * (level 0): what a store keeps to prove inclusion and consistency later (rangeRootFromSubtrees).
   */
  append(leaf: Uint8Array): Array<{ level: number; index: number; hash: Uint8Array }> {
    const at = this.#size
    const made = [{ level: 0, index: at, hash: leaf }]
    let hash = leaf
    // Merge equal-sized subtrees from the right: one per trailing 1-bit of the old size.
    for (let s = at, level = 1; s % 2 === 1; s = Math.floor(s / 2), level++) {
      hash = nodeHash(this.#edge.pop()!, hash)
      made.push({ level, index: Math.floor(at / 2 ** level), hash })
    }
    this.#edge.push(hash)
    this.#size++
    return made
  }

  /** The tree head. */
  root(): Uint8Array {
    if (this.#edge.length === 0) return sha256()
    let r = this.#edge[this.#edge.length - 1]!
    for (let i = this.#edge.length - 2; i >= 0; i--) r = nodeHash(this.#edge[i]!, r)
    return r
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n))
}

function popCount(n: number): number {
  let c = 0
  for (let x = n; x > 0; x = Math.floor(x / 2)) c += x % 2
  return c
}

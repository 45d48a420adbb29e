/**
 * Feed trees: for every origin, the RFC 6962 Merkle tree over its feed's entries in sequence
 * order (leaf data: the entry's hash, as receipts name it), kept incrementally. Each transaction
 * extends the trees of the feeds it appends to and stores the complete subtrees it finishes
 * (`mkt/…`, about two hashes per entry), so a tree head of any size, an inclusion proof and a
 * consistency proof each cost O(log n) reads. The right edge of each tree (at most log2 n
 * hashes) lives in the feed state, written with the entries.
 */
import {
  CompactTree,
  consistencyProofFrom,
  fromHex,
  inclusionProofFrom,
  leafHash,
  type RangeRoot,
  rangeRootFromSubtrees,
  toHex,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { K } from './keys.ts'

/** A feed tree's right edge as the feed state keeps it. */
export interface TreeState {
  size: number
  /** Roots of its complete subtrees, largest first, hex. */
  edge: string[]
}

export function treeOf(state: TreeState | undefined): CompactTree {
  return state ? new CompactTree({ size: state.size, edge: state.edge.map(fromHex) }) : new CompactTree()
}

export function stateOf(tree: CompactTree): TreeState {
  const { size, edge } = tree.state
  return { size, edge: edge.map(toHex) }
}

export class FeedTrees {
  readonly #store: Store

  constructor(store: Store) {
    this.#store = store
  }

  /**
   * Extends the trees of `base` with entries (in sequence order per origin) and adds the
   * subtrees they complete to `ops`. Answers the new tree states.
   */
  extend(
    base: Readonly<Record<string, TreeState>>,
    entries: ReadonlyArray<{ origin: string; seq: number; hash: Uint8Array }>,
    ops: BatchOp[],
  ): Record<string, TreeState> {
    const trees = new Map<string, CompactTree>()
    for (const e of entries) {
      const tree = trees.get(e.origin) ?? treeOf(base[e.origin])
      trees.set(e.origin, tree)
      if (tree.size !== e.seq - 1) {
        throw new NodeError(
          'INTERNAL',
          `feed tree of ${e.origin} has ${tree.size} leaves, entry ${e.seq} arrived`,
        )
      }
      for (const n of tree.append(leafHash(e.hash))) {
        ops.push({ type: 'put', key: K.subtree(e.origin, n.level, n.index), value: n.hash })
      }
    }
    const out = { ...base }
    for (const [origin, tree] of trees) out[origin] = stateOf(tree)
    return out
  }

  /** The tree of `origin` as far as it is stored, read through its stored subtrees. */
  #range(origin: string): RangeRoot {
    return rangeRootFromSubtrees(async (level, index) => {
      const h = await this.#store.get(K.subtree(origin, level, index))
      if (!h) throw new NodeError('NOT_FOUND', `no subtree ${level}/${index} of ${origin}`)
      return h
    })
  }

  /** The root of `origin`'s tree when it had `size` entries. */
  async root(origin: string, size: number): Promise<Uint8Array> {
    return this.#range(origin)(0, size)
  }

  /** The audit path of entry `seq` of `origin` in the tree of `size` entries. */
  inclusionProof(origin: string, seq: number, size: number): Promise<Uint8Array[]> {
    return inclusionProofFrom(size, seq - 1, this.#range(origin))
  }

  /** The proof that `origin`'s tree of `from` entries is a prefix of its tree of `to`. */
  consistencyProof(origin: string, from: number, to: number): Promise<Uint8Array[]> {
    return consistencyProofFrom(from, to, this.#range(origin))
  }
}

/**
 * Feed trees: for every origin, the RFC 6962 Merkle tree over its feed's entries in sequence
 * order (leaf data: the entry's hash, as receipts name it), kept incrementally. Each transaction
 * extends the trees of the feeds it appends to and stores the complete subtrees it finishes
 * (`mkt/…`, about two hashes per entry) in its own batch. A tree of n leaves is then fully given
 * by n (the feed's place in the version vector) and its stored subtrees: its right edge is read
 * back on start, a tree head of any size and each proof cost a few dozen reads.
 */
import {
  CompactTree,
  consistencyProofFrom,
  inclusionProofFrom,
  leafHash,
  openEntry,
  type RangeRoot,
  rangeRootFromSubtrees,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { readEntries } from './entry-rows.ts'
import { K } from './keys.ts'

/** Subtrees written at once while a store written before trees were kept gets its trees. */
const BACKFILL_BATCH = 10_000

interface LoadLogger {
  info(obj: Record<string, unknown>, msg?: string): void
}

/** The extended trees of one transaction, applied to the head once it is handed to the store. */
export type PendingTrees = ReadonlyMap<string, CompactTree>

export class FeedTrees {
  readonly #store: Store
  /** Each origin's tree as the next transaction extends it (its right edge only). */
  readonly #head = new Map<string, CompactTree>()

  constructor(store: Store) {
    this.#store = store
  }

  /**
   * Reads each feed's right edge back from its stored subtrees (`vv`: the feeds' sizes). A feed
   * whose subtrees are not stored (a store written before trees were kept) gets them, once, from
   * its stored entries, which must run 1..n without a gap.
   */
  async load(vv: Readonly<Record<string, number>>, log?: LoadLogger): Promise<void> {
    for (const [origin, size] of Object.entries(vv)) {
      const edge = await this.#edgeOf(origin, size)
      this.#head.set(origin, edge ? new CompactTree({ size, edge }) : await this.#rebuild(origin, size, log))
    }
  }

  /** Forgets every tree (their stored subtrees are the caller's to delete): they grow again from 0. */
  reset(): void {
    this.#head.clear()
  }

  /** The roots of the complete subtrees of a tree of `size`, largest first, if all are stored. */
  async #edgeOf(origin: string, size: number): Promise<Uint8Array[] | undefined> {
    const edge: Uint8Array[] = []
    let start = 0
    for (let level = Math.floor(Math.log2(Math.max(size, 1))); level >= 0 && start < size; level--) {
      const width = 2 ** level
      if (start + width > size) continue
      const hash = await this.#store.get(K.subtree(origin, level, start / width))
      if (!hash) return undefined
      edge.push(hash)
      start += width
    }
    return edge
  }

  async #rebuild(origin: string, size: number, log?: LoadLogger): Promise<CompactTree> {
    log?.info({ origin, entries: size }, 'building the feed tree of a store written before trees were kept')
    const tree = new CompactTree()
    let ops: BatchOp[] = []
    for await (const { bytes } of readEntries(this.#store, origin, { from: 1 })) {
      const { entry, hash } = openEntry(bytes)
      if (entry.body.origin !== origin || entry.body.seq !== tree.size + 1) {
        throw new NodeError(
          'STORAGE_FAILED',
          `the stored feed of ${origin} has a gap before entry ${tree.size + 1}`,
        )
      }
      for (const n of tree.append(leafHash(hash))) {
        ops.push({ type: 'put', key: K.subtree(origin, n.level, n.index), value: n.hash })
      }
      if (ops.length >= BACKFILL_BATCH) {
        await this.#store.write(ops)
        ops = []
      }
    }
    if (tree.size !== size) {
      throw new NodeError(
        'STORAGE_FAILED',
        `the stored feed of ${origin} has ${tree.size} entries, not ${size}`,
      )
    }
    if (ops.length > 0) await this.#store.write(ops)
    return tree
  }

  /**
   * Extends copies of the head trees with a transaction's entries (in sequence order per origin)
   * and adds the subtrees they complete to `ops`. `commit` the answer once `ops` go to the store.
   */
  extend(
    entries: ReadonlyArray<{ origin: string; seq: number; hash: Uint8Array }>,
    ops: BatchOp[],
  ): PendingTrees {
    const trees = new Map<string, CompactTree>()
    for (const e of entries) {
      const tree = trees.get(e.origin) ?? new CompactTree(this.#head.get(e.origin)?.state)
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
    return trees
  }

  commit(pending: PendingTrees): void {
    for (const [origin, tree] of pending) this.#head.set(origin, tree)
  }

  /** The tree of `origin` as far as it is stored, read through its stored subtrees. */
  #range(origin: string): RangeRoot {
    return rangeRootFromSubtrees(async (level, index) => {
      const h = await this.#store.get(K.subtree(origin, level, index))
      // Asked only for sizes the caller knows are stored: a missing subtree is a damaged store.
      if (!h) throw new NodeError('INTERNAL', `subtree ${level}/${index} of ${origin} is not stored`)
      return h
    })
  }

  /** The leaf of entry `seq` of `origin` (the RFC 6962 leaf hash of its entry hash), if stored. */
  leaf(origin: string, seq: number): Promise<Uint8Array | undefined> {
    return this.#store.get(K.subtree(origin, 0, seq - 1))
  }

  /** The root of `origin`'s tree when it had `size` entries. */
  root(origin: string, size: number): Promise<Uint8Array> {
    return Promise.resolve(this.#range(origin)(0, size))
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

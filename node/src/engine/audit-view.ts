/**
 * What the engine shows the secretariat's auditor of its feeds: each feed's Merkle tree (size
 * and root, of any size it has held), inclusion and consistency proofs, and this node's signed
 * checkpoint of its own feed — a C2SP tlog-checkpoint in a C2SP signed note, with the node's key.
 * Durable data only: nothing is proven that a crash could take back.
 */
import {
  checkpointText,
  type Ed25519,
  equalBytes,
  type KeyPair,
  leafHash,
  signNote,
  verifierKey,
} from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { FeedTrees } from './feed-trees.ts'

export interface AuditViewComponents {
  ed: Ed25519
  keys: KeyPair | undefined
  nodeId: string
  trees: FeedTrees
  /** The durable version vector: each feed's tree holds that many entries. */
  durableSizes: () => Readonly<Record<string, number>>
  bloc: () => string
  charter: () => { hash: string; version: number }
  stateRoot: () => string
}

/** A signed checkpoint and the verifier key that opens it. */
export interface SignedCheckpoint {
  /** The signed note: checkpoint text, a blank line, the node's signature line. */
  readonly note: string
  /** `name+keyid+key`: how transparency tools name the signer. */
  readonly verifierKey: string
  readonly origin: string
  readonly size: number
}

export class AuditView {
  readonly #c: AuditViewComponents

  constructor(components: AuditViewComponents) {
    this.#c = components
  }

  /** The durable size and root of `origin`'s feed tree (size 0 for a feed never seen). */
  async feedTree(origin: string): Promise<{ size: number; root: Uint8Array }> {
    const size = this.#c.durableSizes()[origin] ?? 0
    return { size, root: await this.#c.trees.root(origin, size) }
  }

  /** The feeds this node holds, each with its tree's size and root. */
  feedTrees(): Promise<Array<{ origin: string; size: number; root: Uint8Array }>> {
    return Promise.all(
      Object.keys(this.#c.durableSizes()).map(async (origin) => ({
        origin,
        ...(await this.feedTree(origin)),
      })),
    )
  }

  /** The root of `origin`'s tree when it had `size` entries. */
  async root(origin: string, size: number): Promise<Uint8Array> {
    this.#held(origin, size)
    return this.#c.trees.root(origin, size)
  }

  /**
   * Whether the entry this node holds durably at `seq` of `origin`'s feed has hash `hash`
   * (undefined where it holds none): what another node's receipt for that entry is checked
   * against, one read of a stored leaf.
   */
  async holds(origin: string, seq: number, hash: Uint8Array): Promise<boolean | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > (this.#c.durableSizes()[origin] ?? 0)) return undefined
    const leaf = await this.#c.trees.leaf(origin, seq)
    return leaf ? equalBytes(leaf, leafHash(hash)) : undefined
  }

  /** The audit path of entry `seq` of `origin` in its tree of `size` entries. */
  async inclusionProof(origin: string, seq: number, size: number): Promise<Uint8Array[]> {
    this.#held(origin, size)
    if (!Number.isSafeInteger(seq) || seq < 1 || seq > size) {
      throw new NodeError('NOT_FOUND', `entry ${seq} is not in a tree of ${size}`)
    }
    return this.#c.trees.inclusionProof(origin, seq, size)
  }

  /** The proof that `origin`'s tree of `from` entries is a prefix of its tree of `to`. */
  async consistencyProof(origin: string, from: number, to: number): Promise<Uint8Array[]> {
    this.#held(origin, to)
    if (!Number.isSafeInteger(from) || from < 0 || from > to) {
      throw new NodeError('BAD_REQUEST', `a tree of ${from} is not a prefix of a tree of ${to}`)
    }
    return this.#c.trees.consistencyProof(origin, from, to)
  }

  /**
   * This node's checkpoint of its own feed, signed with its node key. The origin line names
   * the bloc and the node; extension lines carry the charter version in force and the state root.
   */
  async checkpoint(): Promise<SignedCheckpoint> {
    const { ed, keys, nodeId } = this.#c
    if (!keys) throw new NodeError('READ_ONLY', 'a read-only engine signs no checkpoint')
    const origin = `legation/${this.#c.bloc()}/${nodeId}`
    // Size, root and state root from one durable state (nothing awaited between reading them).
    const size = this.#c.durableSizes()[nodeId] ?? 0
    const stateRoot = this.#c.stateRoot()
    const charter = this.#c.charter()
    const root = await this.#c.trees.root(nodeId, size)
    const text = checkpointText({
      origin,
      size,
      root,
      extensions: [`charter ${charter.version} ${charter.hash}`, `state-root ${stateRoot}`],
    })
    return {
      note: signNote(ed, text, [{ name: origin, secretKey: keys.secretKey }]),
      verifierKey: verifierKey(origin, keys.publicKey),
      origin,
      size,
    }
  }

  #held(origin: string, size: number): void {
    const held = this.#c.durableSizes()[origin] ?? 0
    if (!Number.isSafeInteger(size) || size < 0 || size > held) {
      throw new NodeError('NOT_FOUND', `this node holds ${held} entries of that feed`)
    }
  }
}

/**
 * Receipts: this node's signed statement that it stored an entry durably. A receipt names the
 * entry (which commits to all its records), so one signature serves every record in it; the
 * signatures of recent entries are kept.
 */
import {
  type Ed25519,
  fromHex,
  type KeyPair,
  type SignedPlacement,
  type SignedReceipt,
  signPlacement,
  signReceipt,
  toBase64url,
} from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import { NodeError } from '../errors.ts'
import type { Receipt } from './types.ts'

/** Entries whose receipt signature is kept. */
export const DEFAULT_RECEIPT_CACHE = 1024

export class Receipts {
  readonly #ed: Ed25519
  readonly #keys: KeyPair | undefined
  readonly #nodeId: string
  readonly #sigs = new LRUCache<string, string>({ max: DEFAULT_RECEIPT_CACHE })

  constructor(components: { ed: Ed25519; keys: KeyPair | undefined; nodeId: string }) {
    this.#ed = components.ed
    this.#keys = components.keys
    this.#nodeId = components.nodeId
  }

  /**
   * A receipt for `record`, carried by entry (origin, seq) whose hash is `entry` (hex). Its
   * signature is made when first read (once per entry, kept): a read's access record, written
   * like any record, needs no receipt, and signing one cost as much as signing the record.
   */
  receipt(record: string, origin: string, seq: number, entry: string): Receipt {
    let sig: string | undefined
    const receipt = { record, node: this.#nodeId, origin, seq, entry }
    return Object.defineProperty(receipt, 'sig', {
      enumerable: true,
      get: () => (sig ??= this.#entrySig(origin, seq, entry)),
    }) as typeof receipt & { readonly sig: string }
  }

  /**
   * The base64url signature of this node's receipt for entry (origin, seq), made now and not
   * kept: for an entry not durable yet, kept (`keep`) once it is.
   */
  presign(origin: string, seq: number, entry: string): string {
    return toBase64url(this.sign(origin, seq, fromHex(entry)).sig)
  }

  /** Keeps a signature `presign` made, for the receipts of that entry's records. */
  keep(origin: string, seq: number, sig: string): void {
    this.#sigs.set(`${origin}/${seq}`, sig)
  }

  /** The base64url signature of this node's receipt for entry (origin, seq), kept per entry. */
  #entrySig(origin: string, seq: number, entry: string): string {
    const key = `${origin}/${seq}`
    let sig = this.#sigs.get(key)
    if (!sig) {
      sig = this.presign(origin, seq, entry)
      this.keep(origin, seq, sig)
    }
    return sig
  }

  /**
   * This node's signed statement that record `record` is carried by entry (origin, seq), whose
   * hash is `entry`: the part of a citizen's inclusion receipt that names no one else's records.
   */
  place(record: string, origin: string, seq: number, entry: Uint8Array): SignedPlacement {
    if (!this.#keys) throw new NodeError('READ_ONLY', 'a read-only engine signs no placements')
    return signPlacement(this.#ed, { node: this.#nodeId, record, origin, seq, entry }, this.#keys.secretKey)
  }

  /** This node's signed statement that it stored entry (origin, seq) durably. */
  sign(origin: string, seq: number, entry: Uint8Array): SignedReceipt {
    if (!this.#keys) throw new NodeError('READ_ONLY', 'a read-only engine signs no receipts')
    return signReceipt(this.#ed, { node: this.#nodeId, origin, seq, entry }, this.#keys.secretKey)
  }
}

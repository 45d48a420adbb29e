/**
 * The engine's read side: what is stored, read as it is (entries, records, payloads, case
 * owners, alerts, index keys) and what is derived (summaries, docs). Routes and replication
 * read through these; nothing here writes. `Engine` extends it.
 */
import { fromHex, toHex } from '@legation/protocol'
import type { Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import { decodeText } from './codec.ts'
import type { DocCache } from './doc-cache.ts'
import { readEntries, readEntry, readRecord, readRecords } from './entry-rows.ts'
import { idKeyPart, idOfKeyPart, K } from './keys.ts'
import type { Projections } from './projections.ts'
import type { CitizenSummary, StoredRecord } from './types.ts'
import type { IndexKind, Vault } from './vault.ts'

export class EngineReads {
  protected readonly store: Store
  protected readonly docs: DocCache
  protected readonly projections: Projections
  protected readonly vault: Vault

  constructor(store: Store, docs: DocCache, projections: Projections, vault: Vault) {
    this.store = store
    this.docs = docs
    this.projections = projections
    this.vault = vault
  }

  getEntryBytes(origin: string, seq: number): Promise<Uint8Array | undefined> {
    return readEntry(this.store, origin, seq)
  }

  /** Entries of `origin` from `fromSeq` on, in order, at most `limit`. */
  async *entries(origin: string, fromSeq: number, limit: number): AsyncIterable<Uint8Array> {
    for await (const { bytes } of readEntries(this.store, origin, { from: fromSeq, limit })) yield bytes
  }

  async getRecord(id: string): Promise<StoredRecord | undefined> {
    return readRecord(this.store, id)
  }

  /** Stored records by id, in the order asked (undefined where not stored): two batched reads. */
  getRecords(ids: readonly string[]): Promise<Array<StoredRecord | undefined>> {
    return readRecords(this.store, ids)
  }

  /** A payload in plain form (it is sealed at rest); undefined if not here or erased. */
  async getPayload(digest: Uint8Array): Promise<Uint8Array | undefined> {
    const hex = toHex(digest)
    const sealed = await this.store.get(K.payload(hex))
    return sealed && this.vault.openPayload(hex, sealed)
  }

  /**
   * Many payloads in plain form, in the order asked (undefined where not here or erased): one
   * batched read of the payloads and one of the data keys they need, where `getPayload` per
   * digest would cost two reads each — what serving a catch-up frame asks for.
   */
  async getPayloads(digests: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const hexes = digests.map(toHex)
    const sealed = await this.store.getMany(hexes.map(K.payload))
    return this.vault.openPayloads(hexes, sealed)
  }

  /** The index prefix of a personal value (`ix/td/<token>/`): a keyed hash, never the value. */
  blindPrefix(kind: IndexKind, value: string): string {
    return `ix/${kind}/${this.vault.indexToken(kind, value)}/`
  }

  /** Whether the citizen's personal data was erased here. */
  isErased(citizen: string): boolean {
    return this.vault.isErased(citizen)
  }

  /** Digests of payloads that stored records name but this node lacks, at most `limit`. */
  async missingPayloads(limit: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for await (const [k] of this.store.range(prefixRange(K.missingAll, { limit }))) {
      out.push(fromHex(k.slice(K.missingAll.length)))
    }
    return out
  }

  getSummary(citizen: string): Promise<CitizenSummary | undefined> {
    return this.projections.get(citizen)
  }

  async caseCitizen(caseId: string): Promise<string | undefined> {
    const raw = await this.store.get(K.case(caseId))
    return raw ? decodeText(raw) : undefined
  }

  async hasAlert(id: string): Promise<boolean> {
    return (await this.store.get(K.alert(id))) !== undefined
  }

  /** The doc's record ids, deduplicated. */
  async docRecords(docId: string): Promise<string[]> {
    const d = await this.docs.load(docId)
    return [...new Set(d.doc.getArray<string>('records').toArray())]
  }

  /** The citizen's doc's records without the reads of it listed apart (`withoutListedReads`). */
  fileRecords(citizen: string): Promise<string[]> {
    return withoutListedReads(this.store, citizen, this.docRecords(citizen))
  }

  /**
   * The ids of the access.logged records about a citizen, in key order (not by time), as far
   * as they are durable: one range of keys, no record read.
   */
  accessLogRecords(citizen: string): Promise<string[]> {
    return this.indexKeys(K.accessLogOf(citizen), Number.POSITIVE_INFINITY)
  }

  /**
   * The ids an index prefix (e.g. `ix/nat/AT/`) lists, in key order, after the id `after` (a
   * page's last), at most `limit`.
   */
  indexKeys(prefix: string, limit: number, after?: string): Promise<string[]> {
    return listedIds(this.store, prefix, limit, after)
  }
}

/** The ids keys under `prefix` end in, in key order, after the id `after`, at most `limit`. */
export async function listedIds(
  store: Store,
  prefix: string,
  limit: number,
  after?: string,
): Promise<string[]> {
  const out: string[] = []
  const range = after
    ? { gt: `${prefix}${idKeyPart(after)}`, lt: `${prefix}\uffff`, limit }
    : prefixRange(prefix, { limit })
  for await (const [k] of store.range(range)) out.push(idOfKeyPart(k.slice(prefix.length)))
  return out
}

/**
 * `ids` (a citizen's doc's records) without those listed as the citizen's logged reads (`acc/`),
 * most of a file read often. A listed id is a logged read's (a record's id hashes its header,
 * kind included); a read not listed yet (its write not durable) stays in, for the caller to
 * leave out by its kind.
 */
export async function withoutListedReads(
  store: Store,
  citizen: string,
  ids: readonly string[] | Promise<readonly string[]>,
): Promise<string[]> {
  const [all, listed] = await Promise.all([
    ids,
    listedIds(store, K.accessLogOf(citizen), Number.POSITIVE_INFINITY),
  ])
  const skip = new Set(listed)
  return all.filter((id) => !skip.has(id))
}

/**
 * Evidence and quarantine. Two validly signed, different entries for one (origin, seq) prove
 * that origin equivocated: both are stored as evidence, the origin is quarantined from that
 * seq on (nothing more of it is applied here), and the proof is handed to listeners (the mesh
 * gossips it). Signed entries refused for any other reason are kept as evidence too, for the
 * secretariat. Quarantines outlive restarts: they are read back from the evidence.
 */
import {
  decodeEntry,
  type Ed25519,
  EntryError,
  encodeCanonical,
  isEquivocation,
  ProtocolError,
  type SignedEntry,
  toHex,
  verifyEntrySignature,
} from '@legation/protocol'
import type { Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import { K, seqKey } from './keys.ts'
import type { Trust } from './trust.ts'
import type { EngineObserver } from './types.ts'

/** Evidence rows listed at most by one call of `list`. */
export const DEFAULT_EVIDENCE_LIMIT = 1000

export interface EvidenceComponents {
  store: Store
  ed: Ed25519
  trust: Trust
  observer: EngineObserver
}

export class Evidence {
  readonly #store: Store
  readonly #ed: Ed25519
  readonly #trust: Trust
  readonly #observer: EngineObserver
  /** Quarantined origins, from the first seq they equivocated at. */
  readonly #quarantined = new Map<string, number>()
  readonly #listeners = new Set<(a: Uint8Array, b: Uint8Array) => void>()

  constructor(components: EvidenceComponents) {
    this.#store = components.store
    this.#ed = components.ed
    this.#trust = components.trust
    this.#observer = components.observer
  }

  /** Reads the quarantines back from the equivocation evidence. */
  async load(): Promise<void> {
    const prefix = K.evidence('equivocation', '')
    for await (const [key] of this.#store.range(prefixRange(prefix))) {
      const [origin, seq] = key.slice(prefix.length).split('/')
      const from = Number(seq)
      if (origin && Number.isSafeInteger(from)) this.#quarantine(origin, from)
    }
  }

  quarantined(): ReadonlyMap<string, number> {
    return this.#quarantined
  }

  /** Whether entry (origin, seq) falls in a quarantine. */
  isQuarantined(origin: string, seq: number): boolean {
    const q = this.#quarantined.get(origin)
    return q !== undefined && seq >= q
  }

  /** Called with both entries whenever this node finds (or learns of) an equivocation. */
  onEvidence(listener: (a: Uint8Array, b: Uint8Array) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Stores proof that `a` and `b` equivocate and quarantines their origin. */
  async equivocation(a: SignedEntry, b: SignedEntry): Promise<void> {
    const origin = a.body.origin
    const seq = a.body.seq
    if (this.isQuarantined(origin, seq)) return
    this.#quarantine(origin, seq)
    await this.#store.write([
      {
        type: 'put',
        key: K.evidence('equivocation', `${origin}/${seqKey(seq)}`),
        value: encodeCanonical({ origin, seq, a, b }),
      },
    ])
    this.#observer.rejected?.('ENTRY_EQUIVOCATION')
    this.#observer.evidenceStored?.('equivocation')
    const [ea, eb] = [encodeCanonical(a), encodeCanonical(b)]
    for (const l of this.#listeners) l(ea, eb)
  }

  /** Whether the origin of this entry is quarantined at its seq already (the evidence is known). */
  knows(entryBytes: Uint8Array): boolean {
    const { origin, seq } = decodeEntry(entryBytes).body
    return this.isQuarantined(origin, seq)
  }

  /**
   * Checks equivocation evidence gossiped by a peer: two validly signed, different entries
   * for one (origin, seq). Answers the pair; throws if it is not proof.
   */
  check(aBytes: Uint8Array, bBytes: Uint8Array): [SignedEntry, SignedEntry] {
    const a = decodeEntry(aBytes)
    const b = decodeEntry(bBytes)
    verifyEntrySignature(this.#ed, a, this.#trust.bloc, this.#trust.versions)
    verifyEntrySignature(this.#ed, b, this.#trust.bloc, this.#trust.versions)
    if (!isEquivocation(a, b)) throw new EntryError('ENTRY_INVALID', 'evidence is not an equivocation')
    return [a, b]
  }

  /** Keeps an entry its origin signed but this node refused, with the reason. */
  async refused(
    bytes: Uint8Array,
    origin: string,
    seq: number,
    hash: Uint8Array,
    err: unknown,
  ): Promise<void> {
    this.#observer.entryReceived?.('invalid')
    const code = err instanceof ProtocolError ? err.code : 'INTERNAL'
    this.#observer.rejected?.(code)
    await this.store('refused', `${origin}/${seqKey(seq)}/${toHex(hash)}`, { code, entry: bytes })
  }

  async store(kind: string, id: string, value: unknown): Promise<void> {
    await this.#store.write([{ type: 'put', key: K.evidence(kind, id), value: encodeCanonical(value) }])
    this.#observer.evidenceStored?.(kind)
  }

  /** Evidence rows in key order (`evid/<kind>/<id>`), after the row `after` names (`<kind>/<id>`). */
  async *list(limit = DEFAULT_EVIDENCE_LIMIT, after?: string): AsyncIterable<[string, Uint8Array]> {
    const range = prefixRange('evid/', { limit })
    yield* this.#store.range(after === undefined ? range : { gt: `evid/${after}`, lt: range.lt, limit })
  }

  #quarantine(origin: string, from: number): void {
    const q = this.#quarantined.get(origin)
    if (q === undefined || from < q) this.#quarantined.set(origin, from)
  }
}

/**
 * Evidence and quarantine. Two validly signed, different entries for one (origin, seq) prove
 * that origin equivocated: both are stored as evidence, the origin is quarantined from that
 * seq on (nothing more of it is applied here), and the proof is handed to listeners (the mesh
 * gossips it). Signed entries refused for any other reason are kept as evidence too, for the
 * secretariat. Quarantines outlive restarts: they are read back from the evidence.
 */
import {
  decodeCanonical,
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
  /** The latest bloc-final checkpoint of each feed known here (from the witness). */
  readonly #finals = new Map<string, { size: number; root: Uint8Array }>()
  /** Entries of a fork that lost (hex hashes): never applied again (docs/protocol.md § Forks that heal). */
  readonly #superseded = new Set<string>()
  /** At an equivocation, the entry a bloc-final checkpoint holds (hex hash): the version that stands. */
  readonly #pinned = new Map<string, { seq: number; hash: string }>()
  readonly #listeners = new Set<(a: Uint8Array, b: Uint8Array) => void>()

  constructor(components: EvidenceComponents) {
    this.#store = components.store
    this.#ed = components.ed
    this.#trust = components.trust
    this.#observer = components.observer
  }

  /** Reads the quarantines back from the equivocation evidence, and the superseded entries. */
  async load(): Promise<void> {
    for await (const [key] of this.#store.range(prefixRange(K.evidence('superseded', '')))) {
      const hash = key.slice(key.lastIndexOf('/') + 1)
      this.#superseded.add(hash)
    }
    for await (const [key, value] of this.#store.range(prefixRange(K.evidence('pinned', '')))) {
      const [origin, seq] = key.slice(K.evidence('pinned', '').length).split('/')
      if (origin && seq) this.#pinned.set(origin, { seq: Number(seq), hash: toHex(value) })
    }
    const prefix = K.evidence('equivocation', '')
    for await (const [key] of this.#store.range(prefixRange(prefix))) {
      const [origin, seq] = key.slice(prefix.length).split('/')
      const from = Number(seq)
      if (origin && Number.isSafeInteger(from)) this.#quarantine(origin, from)
    }
  }

  /** Each quarantined origin and the first seq of it no longer applied (its cut + 1). */
  quarantined(): ReadonlyMap<string, number> {
    return new Map([...this.#quarantined.keys()].map((o) => [o, this.cut(o)! + 1]))
  }

  /** Each origin found equivocating, and the first seq it equivocated at. */
  equivocations(): ReadonlyMap<string, number> {
    return this.#quarantined
  }

  /** Whether an equivocation of `origin` at or before `seq` is known (the evidence is here). */
  isQuarantined(origin: string, seq: number): boolean {
    const q = this.#quarantined.get(origin)
    return q !== undefined && seq >= q
  }

  /**
   * The last seq of an equivocating origin's feed that stands: through its latest bloc-final
   * checkpoint if that covers the fork (the version it holds stands), else just before the fork.
   * Undefined for an origin not found equivocating.
   */
  cut(origin: string): number | undefined {
    const q = this.#quarantined.get(origin)
    if (q === undefined) return undefined
    const f = this.#finals.get(origin)
    return f && f.size >= q ? f.size : q - 1
  }

  /** Each equivocating origin's cut, as `depsSatisfied` takes the feeds' ends. */
  cuts(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const o of this.#quarantined.keys()) out[o] = this.cut(o)!
    return out
  }

  /**
   * Whether entry (origin, seq) of hash `hash` (hex) must not be applied: past a cut,
   * superseded, or not the version a bloc-final checkpoint holds at the fork.
   */
  blocked(origin: string, seq: number, hash: string): boolean {
    if (this.#superseded.has(hash)) return true
    const pin = this.#pinned.get(origin)
    if (pin && pin.seq === seq && pin.hash !== hash) return true
    const cut = this.cut(origin)
    return cut !== undefined && seq > cut
  }

  /** The latest bloc-final checkpoint of `origin`'s feed known here. */
  final(origin: string): { size: number; root: Uint8Array } | undefined {
    return this.#finals.get(origin)
  }

  /** Notes a bloc-final checkpoint; answers whether it is newer than the one known. */
  setFinal(origin: string, size: number, root: Uint8Array): boolean {
    const known = this.#finals.get(origin)
    if (known && known.size >= size) return false
    this.#finals.set(origin, { size, root })
    return true
  }

  /** The version that stands at `origin`'s fork, if a bloc-final checkpoint showed it. */
  pinned(origin: string): { seq: number; hash: string } | undefined {
    return this.#pinned.get(origin)
  }

  /**
   * Notes which entry a bloc-final tree holds at (origin, seq), proven by the caller: any other
   * entry there is a fork that loses. Known before the equivocation itself may be.
   */
  async pin(origin: string, seq: number, hash: Uint8Array): Promise<boolean> {
    if (this.#pinned.has(origin)) return false
    await this.#store.write([
      { type: 'put', key: K.evidence('pinned', `${origin}/${seqKey(seq)}`), value: hash },
    ])
    this.#pinned.set(origin, { seq, hash: toHex(hash) })
    return true
  }

  /** The stored equivocation proofs, each as the two entries' canonical bytes, at most `limit`. */
  async equivocationProofs(limit: number): Promise<Array<{ a: Uint8Array; b: Uint8Array }>> {
    const out: Array<{ a: Uint8Array; b: Uint8Array }> = []
    for await (const [, value] of this.#store.range(prefixRange(K.evidence('equivocation', ''), { limit }))) {
      const { a, b } = decodeCanonical(value) as { a: SignedEntry; b: SignedEntry }
      out.push({ a: encodeCanonical(a), b: encodeCanonical(b) })
    }
    return out
  }

  /** Marks entries of a losing fork: kept as evidence, never applied again. */
  async supersede(origin: string, entries: ReadonlyArray<{ seq: number; hash: string }>): Promise<void> {
    await this.#store.write(
      entries.map((e) => ({
        type: 'put' as const,
        key: K.evidence('superseded', `${origin}/${seqKey(e.seq)}/${e.hash}`),
        value: new Uint8Array([1]),
      })),
    )
    for (const e of entries) this.#superseded.add(e.hash)
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

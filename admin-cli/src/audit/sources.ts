/**
 * A running node as the auditor reads it: every request signed with the auditor key, a page of
 * entries at a time, waiting out the node's rate limit instead of failing on it.
 */
import {
  decodeCanonical,
  type Ed25519,
  type EquivocationEvidence,
  fromBase64url,
  type KeyPair,
  parseRevocation,
  type Revocation,
  type SignedCharter,
  signRequest,
} from '@legation/protocol'
import { CliError, isCliError } from '../errors.ts'
import { NodeClient, type NodeInfo, type RequestSigner } from '../node-client.ts'

/** Entries asked for per page (the node's most: 1000, or 4 MiB). */
export const DEFAULT_AUDIT_PAGE = 1000
/** Times a request the node's rate limit refused is tried again, waiting longer each time. */
const RATE_LIMIT_RETRIES = 8
const MAX_CHARTER_BYTES = 64 * 1024 * 1024

export interface FeedTree {
  readonly origin: string
  readonly size: number
  readonly root: string
}

export interface ServedCheckpoint {
  readonly origin: string
  readonly size: number
  readonly note: string
  readonly verifierKey: string
}

/** A witnessed checkpoint as a node serves it: the note, and what the node says of it. */
export interface ServedWitnessed {
  readonly size: number
  readonly note: string
  readonly final: boolean
}

export type WitnessedList = ReadonlyArray<{
  readonly origin: string
  readonly latest?: ServedWitnessed
  readonly final?: ServedWitnessed
}>

/** A revocation as a node lists it: decoded, or why it could not be. */
export type ServedRevocation = { ok: true; revocation: Revocation } | { ok: false; detail: string }

export class AuditedNode {
  readonly client: NodeClient
  readonly #signer: RequestSigner
  readonly #sleep: (ms: number) => Promise<void>

  constructor(url: string, fetch: typeof globalThis.fetch, ed: Ed25519, auditor: KeyPair, now: () => number) {
    this.client = new NodeClient({ url, fetch })
    this.#signer = { sign: (req) => signRequest(ed, req, auditor, now()) }
    this.#sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  }

  get url(): string {
    return this.client.origin
  }

  /** A signed GET, tried again while the node's rate limit refuses it (429). */
  async get<T>(path: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.get<T>(path, this.#signer)
      } catch (err) {
        if (!isCliError(err) || err.status !== 429 || attempt >= RATE_LIMIT_RETRIES) throw err
        await this.#sleep(Math.min(30_000, 500 * 2 ** attempt))
      }
    }
  }

  info(): Promise<NodeInfo> {
    return this.get<NodeInfo>('/v1/node')
  }

  async charter(): Promise<SignedCharter[]> {
    const { chain } = await this.get<{ chain: string }>('/v1/charter')
    try {
      const value = decodeCanonical(fromBase64url(chain), MAX_CHARTER_BYTES)
      if (!Array.isArray(value)) throw new Error('not an array')
      return value as SignedCharter[]
    } catch (cause) {
      throw new CliError('NODE_RESPONSE_INVALID', `${this.url}: its charter chain does not decode`, { cause })
    }
  }

  checkpoint(): Promise<ServedCheckpoint> {
    return this.get<ServedCheckpoint>('/v1/audit/checkpoint')
  }

  /**
   * The checkpoints the node witnessed (`GET /v1/audit/checkpoints`), or undefined from a node
   * that does not serve them (a version before witnesses).
   */
  async witnessed(): Promise<WitnessedList | undefined> {
    try {
      return (await this.get<{ checkpoints: WitnessedList }>('/v1/audit/checkpoints')).checkpoints
    } catch (err) {
      if (isCliError(err) && err.status === 404) return undefined
      throw err
    }
  }

  async feeds(): Promise<FeedTree[]> {
    return (await this.get<{ feeds: FeedTree[] }>('/v1/audit/feeds')).feeds
  }

  async revocations(): Promise<ServedRevocation[]> {
    const { revocations } = await this.get<{ revocations: Array<{ revocation: string }> }>('/v1/revocations')
    return revocations.map((r) => {
      try {
        return {
          ok: true,
          revocation: parseRevocation.parse(
            decodeCanonical(fromBase64url(r.revocation), 2048),
            'revocation',
          ) as Revocation,
        }
      } catch (err) {
        return { ok: false, detail: err instanceof Error ? err.message : String(err) }
      }
    })
  }

  /** Every piece of evidence the node keeps, page by page. */
  async *evidence(): AsyncIterable<{ kind: string; id: string; bytes: Uint8Array }> {
    let after: string | null = null
    do {
      const q: string = after === null ? '' : `&after=${encodeURIComponent(after)}`
      const page: { evidence: Array<{ kind: string; id: string; bytes: string }>; next: string | null } =
        await this.get(`/v1/audit/evidence?limit=1000${q}`)
      for (const e of page.evidence) yield { kind: e.kind, id: e.id, bytes: fromBase64url(e.bytes) }
      after = page.next ?? null
    } while (after !== null)
  }

  async entries(origin: string, after: number, limit: number): Promise<Uint8Array[]> {
    const page = await this.get<{ entries: Array<{ entry: string }> }>(
      `/v1/audit/feeds/${origin}/entries?after=${after}&limit=${limit}`,
    )
    return page.entries.map((e) => fromBase64url(e.entry))
  }

  async consistency(origin: string, from: number, to: number): Promise<Uint8Array[]> {
    const answer = await this.get<{ proof: string[] }>(
      `/v1/audit/feeds/${origin}/consistency?from=${from}&to=${to}`,
    )
    return answer.proof.map(fromBase64url)
  }
}

/** Reads one feed of one node entry by entry, a page at a time, up to the size it claimed. */
export class EntryReader {
  readonly #node: AuditedNode
  readonly #origin: string
  readonly #size: number
  readonly #pageSize: number
  #buffer: Uint8Array[] = []
  /** The seq of `#buffer[0]`. */
  #first = 1
  /** Whether the node stopped serving before `size`. */
  exhausted = false

  constructor(node: AuditedNode, origin: string, size: number, pageSize = DEFAULT_AUDIT_PAGE) {
    this.#node = node
    this.#origin = origin
    this.#size = size
    this.#pageSize = pageSize
  }

  /** Entry `seq` as served, asked in order; undefined once the node serves no more. */
  async at(seq: number): Promise<Uint8Array | undefined> {
    if (seq > this.#size || this.exhausted) return undefined
    const i = seq - this.#first
    if (i >= 0 && i < this.#buffer.length) return this.#buffer[i]
    const page = await this.#node.entries(
      this.#origin,
      seq - 1,
      Math.min(this.#pageSize, this.#size - seq + 1),
    )
    this.#buffer = page
    this.#first = seq
    if (page.length === 0) {
      this.exhausted = true
      return undefined
    }
    return page[0]
  }
}

/** Decodes equivocation evidence bytes; undefined if they are not that shape. */
export function decodeEquivocation(bytes: Uint8Array): EquivocationEvidence | undefined {
  try {
    const v = decodeCanonical(bytes, 4 * 1024 * 1024) as EquivocationEvidence
    return typeof v === 'object' && v !== null && v.a && v.b ? v : undefined
  } catch {
    return undefined
  }
}

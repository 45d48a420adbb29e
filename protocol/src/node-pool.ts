/**
 * The SDK's way to the bloc over HTTP: a list of node URLs, one in use, and failover to the next
 * when it stops answering. `@legation/protocol/http`, apart from the pure main entry point: this
 * is the one part of the protocol package that does I/O (through the `fetch` it is given, and
 * p-retry's timers between rounds).
 *
 * Why retrying is safe (docs/api.md § Replay, § Writing records):
 * - Reads (GET) change nothing.
 * - Every request the API takes is idempotent once signed afresh: a record is content-addressed
 *   (a second submission answers `duplicate` with the first receipt, and is applied once), a
 *   revocation or a charter chain the node already has changes nothing. The pool calls the
 *   signer on **every attempt**, so a retried signed write carries a new `at` and signature and
 *   is never refused as the replay of the first (`LegationClient.sign` signs each call at a
 *   later millisecond).
 * - A node that answers `401 REQUEST_REPLAYED` to a freshly signed request is one that restarted
 *   after a crash (it refuses signed writes for the skew window) or is flooded: another node is
 *   asked instead.
 *
 * Which failures move to the next node: no connection, a time-out, a lost answer, a 5xx (but not
 * `504 WRITE_CONCERN_TIMEOUT`: the write is durable there, `submit` reports it), `429` (the limit
 * is per node) and the `REQUEST_REPLAYED` above. Any other problem is the bloc's answer and is
 * thrown at once (`SdkError` `NODE_REFUSED`). Every request is bounded: each attempt by
 * `timeoutMs`, at most `rounds` passes over the nodes with backoff between passes, and all of it
 * by `maxTimeMs`.
 *
 * @example
 * const pool = new NodePool({ nodes: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'] })
 * const { results, replicas, writeConcernMet } = await pool.submit([built], { writeConcern: 2 })
 * const file = await pool.get(`/v1/citizens/${citizen.id}`, citizen)
 */
import pRetry, { AbortError } from 'p-retry'
import { CodedError, type ErrorTable } from './errors.ts'
import type { RequestToSign } from './request-auth.ts'
import type { BuiltRecord } from './sdk.ts'
import { toSubmission } from './sdk.ts'

/** Per attempt at one node. */
export const DEFAULT_TIMEOUT_MS = 10_000
/** Passes over the whole list of nodes before giving up. */
export const DEFAULT_ROUNDS = 3
/** Backoff between passes: from this… */
export const DEFAULT_MIN_BACKOFF_MS = 200
/** …doubling up to this (randomized, so clients that failed together do not return together). */
export const DEFAULT_MAX_BACKOFF_MS = 2_000
/** The whole request, all attempts and waits included. */
export const DEFAULT_MAX_TIME_MS = 60_000

export const SDK_ERRORS = {
  NODES_INVALID: { message: 'the list of nodes is empty or holds something that is not an http(s) URL' },
  NODE_UNREACHABLE: { message: 'no node of the list answered' },
  NODE_REFUSED: { message: 'the node refused the request' },
  NODE_RESPONSE_INVALID: { message: 'the node sent an answer that is not what its API says' },
} as const satisfies ErrorTable

export type SdkErrorCode = keyof typeof SDK_ERRORS

/** An RFC 9457 problem as a node sends it (docs/api.md § Errors). */
export interface Problem {
  type?: string
  title?: string
  status?: number
  code?: string
  detail?: string
  errors?: string[]
  [member: string]: unknown
}

export class SdkError extends CodedError<SdkErrorCode> {
  override readonly name = 'SdkError'
  /** The HTTP status of a node's refusal. */
  readonly status: number | undefined
  /** The node's own problem `code` (e.g. `RECORD_INVALID_TRANSITION`). */
  readonly remoteCode: string | undefined
  readonly problem: Problem | undefined
  /** The node that answered (or, for NODE_UNREACHABLE, the last one tried). */
  readonly node: string | undefined

  constructor(
    code: SdkErrorCode,
    message?: string,
    options: {
      cause?: unknown
      status?: number | undefined
      problem?: Problem | undefined
      node?: string | undefined
    } = {},
  ) {
    super(SDK_ERRORS, code, message, options)
    this.status = options.status
    this.problem = options.problem
    this.remoteCode = typeof options.problem?.code === 'string' ? options.problem.code : undefined
    this.node = options.node
  }
}

export function isSdkError(err: unknown): err is SdkError {
  return err instanceof SdkError
}

/** Whoever signs requests: a `LegationClient` (officer or citizen). Called once per attempt. */
export interface RequestSigning {
  sign(req: RequestToSign): Record<string, string>
}

export interface NodePoolInit {
  /** Base URLs of nodes of one bloc, in order of preference. */
  nodes: readonly string[]
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch
  /** @default DEFAULT_TIMEOUT_MS */
  timeoutMs?: number
  /** @default DEFAULT_ROUNDS */
  rounds?: number
  /** @default DEFAULT_MIN_BACKOFF_MS */
  minBackoffMs?: number
  /** @default DEFAULT_MAX_BACKOFF_MS */
  maxBackoffMs?: number
  /** @default DEFAULT_MAX_TIME_MS */
  maxTimeMs?: number
  /** Told each time the pool leaves a node that did not answer (for a status line or a log). */
  onFailover?: (event: { from: string; to: string; reason: string }) => void
}

export interface Answer<T> {
  status: number
  body: T
  /** The node that answered. */
  node: string
}

/** A node's signed statement that it stored a record (docs/api.md § Receipts). */
export interface Receipt {
  record: string
  node: string
  origin: string
  seq: number
  entry: string
  sig: string
}

export interface ItemResult {
  id: string | null
  status: 'accepted' | 'duplicate' | 'refused'
  receipt?: Receipt
  code?: string
  detail?: string
}

export interface SubmitResult {
  /** One per record, in order. */
  results: ItemResult[]
  /** Receipts of other nodes: `writeConcern` per stored record when met, else those sent in time (none). Always an array. */
  replicas: Receipt[]
  /** The `k` asked for (0: durable on the answering node is enough). */
  writeConcern: number
  /** False when the node answered `504 WRITE_CONCERN_TIMEOUT`: durable there, not yet on `k` others. */
  writeConcernMet: boolean
  node: string
}

/** Why an attempt failed in a way another node may not share. */
class Unanswered extends Error {
  readonly reason: string
  readonly last: SdkError
  constructor(reason: string, last: SdkError) {
    super(reason)
    this.reason = reason
    this.last = last
  }
}

export class NodePool {
  readonly nodes: readonly string[]
  readonly #fetch: typeof globalThis.fetch
  readonly #timeoutMs: number
  readonly #rounds: number
  readonly #minBackoffMs: number
  readonly #maxBackoffMs: number
  readonly #maxTimeMs: number
  readonly #onFailover: NodePoolInit['onFailover']
  #current = 0

  constructor(init: NodePoolInit) {
    if (init.nodes.length === 0) throw new SdkError('NODES_INVALID', 'no node URL given')
    this.nodes = init.nodes.map(normalizeNodeUrl)
    this.#fetch = init.fetch ?? ((input, options) => globalThis.fetch(input, options))
    this.#timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#rounds = init.rounds ?? DEFAULT_ROUNDS
    this.#minBackoffMs = init.minBackoffMs ?? DEFAULT_MIN_BACKOFF_MS
    this.#maxBackoffMs = init.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS
    this.#maxTimeMs = init.maxTimeMs ?? DEFAULT_MAX_TIME_MS
    this.#onFailover = init.onFailover
    if (!Number.isInteger(this.#rounds) || this.#rounds < 1) {
      throw new SdkError('NODES_INVALID', 'rounds must be a whole number of at least 1')
    }
  }

  /** The node in use: the one that answered last. */
  get current(): string {
    return this.nodes[this.#current]!
  }

  get<T>(path: string, signer?: RequestSigning): Promise<T> {
    return this.request<T>('GET', path, undefined, signer).then((a) => a.body)
  }

  post<T>(path: string, body: unknown, signer?: RequestSigning): Promise<T> {
    return this.request<T>('POST', path, body, signer).then((a) => a.body)
  }

  /**
   * Sends one request, at the node in use or, when it does not answer, the next ones. `path`
   * includes the query; a signed request is signed afresh for each attempt.
   */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    signer?: RequestSigning,
  ): Promise<Answer<T>> {
    const raw: Uint8Array<ArrayBuffer> | undefined =
      body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body))
    return await pRetry(
      async (round) => {
        const n = this.nodes.length
        const start = this.#current
        const reasons: string[] = []
        let last: Unanswered | undefined
        for (let i = 0; i < n; i++) {
          const index = (start + i) % n
          try {
            const answer = await this.#attempt<T>(index, method, path, raw, signer)
            this.#current = index
            return answer
          } catch (err) {
            if (!(err instanceof Unanswered)) {
              // The node answered (a refusal is an answer): it is the one in use now.
              if (isSdkError(err) && err.code === 'NODE_REFUSED') this.#current = index
              throw new AbortError(err as Error)
            }
            last = err
            reasons.push(`${this.nodes[index]}: ${err.reason}`)
            // Said only when another attempt follows (this pass, or the next after a wait).
            if (i < n - 1 || round < this.#rounds) {
              const next = this.nodes[(index + 1) % n]!
              this.#onFailover?.({ from: this.nodes[index]!, to: next, reason: err.reason })
            }
          }
        }
        const { status, problem, node } = last!.last
        throw new SdkError(
          'NODE_UNREACHABLE',
          n === 1 ? last!.last.message : `no node answered ${method} ${path}: ${reasons.join('; ')}`,
          { cause: last!.last, node, ...(status ? { status } : {}), ...(problem ? { problem } : {}) },
        )
      },
      {
        retries: this.#rounds - 1,
        factor: 2,
        minTimeout: this.#minBackoffMs,
        maxTimeout: this.#maxBackoffMs,
        randomize: true,
        maxRetryTime: this.#maxTimeMs,
        unref: true,
      },
    )
  }

  /**
   * Submits signed records (`POST /v1/records/batch`, 1–1000 of them): each is accepted, a
   * duplicate (already stored: the first receipt) or refused on its own. With `writeConcern: k`
   * the answer waits for `k` other nodes' receipts; when they do not come in time the records
   * are still durable at the node that answered, and `writeConcernMet` is false.
   */
  async submit(
    records: ReadonlyArray<{ record: BuiltRecord['record']; payload: Uint8Array | null }>,
    opts: { writeConcern?: number; signer?: RequestSigning } = {},
  ): Promise<SubmitResult> {
    const k = opts.writeConcern ?? 0
    const body = { records: records.map(toSubmission), ...(k > 0 ? { writeConcern: k } : {}) }
    let answer: Answer<{ results?: unknown; replicas?: unknown }>
    let met = true
    try {
      answer = await this.request('POST', '/v1/records/batch', body, opts.signer)
    } catch (err) {
      if (!(isSdkError(err) && err.remoteCode === 'WRITE_CONCERN_TIMEOUT' && err.problem)) throw err
      answer = { status: err.status!, body: { results: err.problem.results }, node: err.node! }
      met = false
    }
    const { results, replicas } = answer.body
    if (!Array.isArray(results) || results.length !== records.length) {
      throw new SdkError(
        'NODE_RESPONSE_INVALID',
        `${answer.node}: a batch answer without one result per record`,
        {
          node: answer.node,
        },
      )
    }
    return {
      results: results as ItemResult[],
      replicas: Array.isArray(replicas) ? (replicas as Receipt[]) : [],
      writeConcern: k,
      writeConcernMet: met,
      node: answer.node,
    }
  }

  async #attempt<T>(
    index: number,
    method: string,
    path: string,
    raw: Uint8Array<ArrayBuffer> | undefined,
    signer: RequestSigning | undefined,
  ): Promise<Answer<T>> {
    const node = this.nodes[index]!
    const prefix = new URL(node).pathname.replace(/\/+$/, '')
    const where = `${method} ${node}${path}`
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
    if (raw) headers['content-type'] = 'application/json'
    // Signed for this attempt: a retry is a new request, never the replay of an earlier one.
    // Behind a reverse proxy that strips `prefix`, the node sees (and the signature covers) `path`.
    if (signer) Object.assign(headers, signer.sign({ method, path, body: raw }))
    const unreachable = (reason: string, cause?: unknown) =>
      new Unanswered(reason, new SdkError('NODE_UNREACHABLE', `${where}: ${reason}`, { cause, node }))
    let res: Response
    let text: string
    try {
      res = await this.#fetch(new URL(`${prefix}${path}`, node), {
        method,
        headers,
        ...(raw ? { body: raw } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      text = await res.text()
    } catch (cause) {
      throw unreachable(transportReason(cause), cause)
    }
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch (cause) {
      if (res.ok)
        throw new SdkError('NODE_RESPONSE_INVALID', `${where}: the answer is not JSON`, { cause, node })
    }
    if (res.ok) {
      if (json === undefined) throw new SdkError('NODE_RESPONSE_INVALID', `${where}: empty answer`, { node })
      return { status: res.status, body: json as T, node }
    }
    const problem = (typeof json === 'object' && json !== null ? json : {}) as Problem
    const code = typeof problem.code === 'string' ? problem.code : undefined
    const parts = [typeof problem.title === 'string' ? problem.title : `HTTP ${res.status}`]
    if (typeof problem.detail === 'string' && problem.detail !== problem.title) parts.push(problem.detail)
    if (Array.isArray(problem.errors)) parts.push(...problem.errors.filter((e) => typeof e === 'string'))
    const refused = new SdkError(
      'NODE_REFUSED',
      `${where}: ${res.status}${code ? ` ${code}` : ''}: ${parts.join('; ')}`,
      {
        status: res.status,
        problem,
        node,
      },
    )
    const elsewhere =
      (res.status >= 500 && code !== 'WRITE_CONCERN_TIMEOUT') ||
      res.status === 429 ||
      (code === 'REQUEST_REPLAYED' && signer !== undefined)
    if (elsewhere) throw new Unanswered(`${res.status}${code ? ` ${code}` : ''}`, refused)
    throw refused
  }
}

/** Checks a node URL; what requests' paths are appended to (no query, no fragment, no trailing /). */
export function normalizeNodeUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new SdkError('NODES_INVALID', `not a URL: ${JSON.stringify(url)}`, { cause })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SdkError('NODES_INVALID', `a node URL is http:// or https://, not ${parsed.protocol}//`)
  }
  if (parsed.username || parsed.password)
    throw new SdkError('NODES_INVALID', 'a node URL carries no credentials')
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`
}

/** The reason a fetch failed, in a few words (undici puts it under `cause`). */
export function transportReason(err: unknown): string {
  if (typeof DOMException !== 'undefined' && err instanceof DOMException && err.name === 'TimeoutError') {
    return 'timed out'
  }
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause
  const message = typeof cause?.message === 'string' && cause.message !== '' ? cause.message : undefined
  if (cause && typeof cause.code === 'string') return message?.includes(cause.code) ? message : cause.code
  if (message) return message
  return err instanceof Error ? err.message : String(err)
}

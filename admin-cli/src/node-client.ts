/**
 * The CLI's only way to a running node: its HTTP API (see docs/api.md). Turns transport
 * failures and RFC 9457 problem responses into `CliError`s with the node's `code` attached,
 * and signs requests as an officer or citizen when given a signer.
 *
 * @example
 * const node = new NodeClient({ url: 'http://127.0.0.1:8080', fetch, now: Date.now })
 * const info = await node.get<NodeInfo>('/v1/node')
 */
import type { NodeInfo as NodeInfoSchema } from '@legation/node/http/schemas'
import type { RequestToSign } from '@legation/protocol'
import { transportReason } from '@legation/protocol/http'
import type { Static } from '@sinclair/typebox'
import { CliError } from './errors.ts'

/** Long enough for a batch of 1000 records on a busy node. */
export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_NODE_URL = 'http://127.0.0.1:8080'

/** Whoever signs a request: a `LegationClient` of an officer or citizen. */
export interface RequestSigner {
  sign(req: RequestToSign): Record<string, string>
}

export interface NodeClientInit {
  url: string
  fetch: typeof globalThis.fetch
  /** @default DEFAULT_TIMEOUT_MS */
  timeoutMs?: number
}

/**
 * What GET /v1/node answers: the node's own response schema. `dev` is read when present, for
 * nodes that say outright whether they run a generated development bloc.
 */
export type NodeInfo = Static<typeof NodeInfoSchema>

interface Problem {
  code?: unknown
  title?: unknown
  detail?: unknown
  errors?: unknown
}

/** Parses and checks a node URL; the base every path is appended to. */
export function parseNodeUrl(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new CliError('NODE_URL_INVALID', `not a URL: ${JSON.stringify(url)}`, { cause })
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError('NODE_URL_INVALID', `node URL must be http:// or https://, not ${parsed.protocol}//`)
  }
  if (parsed.username || parsed.password) {
    throw new CliError('NODE_URL_INVALID', 'node URL must not carry credentials')
  }
  parsed.search = ''
  parsed.hash = ''
  return parsed
}

export class NodeClient {
  readonly base: URL
  /** Path prefix of a node behind a reverse proxy ('' for most). */
  readonly #prefix: string
  readonly #fetch: typeof globalThis.fetch
  readonly #timeoutMs: number

  constructor(init: NodeClientInit) {
    this.base = parseNodeUrl(init.url)
    this.#prefix = this.base.pathname.replace(/\/+$/, '')
    this.#fetch = init.fetch
    this.#timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** The node's address as the user should see it. */
  get origin(): string {
    return `${this.base.origin}${this.#prefix}`
  }

  get<T>(path: string, signer?: RequestSigner): Promise<T> {
    return this.request<T>('GET', path, undefined, signer)
  }

  post<T>(path: string, body: unknown, signer?: RequestSigner): Promise<T> {
    return this.request<T>('POST', path, body, signer)
  }

  /**
   * POSTs (signed) and answers the body of a successful response as a stream, for answers too
   * large to hold (a backup); a refusal is read as `request` reads it. The timeout covers the
   * answer's start; once it has begun the caller stops reading when it wants to.
   */
  async download(path: string, signer?: RequestSigner): Promise<AsyncIterable<Uint8Array>> {
    const fullPath = `${this.#prefix}${path}`
    const headers: Record<string, string> = { accept: '*/*' }
    if (signer) Object.assign(headers, signer.sign({ method: 'POST', path }))
    const where = `POST ${this.origin}${path}`
    // The timeout covers the answer's start only: the body may take as long as it takes.
    const abort = new AbortController()
    const timer = setTimeout(
      () => abort.abort(new Error(`no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    )
    let res: Response
    try {
      res = await this.#fetch(new URL(fullPath, this.base.origin), {
        method: 'POST',
        headers,
        signal: abort.signal,
      })
    } catch (cause) {
      throw new CliError('NODE_UNREACHABLE', `cannot reach ${this.origin}: ${transportReason(cause)}`, {
        cause,
      })
    } finally {
      clearTimeout(timer)
    }
    if (!res.ok || !res.body) {
      let json: unknown
      try {
        json = JSON.parse(await res.text())
      } catch {
        json = undefined
      }
      if (res.ok) throw new CliError('NODE_RESPONSE_INVALID', `${where}: empty response`)
      throw refused(res, json, where)
    }
    return res.body as unknown as AsyncIterable<Uint8Array>
  }

  async request<T>(method: string, path: string, body?: unknown, signer?: RequestSigner): Promise<T> {
    return (await this.exchange<T>(method, path, body, signer)).body
  }

  /** Like `request`, with the status of a successful answer (201 created, 200 already there…). */
  async exchange<T>(
    method: string,
    path: string,
    body?: unknown,
    signer?: RequestSigner,
  ): Promise<{ status: number; body: T }> {
    // A reverse proxy in front of the node strips the prefix: the node sees, and the
    // signature covers, `path` alone.
    const fullPath = `${this.#prefix}${path}`
    const raw = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body))
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
    if (raw) headers['content-type'] = 'application/json'
    if (signer) Object.assign(headers, signer.sign({ method, path, body: raw }))
    const where = `${method} ${this.origin}${path}`
    let res: Response
    try {
      res = await this.#fetch(new URL(fullPath, this.base.origin), {
        method,
        headers,
        ...(raw ? { body: raw } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (cause) {
      throw new CliError('NODE_UNREACHABLE', `cannot reach ${this.origin}: ${transportReason(cause)}`, {
        cause,
      })
    }
    let text: string
    try {
      text = await res.text()
    } catch (cause) {
      throw new CliError('NODE_UNREACHABLE', `${where}: connection lost: ${transportReason(cause)}`, {
        cause,
      })
    }
    let json: unknown
    try {
      json = text === '' ? undefined : JSON.parse(text)
    } catch (cause) {
      if (res.ok) throw new CliError('NODE_RESPONSE_INVALID', `${where}: response is not JSON`, { cause })
    }
    if (!res.ok) throw refused(res, json, where)
    if (json === undefined) throw new CliError('NODE_RESPONSE_INVALID', `${where}: empty response`)
    return { status: res.status, body: json as T }
  }
}

/** The CliError for a node's refusal, from its RFC 9457 problem answer. */
function refused(res: Response, json: unknown, where: string): CliError {
  const p = (typeof json === 'object' && json !== null ? json : {}) as Problem
  const code = typeof p.code === 'string' ? p.code : undefined
  const parts = [typeof p.title === 'string' ? p.title : `HTTP ${res.status} ${res.statusText}`.trim()]
  if (typeof p.detail === 'string' && p.detail !== p.title) parts.push(p.detail)
  if (Array.isArray(p.errors)) parts.push(...p.errors.filter((e): e is string => typeof e === 'string'))
  return new CliError(
    'NODE_REFUSED',
    `${where}: ${res.status}${code ? ` ${code}` : ''}: ${parts.join('; ')}`,
    {
      remoteCode: code,
      status: res.status,
    },
  )
}

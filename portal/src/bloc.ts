/**
 * The bloc as the page sees it: the nodes it may use, the one it uses now, and requests that
 * move to another node when that one stops answering.
 *
 * The page starts with the node it came from (its own origin) and learns the others from
 * `GET /portal/config.json` (the node's `http.blocUrls` setting); it keeps the list in
 * localStorage so that it still knows where to go once its first node is gone. A request that
 * gets no answer, or a 502/503 (a node starting, stopping, or its proxy without it), is sent to
 * the next node. Records carry their own signature, so sending one again elsewhere is safe;
 * signed requests are signed afresh for each attempt (a node refuses a replayed signed POST).
 */

export interface NodeSummary {
  url: string
  nodeId: string
  name: string
  state: string
  bloc: string
  charter: { hash: string; members: string[] }
}

export type ChangeReason = 'start' | 'chosen' | 'failover' | 'none'

/** `GET /v1/node` of one node, or a throw when it does not answer in time. */
async function probe(url: string): Promise<NodeSummary> {
  const res = await fetch(`${url}/v1/node`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (!res.ok) throw new NoNodeError(`${url} answered ${res.status}`)
  const info = (await res.json()) as Omit<NodeSummary, 'url'>
  return {
    url,
    nodeId: info.nodeId,
    name: info.name,
    state: info.state,
    bloc: info.bloc,
    charter: { hash: info.charter.hash, members: info.charter.members },
  }
}

export class NoNodeError extends Error {
  override name = 'NoNodeError'
  readonly code = 'NO_NODE'
}

/** An answer from a node: status and parsed JSON body (a problem for errors). */
export interface Answer<T = unknown> {
  status: number
  body: T
  node: NodeSummary
}

const STORAGE_KEY = 'legation.nodes'
const TIMEOUT_MS = 5000
const RETRY_STATUSES = new Set([502, 503])

export type Signer = (req: { method: string; path: string; body?: Uint8Array }) => Record<string, string>

export class Bloc {
  #urls: string[]
  #current: NodeSummary | null = null
  #lastKnown: NodeSummary | null = null
  readonly #listeners = new Set<(node: NodeSummary | null, why: ChangeReason) => void>()

  constructor(origin: string) {
    const saved = (() => {
      try {
        const v = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]')
        return Array.isArray(v) ? v.filter((u): u is string => typeof u === 'string') : []
      } catch {
        return []
      }
    })()
    this.#urls = unique([origin, ...saved])
  }

  get current(): NodeSummary | null {
    return this.#current
  }

  /** The last node that answered, even when none answers now (its charter signs offline records). */
  get lastKnown(): NodeSummary | null {
    return this.#lastKnown
  }

  get urls(): readonly string[] {
    return this.#urls
  }

  onChange(fn: (node: NodeSummary | null, why: ChangeReason) => void): void {
    this.#listeners.add(fn)
  }

  /** What each known node answers now (`null`: no answer), for the citizen to choose one. */
  async survey(): Promise<Array<{ url: string; node: NodeSummary | null }>> {
    return Promise.all(this.#urls.map(async (url) => ({ url, node: await probe(url).catch(() => null) })))
  }

  /** Uses the node at `url` from now on (the citizen chose it). */
  async use(url: string): Promise<NodeSummary> {
    const node = await probe(url)
    this.#current = node
    this.#lastKnown = node
    for (const fn of this.#listeners) fn(node, 'chosen')
    return node
  }

  /**
   * Finds a node that answers, starting with the current one (or the one after it, when it is
   * in `skip`); learns the bloc's other nodes from it.
   */
  async connect(skip: ReadonlySet<string> = new Set()): Promise<NodeSummary> {
    const before = this.#current
    const order = before ? rotate(this.#urls, this.#urls.indexOf(before.url)) : this.#urls
    for (const url of order) {
      if (skip.has(url)) continue
      let node: NodeSummary
      try {
        node = await probe(url)
      } catch {
        continue // no answer: try the next node
      }
      await this.#learn(url)
      this.#current = node
      this.#lastKnown = node
      if (before === null) for (const fn of this.#listeners) fn(node, 'start')
      else if (before.url !== url) for (const fn of this.#listeners) fn(node, 'failover')
      return node
    }
    this.#current = null
    for (const fn of this.#listeners) fn(null, 'none')
    throw new NoNodeError('no node of the bloc answers')
  }

  /** Sends a request to the current node, moving to the next one while none answers. */
  async request<T>(
    method: 'GET' | 'POST',
    path: string,
    opts: { json?: unknown; sign?: Signer } = {},
  ): Promise<Answer<T>> {
    const body = opts.json === undefined ? undefined : new TextEncoder().encode(JSON.stringify(opts.json))
    const tried = new Set<string>()
    let node = this.#current ?? (await this.connect())
    for (;;) {
      tried.add(node.url)
      try {
        const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {}
        if (opts.sign) Object.assign(headers, opts.sign({ method, path, ...(body ? { body } : {}) }))
        const res = await fetch(`${node.url}${path}`, {
          method,
          headers,
          ...(body ? { body: body as BodyInit } : {}),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        })
        if (!RETRY_STATUSES.has(res.status)) {
          const text = await res.text()
          return { status: res.status, body: (text ? JSON.parse(text) : null) as T, node }
        }
      } catch {
        // No answer (refused, reset, timed out): this node is gone for now.
      }
      node = await this.connect(tried)
    }
  }

  async #learn(url: string): Promise<void> {
    try {
      const res = await fetch(`${url}/portal/config.json`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
      if (!res.ok) return
      const { nodes } = (await res.json()) as { nodes: string[] }
      this.#urls = unique([...this.#urls, ...nodes.map((u) => new URL(u).origin)])
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.#urls))
    } catch {
      // The list is an optimisation: the node itself answered.
    }
  }
}

const unique = (xs: string[]) => [...new Set(xs)]
const rotate = <T>(xs: readonly T[], i: number): T[] =>
  i <= 0 ? [...xs] : [...xs.slice(i), ...xs.slice(0, i)]

/**
 * The load generator's HTTP client for timed requests: `node:http` over kept-alive sockets.
 * `fetch` costs the load generator ~1.3 ms of CPU per request on this 2-core host (measured: a
 * single write one at a time waits for it, so it showed as the node's latency), this ~0.6 ms.
 * The node sees the same requests either way.
 */
import { Agent, request } from 'node:http'

export interface Answer {
  status: number
  body: Uint8Array
}

export class BenchClient {
  readonly #agent: Agent
  readonly #url: URL

  /** `sockets`: how many requests may be in flight at once (one kept-alive socket each). */
  constructor(url: string, sockets = 1) {
    this.#url = new URL(url)
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets })
  }

  /** POST of a JSON body; the answer's status and bytes. */
  post(path: string, body: unknown, timeoutMs = 30_000): Promise<Answer> {
    const data = Buffer.from(JSON.stringify(body))
    return this.#send(
      'POST',
      path,
      { 'content-type': 'application/json', 'content-length': String(data.length) },
      data,
      timeoutMs,
    )
  }

  get(path: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Answer> {
    return this.#send('GET', path, headers, undefined, timeoutMs)
  }

  close(): void {
    this.#agent.destroy()
  }

  #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    data: Buffer | undefined,
    timeoutMs: number,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.#agent,
          host: this.#url.hostname,
          port: this.#url.port,
          path,
          method,
          headers,
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(data)
    })
  }
}

/** The answer's body as JSON (for an error's message). */
export function answerJson(a: Answer): unknown {
  try {
    return JSON.parse(Buffer.from(a.body).toString('utf8'))
  } catch {
    return Buffer.from(a.body).toString('utf8')
  }
}

/**
 * The HTTP API as a node service: the fastify app built on start, listening until stop.
 * `stop()` lets requests in flight finish (they are answered 503 SHUTTING_DOWN from the moment
 * the node begins to stop) before the services behind it stop.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Counter, Histogram, Registry } from 'prom-client'
import { decodeJson, encodeJson } from '../engine/codec.ts'
import { K } from '../engine/keys.ts'
import { NodeError } from '../errors.ts'
import type { Startable } from '../service.ts'
import type { Store } from '../storage/store.ts'
import { buildApp } from './app.ts'
import type { HttpContext } from './context.ts'
import { ReplayGuard } from './replay.ts'

/** How long a write waits for peers' receipts when the client asks for them, in ms. */
export const DEFAULT_WRITE_CONCERN_TIMEOUT_MS = 5000
export const DEFAULT_HTTP_HOST = '127.0.0.1'
export const DEFAULT_HTTP_PORT = 8080

export interface HttpServerInit {
  /** @default DEFAULT_HTTP_HOST */
  host?: string
  /** 0: any free port. @default DEFAULT_HTTP_PORT */
  port?: number
  /** @default DEFAULT_BODY_LIMIT (http/app.ts) */
  bodyLimit?: number
  /** @default DEFAULT_RATE_LIMIT_PER_MINUTE (http/app.ts) */
  rateLimitPerMinute?: number
  /** Reverse proxies whose X-Forwarded-For names the client. @default none */
  trustProxy?: readonly string[]
  /** @default DEFAULT_REQUEST_TIMEOUT_MS (http/app.ts) */
  requestTimeoutMs?: number
  /** Public HTTP addresses of the bloc's nodes, for the portal's failover. @default none */
  blocUrls?: readonly string[]
  /** Origins of portals hosted elsewhere, allowed by CORS. @default none */
  corsOrigins?: readonly string[]
  /** This node's public HTTP address, announced to the bloc (node-urls.ts). @default none */
  publicUrl?: string | undefined
}

export interface HttpServerComponents {
  /** Where the replay guard's memory is kept across a clean restart. */
  store: Store
  /** What the routes read; `writeConcernTimeoutMs` defaults to DEFAULT_WRITE_CONCERN_TIMEOUT_MS. */
  ctx: Omit<HttpContext, 'writeConcernTimeoutMs'> & { writeConcernTimeoutMs?: number | undefined }
  logger?: FastifyBaseLogger
  registry: Registry
  httpRequests?: Histogram<'method' | 'route' | 'status'>
  httpErrors?: Counter<'code'>
  /** More routes (the test-only fault switch). */
  extraRoutes?: ((app: FastifyInstance) => Promise<void>) | undefined
  /** The bloc's public HTTP addresses the nodes announced (node-urls.ts). @default none */
  nodeUrls?: () => readonly string[]
}

export function httpServer(init: HttpServerInit = {}): (components: HttpServerComponents) => HttpServer {
  const port = init.port ?? DEFAULT_HTTP_PORT
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new NodeError('CONFIG_INVALID', `http: port must be an integer from 0 to 65535, got ${port}`)
  }
  return (components) => new HttpServer({ ...init, host: init.host ?? DEFAULT_HTTP_HOST, port }, components)
}

/** What `meta/replay` holds: while running `clean: false`; after a clean stop, what it accepted. */
interface ReplayMemory {
  clean: boolean
  seen: Array<[string, number]>
  /** Requests signed at or before this are refused (after a crash, or a full memory). */
  floor: number | null
}

export class HttpServer implements Startable {
  readonly #init: HttpServerInit & { host: string; port: number }
  readonly #components: HttpServerComponents
  #app: FastifyInstance | undefined
  #url: string | undefined
  readonly #replay = new ReplayGuard()

  constructor(init: HttpServerInit & { host: string; port: number }, components: HttpServerComponents) {
    this.#init = init
    this.#components = components
  }

  /** The app; there is one once started. */
  get app(): FastifyInstance {
    if (!this.#app) throw new NodeError('NOT_READY', 'the HTTP server is not started')
    return this.#app
  }

  /** Where it listens, e.g. `http://127.0.0.1:8080`; known once started. */
  get url(): string {
    if (!this.#url) throw new NodeError('NOT_READY', 'the HTTP server is not started')
    return this.#url
  }

  async start(): Promise<void> {
    const { ctx, extraRoutes, store, nodeUrls, ...rest } = this.#components
    const init = this.#init
    // A clean stop saved the signed requests it accepted. After a crash nothing is known, and
    // every state-changing request signed before now is refused (the client signs it again).
    // On the first start there is nothing to know.
    const saved = await store.get(K.replay)
    if (saved) {
      const memory = decodeJson<ReplayMemory>(saved)
      if (memory.clean) this.#replay.restore(memory, ctx.now())
      else this.#replay.refuseSignedUntil(ctx.now())
    }
    const running: ReplayMemory = { clean: false, seen: [], floor: null }
    await store.write([{ type: 'put', key: K.replay, value: encodeJson(running) }])
    const app = await buildApp({
      ...rest,
      ctx: { ...ctx, writeConcernTimeoutMs: ctx.writeConcernTimeoutMs ?? DEFAULT_WRITE_CONCERN_TIMEOUT_MS },
      ...(init.bodyLimit ? { bodyLimit: init.bodyLimit } : {}),
      ...(init.rateLimitPerMinute ? { rateLimitPerMinute: init.rateLimitPerMinute } : {}),
      ...(init.trustProxy ? { trustProxy: init.trustProxy } : {}),
      ...(init.requestTimeoutMs ? { requestTimeoutMs: init.requestTimeoutMs } : {}),
      extraRoutes,
      replayGuard: this.#replay,
      portal: {
        blocUrls: init.blocUrls ?? [],
        corsOrigins: init.corsOrigins ?? [],
        ...(nodeUrls ? { announced: nodeUrls } : {}),
      },
    })
    await app.listen({ host: init.host, port: init.port })
    const addr = app.server.address()
    const port = typeof addr === 'object' && addr ? addr.port : init.port
    this.#url = `http://${init.host.includes(':') ? `[${init.host}]` : init.host}:${port}`
    this.#app = app
  }

  /** Stops accepting requests, lets those in flight finish, and saves the replay guard's memory. */
  async stop(): Promise<void> {
    if (!this.#app) return
    await this.#app.close()
    this.#app = undefined
    const memory: ReplayMemory = { clean: true, ...this.#replay.snapshot(this.#components.ctx.now()) }
    await this.#components.store.write([{ type: 'put', key: K.replay, value: encodeJson(memory) }])
  }
}

/**
 * The citizen portal at `/`, on the same origin as the API, and the headers that protect it.
 *
 * The portal is a static build (`portal/dist`, made by Vite during `npm install`): every node
 * serves the same files, so a citizen can load the page from any node of the bloc. Its script
 * moves to another node when the one it came from stops answering; the nodes it may use are
 * the bloc's public HTTP addresses (`http.blocUrls`), which the page reads from
 * `GET /portal/config.json` and keeps. Those origins are also the ones the Content-Security-
 * Policy lets the page connect to, and the ones CORS lets call this node from a page another
 * node served (besides `http.corsOrigins`, for a portal hosted elsewhere).
 *
 * The policy allows no inline script or style at all: the build has neither (docs/portal.md).
 */
import { existsSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'
import cors from '@fastify/cors'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import helmet from 'helmet'

/** Where `npm install` builds the portal (the `@legation/portal` workspace's `dist`). */
export const DEFAULT_PORTAL_DIR = fileURLToPath(new URL('../../../../portal/dist/', import.meta.url))

export interface PortalInit {
  /** The built portal; a node without it answers `/` with a page saying how to build it. @default DEFAULT_PORTAL_DIR */
  dir?: string
  /** Public HTTP addresses of the bloc's nodes (this one too), for the portal's failover. @default none */
  blocUrls?: readonly string[]
  /** More origins allowed to call the API from a browser (a portal hosted elsewhere). @default none */
  corsOrigins?: readonly string[]
  /**
   * The public addresses the bloc's nodes announced themselves (node-urls.ts), read on each
   * request: they join `blocUrls` everywhere `blocUrls` counts. @default none
   */
  announced?: () => readonly string[]
}

/** The bloc's node addresses now: the configured ones, then those the nodes announced. */
const blocUrlsOf = (init: PortalInit): string[] => [
  ...new Set([...(init.blocUrls ?? []), ...(init.announced?.() ?? [])]),
]

export const PortalConfig = Type.Object({
  nodes: Type.Array(Type.String(), { description: 'Public HTTP addresses of the bloc’s nodes' }),
})

const originOf = (url: string): string => new URL(url).origin

/**
 * Security headers on every answer, and CORS for the origins the settings name. Register before
 * the routes. helmet itself, made once: fastify's plugin for it builds helmet's middleware anew
 * for every request (~100 µs, a few per cent of a single write).
 */
export async function registerSecurityHeaders(app: FastifyInstance, init: PortalInit = {}): Promise<void> {
  const origins = () => [...new Set(blocUrlsOf(init).map(originOf))]
  const headers = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        // Read per answer: an address a node announces later is allowed from then on.
        connectSrc: ["'self'", () => origins().join(' ') || "'self'"],
        manifestSrc: ["'self'"],
        workerSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Plain HTTP on loopback and behind the operator's TLS proxy: HSTS is the proxy's to send.
    strictTransportSecurity: false,
    // Pages of other nodes call this one with CORS; a resource policy would refuse nothing
    // CORS allows, and would break `<img>` receipts embedded elsewhere.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  })
  // The headers change only when the bloc's addresses do: helmet's middleware runs once per
  // set of addresses, into a record of what it sets, and not per request (~85 µs each). The
  // addresses are compared as announced, a few strings, before anything is built from them.
  let made: { announced: readonly string[]; headers: Array<[string, string]> } | undefined
  app.addHook('onRequest', (_req, reply, done) => {
    const announced = init.announced?.() ?? []
    if (made === undefined || !sameItems(made.announced, announced)) {
      made = { announced: [...announced], headers: headersSetBy(headers) }
    }
    for (const [name, value] of made.headers) reply.raw.setHeader(name, value)
    done()
  })
  const others = (init.corsOrigins ?? []).map(originOf)
  await app.register(cors, {
    // The node's own pages need no CORS; others only from the listed origins.
    origin: (origin, cb) =>
      cb(null, origin !== undefined && (others.includes(origin) || origins().includes(origin))),
    methods: ['GET', 'HEAD', 'POST'],
    allowedHeaders: ['content-type', 'authorization', 'legation-certificate'],
    exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
    maxAge: 600,
  })
}

function sameItems(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The headers a helmet middleware sets, in order, from a response that only records them. */
function headersSetBy(middleware: ReturnType<typeof helmet>): Array<[string, string]> {
  const set = new Map<string, string>()
  const recorder = {
    setHeader: (name: string, value: unknown) => set.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => set.delete(name.toLowerCase()),
  }
  let failed: unknown
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    failed = err
  })
  if (failed) throw failed
  return [...set]
}

/** `/` and the portal's files, and `GET /portal/config.json`. */
export const portalRoutes: FastifyPluginAsyncTypebox<PortalInit> = async (app, init) => {
  const dir = init.dir ?? DEFAULT_PORTAL_DIR
  app.get(
    '/portal/config.json',
    { schema: { hide: true, response: { 200: PortalConfig } }, config: { rateLimit: false } },
    async () => ({ nodes: blocUrlsOf(init) }),
  )
  if (!existsSync(`${dir}/index.html`)) {
    app.log.warn({ dir }, 'the portal is not built: / answers how to build it')
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The citizen portal is not built. Run: npm run build --workspace @legation/portal\n'),
    )
    return
  }
  // Files are listed once at start (no wildcard route): unknown paths keep the API's 404 problem.
  await app.register(fastifyStatic, {
    root: dir,
    wildcard: false,
    index: false,
    schemaHide: true,
    // Hashed file names under assets/ never change; index.html and the worker must be fresh.
    setHeaders: (res, path) => {
      res.header(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      )
    },
  })
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.sendFile('index.html'))
}

/**
 * The HTTP API. `buildApp` builds the fastify app; only the binary calls `listen`.
 *
 * @example
 * const app = await buildApp({ ctx, logger, registry, bodyLimit: 1 << 20, rateLimitPerMinute: 600 })
 * await app.listen({ host: '127.0.0.1', port: 8080 })
 */
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import type { Counter, Histogram, Registry } from 'prom-client'
import { NodeError } from '../errors.ts'
import { authenticate } from './auth.ts'
import type { HttpContext } from './context.ts'
import { refuseNonFiniteNumbers } from './finite.ts'
import {
  clientErrorProblem,
  frameworkErrorProblem,
  installProblemHandlers,
  ProblemSchema,
} from './problem.ts'
import { ReplayGuard } from './replay.ts'
import { alertEventRoutes } from './routes/alert-events.ts'
import { alertRoutes } from './routes/alerts.ts'
import { auditRoutes } from './routes/audit.ts'
import { backupRoutes } from './routes/backup.ts'
import { caseRoutes } from './routes/cases.ts'
import { charterRoutes } from './routes/charter.ts'
import { checkpointRoutes } from './routes/checkpoints.ts'
import { citizenRoutes } from './routes/citizens.ts'
import { healthRoutes } from './routes/health.ts'
import { nodeRoutes } from './routes/node-info.ts'
import { type PortalInit, portalRoutes, registerSecurityHeaders } from './routes/portal.ts'
import { receiptRoutes } from './routes/receipts.ts'
import { recordRoutes } from './routes/records.ts'
import { revocationRoutes } from './routes/revocations.ts'
import { SIGNATURE_SCHEME, SIGNATURE_SECURITY_SCHEME } from './security.ts'

export const DEFAULT_BODY_LIMIT = 1024 * 1024
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600
/**
 * How long a client may take to send a whole request, headers and body: a body trickled a byte
 * at a time would otherwise hold its connection (and memory) forever. A 1 MiB batch needs
 * about 20 s at 400 kbit/s.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000

/**
 * Reads a rebuild does not touch (engine/rebuild.ts forgets only derived rows): the node's
 * status (an operator watches the rebuild there), the charter, revocations, the evidence of
 * misbehaviour (the secretariat's first question when a fork makes nodes rebuild) and the
 * checkpoints witnessed here. They answer during a rebuild as at any time.
 */
const READ_DURING_REBUILD = new Set([
  '/v1/node',
  '/v1/charter',
  '/v1/revocations',
  '/v1/audit/evidence',
  '/v1/audit/checkpoints',
])

/** Routes that still answer while the node stops: they do not touch the engine. */
const SERVED_WHILE_STOPPING = new Set(['/health', '/metrics', '/openapi.json'])
/**
 * How long a read waits for a rebuild of the node's derived state (engine/healing.ts) before it
 * is answered 503 REBUILDING: a rebuild after a fork in a small bloc takes milliseconds, one of a
 * million citizens minutes. The answer's retry-after says when to ask again.
 */
export const REBUILD_WAIT_MS = 2_000

export interface AppOptions {
  ctx: HttpContext
  logger?: FastifyBaseLogger
  registry: Registry
  httpRequests?: Histogram<'method' | 'route' | 'status'>
  httpErrors?: Counter<'code'>
  /** @default DEFAULT_BODY_LIMIT */
  bodyLimit?: number
  /** Requests per minute per client address. @default DEFAULT_RATE_LIMIT_PER_MINUTE */
  rateLimitPerMinute?: number
  /**
   * Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed: behind one,
   * every client would otherwise share the proxy's address and its rate limit. @default none
   */
  trustProxy?: readonly string[]
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number
  /** More routes (the test-only fault switch). */
  extraRoutes?: ((app: FastifyInstance) => Promise<void>) | undefined
  /** Remembers signed state-changing requests to refuse replays. @default a new ReplayGuard */
  replayGuard?: ReplayGuard
  /** The citizen portal at `/`, the bloc's addresses for its failover, and CORS (routes/portal.ts). */
  portal?: PortalInit
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const countError = (code: string) => opts.httpErrors?.inc({ code })
  const requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // No per-request logs: URLs carry citizen ids and search terms (personal data).
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLogger,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    // While closing, requests on open connections reach our hook below and get a problem answer
    // (503 SHUTTING_DOWN) instead of fastify's own 503 body.
    return503OnClosing: false,
    trustProxy: opts.trustProxy && opts.trustProxy.length > 0 ? [...opts.trustProxy] : false,
    requestTimeout: requestTimeoutMs,
    // Node checks the timeout on this beat (30 s by default): a tenth of the timeout keeps a
    // trickled request from outliving it by more than that.
    // Node's headers timeout must not exceed the request timeout, or the latter never fires.
    http: {
      connectionsCheckingInterval: Math.max(100, Math.floor(requestTimeoutMs / 10)),
      headersTimeout: Math.min(60_000, requestTimeoutMs),
    },
    // Every answer is a problem with a documented code, the router's and the socket's too.
    frameworkErrors: frameworkErrorProblem(countError),
    clientErrorHandler: clientErrorProblem(countError),
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.addSchema(ProblemSchema)
  installProblemHandlers(app, countError)
  refuseNonFiniteNumbers(app)

  // Keep the raw body: signed requests cover its hash.
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    req.rawBody = body
    if (body.length === 0) return done(null, undefined)
    try {
      done(null, JSON.parse(body.toString('utf8')))
    } catch {
      done(new NodeError('MALFORMED_JSON', 'request body is not valid JSON'), undefined)
    }
  })

  await app.register(swagger, {
    // Shared schemas appear under their own $id (components/schemas/Problem).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Legation node API',
        version: opts.ctx.node.version,
        description:
          'Citizens, officers, the secretariat and operators. Errors are RFC 9457 problem+json with a stable `code`. Authentication: docs/api.md.',
      },
      tags: [
        { name: 'records', description: 'Signed consular records' },
        { name: 'citizens', description: 'Citizens’ files (personal data: officers or the citizen)' },
        { name: 'cases', description: 'Consular cases' },
        { name: 'alerts', description: 'Crisis alerts and welfare' },
        { name: 'operations', description: 'Health, readiness, metrics and node status' },
        { name: 'charter', description: 'The bloc charter and its amendments' },
        { name: 'audit', description: 'Evidence for the treaty secretariat' },
      ],
      components: { securitySchemes: { [SIGNATURE_SCHEME]: { ...SIGNATURE_SECURITY_SCHEME } } },
    },
  })
  // Before anything else (rate limit, body, engine): a stopping node takes no new work. The node
  // says when it begins to stop; `app.close()` alone (without a node) counts as stopping too.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async (request) => {
    if (
      (closing || opts.ctx.isStopping?.() === true) &&
      !SERVED_WHILE_STOPPING.has(request.routeOptions.url ?? '')
    ) {
      throw new NodeError('SHUTTING_DOWN', 'the node is stopping: retry at another node')
    }
  })
  // The portal's Content-Security-Policy and the usual security headers on every answer, and
  // CORS for the bloc's other nodes' pages (routes/portal.ts).
  await registerSecurityHeaders(app, opts.portal)
  await app.register(rateLimit, {
    global: true,
    max: opts.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    // The client's address (the proxy-named one behind a trusted proxy). A connection the
    // client already broke (bad framing) has none: rate-limit's own key would throw then.
    keyGenerator: (request) => request.ip ?? 'closed-connection',
  })
  // While the node rebuilds its derived state, its records, docs and indexes are partial: a read
  // then would answer 404 for what the node holds. It waits a little, then is sent elsewhere.
  // What a rebuild does not touch is still served (READ_DURING_REBUILD); writes wait in the
  // engine. After the rate limit (its hooks are the routes' own onRequest hooks, which run
  // after the app's): a flood of reads during a rebuild is refused before it waits.
  app.addHook('preValidation', async (request, reply) => {
    const rebuilding = opts.ctx.engine.healing.rebuilding
    const url = request.routeOptions.url ?? ''
    if (!rebuilding || (request.method !== 'GET' && request.method !== 'HEAD')) return
    if (!url.startsWith('/v1/') || READ_DURING_REBUILD.has(url)) return
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), REBUILD_WAIT_MS)
    })
    const done = await Promise.race([rebuilding.then(() => true), waited])
    clearTimeout(timer)
    if (!done) {
      reply.header('retry-after', String(Math.ceil(REBUILD_WAIT_MS / 1000)))
      throw new NodeError('REBUILDING')
    }
  })

  app.decorateRequest('principal', null as never)
  const replay = opts.replayGuard ?? new ReplayGuard()
  app.addHook('preHandler', async (request) => {
    request.principal = authenticate(request, opts.ctx.engine, opts.ctx.ed, opts.ctx.now(), replay)
  })
  if (opts.httpRequests) {
    const h = opts.httpRequests
    app.addHook('onResponse', async (request, reply) => {
      h.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unknown',
          status: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      )
    })
  }

  const { ctx } = opts
  await app.register(healthRoutes, { ctx, registry: opts.registry })
  await app.register(nodeRoutes, { ctx })
  await app.register(recordRoutes, { ctx })
  await app.register(citizenRoutes, { ctx })
  await app.register(caseRoutes, { ctx })
  await app.register(alertRoutes, { ctx })
  await app.register(alertEventRoutes, { ctx })
  await app.register(charterRoutes, { ctx })
  await app.register(revocationRoutes, { ctx })
  await app.register(auditRoutes, { ctx })
  await app.register(checkpointRoutes, { ctx })
  await app.register(receiptRoutes, { ctx })
  await app.register(backupRoutes, { ctx })
  await app.register(portalRoutes, opts.portal ?? {})
  if (opts.extraRoutes) await app.register(opts.extraRoutes)
  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () =>
    app.swagger(),
  )
  await app.ready()
  return app
}

/** What fastify checks a request's logger has, and what the node's code calls on it. */
const LOG_METHODS: ReadonlySet<string | symbol> = new Set([
  'trace',
  'debug',
  'info',
  'warn',
  'error',
  'fatal',
  'silent',
  'child',
])

/**
 * A request's logger, made only when the request logs something. pino passes a child's bindings
 * (the request id) through the redaction of every personal-data path, ~70 µs, and fastify makes
 * one child per request: a few per cent of a single write, for logs that errors alone write.
 * Its methods are there at once (fastify checks them on every request) and make the child when
 * called; anything else read of it makes the child first.
 */
function lazyChildLogger(logger: FastifyBaseLogger, bindings: Record<string, unknown>): FastifyBaseLogger {
  let child: FastifyBaseLogger | undefined
  const real = (): FastifyBaseLogger => {
    child ??= logger.child(bindings)
    return child
  }
  return new Proxy(logger, {
    get(_target, prop) {
      if (LOG_METHODS.has(prop)) {
        return (...args: unknown[]) =>
          (Reflect.get(real(), prop) as (...a: unknown[]) => unknown).apply(child, args)
      }
      const value = Reflect.get(real(), prop, child)
      return typeof value === 'function' ? value.bind(child) : value
    },
  })
}

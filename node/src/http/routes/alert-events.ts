/**
 * The live crisis dashboard: `GET /v1/alerts/{id}/welfare/events`, a server-sent event stream of
 * the alert's welfare board (who is safe, needs help, not heard from), pushed again whenever an
 * entry that may change it is stored here — this node's own writes and those replicated from
 * any other node alike (`engine.onEntry`).
 *
 * Reads are authorised like the one-shot `GET /v1/alerts/{id}/welfare`: an officer's signed
 * request, with its purpose, each citizen shown logged in the access log before it is sent. The
 * officer's authority is checked again before every push and heartbeat (a certificate revoked
 * or expired while the stream is open ends it with a `problem` event). A client address may hold
 * a few streams, the node a bounded number; every stream ends when the node stops.
 *
 * @example
 * // event: board
 * // data: {"alert":{…},"counts":{"safe":1,"needsHelp":0,"notHeard":2},"safe":["…"],…}
 */
import { PassThrough } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  CERT_HEADER,
  decodeCanonical,
  fromBase64url,
  type OfficerCertificate,
  parseOfficerCertificate,
  type SignedEntry,
} from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { alertView, welfareBoard } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { logReads, PurposeQuery, requirePurpose } from '../access-log.ts'
import { requireOfficer } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'

/** Open streams one client address may hold (an officer's few tabs). */
export const DEFAULT_MAX_STREAMS_PER_CLIENT = 4
/** Open streams the node holds at once, all clients together. */
export const DEFAULT_MAX_STREAMS = 256
/**
 * A comment line this often keeps proxies from closing an idle stream (most close after 60 s)
 * and lets the client tell a dead stream from a quiet one.
 */
export const DEFAULT_HEARTBEAT_MS = 15_000
/** Entries stored together (a batch, a peer's catch-up) make one push, not one each. */
const COALESCE_MS = 50
/** What the browser waits before reconnecting a dropped stream (the SSE `retry` field), in ms. */
const RETRY_MS = 3000

/** Record kinds whose arrival may change a welfare board. */
const BOARD_KINDS = new Set([
  'welfare.checkin',
  'presence.registered',
  'alert.issued',
  'citizen.registered',
  'citizen.erased',
])

export interface AlertEventsInit {
  ctx: HttpContext
  /** @default DEFAULT_MAX_STREAMS_PER_CLIENT */
  maxStreamsPerClient?: number
  /** @default DEFAULT_MAX_STREAMS */
  maxStreams?: number
  /** @default DEFAULT_HEARTBEAT_MS */
  heartbeatMs?: number
}

const touchesBoard = (entry: SignedEntry): boolean =>
  entry.body.changes.some((c) => c.records.some((r) => BOARD_KINDS.has(r.header.kind)))

const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`

export const alertEventRoutes: FastifyPluginAsyncTypebox<AlertEventsInit> = async (app, init) => {
  const { ctx } = init
  const perClient = init.maxStreamsPerClient ?? DEFAULT_MAX_STREAMS_PER_CLIENT
  const maxStreams = init.maxStreams ?? DEFAULT_MAX_STREAMS
  const heartbeatMs = init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS
  /** Open streams, each with the function that ends it. */
  const open = new Map<PassThrough, () => void>()
  const byClient = new Map<string, number>()

  // Open streams would hold the server's close forever: end them as the node begins to stop.
  app.addHook('preClose', async () => {
    for (const end of [...open.values()]) end()
  })

  app.get(
    '/v1/alerts/:id/welfare/events',
    {
      schema: {
        summary:
          'The crisis dashboard, live: server-sent events of the alert’s welfare board as check-ins replicate (officers)',
        description:
          'A `text/event-stream`. `event: board` carries the same JSON as `GET /v1/alerts/{id}/welfare`, once at the start and again whenever it changes at this node (from any node’s writes); a comment line every 15 s is the heartbeat; `event: problem` (an RFC 9457 problem) ends the stream when the officer’s authority no longer holds. At most 4 open streams per client address (429 RATE_LIMITED). Each citizen shown is logged in the access log, as for the one-shot read.',
        tags: ['alerts'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        querystring: Type.Object(PurposeQuery, { additionalProperties: false }),
        response: {
          200: {
            description: 'The stream of board events',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...problemResponses(400, 401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (req, reply) => {
      const principal = req.principal
      requireOfficer(principal)
      requirePurpose(ctx, principal, req.query)
      const alertId = req.params.id
      if (!(await alertView(ctx.engine, alertId))) throw new NodeError('NOT_FOUND', 'no such alert')
      const client = req.ip ?? 'unknown'
      if ((byClient.get(client) ?? 0) >= perClient || open.size >= maxStreams) {
        throw new NodeError('RATE_LIMITED', 'too many open event streams from this client')
      }
      // Authenticated above, so the header is there and certifies the signing key.
      const cert = parseOfficerCertificate.parse(
        decodeCanonical(fromBase64url(String(req.headers[CERT_HEADER])), 8192),
        'certificate',
      ) as OfficerCertificate

      const stream = new PassThrough()
      byClient.set(client, (byClient.get(client) ?? 0) + 1)
      let last = ''
      let pushing: Promise<void> | null = null
      let again = false
      let coalesce: NodeJS.Timeout | undefined
      const stillAuthorised = (): boolean => {
        try {
          ctx.engine.trust.checkOfficer(cert, cert.body.officerKey, ctx.now())
          return true
        } catch (err) {
          const { code = 'REQUEST_AUTH_INVALID', statusCode = 401 } = err as {
            code?: string
            statusCode?: number
          }
          stream.end(
            event('problem', { type: 'about:blank', title: 'Not authorised', status: statusCode, code }),
          )
          return false
        }
      }
      const push = async (): Promise<void> => {
        if (!stillAuthorised()) return
        const board = await welfareBoard(ctx.engine, alertId)
        if (!board || stream.writableEnded) return
        const json = JSON.stringify(board)
        if (json === last) return
        await logReads(
          ctx.engine,
          principal,
          req.query,
          [...board.safe, ...board.needsHelp, ...board.notHeard],
          'welfare-list',
        )
        last = json
        if (!stream.writableEnded) stream.write(`event: board\ndata: ${json}\n\n`)
      }
      /** One push at a time; a change meanwhile makes one more after it. */
      const schedule = (): void => {
        if (pushing) {
          again = true
          return
        }
        pushing = push()
          .catch((err) => req.log.error({ err }, 'welfare board push failed'))
          .finally(() => {
            pushing = null
            if (again) {
              again = false
              schedule()
            }
          })
      }
      const unsubscribe = ctx.engine.onEntry((entry) => {
        if (!touchesBoard(entry) || coalesce) return
        coalesce = setTimeout(() => {
          coalesce = undefined
          schedule()
        }, COALESCE_MS)
      })
      const heartbeat = setInterval(() => {
        if (stillAuthorised()) stream.write(': heartbeat\n\n')
      }, heartbeatMs)
      const end = () => {
        if (!open.has(stream)) return
        open.delete(stream)
        unsubscribe()
        clearInterval(heartbeat)
        clearTimeout(coalesce)
        const n = (byClient.get(client) ?? 1) - 1
        if (n > 0) byClient.set(client, n)
        else byClient.delete(client)
        if (!stream.writableEnded) stream.end()
      }
      open.set(stream, end)
      stream.on('close', end)
      stream.on('finish', end)
      // The response's close, not the request's: a request's 'close' fires once its body is read.
      reply.raw.on('close', end)

      stream.write(`retry: ${RETRY_MS}\n\n`)
      schedule()
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('cache-control', 'no-store')
          .header('x-accel-buffering', 'no') // nginx: pass events on as they come
          // Its socket closes with it: a stream ended as the node stops must not leave an idle
          // keep-alive connection holding the server's close until it times out.
          .header('connection', 'close')
          // A stream is sent as it is written (no serializer); the schema types only the text.
          .send(stream as unknown as string)
      )
    },
  )
}

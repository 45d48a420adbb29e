/**
 * RFC 9457 problem responses. One error handler maps every error with a stable `code` to
 * `application/problem+json`; fastify's own client errors get codes too; anything else is
 * a 500 with a generic message (never an internal message or stack).
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { type Static, type TSchema, Type } from '@sinclair/typebox'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NODE_ERRORS } from '../errors.ts'

/** The members of every problem answer; a route may add extension members to its own schema. */
export const PROBLEM_MEMBERS = {
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  code: Type.String(),
  detail: Type.Optional(Type.String()),
  instance: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.String())),
}

export const ProblemSchema = Type.Object(PROBLEM_MEMBERS, {
  $id: 'Problem',
  description: 'RFC 9457 problem details with a stable code',
})

export type Problem = Static<typeof ProblemSchema>

export const PROBLEM_TYPE_BASE = 'https://legation.dev/problems/'
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** What each error status means, for the OpenAPI document. */
const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed or refused (VALIDATION_FAILED, MALFORMED_JSON, or a protocol code)',
  401: 'Not authenticated: a bad or replayed request signature (REQUEST_AUTH_INVALID, REQUEST_REPLAYED), UNAUTHENTICATED, or a record that does not verify',
  403: 'The signer may not do this (FORBIDDEN, or a protocol code such as RECORD_UNAUTHORIZED)',
  404: 'Not found, or not visible to this signer (NOT_FOUND)',
  409: 'Conflicts with what the node holds (a protocol code such as RECORD_INVALID_TRANSITION)',
  413: 'The request body is too large (BODY_TOO_LARGE)',
  415: 'The request body is neither JSON nor, where a route takes it, CBOR (UNSUPPORTED_MEDIA_TYPE)',
  429: 'Too many requests from this client (RATE_LIMITED); see retry-after',
  500: 'An unexpected failure (INTERNAL); the detail is in the node’s log',
  503: 'The node is starting, stopping or rebuilding its state (NOT_READY, SHUTTING_DOWN, REBUILDING); retry, or use another node',
  504: 'Durable on this node, but fewer other nodes acknowledged it in time (WRITE_CONCERN_TIMEOUT)',
}

/** A reference to the shared `Problem` schema, typed for the type provider. */
export const ProblemRef = Type.Unsafe<Problem>({ $ref: 'Problem#' })

/** The response entry (for fastify and the OpenAPI document) of one error status. */
export interface ProblemResponse<T extends TSchema> {
  description: string
  content: { 'application/problem+json': { schema: T } }
}

/** One error status answered as problem+json with `schema` (a problem with extension members). */
export function problemResponse<T extends TSchema>(status: number, schema: T): ProblemResponse<T> {
  return {
    description: STATUS_DESCRIPTIONS[status] ?? 'An error',
    content: { [PROBLEM_CONTENT_TYPE]: { schema } },
  }
}

/** Problem responses for each of `statuses`, to spread into a route's `response` schema. */
export function problemResponses<S extends number>(
  ...statuses: S[]
): Record<S, ProblemResponse<typeof ProblemRef>> {
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(s, ProblemRef)])) as Record<
    S,
    ProblemResponse<typeof ProblemRef>
  >
}

interface Coded {
  code: string
  statusCode: number
  message: string
  details?: readonly string[]
  extensions?: Readonly<Record<string, unknown>>
}

/**
 * 5xx answers that are expected conditions, not failures of the node: answered with their
 * code and a clear title (the error's message as detail, which the node writes for clients),
 * and logged without a stack.
 */
const EXPECTED_5XX: Record<string, { title: string; level: 'warn' | 'debug' }> = {
  WRITE_CONCERN_TIMEOUT: {
    title: 'The write is durable on this node, but not enough other nodes acknowledged it in time',
    level: 'warn',
  },
  NOT_READY: { title: 'The node is not ready yet', level: 'debug' },
  SHUTTING_DOWN: { title: 'The node is shutting down', level: 'debug' },
  REBUILDING: { title: 'The node is rebuilding its state', level: 'debug' },
}

function isCoded(err: unknown): err is Coded {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as Coded).code === 'string' &&
    /^[A-Z][A-Z0-9_]+$/.test((err as Coded).code) &&
    typeof (err as Coded).statusCode === 'number' &&
    !(err as { code: string }).code.startsWith('FST_')
  )
}

/** Fastify's own errors that are the client's doing, given our codes. */
const FASTIFY_CODES: Record<string, { code: string; status: number }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'BODY_TOO_LARGE', status: 413 },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'MALFORMED_JSON', status: 400 },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'MALFORMED_REQUEST', status: 400 },
  FST_ERR_VALIDATION: { code: 'VALIDATION_FAILED', status: 400 },
}

export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: string,
  title: string,
  extra: {
    detail?: string
    errors?: readonly string[]
    extensions?: Readonly<Record<string, unknown>>
  } = {},
) {
  const body: Record<string, unknown> = {
    // Extension members first: they never override the standard members.
    ...extra.extensions,
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    code,
    instance: reply.request.url.split('?')[0],
  }
  if (extra.detail) body.detail = extra.detail
  if (extra.errors && extra.errors.length > 0) body.errors = [...extra.errors]
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(body)
}

export function installProblemHandlers(app: FastifyInstance, onError?: (code: string) => void) {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err.validation) {
      onError?.('VALIDATION_FAILED')
      const errors = err.validation.map(
        (v) => `${err.validationContext ?? 'body'}${v.instancePath || ''}: ${v.message ?? 'invalid'}`,
      )
      return sendProblem(reply, 400, 'VALIDATION_FAILED', 'Request does not match the schema', { errors })
    }
    const mapped = FASTIFY_CODES[err.code]
    if (mapped) {
      onError?.(mapped.code)
      return sendProblem(reply, mapped.status, mapped.code, err.message)
    }
    if (err.statusCode === 429) {
      onError?.('RATE_LIMITED')
      return sendProblem(reply, 429, 'RATE_LIMITED', 'Too many requests')
    }
    if (isCoded(err) && err.statusCode < 500) {
      onError?.(err.code)
      return sendProblem(reply, err.statusCode, err.code, err.message, {
        errors: err.details ?? [],
        ...(err.extensions ? { extensions: err.extensions } : {}),
      })
    }
    const expected = isCoded(err) ? EXPECTED_5XX[err.code] : undefined
    if (isCoded(err) && expected) {
      // An expected condition: no stack, no `err` (the cause chain may hold peer details).
      request.log[expected.level]({ code: err.code, detail: err.message }, 'request not completed')
      onError?.(err.code)
      return sendProblem(reply, err.statusCode, err.code, expected.title, {
        detail: err.message,
        ...(err.extensions ? { extensions: err.extensions } : {}),
      })
    }
    if (isCoded(err)) {
      request.log.error({ err }, 'request failed')
      onError?.(err.code)
      return sendProblem(reply, err.statusCode, err.code, 'The node could not complete the request')
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      onError?.('BAD_REQUEST')
      return sendProblem(reply, err.statusCode, 'BAD_REQUEST', 'Bad request')
    }
    request.log.error({ err }, 'unexpected error')
    onError?.('INTERNAL')
    return sendProblem(reply, 500, 'INTERNAL', 'Internal error')
  })
  app.setNotFoundHandler((request, reply) => {
    onError?.('NOT_FOUND')
    return sendProblem(reply, 404, 'NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)
  })
}

/** Fastify's router errors (bad percent-encoding, an over-long parameter) as problems. */
export function frameworkErrorProblem(onError?: (code: string) => void) {
  return (err: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    const code = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'URI_TOO_LONG' : 'MALFORMED_REQUEST'
    const { status, message } = NODE_ERRORS[code]
    onError?.(code)
    return sendProblem(reply, status, code, message)
  }
}

/**
 * Errors below HTTP (bad framing, oversized headers, a request not received in time) as
 * problems written on the socket, which is then closed: node's and fastify's own answers are
 * plain JSON with no code.
 */
export function clientErrorProblem(onError?: (code: string) => void) {
  return (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const code =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? 'HEADERS_TOO_LARGE'
          : 'MALFORMED_REQUEST'
    const { status, message } = NODE_ERRORS[code]
    onError?.(code)
    const body = JSON.stringify({
      type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`,
      title: message,
      status,
      code,
    })
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      )
    }
    socket.destroy()
  }
}

/**
 * RFC 9457 problem responses. One error handler maps every error with a stable `code` to
 * `application/problem+json`; fastify's own client errors get codes too; anything else is
 * a 500 with a generic message (never an internal message or stack).
 */
import { Type } from '@sinclair/typebox'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.String())),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details with a stable code' },
)

export const PROBLEM_TYPE_BASE = 'https://legation.dev/problems/'

interface Coded {
  code: string
  statusCode: number
  message: string
  details?: readonly string[]
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
  extra: { detail?: string; errors?: readonly string[] } = {},
) {
  const body: Record<string, unknown> = {
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    code,
    instance: reply.request.url.split('?')[0],
  }
  if (extra.detail) body.detail = extra.detail
  if (extra.errors && extra.errors.length > 0) body.errors = [...extra.errors]
  return reply.code(status).type('application/problem+json').send(body)
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
      return sendProblem(reply, err.statusCode, err.code, err.message, { errors: err.details ?? [] })
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

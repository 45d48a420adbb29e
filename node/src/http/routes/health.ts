/** Liveness, readiness and Prometheus metrics. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Registry } from 'prom-client'
import { NodeError } from '../../errors.ts'
import type { HttpContext } from '../context.ts'

export const healthRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext; registry: Registry }> = async (
  app,
  { ctx, registry },
) => {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: the process is up',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
      config: { rateLimit: false },
    },
    async () => ({ status: 'ok' as const }),
  )
  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: storage open and accepting writes',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: { $ref: 'Problem#' } },
      },
      config: { rateLimit: false },
    },
    async () => {
      if (!ctx.isReady()) throw new NodeError('NOT_READY')
      return { status: 'ready' as const }
    },
  )
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['operations'] }, config: { rateLimit: false } },
    async (_req, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    },
  )
}

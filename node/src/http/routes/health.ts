/** Liveness, readiness and Prometheus metrics. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Registry } from 'prom-client'
import { NodeError } from '../../errors.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

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
        security: OPTIONAL_SIGNATURE,
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...problemResponses(401, 500) },
      },
      config: { rateLimit: false },
    },
    async () => ({ status: 'ok' as const }),
  )
  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: storage open and accepting writes (503 while starting or stopping)',
        tags: ['operations'],
        security: OPTIONAL_SIGNATURE,
        response: {
          200: Type.Object({ status: Type.Literal('ready') }),
          ...problemResponses(401, 500, 503),
        },
      },
      config: { rateLimit: false },
    },
    async () => {
      if (ctx.isStopping?.()) throw new NodeError('SHUTTING_DOWN')
      if (!ctx.isReady()) throw new NodeError('NOT_READY')
      return { status: 'ready' as const }
    },
  )
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['operations'],
        security: OPTIONAL_SIGNATURE,
        response: {
          200: {
            description: 'Prometheus text format, version 0.0.4',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...problemResponses(401, 500),
        },
      },
      config: { rateLimit: false },
    },
    async (_req, reply) => {
      reply.type(registry.contentType)
      return registry.metrics()
    },
  )
}

/** Crisis alerts (public) and, per alert, who is safe / needs help / not heard from (officers). */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { alerts, alertView, welfareBoard } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { logReads, PurposeQuery, requirePurpose } from '../access-log.ts'
import { requireOfficer } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { Alert } from '../schemas.ts'
import { OPTIONAL_SIGNATURE, SIGNATURE_REQUIRED } from '../security.ts'

const AlertId = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) })

export const alertRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/alerts',
    {
      schema: {
        summary: 'Crisis alerts, newest first',
        tags: ['alerts'],
        security: OPTIONAL_SIGNATURE,
        response: {
          200: Type.Object({ alerts: Type.Array(Alert) }),
          ...problemResponses(401, 429, 500, 503),
        },
      },
    },
    async () => ({ alerts: await alerts(ctx.engine) }),
  )
  app.get(
    '/v1/alerts/:id',
    {
      schema: {
        summary: 'One crisis alert',
        tags: ['alerts'],
        security: OPTIONAL_SIGNATURE,
        params: AlertId,
        response: { 200: Alert, ...problemResponses(400, 401, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      const a = await alertView(ctx.engine, req.params.id)
      if (!a) throw new NodeError('NOT_FOUND', 'no such alert')
      return a
    },
  )
  app.get(
    '/v1/alerts/:id/welfare',
    {
      schema: {
        summary: 'The crisis dashboard: citizens present in the alert’s area by welfare status (officers)',
        tags: ['alerts'],
        security: SIGNATURE_REQUIRED,
        params: AlertId,
        querystring: Type.Object(PurposeQuery, { additionalProperties: false }),
        response: {
          ...problemResponses(400, 401, 403, 404, 429, 500, 503),
          200: Type.Object({
            alert: Alert,
            counts: Type.Object({
              safe: Type.Integer(),
              needsHelp: Type.Integer(),
              notHeard: Type.Integer(),
            }),
            safe: Type.Array(Type.String()),
            needsHelp: Type.Array(Type.String()),
            notHeard: Type.Array(Type.String()),
          }),
        },
      },
    },
    async (req) => {
      requireOfficer(req.principal)
      requirePurpose(ctx, req.principal, req.query)
      const board = await welfareBoard(ctx.engine, req.params.id)
      if (!board) throw new NodeError('NOT_FOUND', 'no such alert')
      const shown = [...board.safe, ...board.needsHelp, ...board.notHeard]
      await logReads(ctx.engine, req.principal, req.query, shown, 'welfare-list')
      return board
    },
  )
}

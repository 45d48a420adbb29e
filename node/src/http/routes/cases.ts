/** Cases: queues by state (officers, optionally for one nationality), one case (officers or its citizen). */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CASE_STATES } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { caseView } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { requireOfficer, requirePersonalAccess } from '../auth.ts'
import type { HttpContext } from '../context.ts'

export const CaseSchema = Type.Object({
  id: Type.String(),
  citizen: Type.String(),
  type: Type.String(),
  state: Type.String(),
  opened: Type.Integer(),
  updated: Type.Integer(),
  details: Type.Optional(Type.String()),
  history: Type.Array(
    Type.Object({
      id: Type.String(),
      from: Type.String(),
      to: Type.String(),
      at: Type.Integer(),
      by: Type.String(),
    }),
  ),
})

const CaseId = Type.String({ pattern: '^[0-9a-f]{64}$' })

export const caseRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/cases',
    {
      schema: {
        summary:
          'Cases in a state (a work queue), optionally only for citizens of one nationality (officers)',
        tags: ['cases'],
        querystring: Type.Object(
          {
            state: Type.Union(
              CASE_STATES.map((s) => Type.Literal(s)),
              { default: 'submitted' },
            ),
            nationality: Type.Optional(Type.String({ pattern: '^[A-Z]{2,3}$' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            after: Type.Optional(CaseId),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ cases: Type.Array(CaseSchema), next: Type.Union([Type.String(), Type.Null()]) }),
        },
      },
    },
    async (req) => {
      requireOfficer(req.principal)
      const q = req.query
      const prefix = q.nationality ? `ix/ncase/${q.nationality}/${q.state}/` : `ix/case/${q.state}/`
      const ids = await ctx.engine.indexKeys(prefix, q.limit, q.after)
      const cases = []
      for (const id of ids) {
        const c = await caseView(ctx.engine, id)
        if (c) cases.push(c)
      }
      return { cases, next: ids.length === q.limit ? ids[ids.length - 1]! : null }
    },
  )

  app.get(
    '/v1/cases/:id',
    {
      schema: {
        summary: 'One case with its history',
        tags: ['cases'],
        params: Type.Object({ id: CaseId }),
        response: { 200: CaseSchema },
      },
    },
    async (req) => {
      const citizen = await ctx.engine.caseCitizen(req.params.id)
      if (req.principal.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
      if (!citizen) throw new NodeError('NOT_FOUND', 'no such case')
      requirePersonalAccess(req.principal, citizen)
      const c = await caseView(ctx.engine, req.params.id)
      if (!c) throw new NodeError('NOT_FOUND', 'no such case')
      return c
    },
  )
}

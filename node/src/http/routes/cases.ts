/** Cases: queues by state (officers, optionally for one nationality), one case (officers or its citizen). */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CASE_STATES } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { caseView } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { logReads, PurposeQuery, requirePurpose } from '../access-log.ts'
import { requireOfficer } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { Case } from '../schemas.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'

const CaseId = Type.String({ pattern: '^[0-9a-f]{64}$' })

export const caseRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/cases',
    {
      schema: {
        summary:
          'Cases in a state (a work queue), optionally only for citizens of one nationality (officers)',
        tags: ['cases'],
        security: SIGNATURE_REQUIRED,
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
          200: Type.Object({ cases: Type.Array(Case), next: Type.Union([Type.String(), Type.Null()]) }),
          ...problemResponses(400, 401, 403, 429, 500, 503),
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
        // A work queue shows no personal data: the details are in the case itself (logged).
        const c = await caseView(ctx.engine, id)
        if (c) {
          const { details: _details, ...listed } = c
          cases.push(listed)
        }
      }
      return { cases, next: ids.length === q.limit ? ids[ids.length - 1]! : null }
    },
  )

  app.get(
    '/v1/cases/:id',
    {
      schema: {
        summary: 'One case with its history (officers, or the case’s citizen)',
        tags: ['cases'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ id: CaseId }),
        querystring: Type.Object(PurposeQuery, { additionalProperties: false }),
        response: { 200: Case, ...problemResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      // Who may ask is decided before looking: the answer must not tell whether a case exists.
      const p = req.principal
      if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
      if (p.type === 'auditor')
        throw new NodeError('FORBIDDEN', 'the auditor reads signed history, not personal data')
      requirePurpose(ctx, p, req.query)
      const citizen = await ctx.engine.caseCitizen(req.params.id)
      // Another citizen's case is answered exactly as an unknown one.
      if (!citizen || (p.type === 'citizen' && p.id !== citizen))
        throw new NodeError('NOT_FOUND', 'no such case')
      const c = await caseView(ctx.engine, req.params.id)
      if (!c) throw new NodeError('NOT_FOUND', 'no such case')
      await logReads(ctx.engine, p, req.query, [citizen], 'case')
      return c
    },
  )
}

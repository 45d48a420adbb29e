/** Citizens: one citizen's file (officers or the citizen), search (officers). */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { citizenView } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { requireOfficer, requirePersonalAccess } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { Case as CaseSchema } from '../schemas.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'

const CitizenId = Type.String({ pattern: '^[0-9a-f]{32}$' })
const Presence = Type.Union([
  Type.Object({
    country: Type.String(),
    region: Type.String(),
    from: Type.Integer(),
    until: Type.Union([Type.Integer(), Type.Null()]),
  }),
  Type.Null(),
])
const Names = Type.Union([Type.Object({ given: Type.String(), family: Type.String() }), Type.Null()])
const Birth = Type.Union([
  Type.Object({ date: Type.String(), place: Type.Optional(Type.String()) }),
  Type.Null(),
])
const TravelDocument = Type.Union([
  Type.Object({ type: Type.String(), number: Type.String(), issuer: Type.String(), expires: Type.String() }),
  Type.Null(),
])
const Contact = Type.Union([
  Type.Object({
    email: Type.Optional(Type.String()),
    phone: Type.Optional(Type.String()),
    address: Type.Optional(Type.String()),
  }),
  Type.Null(),
])

const CitizenSchema = Type.Object({
  id: Type.String(),
  nationality: Type.Union([Type.String(), Type.Null()]),
  names: Names,
  birth: Birth,
  travelDocument: TravelDocument,
  contact: Contact,
  presence: Presence,
  cases: Type.Array(CaseSchema),
  welfare: Type.Array(Type.Object({ alert: Type.String(), status: Type.String() })),
  timeline: Type.Array(
    Type.Object({
      id: Type.String(),
      kind: Type.String(),
      at: Type.Integer(),
      by: Type.String(),
      origin: Type.String(),
      seq: Type.Integer(),
    }),
  ),
})

const SearchHit = Type.Object({
  id: Type.String(),
  nationality: Type.Union([Type.String(), Type.Null()]),
  names: Names,
  travelDocument: TravelDocument,
  presence: Presence,
})

export const citizenRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/citizens/:id',
    {
      schema: {
        summary: 'A citizen’s file: profile, presence, cases, welfare and timeline',
        tags: ['citizens'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ id: CitizenId }),
        response: { 200: CitizenSchema, ...problemResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      requirePersonalAccess(req.principal, req.params.id)
      const view = await citizenView(ctx.engine, req.params.id)
      if (!view) throw new NodeError('NOT_FOUND', 'no such citizen')
      return view as never
    },
  )

  app.get(
    '/v1/citizens',
    {
      schema: {
        summary: 'Search citizens by travel document number, nationality or country of presence (officers)',
        tags: ['citizens'],
        security: SIGNATURE_REQUIRED,
        querystring: Type.Object(
          {
            travelDocument: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{3,32}$' })),
            nationality: Type.Optional(Type.String({ pattern: '^[A-Z]{2,3}$' })),
            country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            after: Type.Optional(CitizenId),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            citizens: Type.Array(SearchHit),
            next: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problemResponses(400, 401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => {
      requireOfficer(req.principal)
      const q = req.query
      const set = (n: number) =>
        [q.travelDocument, q.nationality, q.country].filter((x) => x !== undefined).length === n
      if (!set(1))
        throw new NodeError('VALIDATION_FAILED', 'give exactly one of travelDocument, nationality, country')
      const prefix =
        q.travelDocument !== undefined
          ? ctx.engine.blindPrefix('td', q.travelDocument)
          : q.nationality !== undefined
            ? `ix/nat/${q.nationality}/`
            : ctx.engine.blindPrefix('pres', q.country!)
      const ids = await ctx.engine.indexKeys(prefix, q.limit, q.after)
      const citizens = []
      for (const id of ids) {
        const v = await citizenView(ctx.engine, id)
        if (v) {
          citizens.push({
            id,
            nationality: v.nationality,
            names: v.names,
            travelDocument: v.travelDocument,
            presence: v.presence,
          })
        }
      }
      return { citizens: citizens as never, next: ids.length === q.limit ? ids[ids.length - 1]! : null }
    },
  )
}

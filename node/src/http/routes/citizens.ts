/** Citizens: one citizen's file (officers or the citizen), search (officers). */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { accessLog, citizenExport, citizenView } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { logReads, PurposeQuery, requirePurpose } from '../access-log.ts'
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
  erased: Type.Boolean({ description: 'The personal data was erased: only the signed history is left' }),
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

const AccessLogItem = Type.Object({
  id: Type.String({ description: 'The access.logged record (its receipt proves it is in the feed)' }),
  at: Type.Integer(),
  officer: Type.String({ description: 'The officer’s certificate id' }),
  state: Type.String(),
  purpose: Type.String(),
  shown: Type.String(),
  case: Type.Union([Type.String(), Type.Null()]),
  node: Type.String({ description: 'The node that served the read and logged it' }),
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
        querystring: Type.Object(PurposeQuery, { additionalProperties: false }),
        response: { 200: CitizenSchema, ...problemResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      requirePersonalAccess(req.principal, req.params.id)
      requirePurpose(ctx, req.principal, req.query)
      const view = await citizenView(ctx.engine, req.params.id)
      if (!view) throw new NodeError('NOT_FOUND', 'no such citizen')
      await logReads(ctx.engine, req.principal, req.query, [req.params.id], 'file')
      return view as never
    },
  )

  app.get(
    '/v1/citizens/:id/export',
    {
      schema: {
        summary:
          'Everything the bloc holds about the signing citizen, decrypted, with the signed records that prove it, as one file (the citizen only)',
        tags: ['citizens'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ id: CitizenId }),
        response: {
          200: Type.Object(
            {
              format: Type.Literal('legation-citizen-export/1'),
              citizen: Type.String(),
              records: Type.Array(Type.Object({ id: Type.String() }, { additionalProperties: true })),
            },
            { additionalProperties: true },
          ),
          ...problemResponses(400, 401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (req, reply) => {
      const p = req.principal
      if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
      // A data-subject request: the subject's own signature, no one else's.
      if (p.type !== 'citizen' || p.id !== req.params.id)
        throw new NodeError('FORBIDDEN', 'only the citizen themself exports their data')
      requirePurpose(ctx, p, {})
      const out = await citizenExport(ctx.engine, req.params.id)
      if (!out) throw new NodeError('NOT_FOUND', 'no such citizen')
      void reply.header('content-disposition', `attachment; filename="legation-export-${req.params.id}.json"`)
      return out as never
    },
  )

  app.get(
    '/v1/citizens/:id/access-log',
    {
      schema: {
        summary:
          'Who read this citizen’s personal data: officer, state, purpose, what it showed, when, and the node that logged it (the citizen, officers of their state, the auditor)',
        tags: ['citizens'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ id: CitizenId }),
        response: {
          200: Type.Object({ citizen: Type.String(), reads: Type.Array(AccessLogItem) }),
          ...problemResponses(400, 401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const p = req.principal
      if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
      // The log holds no personal data: the secretariat audits it; the citizen sees their own;
      // their nationality state's officers answer for the reads of their nationals.
      if (p.type === 'citizen' && p.id !== req.params.id)
        throw new NodeError('FORBIDDEN', 'a citizen may read only their own access log')
      if (p.type === 'officer') {
        const s = await ctx.engine.getSummary(req.params.id)
        if (s?.nationality !== p.state)
          throw new NodeError('FORBIDDEN', 'officers read the access log of their own nationals only')
      }
      const summary = await ctx.engine.getSummary(req.params.id)
      if (!summary) throw new NodeError('NOT_FOUND', 'no such citizen')
      return { citizen: req.params.id, reads: await accessLog(ctx.engine, req.params.id) }
    },
  )

  app.get(
    '/v1/citizens',
    {
      schema: {
        summary:
          'Search citizens by travel document number, nationality or country of presence, optionally narrowed by the start of a name (officers)',
        tags: ['citizens'],
        security: SIGNATURE_REQUIRED,
        querystring: Type.Object(
          {
            travelDocument: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{3,32}$' })),
            nationality: Type.Optional(Type.String({ pattern: '^[A-Z]{2,3}$' })),
            country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
            name: Type.Optional(
              Type.String({
                minLength: 2,
                maxLength: 64,
                description:
                  'Only citizens one of whose given or family names starts with this (case and accents ignored); at most 2000 citizens of the index are looked at per request, `next` goes on from there',
              }),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            after: Type.Optional(CitizenId),
            ...PurposeQuery,
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
      requirePurpose(ctx, req.principal, q)
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
      // Without a name, one page of the index; with one, up to NAME_SCAN_LIMIT of the index
      // looked at for up to `limit` matches. Only what is answered is logged as read.
      const wanted = q.name === undefined ? undefined : fold(q.name)
      const ids = await ctx.engine.indexKeys(prefix, wanted ? NAME_SCAN_LIMIT : q.limit, q.after)
      const citizens = []
      let last: string | null = null
      for (const id of ids) {
        if (citizens.length >= q.limit) break
        last = id
        const v = await citizenView(ctx.engine, id)
        if (v && (!wanted || namesStartWith(v.names, wanted))) {
          citizens.push({
            id,
            nationality: v.nationality,
            names: v.names,
            travelDocument: v.travelDocument,
            presence: v.presence,
          })
        }
      }
      const more = wanted
        ? citizens.length >= q.limit || ids.length === NAME_SCAN_LIMIT
        : ids.length === q.limit
      await logReads(
        ctx.engine,
        req.principal,
        q,
        citizens.map((c) => c.id),
        'search-hit',
      )
      return { citizens: citizens as never, next: more ? last : null }
    },
  )
}

/** How many citizens of the index one search by name looks at (each is read and decrypted). */
export const NAME_SCAN_LIMIT = 2000

/** Lower case without accents: "Nováková" and "novakova" compare equal. */
const fold = (x: string): string => x.normalize('NFD').replace(/\p{M}/gu, '').toLocaleLowerCase('en').trim()

/** Whether one of the given or family names (each word of them) starts with `wanted` (folded). */
function namesStartWith(names: unknown, wanted: string): boolean {
  const n = names as { given?: unknown; family?: unknown } | null
  const words = [n?.given, n?.family]
    .filter((x): x is string => typeof x === 'string')
    .flatMap((x) => fold(x).split(/[\s'’-]+/))
  return (
    words.some((w) => w.startsWith(wanted)) ||
    [n?.given, n?.family].some((x) => typeof x === 'string' && fold(x).startsWith(wanted))
  )
}

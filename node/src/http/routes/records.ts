/** Submitting signed records (one or a batch) and reading a record by id. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { decodeCanonical, fromBase64url, type SignedRecord } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import type { Receipt, SubmitOutcome } from '../../engine/engine.ts'
import { renderRecord } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { requireRecordAccess } from '../auth.ts'
import type { HttpContext } from '../context.ts'

const B64 = Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 700_000 })
const Submission = Type.Object(
  {
    record: B64,
    payload: Type.Optional(B64),
  },
  { additionalProperties: false },
)
const WriteConcern = Type.Optional(
  Type.Integer({
    minimum: 0,
    maximum: 16,
    description: 'Acknowledge only after this many other nodes stored the record',
  }),
)
export const ReceiptSchema = Type.Object({
  record: Type.String(),
  node: Type.String(),
  origin: Type.String(),
  seq: Type.Integer(),
  entry: Type.String(),
  sig: Type.String(),
})
const Accepted = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate')]),
  receipt: ReceiptSchema,
  replicas: Type.Optional(Type.Array(ReceiptSchema)),
})
const ItemResult = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('refused')]),
  receipt: Type.Optional(ReceiptSchema),
  code: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
})
const RecordView = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  bloc: Type.String(),
  charter: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  at: Type.Integer(),
  author: Type.String(),
  signedBy: Type.String(),
  body: Type.Unknown(),
  payloadDigest: Type.Union([Type.String(), Type.Null()]),
  sig: Type.String(),
  origin: Type.String(),
  seq: Type.Integer(),
})

export const MAX_BATCH = 1000

function decodeSubmission(s: { record: string; payload?: string | undefined }) {
  return {
    record: decodeCanonical(fromBase64url(s.record), 512 * 1024) as SignedRecord,
    payload: s.payload === undefined ? null : fromBase64url(s.payload),
  }
}

export const recordRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  const withReplicas = async (
    outcomes: SubmitOutcome[],
    k: number | undefined,
  ): Promise<Receipt[] | undefined> => {
    if (!k) return undefined
    if (!ctx.replication)
      throw new NodeError('WRITE_CONCERN_TIMEOUT', 'this node has no peers to replicate to')
    const ids = outcomes.flatMap((o) => (o.ok ? [o.id] : []))
    return ctx.replication.awaitReceipts(ids, k, ctx.writeConcernTimeoutMs)
  }

  app.post(
    '/v1/records',
    {
      schema: {
        summary: 'Submit one signed record (and its personal-data payload)',
        tags: ['records'],
        body: Type.Intersect([Submission, Type.Object({ writeConcern: WriteConcern })]),
        response: { 201: Accepted, 200: Accepted },
      },
    },
    async (req, reply) => {
      const [outcome] = await ctx.engine.submit([decodeSubmission(req.body)])
      if (!outcome!.ok) throw outcome!.error
      const replicas = await withReplicas([outcome!], req.body.writeConcern)
      reply.code(outcome!.duplicate ? 200 : 201)
      return {
        id: outcome!.id,
        status: outcome!.duplicate ? ('duplicate' as const) : ('accepted' as const),
        receipt: outcome!.receipt,
        ...(replicas ? { replicas } : {}),
      }
    },
  )

  app.post(
    '/v1/records/batch',
    {
      schema: {
        summary: 'Submit up to 1000 signed records; each is accepted or refused on its own',
        tags: ['records'],
        body: Type.Object(
          {
            records: Type.Array(Submission, { minItems: 1, maxItems: MAX_BATCH }),
            writeConcern: WriteConcern,
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            results: Type.Array(ItemResult),
            replicas: Type.Optional(Type.Array(ReceiptSchema)),
          }),
        },
      },
    },
    async (req) => {
      const decoded: Array<ReturnType<typeof decodeSubmission> | Error> = req.body.records.map((s) => {
        try {
          return decodeSubmission(s)
        } catch (err) {
          return err as Error
        }
      })
      const valid = decoded.filter((d): d is ReturnType<typeof decodeSubmission> => !(d instanceof Error))
      const outcomes = await ctx.engine.submit(valid)
      let i = 0
      const results = decoded.map((d) => {
        if (d instanceof Error) {
          const code = (d as { code?: string }).code ?? 'ENCODING_MALFORMED'
          return { id: null, status: 'refused' as const, code, detail: d.message }
        }
        const o = outcomes[i++]!
        return o.ok
          ? {
              id: o.id,
              status: o.duplicate ? ('duplicate' as const) : ('accepted' as const),
              receipt: o.receipt,
            }
          : { id: o.id, status: 'refused' as const, code: o.error.code, detail: o.error.message }
      })
      const replicas = await withReplicas(outcomes, req.body.writeConcern)
      return { results, ...(replicas ? { replicas } : {}) }
    },
  )

  app.get(
    '/v1/records/:id',
    {
      schema: {
        summary: 'A signed record by id (headers only: never personal data)',
        tags: ['records'],
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        response: { 200: RecordView },
      },
    },
    async (req) => {
      const r = await ctx.engine.getRecord(req.params.id)
      if (!r) throw new NodeError('NOT_FOUND', 'no such record')
      requireRecordAccess(req.principal, r.record.header.subject)
      return renderRecord(req.params.id, r)
    },
  )
}

/** Submitting signed records (one or a batch) and reading a record by id. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { decodeCanonical, fromBase64url, type SignedRecord } from '@legation/protocol'
import { type Static, Type } from '@sinclair/typebox'
import type { Receipt, SubmitOutcome } from '../../engine/engine.ts'
import { renderRecord } from '../../engine/views.ts'
import { NodeError } from '../../errors.ts'
import { canReadRecord } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { PROBLEM_MEMBERS, problemResponse, problemResponses } from '../problem.ts'
import { Accepted, BatchResults, ItemResult, RecordView } from '../schemas.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

const B64 = Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 700_000 })
const SubmissionFields = {
  record: B64,
  payload: Type.Optional(B64),
}
const Submission = Type.Object(SubmissionFields, { additionalProperties: false })
const WriteConcern = Type.Optional(
  Type.Integer({
    minimum: 0,
    maximum: 16,
    description: 'Acknowledge only after this many other nodes stored the record',
  }),
)
/** `POST /v1/records`: one submission and, optionally, a write concern (one object schema). */
const SingleSubmission = Type.Object(
  { ...SubmissionFields, writeConcern: WriteConcern },
  { additionalProperties: false },
)
/**
 * The 504 of a write whose write concern was not met: the records are durable on this node,
 * and `results` says which (as the batch's 200 would have).
 */
const WriteConcernProblem = Type.Object(
  {
    ...PROBLEM_MEMBERS,
    // Always sent by these routes; optional so that a 504 from elsewhere still serializes.
    results: Type.Optional(Type.Array(ItemResult)),
    writeConcern: Type.Optional(Type.Integer({ description: 'The k that was asked for' })),
  },
  { description: 'WRITE_CONCERN_TIMEOUT, with the per-record results' },
)
type ItemResultValue = Static<typeof ItemResult>

export const MAX_BATCH = 1000

function decodeSubmission(s: { record: string; payload?: string | undefined }) {
  const bytes = fromBase64url(s.record)
  return {
    record: decodeCanonical(bytes, 512 * 1024) as SignedRecord,
    bytes,
    payload: s.payload === undefined ? null : fromBase64url(s.payload),
  }
}

export const recordRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  /**
   * Waits for `k` other nodes' receipts of the accepted records. When they do not come in time,
   * the answer is 504 WRITE_CONCERN_TIMEOUT that still carries `results`: the records are durable
   * here, and the client must learn which were accepted and which refused.
   */
  const withReplicas = async (
    outcomes: SubmitOutcome[],
    k: number | undefined,
    results: readonly ItemResultValue[],
  ): Promise<Receipt[] | undefined> => {
    if (!k) return undefined
    const ids = outcomes.flatMap((o) => (o.ok ? [o.id] : []))
    if (ids.length === 0) return []
    const timeoutMs = ctx.writeConcernTimeoutMs
    const timedOut = (cause?: unknown) =>
      new NodeError(
        'WRITE_CONCERN_TIMEOUT',
        `${ids.length} of ${results.length} record(s) are durable on this node, but ` +
          (ctx.replication
            ? `fewer than ${k} other node(s) acknowledged ${ids.length === 1 ? 'it' : 'them'} within ${timeoutMs} ms`
            : `this node runs without a mesh, so no other node can acknowledge ${ids.length === 1 ? 'it' : 'them'}`),
        { cause, extensions: { results, writeConcern: k } },
      )
    if (!ctx.replication) throw timedOut()
    try {
      return await ctx.replication.awaitReceipts(ids, k, timeoutMs)
    } catch (err) {
      if ((err as { code?: unknown }).code === 'WRITE_CONCERN_TIMEOUT') throw timedOut(err)
      throw err
    }
  }

  /** Errors any write can answer with, besides its own. */
  const writeProblems = {
    ...problemResponses(400, 401, 413, 415, 429, 500, 503),
    504: problemResponse(504, WriteConcernProblem),
  }

  app.post(
    '/v1/records',
    {
      schema: {
        summary: 'Submit one signed record (and its personal-data payload)',
        tags: ['records'],
        security: OPTIONAL_SIGNATURE,
        body: SingleSubmission,
        response: {
          201: Accepted,
          200: Accepted,
          ...writeProblems,
          // The record's own checks: SIGNATURE_INVALID, RECORD_UNAUTHORIZED, RECORD_UNKNOWN_SUBJECT, …
          ...problemResponses(403, 404, 409),
        },
      },
    },
    async (req, reply) => {
      const { writeConcern, ...submission } = req.body
      const [outcome] = await ctx.engine.submit([decodeSubmission(submission)])
      if (!outcome!.ok) throw outcome!.error
      const result = {
        id: outcome!.id,
        status: outcome!.duplicate ? ('duplicate' as const) : ('accepted' as const),
        receipt: outcome!.receipt,
      }
      const replicas = await withReplicas([outcome!], writeConcern, [result])
      reply.code(outcome!.duplicate ? 200 : 201)
      return { ...result, ...(replicas ? { replicas } : {}) }
    },
  )

  app.post(
    '/v1/records/batch',
    {
      schema: {
        summary: 'Submit up to 1000 signed records; each is accepted or refused on its own',
        tags: ['records'],
        security: OPTIONAL_SIGNATURE,
        body: Type.Object(
          {
            records: Type.Array(Submission, { minItems: 1, maxItems: MAX_BATCH }),
            writeConcern: WriteConcern,
          },
          { additionalProperties: false },
        ),
        response: {
          200: BatchResults,
          ...writeProblems,
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
      const results = decoded.map((d): ItemResultValue => {
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
      const replicas = await withReplicas(outcomes, req.body.writeConcern, results)
      return { results, ...(replicas ? { replicas } : {}) }
    },
  )

  app.get(
    '/v1/records/:id',
    {
      schema: {
        summary:
          'A signed record by id (headers only: never personal data). Crisis alerts are public; other records need a signature.',
        tags: ['records'],
        security: OPTIONAL_SIGNATURE,
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        response: { 200: RecordView, ...problemResponses(400, 401, 404, 429, 500, 503) },
      },
    },
    async (req) => {
      const p = req.principal
      const r = await ctx.engine.getRecord(req.params.id)
      // A record the caller may not see is answered exactly as one that does not exist.
      if (!r || !canReadRecord(p, r.record.header.subject)) {
        if (p.type === 'anonymous') {
          throw new NodeError(
            'UNAUTHENTICATED',
            'only crisis alerts can be read without signing: sign the request to read other records',
          )
        }
        throw new NodeError('NOT_FOUND', 'no such record')
      }
      return renderRecord(req.params.id, r)
    },
  )
}

/** Submitting signed records (one or a batch) and reading a record by id. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  checkBase64url,
  decodeCanonical,
  decodeCanonicalCopy,
  fromBase64url,
  type SignedRecord,
} from '@legation/protocol'
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

const JsonBatch = Type.Object(
  {
    records: Type.Array(Submission, { minItems: 1, maxItems: MAX_BATCH }),
    writeConcern: WriteConcern,
  },
  { additionalProperties: false },
)
/** A CBOR byte string; the schema can only say it is there (its type is checked on decoding). */
const CborBytes = (description: string) => Type.Unsafe<Uint8Array>({ description, format: 'binary' })
/** The CBOR batch: the JSON batch's shape, with byte strings where JSON has base64url. */
const CborBatch = Type.Object(
  {
    records: Type.Array(
      Type.Object(
        {
          record: CborBytes('The signed record, canonical CBOR'),
          payload: Type.Optional(CborBytes('Its personal-data payload, canonical CBOR')),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_BATCH },
    ),
    writeConcern: WriteConcern,
  },
  { additionalProperties: false },
)
type CborBatchBody = Static<typeof CborBatch>

/** A signed record is at most this long (its payload apart). */
const MAX_RECORD_BYTES = 512 * 1024

/**
 * A record's text is decoded into Buffer's pool, and copied once, by the decode, into the bytes
 * kept with it: an array of their own costs ~5 µs of CPU in Node, and there were two.
 */
function decodeSubmission(s: { record: string; payload?: string | undefined }) {
  checkBase64url(s.record)
  const { value, copy } = decodeCanonicalCopy(Buffer.from(s.record, 'base64url'), MAX_RECORD_BYTES)
  return {
    record: value as SignedRecord,
    bytes: copy,
    payload: s.payload === undefined ? null : fromBase64url(s.payload),
  }
}

function decodeCborSubmission(s: { record: unknown; payload?: unknown }) {
  if (!(s.record instanceof Uint8Array) || (s.payload !== undefined && !(s.payload instanceof Uint8Array))) {
    throw new NodeError('VALIDATION_FAILED', 'record and payload must be CBOR byte strings')
  }
  if (s.record.length > MAX_RECORD_BYTES) throw new NodeError('VALIDATION_FAILED', 'record is too large')
  return {
    record: decodeCanonical(s.record, MAX_RECORD_BYTES) as SignedRecord,
    bytes: s.record,
    payload: s.payload ?? null,
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

  /**
   * A batch as JSON (records and payloads in base64url) or as CBOR (the same object, records
   * and payloads as byte strings: no base64, a third less to send and nothing to re-decode). The
   * CBOR parser lives in this scope only: a route elsewhere validates JSON bodies alone.
   */
  await app.register(async (batch) => {
    batch.addContentTypeParser('application/cbor', { parseAs: 'buffer' }, (req, body: Buffer, done) => {
      req.rawBody = body
      try {
        if (body.length === 0) throw new Error('the body is empty')
        done(null, decodeCanonical(body, body.length))
      } catch (err) {
        done(new NodeError('MALFORMED_CBOR', `request body is not canonical CBOR: ${(err as Error).message}`))
      }
    })
    batch.post(
      '/v1/records/batch',
      {
        schema: {
          summary: 'Submit up to 1000 signed records; each is accepted or refused on its own',
          description:
            'As `application/json` (records and payloads in base64url) or `application/cbor` (the same object in canonical CBOR, records and payloads as byte strings).',
          tags: ['records'],
          security: OPTIONAL_SIGNATURE,
          body: {
            content: {
              'application/json': { schema: JsonBatch },
              'application/cbor': { schema: CborBatch },
            },
          },
          response: {
            200: BatchResults,
            ...writeProblems,
          },
        },
      },
      async (req) => {
        const body = req.body as Static<typeof JsonBatch> | CborBatchBody
        const cbor = req.headers['content-type']?.startsWith('application/cbor') === true
        const decoded: Array<ReturnType<typeof decodeSubmission> | Error> = body.records.map((s) => {
          try {
            return cbor
              ? decodeCborSubmission(s as CborBatchBody['records'][number])
              : decodeSubmission(s as Static<typeof Submission>)
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
        const replicas = await withReplicas(outcomes, body.writeConcern, results)
        return { results, ...(replicas ? { replicas } : {}) }
      },
    )
  })

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

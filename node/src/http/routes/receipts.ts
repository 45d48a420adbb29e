/**
 * A citizen's inclusion receipt for one of their records (docs/audit.md § Citizen receipts):
 * the signed record (headers only), this node's signed placement of it in its entry, and the
 * proof that the entry is in its origin's feed under a checkpoint — bloc-final where this node
 * has one that covers it. Who may read the record may fetch its receipt; it names no one else's
 * records.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { encodeCanonical, InclusionReceiptJson, openEntry, toBase64url } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { NodeError } from '../../errors.ts'
import { canReadRecord } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

export const receiptRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/records/:id/receipt',
    {
      schema: {
        summary: 'An inclusion receipt for a record: verifiable offline with only the charter',
        tags: ['records'],
        security: OPTIONAL_SIGNATURE,
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        querystring: Type.Object(
          {
            from: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: Number.MAX_SAFE_INTEGER,
                description:
                  'Add a consistency proof from the tree of this size (another receipt’s checkpoint)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: InclusionReceiptJson, ...problemResponses(400, 401, 404, 409, 429, 500, 503) },
      },
    },
    async (req) => {
      const p = req.principal
      const { engine } = ctx
      const r = await engine.getRecord(req.params.id)
      // A record the caller may not see is answered exactly as one that does not exist.
      if (!r || !canReadRecord(p, r.record.header.subject)) {
        if (p.type === 'anonymous')
          throw new NodeError('UNAUTHENTICATED', 'sign the request to get a receipt')
        throw new NodeError('NOT_FOUND', 'no such record')
      }
      const checkpoint = await covering(ctx, r.origin, r.seq)
      if (!checkpoint) throw new NodeError('RECEIPT_PENDING')
      const bytes = await engine.getEntryBytes(r.origin, r.seq)
      if (!bytes) throw new NodeError('INTERNAL', 'a stored record’s entry is not stored')
      const entry = openEntry(bytes).hash
      const placement = engine.signPlacement(req.params.id, r.origin, r.seq, entry)
      const path = await engine.audit.inclusionProof(r.origin, r.seq, checkpoint.size)
      const from = req.query.from
      if (from !== undefined && from > checkpoint.size) {
        throw new NodeError(
          'BAD_REQUEST',
          `this receipt’s checkpoint has ${checkpoint.size} entries, fewer than ${from}`,
        )
      }
      return {
        v: 1 as const,
        bloc: engine.bloc,
        record: toBase64url(encodeCanonical(r.record)),
        placement: toBase64url(encodeCanonical(placement)),
        proof: { size: checkpoint.size, index: r.seq - 1, path: path.map(toBase64url) },
        checkpoint: checkpoint.note,
        ...(from !== undefined
          ? {
              consistency: {
                from,
                path: (await engine.audit.consistencyProof(r.origin, from, checkpoint.size)).map(toBase64url),
              },
            }
          : {}),
      }
    },
  )
}

/**
 * The checkpoint to prove an entry against: the latest bloc-final one of its feed witnessed here
 * that covers it, else the latest checked one, else (for this node's own feed) its own.
 */
async function covering(
  ctx: HttpContext,
  origin: string,
  seq: number,
): Promise<{ size: number; note: string } | undefined> {
  const witnessed = ctx.witness?.checkpoints().find((c) => c.origin === origin)
  for (const c of [witnessed?.final, witnessed?.latest]) if (c && c.size >= seq) return c
  if (origin === ctx.engine.nodeId) {
    const own = await ctx.engine.audit.checkpoint()
    if (own.size >= seq) return own
  }
  return undefined
}

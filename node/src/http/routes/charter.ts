/**
 * The charter and the evidence store. A charter amendment may be submitted by anyone:
 * it takes effect only if it extends this node's chain and carries a quorum of member
 * signatures; it then spreads to every peer. Evidence (equivocations, refused signed
 * entries) is for officers and the secretariat's auditor.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  decodeCanonical,
  encodeCanonical,
  fromBase64url,
  type SignedCharter,
  toBase64url,
} from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { NodeError } from '../../errors.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { CharterAdoption, CharterView, EvidenceList } from '../schemas.ts'
import { OPTIONAL_SIGNATURE, SIGNATURE_REQUIRED } from '../security.ts'

/** Charter chains one client may submit per minute (amendments are rare: a few a year). */
export const CHARTER_SUBMISSIONS_PER_MINUTE = 10

export const charterRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/charter',
    {
      schema: {
        summary: 'The charter chain this node follows (canonical CBOR, base64url) and its current version',
        tags: ['charter'],
        security: OPTIONAL_SIGNATURE,
        response: {
          ...problemResponses(401, 429, 500, 503),
          200: CharterView,
        },
      },
    },
    async () => ({
      version: ctx.engine.charter.version,
      hash: ctx.engine.charter.hash,
      bloc: ctx.engine.bloc,
      chain: toBase64url(encodeCanonical(ctx.engine.charterChain)),
    }),
  )

  app.post(
    '/v1/charter',
    {
      // Anyone may submit a chain, and checking one costs more than any other request: each
      // client gets a budget of its own, far below the node-wide rate limit.
      config: { rateLimit: { max: CHARTER_SUBMISSIONS_PER_MINUTE, timeWindow: 60_000 } },
      schema: {
        summary: 'Submit a charter chain that extends this node’s by quorum-signed amendments',
        tags: ['charter'],
        security: OPTIONAL_SIGNATURE,
        body: Type.Object(
          { chain: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 900_000 }) },
          { additionalProperties: false },
        ),
        response: {
          200: CharterAdoption,
          // The chain's own checks: CHARTER_QUORUM_NOT_MET (403), CHARTER_CHAIN_BROKEN, BLOC_MISMATCH (409), …
          ...problemResponses(400, 401, 403, 409, 413, 415, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const chain = decodeCanonical(fromBase64url(req.body.chain), 700_000)
      if (!Array.isArray(chain))
        throw new NodeError('VALIDATION_FAILED', 'chain must be an array of signed charters')
      const adopted = await ctx.engine.adoptCharter(chain as SignedCharter[])
      if (adopted) await ctx.replication?.charterChanged()
      return { adopted, version: ctx.engine.charter.version, hash: ctx.engine.charter.hash }
    },
  )

  app.get(
    '/v1/audit/evidence',
    {
      schema: {
        summary: 'Evidence of misbehaviour kept by this node (officers and the auditor)',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            after: Type.Optional(
              Type.String({
                pattern: '^[a-z-]{1,32}/[0-9A-Za-z._/-]{1,300}$',
                description: 'Continue after this evidence row (`<kind>/<id>`, a page’s `next`)',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: EvidenceList,
          ...problemResponses(400, 401, 403, 429, 500, 503),
        },
      },
    },
    async (req) => {
      const p = req.principal
      if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
      if (p.type === 'citizen') throw new NodeError('FORBIDDEN', 'officers and the auditor only')
      const evidence = []
      for await (const [key, value] of ctx.engine.evidence(req.query.limit, req.query.after)) {
        const [, kind = '', ...rest] = key.split('/')
        evidence.push({ kind, id: rest.join('/'), bytes: toBase64url(value) })
      }
      const last = evidence.at(-1)
      const next = evidence.length === req.query.limit && last ? `${last.kind}/${last.id}` : null
      return { evidence, next }
    },
  )
}

/**
 * Revocations of officer certificates. A state revokes one of its officers' certificates (a
 * lost or compromised key, a change of post) by signing a revocation with its state key; any
 * node takes it, every node learns it over the mesh, and from its `at` on that officer's
 * records are refused with CERT_REVOKED. The signature is the authority: no request
 * signature is needed. The list is public: it names certificates, not people.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  decodeCanonical,
  encodeCanonical,
  fromBase64url,
  type Revocation,
  toBase64url,
} from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { RevocationList, RevocationView } from '../schemas.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

export const revocationRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.post(
    '/v1/revocations',
    {
      schema: {
        summary: 'Revoke an officer certificate (a revocation signed by the issuing state’s key)',
        tags: ['charter'],
        security: OPTIONAL_SIGNATURE,
        body: Type.Object(
          {
            revocation: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 4096 }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: RevocationView,
          200: RevocationView,
          // CERT_INVALID (not signed by a member state's current key), BLOC_MISMATCH, SCHEMA_INVALID, …
          ...problemResponses(400, 401, 409, 413, 415, 429, 500, 503),
        },
      },
    },
    async (req, reply) => {
      const value = decodeCanonical(fromBase64url(req.body.revocation), 2048)
      const { added, revocation: rev } = await ctx.engine.addRevocation(value)
      if (added) ctx.replication?.revocationsAdded([rev])
      req.log.info(
        { cert: rev.body.cert, state: rev.body.state, added },
        'revocation of an officer certificate',
      )
      reply.code(added ? 201 : 200)
      return view(rev)
    },
  )

  app.get(
    '/v1/revocations',
    {
      schema: {
        summary: 'Revoked officer certificates this node knows',
        tags: ['charter'],
        security: OPTIONAL_SIGNATURE,
        response: {
          200: RevocationList,
          ...problemResponses(401, 429, 500, 503),
        },
      },
    },
    async () => ({ revocations: ctx.engine.revocations().map(view) }),
  )
}

function view(rev: Revocation) {
  return {
    cert: rev.body.cert,
    state: rev.body.state,
    at: rev.body.at,
    reason: rev.body.reason,
    revocation: toBase64url(encodeCanonical(rev)),
  }
}

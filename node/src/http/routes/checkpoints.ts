/**
 * The checkpoints this node witnessed (docs/protocol.md § Witnesses), for the auditor key only:
 * per feed, the latest checkpoint it checked against the feed's entries and the latest
 * bloc-final one, each as a C2SP signed note carrying the origin's signature and the
 * cosignatures (C2SP tlog-cosignature) gathered here. Hashes and sizes only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { toBase64url } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import type { WitnessedCheckpoint } from '../../witness/witness.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'
import { requireAuditor } from './audit.ts'

const Witnessed = Type.Object({
  size: Type.Integer(),
  root: Type.String({ description: 'The tree root, base64url (as the other audit routes give roots)' }),
  note: Type.String({
    description: 'The checkpoint as a C2SP signed note: the origin’s signature, then witnesses’ cosignatures',
  }),
  cosigners: Type.Array(Type.String(), {
    description: 'Node ids of the witnesses whose cosignatures verify',
  }),
  states: Type.Array(Type.String(), { description: 'Their member states' }),
  final: Type.Boolean({ description: 'Cosigned by nodes of at least the charter’s quorum of member states' }),
})

const WitnessedList = Type.Object({
  checkpoints: Type.Array(
    Type.Object({
      origin: Type.String({ description: 'Node id of the feed’s origin' }),
      latest: Type.Optional(Witnessed),
      final: Type.Optional(Witnessed),
    }),
  ),
})

function view(c: WitnessedCheckpoint) {
  return {
    size: c.size,
    root: toBase64url(c.root),
    note: c.note,
    cosigners: [...c.cosigners],
    states: [...c.states],
    final: c.final,
  }
}

export const checkpointRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/audit/checkpoints',
    {
      schema: {
        summary: 'Checkpoints of every feed witnessed here: the latest checked and the latest bloc-final',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        response: { 200: WitnessedList, ...problemResponses(401, 403, 429, 500, 503) },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const list = ctx.witness?.checkpoints() ?? []
      return {
        checkpoints: list.map((c) => ({
          origin: c.origin,
          ...(c.latest ? { latest: view(c.latest) } : {}),
          ...(c.final ? { final: view(c.final) } : {}),
        })),
      }
    },
  )
}

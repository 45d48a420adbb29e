/** GET /v1/node: who this node is and where it stands. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

const VersionVector = Type.Record(Type.String(), Type.Integer())

export const NodeInfo = Type.Object({
  nodeId: Type.String(),
  peerId: Type.String(),
  name: Type.String(),
  state: Type.String(),
  version: Type.String(),
  bloc: Type.String(),
  charter: Type.Object({ hash: Type.String(), version: Type.Integer(), members: Type.Array(Type.String()) }),
  versionVector: VersionVector,
  stateRoot: Type.String(),
  pendingEntries: Type.Integer(),
  quarantined: Type.Array(Type.Object({ nodeId: Type.String(), fromSeq: Type.Integer() })),
  peers: Type.Array(
    Type.Object({
      peerId: Type.String(),
      nodeId: Type.Union([Type.String(), Type.Null()]),
      state: Type.Union([Type.String(), Type.Null()]),
      connected: Type.Boolean(),
      versionVector: VersionVector,
      lag: Type.Integer(),
    }),
  ),
})

export const nodeRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.get(
    '/v1/node',
    {
      schema: {
        summary: 'Node identity, charter, version vector, state root and peers',
        tags: ['operations'],
        security: OPTIONAL_SIGNATURE,
        response: { 200: NodeInfo, ...problemResponses(401, 429, 500, 503) },
      },
    },
    async () => {
      const e = ctx.engine
      return {
        nodeId: e.nodeId,
        ...ctx.node,
        bloc: e.bloc,
        charter: { hash: e.charter.hash, version: e.charter.version, members: [...e.charter.members.keys()] },
        versionVector: e.versionVector(),
        stateRoot: e.stateRoot(),
        pendingEntries: e.pendingCount(),
        quarantined: [...e.quarantined()].map(([nodeId, fromSeq]) => ({ nodeId, fromSeq })),
        peers: ctx.replication?.peers() ?? [],
      }
    },
  )
}

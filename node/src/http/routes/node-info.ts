/** GET /v1/node: who this node is and where it stands. */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { NodeInfo } from '../schemas.ts'
import { OPTIONAL_SIGNATURE } from '../security.ts'

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
      const own = ctx.witness?.checkpoints().find((c) => c.origin === e.nodeId)
      return {
        nodeId: e.nodeId,
        ...ctx.node,
        bloc: e.bloc,
        charter: { hash: e.charter.hash, version: e.charter.version, members: [...e.charter.members.keys()] },
        versionVector: e.versionVector(),
        stateRoot: e.stateRoot(),
        pendingEntries: e.pendingCount(),
        rebuilding: e.healing.rebuilding !== undefined,
        quarantined: [...e.quarantined()].map(([nodeId, fromSeq]) => ({ nodeId, fromSeq })),
        closed: Object.entries(e.closedFeeds()).map(([nodeId, lastSeq]) => ({ nodeId, lastSeq })),
        peers: ctx.replication?.peers() ?? [],
        evidence: await evidenceCount(e),
        checkpoint: { size: own?.latest?.size ?? null, finalSize: own?.final?.size ?? null },
      }
    },
  )
}

/** Evidence is rare: counting it is cheap, and capped so that a flood of it costs no more. */
export const EVIDENCE_COUNT_CAP = 10_000
/** Bookkeeping kept under the evidence prefix that is not itself evidence (forks.ts, healing.ts). */
const NOT_EVIDENCE = ['evid/superseded/', 'evid/pinned/']

async function evidenceCount(e: HttpContext['engine']): Promise<number> {
  let n = 0
  for await (const [key] of e.evidence(EVIDENCE_COUNT_CAP))
    if (!NOT_EVIDENCE.some((p) => key.startsWith(p))) n++
  return n
}

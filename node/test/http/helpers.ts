import { type KeyPair, toSubmission } from '@legation/protocol'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { Engine } from '../../src/engine/engine.ts'
import { buildApp } from '../../src/http/app.ts'
import type { HttpContext, Replication } from '../../src/http/context.ts'
import type { PortalInit } from '../../src/http/routes/portal.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, type TestBloc, testBloc } from '../fixtures.ts'

export interface TestAppOptions {
  rateLimitPerMinute?: number
  trustProxy?: readonly string[]
  /** Replication hooks (a fake mesh) for write concern. */
  replication?: Replication
  isStopping?: () => boolean
  logger?: FastifyBaseLogger
  /** The witness (checkpoints cosigned), built on the app's engine. */
  witness?: (engine: Engine, nodeKeys: KeyPair) => HttpContext['witness']
  /** The portal's files, the bloc's addresses and CORS origins (routes/portal.ts). */
  portal?: PortalInit
  /** Routes a test adds (app.ts `extraRoutes`). */
  extraRoutes?: (app: FastifyInstance) => Promise<void>
  /** The bloc and which of its nodes the app is. @default a bloc of one, node 0 */
  bloc?: TestBloc
  node?: number
  /** @default a MemoryStore */
  store?: MemoryStore
}

export async function testApp(opts: TestAppOptions = {}) {
  const bloc = opts.bloc ?? testBloc(1)
  const i = opts.node ?? 0
  const engine = await Engine.open({
    store: opts.store ?? new MemoryStore(),
    ed,
    nodeKeys: bloc.nodes[i]!.keys,
    charter: bloc.chain,
  })
  const app = await buildApp({
    ctx: {
      engine,
      ed,
      now: Date.now,
      writeConcernTimeoutMs: 1000,
      node: {
        peerId: engine.charter.nodes.get(engine.nodeId)!.peerId,
        name: `node-${i}`,
        state: bloc.nodes[i]!.state,
        version: 'test',
      },
      isReady: () => true,
      replication: opts.replication,
      isStopping: opts.isStopping,
      witness: opts.witness?.(engine, bloc.nodes[i]!.keys),
    },
    ...(opts.logger ? { logger: opts.logger } : {}),
    registry: new Registry(),
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000,
    ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}),
    ...(opts.portal ? { portal: opts.portal } : {}),
    ...(opts.extraRoutes ? { extraRoutes: opts.extraRoutes } : {}),
  })
  return { app, engine, bloc }
}

export { toSubmission }

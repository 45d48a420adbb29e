/**
 * A running Legation node: level storage, the engine, the libp2p mesh with replication,
 * and the HTTP API, started and stopped together.
 *
 * @example
 * const node = await startNode({ dataDir, charter, nodeKeys, logger, http: { host: '127.0.0.1', port: 8080 } })
 * console.log(node.url)
 * await node.stop()
 */
import { join } from 'node:path'
import { type KeyPair, protocolPrefix, type SignedCharter } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import pkg from '../package.json' with { type: 'json' }
import { Verifier } from './crypto/verifier.ts'
import { DutyScheduler } from './duties/index.ts'
import { Engine } from './engine/engine.ts'
import { buildApp } from './http/app.ts'
import { COMPONENTS } from './logger.ts'
import { createMesh, type Mesh } from './mesh/index.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { Replication } from './replication/replication.ts'
import { LevelStore } from './storage/level-store.ts'

/** This package's version, as its package.json says. */
export const VERSION: string = pkg.version

export interface NodeOptions {
  dataDir: string
  charter: readonly SignedCharter[]
  nodeKeys: KeyPair
  logger: Logger
  http: {
    host: string
    port: number
    bodyLimit?: number
    rateLimitPerMinute?: number
    /** Reverse proxies whose X-Forwarded-For names the client. */
    trustProxy?: readonly string[]
  }
  /** Multiaddrs to listen on; an empty list runs the node without a mesh. */
  p2pListen?: string[]
  /** Dial the certified nodes' charter addresses. @default true */
  p2pBootstrap?: boolean
  /** Dial only these peer ids (empty: every certified node). */
  p2pBootstrapPeers?: readonly string[]
  /** How long a misbehaving peer is refused. */
  p2pBanMs?: number
  writeConcernTimeoutMs?: number
  /** Test-only switch: exposes POST /v1/_faults to cut this node off from given peers. */
  faultInjection?: boolean
  statusIntervalMs?: number
  metrics?: Metrics
  /** Outbound webhooks for work done once across the bloc (takeover). */
  duties?: { alertWebhook?: string | undefined; caseWebhook?: string | undefined }
  // TEMPORARY (config branch): accepted but not wired yet; the lead wires them to the services' Init.
  /** The engine's operational limits (config section `engine`). */
  engine?: Readonly<Partial<Record<string, number>>>
  /** Replication's operational limits (config section `replication`). */
  replication?: Readonly<Partial<Record<string, number>>>
}

export interface RunningNode {
  readonly url: string
  readonly engine: Engine
  readonly mesh: Mesh | undefined
  readonly app: FastifyInstance
  stop(): Promise<void>
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const ed = nativeEd25519
  const log = opts.logger
  const metrics = opts.metrics ?? createMetrics()
  const store = await LevelStore.open(join(opts.dataDir, 'db'))
  // Signature checks of large batches run on worker threads (the other cores).
  const verifier = new Verifier({ ed })
  let ready = false
  /** Set when stop() begins: the HTTP API then answers 503 SHUTTING_DOWN. */
  let shuttingDown = false
  let engine: Engine
  try {
    engine = await Engine.open({
      store,
      ed,
      nodeKeys: opts.nodeKeys,
      charter: opts.charter,
      verifier,
      observer: {
        accepted: (source, n) => metrics.recordsAccepted.inc({ source }, n),
        rejected: (code) => metrics.recordsRejected.inc({ code }),
        entryAppended: () => metrics.entriesAppended.inc(),
        entryReceived: (result) => metrics.entriesReceived.inc({ result }),
        writeLatency: (s) => metrics.writeLatency.observe(s),
      },
    })
  } catch (err) {
    await verifier.close()
    await store.close()
    throw err
  }
  // Found in an older charter version too: a node its state's expulsion left out still starts.
  const self = engine.certifiedNode(engine.nodeId)!

  // Test-only: peers this node pretends it cannot reach.
  const blocked = new Set<string>()
  const only = new Set(opts.p2pBootstrapPeers ?? [])
  let replication: Replication | undefined
  let mesh: Mesh | undefined
  const listen = opts.p2pListen ?? ['/ip4/127.0.0.1/tcp/0']
  if (listen.length > 0) {
    let rep: Replication | undefined
    mesh = await createMesh({
      privateKey: opts.nodeKeys.secretKey,
      listen,
      protocolPrefix: protocolPrefix(engine.bloc),
      isAllowedPeer: (peer) => !blocked.has(peer) && (rep?.isAllowedPeer(peer) ?? false),
      bootstrap: () =>
        opts.p2pBootstrap === false
          ? []
          : (rep?.bootstrapPeers() ?? []).filter(
              (p) => !blocked.has(p.peerId) && (only.size === 0 || only.has(p.peerId)),
            ),
      logger: log, // the mesh names its own component
    })
    rep = new Replication({
      engine,
      mesh,
      ed,
      logger: log.child({ component: COMPONENTS.replication }),
      ...(opts.statusIntervalMs ? { statusIntervalMs: opts.statusIntervalMs } : {}),
      ...(opts.p2pBanMs !== undefined ? { banMs: opts.p2pBanMs } : {}),
      observer: {
        peerMisbehaved: (_peer, code) => metrics.peerMisbehaviour.inc({ code }),
        peersChanged: (n) => metrics.peersConnected.set(n),
        lag: (peer, lag) => metrics.replicationLag.set({ peer }, lag),
      },
    })
    replication = rep
    rep.start()
    await mesh.start()
  }

  // Work done once across the bloc, by whichever live node the rendezvous rule picks.
  const cases = opts.duties?.caseWebhook
  const duties = new DutyScheduler(
    {
      engine,
      store,
      // TEMPORARY adapter until Replication implements SyncRegistrar: replication still calls
      // the scheduler through setDuties() below, so handle/unhandle have nothing to do.
      registrar: {
        handle: () => {},
        unhandle: () => {},
        broadcast: (msg) => {
          if (msg.t === 'dutyDone') for (const d of msg.done) replication?.broadcastDutyDone(d)
        },
        liveNodes: () => replication?.liveNodes() ?? [],
      },
      logger: log, // the scheduler names its own component
    },
    {
      webhooks: {
        ...(opts.duties?.alertWebhook ? { alerts: opts.duties.alertWebhook } : {}),
        ...(cases
          ? { cases: Object.fromEntries([...engine.charter.members.keys()].map((m) => [m, cases])) }
          : {}),
      },
    },
  )
  replication?.setDuties(duties)
  await duties.start()

  const app = await buildApp({
    ctx: {
      engine,
      ed,
      now: Date.now,
      replication,
      writeConcernTimeoutMs: opts.writeConcernTimeoutMs ?? 5000,
      node: { peerId: self.peerId, name: self.name, state: self.state, version: VERSION },
      // A node whose storage failed takes no writes: load balancers should send clients elsewhere.
      isReady: () => ready && engine.failure === undefined,
      isStopping: () => shuttingDown,
    },
    logger: log.child({ component: COMPONENTS.http }),
    registry: metrics.registry,
    httpRequests: metrics.httpRequests,
    httpErrors: metrics.httpErrors,
    ...(opts.http.bodyLimit ? { bodyLimit: opts.http.bodyLimit } : {}),
    ...(opts.http.rateLimitPerMinute ? { rateLimitPerMinute: opts.http.rateLimitPerMinute } : {}),
    ...(opts.http.trustProxy ? { trustProxy: opts.http.trustProxy } : {}),
    extraRoutes: opts.faultInjection && mesh ? faultRoutes(mesh, blocked, log) : undefined,
  })
  await app.listen({ host: opts.http.host, port: opts.http.port })
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : opts.http.port
  const url = `http://${opts.http.host.includes(':') ? `[${opts.http.host}]` : opts.http.host}:${port}`
  ready = true
  log.info(
    { url, nodeId: engine.nodeId, peerId: self.peerId, state: self.state, p2p: mesh?.addrs() ?? [] },
    'node started',
  )

  let stopping: Promise<void> | undefined
  return {
    url,
    engine,
    mesh,
    app,
    stop() {
      stopping ??= (async () => {
        ready = false
        shuttingDown = true
        // Stop accepting requests and let in-flight ones finish; then flush writes and close.
        await app.close()
        await duties.stop()
        replication?.stop()
        await mesh?.stop()
        await engine.close()
        await store.close()
        await verifier.close()
        log.info('node stopped')
      })()
      return stopping
    },
  }
}

/** Test-only fault injection: cut this node off from some peers, or heal. */
function faultRoutes(mesh: Mesh, blocked: Set<string>, log: Logger) {
  return async (app: FastifyInstance) => {
    app.post(
      '/v1/_faults',
      {
        schema: {
          hide: true,
          body: Type.Object(
            { block: Type.Array(Type.String({ maxLength: 128 }), { maxItems: 64 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const { block } = req.body as { block: string[] }
        blocked.clear()
        for (const p of block) blocked.add(p)
        log.warn({ blocked: block.length }, 'fault injection: peers blocked')
        await mesh.refreshAllowedPeers()
        return { blocked: block }
      },
    )
  }
}

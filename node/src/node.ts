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
import { Verifier } from './crypto/verifier.ts'
import { DutyScheduler } from './duties/index.ts'
import { Engine } from './engine/engine.ts'
import { buildApp } from './http/app.ts'
import { COMPONENTS } from './logger.ts'
import { createMesh, type Mesh } from './mesh/index.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { type PeerPolicyControl, peerPolicy, type Startable } from './replication/peer-policy.ts'
import { replication as createReplication, type Replication } from './replication/replication.ts'
import { LevelStore } from './storage/level-store.ts'

export const VERSION = '0.1.0'

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

  let replication: Replication | undefined
  let policy: (PeerPolicyControl & Startable) | undefined
  let mesh: Mesh | undefined
  const listen = opts.p2pListen ?? ['/ip4/127.0.0.1/tcp/0']
  if (listen.length > 0) {
    const peers = peerPolicy({
      bootstrap: opts.p2pBootstrap !== false,
      only: opts.p2pBootstrapPeers ?? [],
      ...(opts.p2pBanMs !== undefined ? { banMs: opts.p2pBanMs } : {}),
    })({ engine })
    policy = peers
    const m = await createMesh({
      privateKey: opts.nodeKeys.secretKey,
      listen,
      protocolPrefix: protocolPrefix(engine.bloc),
      isAllowedPeer: (peer) => peers.isAllowed(peer),
      bootstrap: () => peers.bootstrapPeers().map((p) => ({ peerId: p.peerId, addrs: [...p.addrs] })),
      logger: log, // the mesh names its own component
    })
    mesh = m
    // Until the mesh takes the policy as a component: a ban, an expiry, a charter amendment
    // or a fault injection drops peers no longer allowed.
    peers.onChange(() => void m.refreshAllowedPeers().catch(() => undefined))
    const rep = createReplication({
      ...(opts.statusIntervalMs ? { statusIntervalMs: opts.statusIntervalMs } : {}),
    })({
      engine,
      mesh: m,
      peerPolicy: peers,
      ed,
      logger: log.child({ component: COMPONENTS.replication }),
      observer: {
        peerMisbehaved: (_peer, code) => metrics.peerMisbehaviour.inc({ code }),
        peersChanged: (n) => metrics.peersConnected.set(n),
        lag: (peer, lag) => metrics.replicationLag.set({ peer }, lag),
      },
    })
    replication = rep
    await peers.start()
    await rep.start()
    await m.start()
  }

  // Work done once across the bloc, by whichever live node the rendezvous rule picks.
  const cases = opts.duties?.caseWebhook
  const duties = new DutyScheduler(
    {
      engine,
      store,
      liveNodes: () => replication?.liveNodes() ?? [],
      announce: (d) => replication?.broadcast({ t: 'dutyDone', done: [d] }),
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
  // Until the scheduler registers itself: duties done travel with the sync protocol.
  replication?.handle('dutyDone', {
    // Claims arrive over the peer's authenticated channel; only certified nodes count.
    onMessage: async (msg) => {
      for (const d of msg.done) if (engine.charter.nodes.has(d.node)) await duties.onAnnounced(d)
    },
    // A node coming back learns what was done while it was away, so it does not redo it.
    onConnect: async () => {
      const done = await duties.recentDone(1000)
      return done.length > 0 ? { t: 'dutyDone', done } : undefined
    },
  })
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
    extraRoutes: opts.faultInjection && mesh && policy ? faultRoutes(mesh, policy, log) : undefined,
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
        await replication?.stop()
        await policy?.stop()
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
function faultRoutes(mesh: Mesh, policy: PeerPolicyControl, log: Logger) {
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
        policy.block(block)
        log.warn({ blocked: block.length }, 'fault injection: peers blocked')
        await mesh.refreshAllowedPeers()
        return { blocked: block }
      },
    )
  }
}

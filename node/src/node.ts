/**
 * A running Legation node: every part is a service of one shape (`service.ts`), built first
 * with what it depends on, then started in order and stopped in reverse.
 *
 *   store → verifier → engine → peer policy → replication → duties → witness → mesh → HTTP
 *
 * Handlers come before the transports that feed them: replication, the duty scheduler and the witness
 * register for peers' frames before the mesh opens, and the HTTP API listens last, once
 * everything it reads is up. It stops first, letting requests in flight finish.
 *
 * @example
 * const node = await startNode({ dataDir, charter, nodeKeys, logger, http: { host: '127.0.0.1', port: 8080 } })
 * console.log(node.url)
 * await node.stop()
 */

import { join } from 'node:path'
import { charterHash, type KeyPair, protocolPrefix, type SignedCharter } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import pkg from '../package.json' with { type: 'json' }
import { nodeBackup } from './backup/snapshot.ts'
import { DEFAULT_UNSYNCED_SERVE_AFTER_MS } from './config/schema.ts'
import { type VerifierInit, verifier } from './crypto/verifier.ts'
import { secureDataDir } from './data-dir.ts'
import { dutyScheduler, EVERY_STATE } from './duties/index.ts'
import { engine as createEngine, type Engine, type EngineInit } from './engine/engine.ts'
import { type HttpServerInit, httpServer } from './http/server.ts'
import { COMPONENTS } from './logger.ts'
import { mesh as createMesh, DEFAULT_LISTEN, type Mesh } from './mesh/index.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { nodeUrls } from './node-urls.ts'
import { type PeerPolicyControl, peerPolicy } from './replication/peer-policy.ts'
import { LOCAL_REGISTRAR } from './replication/registrar.ts'
import {
  replication as createReplication,
  type Replication,
  type ReplicationInit,
} from './replication/replication.ts'
import { type NamedService, startServices } from './service.ts'
import { levelStore } from './storage/level-store.ts'
import { type StoreUpkeepInit, storeUpkeep } from './storage/upkeep.ts'
import { type WitnessInit, witness } from './witness/witness.ts'

/** This package's version, as its package.json says. */
export const VERSION: string = pkg.version

export interface NodeOptions {
  dataDir: string
  charter: readonly SignedCharter[]
  nodeKeys: KeyPair
  logger: Logger
  http: HttpServerInit & { host: string; port: number }
  p2p?: {
    /** Multiaddrs to listen on; an empty list runs the node without a mesh. @default DEFAULT_LISTEN */
    listen?: readonly string[]
    /** Dial the certified nodes' charter addresses. @default DEFAULT_BOOTSTRAP */
    bootstrap?: boolean
    /** Dial only these peer ids (empty: every certified node). */
    bootstrapPeers?: readonly string[]
    /** How long a misbehaving peer is refused, in ms. @default DEFAULT_BAN_MS */
    banMs?: number
  }
  /** The engine's budgets and record clock bounds (the charter comes from `charter`). */
  engine?: Omit<EngineInit, 'charter'>
  replication?: ReplicationInit
  verifier?: VerifierInit
  /** @default DEFAULT_WRITE_CONCERN_TIMEOUT_MS */
  writeConcernTimeoutMs?: number
  /** Test-only switch: exposes POST /v1/_faults to cut this node off from given peers. */
  faultInjection?: boolean
  metrics?: Metrics
  /** Outbound webhooks for work done once across the bloc (takeover). */
  duties?: {
    alertWebhook?: string | undefined
    /** The case queue of every state not in `caseRoutes`. */
    caseWebhook?: string | undefined
    /** Per nationality state, its case queue: `STATE=URL` entries. */
    caseRoutes?: readonly string[] | undefined
    /** @default DEFAULT_HAND_ON_MS (duties/options.ts) */
    handOnMs?: number | undefined
  }
  /** Checkpointing and cosigning (witness.ts). */
  witness?: WitnessInit
  /** When the store is compacted after a load of writes (storage/upkeep.ts). */
  storeUpkeep?: StoreUpkeepInit
  /**
   * How long a node that cannot catch up with any peer after it starts withholds personal data
   * (it may not know of an erasure yet); then it serves what it holds, and says so in its log.
   * @default DEFAULT_UNSYNCED_SERVE_AFTER_MS
   */
  unsyncedServeAfterMs?: number
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
  const metrics = opts.metrics ?? createMetrics({ dataDir: opts.dataDir })
  let ready = false
  /** Set when stop() begins: the HTTP API then answers 503 SHUTTING_DOWN. */
  let shuttingDown = false

  // Keys and personal data: no other user of the machine may read the folder.
  await secureDataDir(opts.dataDir, log)
  const store = levelStore({ path: join(opts.dataDir, 'db') })()
  // Signature checks of large batches run on worker threads (the other cores).
  const verify = verifier(opts.verifier)({ ed })
  const engine = createEngine({ ...opts.engine, charter: opts.charter })({
    store,
    ed,
    nodeKeys: opts.nodeKeys,
    verifier: verify,
    observer: {
      accepted: (source, n) => metrics.recordsAccepted.inc({ source }, n),
      rejected: (code) => metrics.recordsRejected.inc({ code }),
      entryAppended: () => metrics.entriesAppended.inc(),
      entryReceived: (result) => metrics.entriesReceived.inc({ result }),
      writeLatency: (s) => metrics.writeLatency.observe(s),
      evidenceStored: (kind) => metrics.evidenceStored.inc({ kind }),
      migrated: ({ from, to, sealed }) =>
        log.warn(
          { from, to, sealed },
          'migrated the store to a newer data format (what each format changed: migrate.ts)',
        ),
      rebuilt: ({ before, after, ownWaiting }) => {
        const dropped = Object.entries(before).reduce((n, [o, s]) => n + s - (after[o] ?? 0), 0)
        log.warn(
          { dropped, ownWaiting },
          'rebuilt the derived state without entries that do not stand (a charter amendment voided them, or a fork lost)',
        )
        if (ownWaiting)
          log.warn(
            ownWaiting,
            'own entries wait for the version of a fork that stands, which peers hold: no writes until they apply',
          )
      },
    },
  })
  // A compaction of the whole store once a load of writes is over (storage/upkeep.ts).
  const upkeep = storeUpkeep(opts.storeUpkeep)({ store, logger: log })
  metrics.observeStore(upkeep)
  const services: NamedService[] = [
    { name: 'store', service: store },
    { name: 'store upkeep', service: upkeep },
    { name: 'verifier', service: verify },
    { name: 'engine', service: engine },
  ]

  const listen = [...(opts.p2p?.listen ?? DEFAULT_LISTEN)]
  let p2p: { policy: PeerPolicyControl; mesh: Mesh; replication: Replication } | undefined
  if (listen.length > 0) {
    const policy = peerPolicy({
      ...(opts.p2p?.bootstrap !== undefined ? { bootstrap: opts.p2p.bootstrap } : {}),
      ...(opts.p2p?.bootstrapPeers ? { only: opts.p2p.bootstrapPeers } : {}),
      ...(opts.p2p?.banMs !== undefined ? { banMs: opts.p2p.banMs } : {}),
    })({ engine })
    const mesh = createMesh({
      privateKey: opts.nodeKeys.secretKey,
      listen,
      // The bloc's own protocol ids; the bloc id is the hash of the genesis charter.
      protocolPrefix: protocolPrefix(charterHash(opts.charter[0]!.charter)),
    })({ peerPolicy: policy, logger: log })
    metrics.observeMesh(mesh.traffic)
    const replication = createReplication(opts.replication)({
      engine,
      mesh,
      peerPolicy: policy,
      ed,
      logger: log.child({ component: COMPONENTS.replication }),
      observer: {
        peerMisbehaved: (_peer, code) => metrics.peerMisbehaviour.inc({ code }),
        peersChanged: (n) => metrics.peersConnected.set(n),
        lag: (peer, lag) => metrics.replicationLag.set({ peer }, lag),
        sent: (type, bytes) => {
          metrics.syncBytesSent.inc({ type }, bytes)
          // Entries sent are a peer's catch-up or this node's own writes: no time to compact.
          if (type === 'entries') upkeep.busy()
        },
      },
    })
    p2p = { policy, mesh, replication }
    services.push({ name: 'peer-policy', service: policy }, { name: 'replication', service: replication })
  }

  // Work done once across the bloc, by whichever live node the rendezvous rule picks.
  // Each state's cases to its own queue where one is routed, the others to the common one (the
  // body names the nationality state). A duty this node has no webhook for is handed on, not dropped.
  const cases: Record<string, string> = {}
  if (opts.duties?.caseWebhook) cases[EVERY_STATE] = opts.duties.caseWebhook
  for (const route of opts.duties?.caseRoutes ?? []) {
    const at = route.indexOf('=')
    cases[route.slice(0, at)] = route.slice(at + 1)
  }
  const duties = dutyScheduler({
    ...(opts.duties?.handOnMs !== undefined ? { handOnMs: opts.duties.handOnMs } : {}),
    webhooks: {
      ...(opts.duties?.alertWebhook ? { alerts: opts.duties.alertWebhook } : {}),
      ...(Object.keys(cases).length > 0 ? { cases } : {}),
    },
  })({ engine, store, registrar: p2p?.replication ?? LOCAL_REGISTRAR, logger: log })
  services.push({ name: 'duties', service: duties })
  // Every node checks and cosigns the others' checkpoints: member states as witnesses.
  const witnessing = witness(opts.witness)({
    engine,
    store,
    ed,
    nodeKeys: opts.nodeKeys,
    registrar: p2p?.replication ?? LOCAL_REGISTRAR,
    observer: {
      cosigned: () => metrics.checkpointsCosigned.inc(),
      cosignatureHeld: () => metrics.cosignaturesHeld.inc(),
      final: () => metrics.checkpointsFinal.inc(),
      splitView: () => metrics.splitViews.inc(),
    },
    logger: log,
  })
  services.push({ name: 'witness', service: witnessing })
  // Each node's public HTTP address, announced by itself and relayed: the portal's failover list.
  const addresses = nodeUrls({ publicUrl: opts.http.publicUrl })({
    engine,
    ed,
    nodeKeys: opts.nodeKeys,
    registrar: p2p?.replication ?? LOCAL_REGISTRAR,
    logger: log,
  })
  services.push({ name: 'node-urls', service: addresses })
  if (p2p) services.push({ name: 'mesh', service: p2p.mesh })

  // Personal data waits until this node has caught up with a peer (docs/privacy.md § Erasure).
  const startedAt = Date.now()
  const unsyncedAfter = opts.unsyncedServeAfterMs ?? DEFAULT_UNSYNCED_SERVE_AFTER_MS
  let servingUnsynced = false
  const servable = () => {
    if (!p2p || servingUnsynced || p2p.replication.caughtUp()) return true
    if ([...engine.charter.nodes.keys()].every((id) => id === engine.nodeId)) return true
    if (Date.now() - startedAt < unsyncedAfter) return false
    servingUnsynced = true
    log.warn(
      { waitedMs: unsyncedAfter },
      'no peer caught up with since start: serving personal data without knowing of erasures made meanwhile',
    )
    return true
  }
  const http = httpServer(opts.http)({
    store,
    ctx: {
      engine,
      ed,
      now: Date.now,
      replication: p2p?.replication,
      personalDataServable: servable,
      witness: witnessing,
      writeConcernTimeoutMs: opts.writeConcernTimeoutMs,
      get node() {
        // Found in an older charter version too: a node its state's expulsion left out still starts.
        const self = engine.certifiedNode(engine.nodeId)!
        return { peerId: self.peerId, name: self.name, state: self.state, version: VERSION }
      },
      // A node whose storage failed takes no writes: load balancers should send clients elsewhere.
      isReady: () => ready && engine.failure === undefined,
      isStopping: () => shuttingDown,
      backup: () => nodeBackup(engine, store, VERSION),
    },
    logger: log.child({ component: COMPONENTS.http }),
    registry: metrics.registry,
    httpRequests: metrics.httpRequests,
    httpErrors: metrics.httpErrors,
    extraRoutes: opts.faultInjection && p2p ? faultRoutes(p2p.mesh, p2p.policy, log) : undefined,
    nodeUrls: () => addresses.urls(),
  })
  services.push({ name: 'http', service: http })

  const stopServices = await startServices(services, log)
  // Restored, in a bloc where no other node is certified: nobody else holds this node's feed, so
  // there is no head to learn (backup/restore-fence.ts) and it writes at once.
  if (engine.restore.pending && [...engine.charter.nodes.keys()].every((id) => id === engine.nodeId)) {
    await engine.restore.check(engine.versionVector()[engine.nodeId] ?? 0, [], 0)
  }
  ready = true
  const self = engine.certifiedNode(engine.nodeId)!
  log.info(
    {
      url: http.url,
      nodeId: engine.nodeId,
      peerId: self.peerId,
      state: self.state,
      p2p: p2p?.mesh.addrs() ?? [],
    },
    'node started',
  )

  let stopping: Promise<void> | undefined
  return {
    url: http.url,
    engine,
    mesh: p2p?.mesh,
    app: http.app,
    stop() {
      stopping ??= (async () => {
        ready = false
        shuttingDown = true
        // In reverse: the HTTP API lets requests in flight finish, and the store closes last.
        await stopServices()
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

/**
 * Prometheus metrics of one node, on a registry of its own (never prom-client's global one,
 * so that several nodes in one test process do not share counters). Served at `GET /metrics`.
 *
 * @example
 * const metrics = createMetrics()
 * metrics.recordsAccepted.inc({ source: 'client' })
 * const end = metrics.writeLatency.startTimer(); await commit(); end()
 * reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
 */

import { statfs } from 'node:fs/promises'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { RemoteResult } from './engine/types.ts'
import type { StoreUpkeepStats } from './storage/upkeep.ts'

export const METRIC_PREFIX = 'legation_'

/**
 * Seconds, 0.5 ms to 2 s: a durable group commit takes about a millisecond on an SSD
 * (LevelDB batched, synced), a write that waits for peer receipts tens to hundreds.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2,
]

export type RecordSource = 'client' | 'peer'
/** What became of a peer's entry (the engine's `RemoteResult`, or refused). */
export type EntryResult = RemoteResult | 'invalid'

export interface MetricsInit {
  /** Also collect prom-client's process and Node.js runtime metrics. @default true */
  defaultMetrics?: boolean
  /** Labels added to every metric (e.g. `{ node: 'dev-DVA-1' }`). @default {} */
  labels?: Record<string, string>
  /**
   * The node's data dir: when given, the free and total bytes of its filesystem are read at each
   * scrape (`legation_data_dir_free_bytes`, `legation_data_dir_size_bytes`), so that an alert
   * sees the disk fill before LevelDB's writes fail. @default undefined
   */
  dataDir?: string
}

export interface Metrics {
  readonly registry: Registry
  /** Signed records accepted, by where they came from. */
  readonly recordsAccepted: Counter<'source'>
  /** Records refused, by error code. */
  readonly recordsRejected: Counter<'code'>
  /** Entries this node signed and appended to its own feed. */
  readonly entriesAppended: Counter
  /** Entries received from peers, by outcome. */
  readonly entriesReceived: Counter<'result'>
  /** Checkpoints of other nodes' feeds this node checked and cosigned (as a witness). */
  readonly checkpointsCosigned: Counter
  readonly cosignaturesHeld: Counter
  /** Feeds whose checkpoint became bloc-final here (cosigned by a quorum of member states). */
  readonly checkpointsFinal: Counter
  /** Checkpoints that contradict another view of their node's feed (stored as evidence). */
  readonly splitViews: Counter
  /** From accepting a write to it being durable here (peers' receipts not included). */
  readonly writeLatency: Histogram
  readonly httpRequests: Histogram<'method' | 'route' | 'status'>
  /** HTTP error answers (problem responses), by code. */
  readonly httpErrors: Counter<'code'>
  readonly peersConnected: Gauge
  /** Misbehaviour seen from peers, by error code. */
  readonly peerMisbehaviour: Counter<'code'>
  /**
   * Entries this node has that the peer is not known to have, by peer: what this node still
   * has to send it (replication's `lagOf(mine, theirs)`).
   */
  readonly replicationLag: Gauge<'peer'>
  /**
   * Signed evidence this node kept for the secretariat, by kind (`equivocation`, `refused`): what
   * an alert on a node watches for between two runs of `legation audit`.
   */
  readonly evidenceStored: Counter<'kind'>
  /**
   * Frame payload bytes and frames the mesh sent and received (`direction`: `sent`,
   * `received`), read from the mesh's counters at each scrape once `observeMesh` was called:
   * the replication traffic per node, which must not grow with the bloc's size.
   */
  readonly meshBytes: Counter<'direction'>
  /**
   * Bytes of sync messages queued for peers, by message type (`entries`, `status`, `checkpoint`,
   * …): which part of the protocol the mesh traffic is.
   */
  readonly syncBytesSent: Counter<'type'>
  readonly meshFrames: Counter<'direction'>
  /** Reads the mesh's traffic counters at each scrape. */
  observeMesh(traffic: MeshTrafficCounts): void
  /**
   * Reads store upkeep's figures at each scrape (storage/upkeep.ts): compactions done and how
   * long the last took, whether one runs now, and the bytes written since the last began.
   */
  observeStore(upkeep: { readonly stats: StoreUpkeepStats }): void
}

/** The mesh's running totals (`MeshTraffic`). */
export interface MeshTrafficCounts {
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly framesSent: number
  readonly framesReceived: number
}

export function createMetrics(init: MetricsInit = {}): Metrics {
  const registry = new Registry()
  if (init.labels) registry.setDefaultLabels(init.labels)
  if (init.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const p = METRIC_PREFIX
  let mesh: MeshTrafficCounts | undefined
  let store: { readonly stats: StoreUpkeepStats } | undefined
  // A gauge whose value is one of store upkeep's figures, read at each scrape.
  const fromStore = (name: string, help: string, read: (s: StoreUpkeepStats) => number) =>
    new Gauge({
      name: `${p}${name}`,
      help,
      registers,
      collect() {
        if (store !== undefined) this.set(read(store.stats))
      },
    })
  new Counter({
    name: `${p}store_compactions_total`,
    help: 'Whole-store compactions done since the node started, each after a load of writes',
    registers,
    collect() {
      if (store === undefined) return
      this.reset()
      this.inc(store.stats.compactions)
    },
  })
  fromStore('store_compacting', '1 while the node compacts its store', (s) => (s.compacting ? 1 : 0))
  fromStore(
    'store_last_compaction_seconds',
    'How long the last whole-store compaction took',
    (s) => s.lastCompactionSeconds,
  )
  fromStore(
    'store_written_since_compaction_bytes',
    'Bytes of keys and values written to the store since its last compaction began (or the node started)',
    (s) => s.bytesSinceCompaction,
  )
  // A counter whose value is the mesh's own running total, set at each scrape.
  const fromMesh = (name: string, help: string, read: (t: MeshTrafficCounts, sent: boolean) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['direction'],
      registers,
      collect() {
        if (mesh === undefined) return
        this.reset()
        this.inc({ direction: 'sent' }, read(mesh, true))
        this.inc({ direction: 'received' }, read(mesh, false))
      },
    })
  if (init.dataDir) diskGauges(init.dataDir, registers)
  return {
    registry,
    meshBytes: fromMesh(
      `${p}mesh_bytes_total`,
      'Frame payload bytes exchanged with peers, by direction',
      (t, sent) => (sent ? t.bytesSent : t.bytesReceived),
    ),
    meshFrames: fromMesh(`${p}mesh_frames_total`, 'Frames exchanged with peers, by direction', (t, sent) =>
      sent ? t.framesSent : t.framesReceived,
    ),
    syncBytesSent: new Counter({
      name: `${p}sync_bytes_sent_total`,
      help: 'Bytes of sync messages queued for peers, by message type',
      labelNames: ['type'],
      registers,
    }),
    observeMesh(traffic) {
      mesh = traffic
    },
    observeStore(upkeep) {
      store = upkeep
    },
    recordsAccepted: new Counter({
      name: `${p}records_accepted_total`,
      help: 'Signed records accepted, by source (client or peer)',
      labelNames: ['source'],
      registers,
    }),
    recordsRejected: new Counter({
      name: `${p}records_rejected_total`,
      help: 'Records refused, by error code',
      labelNames: ['code'],
      registers,
    }),
    entriesAppended: new Counter({
      name: `${p}entries_appended_total`,
      help: "Entries appended to this node's own feed",
      registers,
    }),
    entriesReceived: new Counter({
      name: `${p}entries_received_total`,
      help: 'Entries received from peers, by result',
      labelNames: ['result'],
      registers,
    }),
    checkpointsCosigned: new Counter({
      name: `${p}checkpoints_cosigned_total`,
      help: "Checkpoints of other nodes' feeds this node checked against their entries and cosigned",
      registers,
    }),
    cosignaturesHeld: new Counter({
      name: `${p}cosignatures_held_total`,
      help: 'Cosignatures this node made but did not send: the checkpoint was bloc-final here before their turn came',
      registers,
    }),
    checkpointsFinal: new Counter({
      name: `${p}checkpoints_final_total`,
      help: 'Checkpoints that became bloc-final here: cosigned by nodes of a quorum of member states',
      registers,
    }),
    splitViews: new Counter({
      name: `${p}split_views_total`,
      help: 'Checkpoints that contradict another view of their feed (kept as split-view evidence)',
      registers,
    }),
    writeLatency: new Histogram({
      name: `${p}write_latency_seconds`,
      help: 'Time from accepting a write to acknowledging it',
      buckets: [...LATENCY_BUCKETS],
      registers,
    }),
    httpRequests: new Histogram({
      name: `${p}http_request_duration_seconds`,
      help: 'HTTP requests, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    }),
    httpErrors: new Counter({
      name: `${p}http_errors_total`,
      help: 'HTTP error answers (problem+json), by code',
      labelNames: ['code'],
      registers,
    }),
    peersConnected: new Gauge({
      name: `${p}peers_connected`,
      help: 'Certified peers currently connected',
      registers,
    }),
    peerMisbehaviour: new Counter({
      name: `${p}peer_misbehaviour_total`,
      help: 'Malformed, forged or unauthorized input from peers, by error code',
      labelNames: ['code'],
      registers,
    }),
    replicationLag: new Gauge({
      name: `${p}replication_lag_entries`,
      help: 'Entries this node has that the peer is not known to have, by peer',
      labelNames: ['peer'],
      registers,
    }),
    evidenceStored: new Counter({
      name: `${p}evidence_stored_total`,
      help: 'Signed evidence kept for the secretariat (equivocations, refused entries), by kind',
      labelNames: ['kind'],
      registers,
    }),
  }
}

/** Free (to this user) and total bytes of the filesystem that holds `dir`, read when scraped. */
function diskGauges(dir: string, registers: Registry[]): void {
  const read = async () => {
    const fs = await statfs(dir)
    return { free: fs.bavail * fs.bsize, size: fs.blocks * fs.bsize }
  }
  new Gauge({
    name: `${METRIC_PREFIX}data_dir_free_bytes`,
    help: "Bytes free to the node's user on the filesystem of its data dir",
    registers,
    async collect() {
      this.set((await read()).free)
    },
  })
  new Gauge({
    name: `${METRIC_PREFIX}data_dir_size_bytes`,
    help: "Size in bytes of the filesystem of the node's data dir",
    registers,
    async collect() {
      this.set((await read()).size)
    },
  })
}

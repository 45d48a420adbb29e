/**
 * The node's configuration schema: every setting an operator may change, with its bounds, its
 * description (shown by `--help`) and its default. A default that belongs to a service is that
 * service's `DEFAULT_*` constant, imported here, so each default is defined once.
 */

import { DEFAULT_MAX_DRIFT_MS, MAX_FRAME_BYTES, MAX_WANT } from '@legation/protocol'
import { type Static, Type } from '@sinclair/typebox'
import {
  DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
  DEFAULT_DOC_CACHE,
  DEFAULT_DOC_CACHE_BYTES,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
  DEFAULT_RECORD_MAX_AHEAD_MS,
} from '../engine/engine.ts'
import { DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_REQUEST_TIMEOUT_MS } from '../http/app.ts'
import { DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_WRITE_CONCERN_TIMEOUT_MS } from '../http/server.ts'
import { DEFAULT_DATA_DIR } from '../layout.ts'
import { DEFAULT_LISTEN } from '../mesh/options.ts'
import { DEFAULT_BOOTSTRAP } from '../replication/peer-policy.ts'
import {
  DEFAULT_BAN_MS,
  DEFAULT_ENTRIES_PER_FRAME,
  DEFAULT_FRAME_BUDGET,
  DEFAULT_FRAMES_IN_FLIGHT,
  DEFAULT_MAX_QUEUED_FRAMES,
  DEFAULT_RECEIPT_WINDOW_MS,
  DEFAULT_STATUS_INTERVAL_MS,
} from '../replication/replication.ts'
import { DEFAULT_COMPACT_IDLE_MS, DEFAULT_COMPACT_MIN_BYTES } from '../storage/upkeep.ts'
import { DEFAULT_COSIGN_SPREAD_MS, DEFAULT_WITNESS_INTERVAL_MS } from '../witness/witness.ts'

export { DEFAULT_DATA_DIR, DEFAULT_HTTP_HOST, DEFAULT_HTTP_PORT, DEFAULT_WRITE_CONCERN_TIMEOUT_MS }
export const DEFAULT_P2P_LISTEN = DEFAULT_LISTEN
export const DEFAULT_P2P_BOOTSTRAP = DEFAULT_BOOTSTRAP
export const DEFAULT_LOG_LEVEL = 'info'
export const DEFAULT_FAULT_INJECTION = false

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const MAX_BODY_LIMIT = 64 * 1024 * 1024
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const MIB = 1024 * 1024

const strict = { additionalProperties: false } as const

/** A whole number of milliseconds (or of things) within bounds, with its default and meaning. */
/** Two years: long enough to follow a stay abroad and its crises, not a lifetime. */
export const DEFAULT_RETENTION_DAYS = 730
export const DEFAULT_UNSYNCED_SERVE_AFTER_MS = 30_000

const int = (minimum: number, maximum: number, def: number, description: string) =>
  Type.Integer({ minimum, maximum, default: def, description })

const Engine = Type.Object(
  {
    recordMaxAheadMs: int(
      SECOND,
      HOUR,
      DEFAULT_RECORD_MAX_AHEAD_MS,
      'How far ahead of this node’s clock a record submitted by a client may be dated, in ms',
    ),
    officerRecordMaxAgeMs: int(
      SECOND,
      DAY,
      DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
      'How long ago an officer’s record submitted by a client may be dated, in ms (also how long a revoked key may still sign back-dated records)',
    ),
    citizenRecordMaxAgeMs: int(
      MINUTE,
      30 * DAY,
      DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
      'How long ago a citizen’s record submitted by a client may be dated, in ms (citizens may sign offline)',
    ),
    maxClockDriftMs: int(
      SECOND,
      HOUR,
      DEFAULT_MAX_DRIFT_MS,
      'How far ahead of this node’s clock a peer’s entry may be stamped; further ahead it waits (a runaway clock does not drag this one)',
    ),
    docCacheSize: int(1, 1_000_000, DEFAULT_DOC_CACHE, 'Documents kept decoded in memory'),
    docCacheBytes: int(
      MIB,
      64 * 1024 * MIB,
      DEFAULT_DOC_CACHE_BYTES,
      'Memory the documents kept decoded may hold, in bytes (estimated from their size: a citizen’s document grows with every record about them)',
    ),
    maxPending: int(
      1,
      10_000_000,
      DEFAULT_MAX_PENDING,
      'Remote entries held while they wait for earlier ones; past it they are fetched again later',
    ),
    maxPendingAgeMs: int(
      SECOND,
      DAY,
      DEFAULT_MAX_PENDING_AGE_MS,
      'How long a remote entry is held while it waits for earlier ones; then it is let go and fetched again later',
    ),
    maxPendingBytes: int(
      // At least one largest entry with its payloads (MAX_FRAME_BYTES).
      MAX_FRAME_BYTES,
      16 * 1024 * MIB,
      DEFAULT_MAX_PENDING_BYTES,
      'Bytes of the remote entries held while they wait for earlier ones',
    ),
  },
  strict,
)

const Replication = Type.Object(
  {
    statusIntervalMs: int(
      50,
      MINUTE,
      DEFAULT_STATUS_INTERVAL_MS,
      'How often peers exchange what they have (anti-entropy), in ms',
    ),
    entriesPerFrame: int(1, MAX_WANT, DEFAULT_ENTRIES_PER_FRAME, 'Entries asked for and sent per frame'),
    frameBudget: int(
      64 * 1024,
      // An entry and its payloads always fit a frame; the rest of MAX_FRAME_BYTES is the slack.
      MAX_FRAME_BYTES - MIB,
      DEFAULT_FRAME_BUDGET,
      'Bytes of entries and payloads per sync frame',
    ),
    maxQueuedFrames: int(
      1,
      10_000,
      DEFAULT_MAX_QUEUED_FRAMES,
      'Frames queued for one peer before pushes to it are dropped (it catches up by asking; an answer to its want takes the oldest push’s place)',
    ),
    framesInFlight: int(1, 64, DEFAULT_FRAMES_IN_FLIGHT, 'Frames from one peer verified and applied at once'),
    receiptWindowMs: int(
      SECOND,
      DAY,
      DEFAULT_RECEIPT_WINDOW_MS,
      'Receipts are signed for entries this recent, in ms (at least writeConcernTimeoutMs)',
    ),
  },
  strict,
)

/** An http(s) address: scheme, host, optional port and path. */
const HttpUrl = Type.String({ minLength: 8, maxLength: 256, pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' })

export const ConfigSchema = Type.Object(
  {
    dataDir: Type.String({
      minLength: 1,
      default: DEFAULT_DATA_DIR,
      description: 'Folder of the node store, its keys and (in development) the generated bloc',
    }),
    http: Type.Object(
      {
        host: Type.String({ minLength: 1, default: DEFAULT_HTTP_HOST, description: 'HTTP listen address' }),
        port: int(0, 65535, DEFAULT_HTTP_PORT, 'HTTP listen port (0: any free port)'),
        bodyLimit: int(1024, MAX_BODY_LIMIT, DEFAULT_BODY_LIMIT, 'Largest accepted request body, in bytes'),
        requestTimeoutMs: int(
          SECOND,
          10 * MINUTE,
          DEFAULT_REQUEST_TIMEOUT_MS,
          'How long a client may take to send a whole request, in ms; a slower one is answered 408 and disconnected',
        ),
        rateLimit: Type.Object(
          {
            max: Type.Integer({
              minimum: 1,
              default: DEFAULT_RATE_LIMIT_PER_MINUTE,
              description: 'Requests per minute per client',
            }),
          },
          strict,
        ),
        trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Fa-f.:/]+$' }), {
          maxItems: 32,
          default: [],
          description:
            'Addresses or CIDR ranges of reverse proxies in front of the node: their X-Forwarded-For names the client (per-client rate limit); empty: the connecting address is the client',
        }),
        blocUrls: Type.Array(HttpUrl, {
          maxItems: 64,
          default: [],
          description:
            'Public HTTP addresses of the bloc’s nodes (this one too): the portal moves to another when its node stops answering, and pages they serve may call this node (CORS, CSP connect-src)',
        }),
        publicUrl: Type.Optional(
          Type.String({
            minLength: HttpUrl.minLength,
            maxLength: HttpUrl.maxLength,
            pattern: HttpUrl.pattern,
            description:
              'This node’s public HTTP address (behind its proxy, as browsers reach it), announced to the bloc signed with the node key: the portal learns every node’s address from any node',
          }),
        ),
        corsOrigins: Type.Array(HttpUrl, {
          maxItems: 32,
          default: [],
          description: 'Origins of a portal hosted elsewhere that browsers may let call this node (CORS)',
        }),
      },
      strict,
    ),
    p2p: Type.Object(
      {
        listen: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
          maxItems: 16,
          default: DEFAULT_P2P_LISTEN,
          description: 'libp2p listen multiaddrs',
        }),
        bootstrap: Type.Boolean({
          default: DEFAULT_P2P_BOOTSTRAP,
          description: 'Dial the addresses the charter lists for the other nodes',
        }),
        bootstrapPeers: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
          maxItems: 256,
          default: [],
          description: 'Dial only these peer ids from the charter (empty: all certified nodes)',
        }),
        banMs: int(
          0,
          DAY,
          DEFAULT_BAN_MS,
          'How long a peer that sent invalid data stays disconnected, in ms',
        ),
      },
      strict,
    ),
    log: Type.Object(
      {
        level: Type.Union(
          LOG_LEVELS.map((l) => Type.Literal(l)),
          { default: DEFAULT_LOG_LEVEL, description: 'pino log level' },
        ),
      },
      strict,
    ),
    dev: Type.Boolean({
      description: 'Allow a generated development bloc (default: true when no charterFile is set)',
    }),
    charterFile: Type.Optional(
      Type.String({ minLength: 1, description: 'Charter chain file (canonical CBOR of SignedCharter[])' }),
    ),
    keyFile: Type.Optional(Type.String({ minLength: 1, description: 'The node key file (keystore)' })),
    /** Environment or config file only: a flag would show it in `ps`. */
    keyPassphrase: Type.Optional(
      Type.String({ minLength: 1, description: 'Passphrase of the key file (environment only)' }),
    ),
    /** A Docker secret or systemd credential: the passphrase kept out of the environment. */
    keyPassphraseFile: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'File whose first line is the passphrase of the key file (a Docker secret, systemd LoadCredential); keyPassphrase wins if both are set',
      }),
    ),
    faultInjection: Type.Boolean({
      default: DEFAULT_FAULT_INJECTION,
      description: 'Test only: enable the fault-injection control routes',
    }),
    duties: Type.Object(
      {
        alertWebhook: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description: 'URL that receives crisis-alert notifications (one per citizen)',
          }),
        ),
        caseWebhook: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 2048,
            description:
              'URL of the case queue that receives new cases of every state not routed by caseRoutes (the body names the nationality state)',
          }),
        ),
        handOnMs: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 86_400_000,
            description:
              'How long each node of a duty’s ranking waits for those ranked above it before delivering it itself (default 30000)',
          }),
        ),
        caseRoutes: Type.Optional(
          Type.Array(
            Type.String({
              pattern: '^[A-Z]{2,3}=https?://\\S+$',
              maxLength: 2048,
              description: 'STATE=URL',
            }),
            {
              maxItems: 64,
              description:
                'Per nationality state, the case queue of that state: STATE=URL entries (comma-separated in the environment); states not listed go to caseWebhook',
            },
          ),
        ),
      },
      strict,
    ),
    writeConcernTimeoutMs: int(
      1,
      600_000,
      DEFAULT_WRITE_CONCERN_TIMEOUT_MS,
      'How long a write waits for peer receipts when the client asks for them',
    ),
    engine: Engine,
    replication: Replication,
    privacy: Type.Object(
      {
        retentionDays: int(
          0,
          36_500,
          DEFAULT_RETENTION_DAYS,
          'Presence registrations and crisis check-ins signed longer ago than this many days have their personal data erased on this node (a presence still in force is kept); 0 keeps them',
        ),
        unsyncedServeAfterMs: int(
          0,
          HOUR,
          DEFAULT_UNSYNCED_SERVE_AFTER_MS,
          'How long a node that reaches no peer after it starts withholds personal data (it may not know of an erasure yet) before it serves what it holds, in ms',
        ),
      },
      strict,
    ),
    store: Type.Object(
      {
        compactAfterIdleMs: int(
          SECOND,
          DAY,
          DEFAULT_COMPACT_IDLE_MS,
          'How long writes (and entries sent to a peer catching up) must pause before the node compacts its whole store after a load of writes, in ms',
        ),
        compactAfterBytes: int(
          0,
          2 ** 40,
          DEFAULT_COMPACT_MIN_BYTES,
          'The least written since the last compaction, in bytes of keys and values, before the node compacts its store when writes pause; it also waits for a quarter of the store’s size',
        ),
      },
      strict,
    ),
    witness: Type.Object(
      {
        intervalMs: int(
          100,
          MINUTE,
          DEFAULT_WITNESS_INTERVAL_MS,
          'How often the node checkpoints its own feed (when it grew) and retries checkpoints that wait for entries, in ms',
        ),
        cosignSpreadMs: int(
          0,
          MINUTE,
          DEFAULT_COSIGN_SPREAD_MS,
          'The longest random delay before the node sends its cosignature of a checkpoint to its peers; not sent if the cosignatures of others come from a quorum of member states and one more by then (0: at once, always), in ms',
        ),
      },
      strict,
    ),
  },
  strict,
)

export type Config = Static<typeof ConfigSchema>

/**
 * The secretariat's audit of feeds, for the auditor key the charter names and only for it:
 * each feed's Merkle tree (RFC 6962), inclusion and consistency proofs, and this node's signed
 * checkpoint of its own feed (C2SP tlog-checkpoint in a C2SP signed note), and the signed entries
 * themselves, page by page, so the auditor can check every signature and recompute every root.
 * Nothing personal is here: entries carry record headers and signatures, and payloads only by
 * their digest (docs/protocol.md § Records); a Yjs update holds record ids only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { openEntry, toBase64url, toHex } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { NodeError } from '../../errors.ts'
import type { Principal } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import {
  AuditEntryPage,
  ConsistencyProofView,
  FeedTreeList,
  InclusionProofView,
  SignedCheckpointView,
} from '../schemas.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'

const Origin = Type.String({ pattern: '^[0-9a-f]{32}$', description: 'Node id of the feed’s origin' })
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })

/** Entries in a page of `GET /v1/audit/feeds/{origin}/entries` unless the auditor asks for another number. */
export const DEFAULT_AUDIT_PAGE_ENTRIES = 100
/** The most entries one page holds: a million-entry feed is a thousand requests. */
export const MAX_AUDIT_PAGE_ENTRIES = 1000
/**
 * A page stops once its entries reach this many bytes (it always holds one): an entry may be
 * 1 MiB (MAX_ENTRY_BYTES), so a page's answer stays under about 7 MB of base64url.
 */
export const MAX_AUDIT_PAGE_BYTES = 4 * 1024 * 1024

export function requireAuditor(p: Principal): void {
  if (p.type === 'anonymous') throw new NodeError('UNAUTHENTICATED')
  if (p.type !== 'auditor') throw new NodeError('FORBIDDEN', 'the auditor only')
}

export const auditRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  const audit = () => ctx.engine.audit
  const errors = problemResponses(400, 401, 403, 404, 429, 500, 503)

  app.get(
    '/v1/audit/checkpoint',
    {
      schema: {
        summary: 'This node’s signed checkpoint of its own feed (C2SP tlog-checkpoint, signed note)',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        response: { 200: SignedCheckpointView, ...errors },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const { note, verifierKey, origin, size } = await audit().checkpoint()
      return { note, verifierKey, origin, size }
    },
  )

  app.get(
    '/v1/audit/feeds',
    {
      schema: {
        summary: 'Every feed this node holds, with its Merkle tree’s size and root',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        response: { 200: FeedTreeList, ...errors },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const feeds = await audit().feedTrees()
      return { feeds: feeds.map((f) => ({ origin: f.origin, size: f.size, root: toBase64url(f.root) })) }
    },
  )

  app.get(
    '/v1/audit/feeds/:origin/entries',
    {
      schema: {
        summary: 'A page of a feed’s signed entries as stored, from `after + 1` on (no payloads)',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ origin: Origin }, { additionalProperties: false }),
        querystring: Type.Object(
          {
            after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
            limit: Type.Integer({
              minimum: 1,
              maximum: MAX_AUDIT_PAGE_ENTRIES,
              default: DEFAULT_AUDIT_PAGE_ENTRIES,
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: AuditEntryPage, ...errors },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const { origin } = req.params
      const { after, limit } = req.query
      // Only what is durable, the entries the node's tree and proofs cover.
      const { size } = await audit().feedTree(origin)
      const entries: Array<{ seq: number; hash: string | null; entry: string }> = []
      let bytes = 0
      if (after < size) {
        const want = Math.min(limit, size - after)
        for await (const raw of ctx.engine.entries(origin, after + 1, want)) {
          entries.push({ seq: after + entries.length + 1, hash: hashOf(raw), entry: toBase64url(raw) })
          bytes += raw.length
          if (bytes >= MAX_AUDIT_PAGE_BYTES) break
        }
      }
      const last = after + entries.length
      return { origin, size, entries, next: last < size && entries.length > 0 ? last : null }
    },
  )

  app.get(
    '/v1/audit/feeds/:origin/inclusion',
    {
      schema: {
        summary: 'Proof that entry `seq` of a feed is in its tree of `size` entries (RFC 6962)',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ origin: Origin }, { additionalProperties: false }),
        querystring: Type.Object({ seq: Count, size: Count }, { additionalProperties: false }),
        response: { 200: InclusionProofView, ...errors },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const { origin } = req.params
      const { seq, size } = req.query
      const proof = await audit().inclusionProof(origin, seq, size)
      const root = await audit().root(origin, size)
      // The leaf data, so that a standard verifier hashes the leaf itself (RFC 6962's leaf hash).
      const bytes = await ctx.engine.getEntryBytes(origin, seq)
      if (!bytes) throw new NodeError('INTERNAL', `entry ${seq} of ${origin} is in the tree but not stored`)
      const entry = toHex(openEntry(bytes).hash)
      return {
        origin,
        seq,
        index: seq - 1,
        size,
        entry,
        root: toBase64url(root),
        proof: proof.map(toBase64url),
      }
    },
  )

  app.get(
    '/v1/audit/feeds/:origin/consistency',
    {
      schema: {
        summary: 'Proof that a feed’s tree of `from` entries is a prefix of its tree of `to` (RFC 6962)',
        tags: ['audit'],
        security: SIGNATURE_REQUIRED,
        params: Type.Object({ origin: Origin }, { additionalProperties: false }),
        querystring: Type.Object({ from: Count, to: Count }, { additionalProperties: false }),
        response: { 200: ConsistencyProofView, ...errors },
      },
    },
    async (req) => {
      requireAuditor(req.principal)
      const { origin } = req.params
      const { from, to } = req.query
      const proof = await audit().consistencyProof(origin, from, to)
      const [fromRoot, toRoot] = await Promise.all([audit().root(origin, from), audit().root(origin, to)])
      return {
        origin,
        from,
        to,
        fromRoot: toBase64url(fromRoot),
        toRoot: toBase64url(toRoot),
        proof: proof.map(toBase64url),
      }
    },
  )
}

/**
 * The hash of stored entry bytes, or null when they no longer decode: a damaged entry is served
 * as stored all the same, for the auditor to judge.
 */
function hashOf(raw: Uint8Array): string | null {
  try {
    return toHex(openEntry(raw).hash)
  } catch {
    return null
  }
}

/**
 * Officers' reads of personal data: each states its purpose (`?purpose=`, signed with the rest
 * of the request), and each citizen shown is logged (`access.logged`, Engine.logAccess) before
 * the answer leaves the node. Citizens and the auditor read without a purpose and are not
 * logged: a citizen's own reads are theirs, and the auditor reads no personal data.
 */
import { ACCESS_PURPOSES, type AccessPurpose, type AccessShown } from '@legation/protocol'
import { Type } from '@sinclair/typebox'
import { LRUCache } from 'lru-cache'
import type { Engine } from '../engine/engine.ts'
import { NodeError } from '../errors.ts'
import type { Principal } from './auth.ts'
import type { HttpContext } from './context.ts'

/** The query members every personal-data read takes. */
export const PurposeQuery = {
  purpose: Type.Optional(
    Type.Union(
      ACCESS_PURPOSES.map((p) => Type.Literal(p)),
      { description: 'Why an officer reads this (required for officers; logged, shown to the citizen)' },
    ),
  ),
  case: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{64}$', description: 'The case the read is for, if any (logged)' }),
  ),
}

export interface PurposeParams {
  purpose?: AccessPurpose
  case?: string
}

/**
 * Before any personal data is read: refuses while the node has not caught up with a peer since
 * it started (NOT_CAUGHT_UP: an erasure may be on its way), and an officer's read that states
 * no purpose (PURPOSE_REQUIRED).
 */
export function requirePurpose(ctx: HttpContext, p: Principal, q: PurposeParams): void {
  if (ctx.personalDataServable && !ctx.personalDataServable()) {
    throw new NodeError('NOT_CAUGHT_UP')
  }
  if (p.type === 'officer' && q.purpose === undefined) {
    throw new NodeError(
      'PURPOSE_REQUIRED',
      `state why you read this: ?purpose=${ACCESS_PURPOSES.join('|')} (the citizen will see it)`,
    )
  }
}

/**
 * The same officer reading the same thing of the same citizen for the same purpose again within
 * this long is one entry of the log, not one per refresh (a crisis dashboard polls).
 */
export const REPEAT_READ_WINDOW_MS = 15 * 60_000
const recent = new WeakMap<Engine, LRUCache<string, number>>()

/** Logs an officer's read of these citizens' data; durable before it returns. */
export async function logReads(
  engine: Engine,
  p: Principal,
  q: PurposeParams,
  citizens: readonly string[],
  shown: AccessShown,
): Promise<void> {
  if (p.type !== 'officer' || citizens.length === 0) return
  if (q.purpose === undefined) throw new NodeError('PURPOSE_REQUIRED')
  let seen = recent.get(engine)
  if (!seen) {
    seen = new LRUCache({ max: 100_000 })
    recent.set(engine, seen)
  }
  const now = Date.now()
  const key = (citizen: string) => `${p.certId}|${citizen}|${q.purpose}|${shown}|${q.case ?? ''}`
  const fresh = [...new Set(citizens)].filter((citizen) => {
    const last = seen.get(key(citizen))
    return last === undefined || now - last >= REPEAT_READ_WINDOW_MS
  })
  await engine.logAccess(
    fresh.map((citizen) => ({
      citizen,
      officer: p.certId,
      state: p.state,
      purpose: q.purpose!,
      shown,
      case: q.case ?? null,
    })),
  )
  for (const citizen of fresh) seen.set(key(citizen), now)
}

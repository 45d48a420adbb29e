/**
 * Forks that heal (docs/protocol.md § Forks that heal). When an origin is found equivocating at
 * seq q, its feed stands on every node through its **cut**: through its latest bloc-final
 * checkpoint if that covers q (the version that checkpoint's tree holds stands), else through
 * q − 1. Whatever order the versions and checkpoints arrived in, a node converges on that:
 *
 * - it holds entries of the origin past the cut → they are dropped (a rebuild);
 * - its entries q… are not those of the bloc-final tree (its root at the checkpoint's size
 *   differs) → they are marked superseded (never applied again, kept as evidence) and dropped,
 *   and the winning version is fetched from peers like any missing entries.
 *
 * This module decides; the engine rebuilds (rebuild.ts).
 */
import { equalBytes, openEntry, toHex } from '@legation/protocol'
import type { Store } from '../storage/store.ts'
import type { AuditView } from './audit-view.ts'
import { readEntry } from './entry-rows.ts'
import type { Evidence } from './evidence.ts'

export interface ForkComponents {
  store: Store
  evidence: Evidence
  audit: AuditView
  /** The durable version vector. */
  vv: () => Readonly<Record<string, number>>
  /** `<origin>/<size>` of bloc-final checkpoints whose tree this node was found to hold. */
  checked: Set<string>
}

/**
 * Whether the derived state must be rebuilt for the forks known here to heal; marks the
 * entries of a losing fork superseded first.
 */
export async function forksNeedRebuild(c: ForkComponents): Promise<boolean> {
  let needed = false
  for (const [origin, q] of c.evidence.equivocations()) {
    const held = c.vv()[origin] ?? 0
    const pin = c.evidence.pinned(origin)
    if (pin && held >= pin.seq) {
      const bytes = await readEntry(c.store, origin, pin.seq)
      if (bytes && toHex(openEntry(bytes).hash) !== pin.hash) {
        await supersede(c, origin, pin.seq, held)
        needed = true
        continue
      }
    }
    const final = c.evidence.final(origin)
    const key = final && `${origin}/${final.size}`
    if (final && key && final.size >= q && held >= final.size && !c.checked.has(key)) {
      const root = await c.audit.root(origin, final.size)
      if (equalBytes(root, final.root)) c.checked.add(key)
      else {
        // The version held here from q on is not the one the bloc finalized.
        await supersede(c, origin, q, held)
        needed = true
        continue
      }
    }
    if (held > c.evidence.cut(origin)!) needed = true
  }
  return needed
}

/** Marks this node's entries `from`…`to` of `origin` superseded: each chains to the losing one. */
async function supersede(c: ForkComponents, origin: string, from: number, to: number): Promise<void> {
  const losing: Array<{ seq: number; hash: string }> = []
  for (let seq = from; seq <= to; seq++) {
    const bytes = await readEntry(c.store, origin, seq)
    if (bytes) losing.push({ seq, hash: toHex(openEntry(bytes).hash) })
  }
  await c.evidence.supersede(origin, losing)
}

/**
 * Duty ids and the rendezvous rule. Every node of the bloc must compute the same bytes, so
 * both are specified here exactly (and in the README):
 *
 *   dutyId(kind, parts)  := hex(SHA-256("legation/v1/hash/duty" • 0x00 • utf8(kind "|" part₁ "|" part₂ …)))
 *   weight(duty, node)   := SHA-256("legation/v1/hash/duty-rank" • 0x00 • utf8(dutyId "|" nodeId))
 *
 * The owner of a duty among a set of candidate nodes is the candidate with the highest weight
 * (compared as an unsigned big-endian number; ties, which SHA-256 makes vanishingly unlikely,
 * go to the smaller node id). This is rendezvous (highest-random-weight) hashing: when a node
 * leaves the set only its own duties move, each to the next node of that duty's ranking.
 */
import { createHash } from 'node:crypto'

export const DUTY_KINDS = ['alert-notify', 'route-case'] as const
export type DutyKind = (typeof DUTY_KINDS)[number]

const ID_PREFIX = 'legation/v1/hash/duty\u0000'
const RANK_PREFIX = 'legation/v1/hash/duty-rank\u0000'

/** The deterministic id of a duty: the same on every node that derives it. */
export function dutyId(kind: DutyKind, ...parts: readonly string[]): string {
  return createHash('sha256')
    .update(ID_PREFIX)
    .update([kind, ...parts].join('|'))
    .digest('hex')
}

/** The `alert-notify` duty for one alert and one citizen. */
export function alertDutyId(alertId: string, citizenId: string): string {
  return dutyId('alert-notify', alertId, citizenId)
}

/** The `route-case` duty for one opened case. */
export function caseDutyId(caseId: string): string {
  return dutyId('route-case', caseId)
}

/** A node's rendezvous weight for a duty, as 64 hex digits (so string order is numeric order). */
export function dutyWeight(id: string, nodeId: string): string {
  return createHash('sha256').update(RANK_PREFIX).update(`${id}|${nodeId}`).digest('hex')
}

/** The nodes in the order they take a duty: owner first, then who takes over from it, and so on. */
export function rankNodes(id: string, nodeIds: Iterable<string>): string[] {
  const weighted = [...new Set(nodeIds)].map((n) => ({ n, w: dutyWeight(id, n) }))
  weighted.sort((a, b) => (a.w > b.w ? -1 : a.w < b.w ? 1 : a.n < b.n ? -1 : a.n > b.n ? 1 : 0))
  return weighted.map((x) => x.n)
}

/** The owner of a duty among `candidates`, or undefined if there are none. */
export function dutyOwner(id: string, candidates: Iterable<string>): string | undefined {
  return rankNodes(id, candidates)[0]
}

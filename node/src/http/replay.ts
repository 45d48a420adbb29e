/**
 * Replay protection for signed state-changing requests.
 *
 * A signed request carries no nonce (docs/api.md § Authentication): its signature covers the
 * method, path and query, the body's hash and the signing time `at`, and the node accepts it
 * while `|now − at| ≤ maxSkewMs`. Within that window a captured request could be sent again.
 * For methods other than GET and HEAD the node therefore accepts each signed request once: it
 * remembers the requests it accepted until their `at` leaves the window (after which the skew
 * check refuses them anyway) and refuses a second use with `401 REQUEST_REPLAYED`.
 *
 * Across a restart: a node that stops cleanly saves what it remembers (`snapshot`) and takes it
 * back when it starts (`restore`). After a crash it cannot know what it accepted, so it refuses
 * every state-changing request signed before it started (`refuseSignedBefore`): a client whose
 * request was refused signs it again.
 *
 * Memory is bounded by `capacity`. When full, the entry accepted longest ago is forgotten and
 * the node raises a floor: any state-changing request signed at or before the forgotten entry's
 * `at` is refused too, since the node can no longer tell whether it was seen. Under normal load
 * (the default capacity is far above the rate limit times the window) the floor never moves.
 *
 * @example
 * const guard = new ReplayGuard()
 * guard.check(requestId, signer.at, Date.now()) // throws NodeError('REQUEST_REPLAYED') the 2nd time
 */
import { DEFAULT_MAX_SKEW_MS } from '@legation/protocol'
import { NodeError } from '../errors.ts'

/**
 * How many signed requests are remembered: some 10–15 MB of ids. A request signed now is kept
 * about 2 minutes, so at the default rate limit (600 requests per minute per client address)
 * it takes some 80 clients sending nothing but signed writes to fill it.
 */
export const DEFAULT_REPLAY_CAPACITY = 100_000

export interface ReplayGuardInit {
  /** Signed requests remembered at most. @default DEFAULT_REPLAY_CAPACITY */
  capacity?: number
  /** The skew the node accepts (the window a signature is valid in). @default DEFAULT_MAX_SKEW_MS */
  maxSkewMs?: number
}

export class ReplayGuard {
  readonly #capacity: number
  readonly #maxSkewMs: number
  /** Request id → its signing time, in the order accepted. */
  readonly #seen = new Map<string, number>()
  /** Requests signed at or before this time are refused (their ids may have been forgotten). */
  #floor = Number.NEGATIVE_INFINITY

  constructor(init: ReplayGuardInit = {}) {
    this.#capacity = init.capacity ?? DEFAULT_REPLAY_CAPACITY
    this.#maxSkewMs = init.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    if (!Number.isInteger(this.#capacity) || this.#capacity < 1) {
      throw new NodeError('CONFIG_INVALID', 'ReplayGuard capacity must be a positive integer')
    }
  }

  /** Signed requests currently remembered. */
  get size(): number {
    return this.#seen.size
  }

  /**
   * Accepts the request `id` signed at `at` once; throws REQUEST_REPLAYED if it was already
   * accepted (or may have been and was forgotten for lack of room). Call only for requests whose
   * signature verified and whose `at` is within the skew window of `now`.
   */
  check(id: string, at: number, now: number): void {
    this.#prune(now)
    if (this.#seen.has(id)) throw new NodeError('REQUEST_REPLAYED')
    if (at <= this.#floor) {
      throw new NodeError(
        'REQUEST_REPLAYED',
        'the node is too busy to check this signed request for replay: sign the request again',
      )
    }
    if (this.#seen.size >= this.#capacity) {
      const [oldest, oldestAt] = this.#seen.entries().next().value as [string, number]
      this.#seen.delete(oldest)
      this.#floor = Math.max(this.#floor, oldestAt)
    }
    this.#seen.set(id, at)
  }

  /** What it remembers, to be saved across a clean restart: `[id, at]` in acceptance order, and its floor. */
  snapshot(now: number): { seen: Array<[string, number]>; floor: number | null } {
    this.#prune(now)
    return { seen: [...this.#seen], floor: Number.isFinite(this.#floor) ? this.#floor : null }
  }

  /** Takes back what a clean stop saved; what is too old by now is dropped. */
  restore(
    saved: { seen: ReadonlyArray<readonly [string, number]>; floor?: number | null },
    now: number,
  ): void {
    for (const [id, at] of saved.seen) {
      if (this.#seen.size >= this.#capacity) break
      this.#seen.set(id, at)
    }
    if (typeof saved.floor === 'number') this.refuseSignedBefore(saved.floor)
    this.#prune(now)
  }

  /**
   * After a crash, what was accepted is unknown: refuses every request that could have been,
   * one signed up to the skew allowed after `now` included.
   */
  refuseSignedUntil(now: number): void {
    this.refuseSignedBefore(now + this.#maxSkewMs)
  }

  /** Refuses every request signed at or before `at`. */
  refuseSignedBefore(at: number): void {
    this.#floor = Math.max(this.#floor, at)
  }

  /** Forgets requests whose signature is now too old to be accepted by the skew check. */
  #prune(now: number): void {
    // In acceptance order, which is close to `at` order: stop at the first still-valid one.
    for (const [id, at] of this.#seen) {
      if (at + this.#maxSkewMs >= now) break
      this.#seen.delete(id)
    }
  }
}

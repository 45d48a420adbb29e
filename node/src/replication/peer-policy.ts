/**
 * Who may be a peer, over the charter in force: the PeerPolicy the mesh gates connections
 * and dials with, and replication bans misbehaving peers through. It holds what the answer
 * depends on besides the charter (the bans, the operator's dial options, the test-only
 * blocked set), so the mesh and replication both depend on it instead of on each other.
 *
 * @example
 * const policy = peerPolicy({ banMs: 30_000 })({ engine })
 * await policy.start()
 * policy.onChange(() => void mesh.refreshAllowedPeers())
 * policy.ban(peerId) // replication, on a peer's invalid frame
 */
import type { CharterView } from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import type { BootstrapPeer, PeerPolicy } from '../mesh/peer-policy.ts'
import type { Startable } from '../service.ts'
import { integerOptions } from '../util/options.ts'

/** How long a misbehaving peer stays disconnected, in ms. */
export const DEFAULT_BAN_MS = 30_000
/** Dial the other certified nodes at the addresses the charter gives them. */
export const DEFAULT_BOOTSTRAP = true

export interface PeerPolicyInit {
  /** How long `ban(peerId)` refuses a peer, in ms. @default DEFAULT_BAN_MS */
  banMs?: number
  /** Dial the other certified nodes at their charter addresses; false: dial nobody. @default true */
  bootstrap?: boolean
  /** Dial only these peer ids (others may still connect to us). Empty: every certified node. @default [] */
  only?: readonly string[]
}

export interface PeerPolicyComponents {
  /** The trust view: the charter in force and this node's own certification. */
  engine: Pick<Engine, 'charter' | 'certifiedNode' | 'nodeId'>
  /** @default Date.now */
  clock?: () => number
}

/** What replication (and the test-only fault routes) may change in the policy. */
export interface PeerPolicyControl extends PeerPolicy {
  /** Refuses `peerId` for `ms` (default `banMs`); listeners hear of it now and when it ends. */
  ban(peerId: string, ms?: number): void
  /** Test-only fault injection: pretend these peers cannot be reached (replaces the last set). */
  block(peerIds: Iterable<string>): void
  /** The engine adopted another charter: who is certified may have changed. */
  charterChanged(): void
}

export function peerPolicy(
  init: PeerPolicyInit = {},
): (components: PeerPolicyComponents) => PeerPolicyControl & Startable {
  const { banMs } = integerOptions('peerPolicy', init, { banMs: DEFAULT_BAN_MS }, { min: { banMs: 0 } })
  return (components) => new CharterPeerPolicy(init, banMs, components)
}

class CharterPeerPolicy implements PeerPolicyControl, Startable {
  readonly #engine: PeerPolicyComponents['engine']
  readonly #clock: () => number
  readonly #banMs: number
  readonly #bootstrap: boolean
  readonly #only: ReadonlySet<string>
  #blocked: ReadonlySet<string> = new Set()
  /** Banned peer id → when its ban ends, and the timer that says so. */
  readonly #banned = new Map<string, { until: number; timer: ReturnType<typeof setTimeout> }>()
  readonly #listeners = new Set<() => void>()
  #selfPeerId: string | undefined

  constructor(init: PeerPolicyInit, banMs: number, components: PeerPolicyComponents) {
    this.#engine = components.engine
    this.#clock = components.clock ?? Date.now
    this.#banMs = banMs
    this.#bootstrap = init.bootstrap ?? DEFAULT_BOOTSTRAP
    this.#only = new Set(init.only ?? [])
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const { timer } of this.#banned.values()) clearTimeout(timer)
    this.#banned.clear()
    this.#listeners.clear()
  }

  isAllowed(peerId: string): boolean {
    return (
      !this.#blocked.has(peerId) &&
      !this.#isBanned(peerId) &&
      this.#charter().nodesByPeerId.has(peerId) &&
      peerId !== this.#self()
    )
  }

  bootstrapPeers(): BootstrapPeer[] {
    if (!this.#bootstrap) return []
    const self = this.#self()
    return [...this.#charter().nodes.values()]
      .filter((n) => n.peerId !== self && !this.#blocked.has(n.peerId) && !this.#isBanned(n.peerId))
      .filter((n) => this.#only.size === 0 || this.#only.has(n.peerId))
      .map((n) => ({ peerId: n.peerId, addrs: [...n.addrs] }))
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  ban(peerId: string, ms = this.#banMs): void {
    const old = this.#banned.get(peerId)
    if (old) clearTimeout(old.timer)
    // The timer tells listeners when the peer may be dialled again; it must not keep the
    // process alive on its own.
    const timer = setTimeout(() => {
      this.#banned.delete(peerId)
      this.#changed()
    }, ms)
    timer.unref?.()
    this.#banned.set(peerId, { until: this.#clock() + ms, timer })
    this.#changed()
  }

  block(peerIds: Iterable<string>): void {
    this.#blocked = new Set(peerIds)
    this.#changed()
  }

  charterChanged(): void {
    this.#changed()
  }

  #isBanned(peerId: string): boolean {
    const ban = this.#banned.get(peerId)
    // The clock decides, not only the timer: a test clock may jump past the ban.
    return ban !== undefined && ban.until > this.#clock()
  }

  #charter(): CharterView {
    return this.#engine.charter
  }

  /** This node's own peer id, from whichever charter version certifies it (it never changes). */
  #self(): string {
    this.#selfPeerId ??= this.#engine.certifiedNode(this.#engine.nodeId)?.peerId
    return this.#selfPeerId ?? ''
  }

  #changed(): void {
    for (const listener of [...this.#listeners]) listener()
  }
}

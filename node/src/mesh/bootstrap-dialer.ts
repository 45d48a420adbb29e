/**
 * Staying connected to the certified peers: on every maintenance tick, dial each allowed
 * bootstrap peer (from the peer policy) that is not connected and whose backoff expired, at
 * the addresses the charter gives it and, when those fail (typically because the peer
 * restarted elsewhere), at the addresses the DHT knows for it now.
 */
import type { AbortOptions, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { backoffDelay } from '../util/backoff.ts'
import { MeshError } from './errors.ts'
import type { MeshLibp2p } from './libp2p-node.ts'
import { errorFields, type MeshLogger } from './log.ts'
import { isUnspecified, withPeerId } from './multiaddrs.ts'
import type { ResolvedInit } from './options.ts'
import type { BootstrapPeer, PeerPolicy } from './peer-policy.ts'

/** Per bootstrap peer redial bookkeeping. */
interface DialState {
  attempts: number
  nextAttemptAt: number
  inFlight: boolean
}

export interface BootstrapDialerInit {
  readonly self: string
  readonly options: ResolvedInit
  readonly libp2p: MeshLibp2p
  readonly peerPolicy: PeerPolicy
  readonly isAllowed: (peerId: string) => boolean
  readonly isRunning: () => boolean
  readonly log: MeshLogger
  /** Work to do on every tick before dialling (the channel keeper's self-healing). */
  readonly onTick: () => void
}

export class BootstrapDialer {
  readonly #init: BootstrapDialerInit
  readonly #dialStates = new Map<string, DialState>()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(init: BootstrapDialerInit) {
    this.#init = init
  }

  /** Run the first tick now, then every `maintenanceInterval`. */
  start(): void {
    this.#schedule(0)
  }

  stop(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    this.#dialStates.clear()
  }

  /** A peer connected: its redial backoff starts over. */
  connected(peerId: string): void {
    this.#dialStates.delete(peerId)
  }

  /** We hung up on a peer: do not redial it before the shortest backoff. */
  hungUp(peerId: string): void {
    const state = this.#dialStates.get(peerId)
    if (state !== undefined) {
      state.nextAttemptAt = Date.now() + this.#init.options.redialMinDelay
    }
  }

  /**
   * Look a peer's current addresses up in the DHT (bypassing the local peer
   * store, whose addresses may be stale). Returns multiaddrs with a `/p2p/`
   * suffix. Rejects with `MESH_PEER_NOT_FOUND` if the DHT does not know it.
   */
  async findPeer(peerId: string, options?: AbortOptions): Promise<string[]> {
    const signal = options?.signal ?? AbortSignal.timeout(this.#init.options.findPeerTimeout)
    try {
      const info = await this.#init.libp2p.peerRouting.findPeer(peerIdFromString(peerId), {
        signal,
        useCache: false,
      })
      return info.multiaddrs.filter((ma) => !isUnspecified(ma)).map((ma) => withPeerId(ma, peerId).toString())
    } catch (err) {
      throw new MeshError('MESH_PEER_NOT_FOUND', `Peer ${peerId} was not found in the DHT`, { cause: err })
    }
  }

  #schedule(delay: number): void {
    if (!this.#init.isRunning()) {
      return
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      try {
        this.tick()
      } catch (err) {
        this.#init.log.error(errorFields(err), 'mesh maintenance failed')
      }
      this.#schedule(this.#init.options.maintenanceInterval)
    }, delay)
    this.#timer.unref?.()
  }

  /**
   * Periodic upkeep: the tick hook (channels for connected peers), then dial every allowed,
   * unconnected bootstrap peer whose backoff expired.
   */
  tick(): void {
    const { onTick, peerPolicy, self, isAllowed, libp2p, log, options } = this.#init
    onTick()
    let list: BootstrapPeer[]
    try {
      list = peerPolicy.bootstrapPeers()
    } catch (err) {
      log.error(errorFields(err), 'bootstrapPeers() threw')
      return
    }
    const now = Date.now()
    for (const entry of list) {
      const id = entry.peerId
      if (id === self || !isAllowed(id)) {
        continue
      }
      let remote: PeerId
      try {
        remote = peerIdFromString(id)
      } catch {
        log.warn({ peer: id }, 'bootstrap entry has an invalid peer id')
        continue
      }
      if (libp2p.getConnections(remote).length > 0) {
        continue
      }
      let state = this.#dialStates.get(id)
      if (state === undefined) {
        state = { attempts: 0, nextAttemptAt: 0, inFlight: false }
        this.#dialStates.set(id, state)
      }
      if (state.inFlight || now < state.nextAttemptAt) {
        continue
      }
      state.inFlight = true
      const dialState = state
      void this.#dial(remote, entry.addrs).then((ok) => {
        dialState.inFlight = false
        if (ok) {
          dialState.attempts = 0
          dialState.nextAttemptAt = 0
        } else {
          dialState.nextAttemptAt =
            Date.now() +
            backoffDelay(dialState.attempts++, {
              minMs: options.redialMinDelay,
              maxMs: options.redialMaxDelay,
            })
        }
      })
    }
  }

  /** One redial attempt: the configured addresses first, then the DHT's. */
  async #dial(remote: PeerId, addrs: readonly string[]): Promise<boolean> {
    const { libp2p, log, options, isRunning, isAllowed } = this.#init
    const id = remote.toString()
    const targets: Multiaddr[] = []
    for (const addr of addrs) {
      try {
        targets.push(withPeerId(multiaddr(addr), id))
      } catch {
        log.warn({ peer: id, addr }, 'bootstrap entry has an invalid multiaddr')
      }
    }
    if (targets.length > 0) {
      try {
        await libp2p.dial(targets, { signal: AbortSignal.timeout(options.dialTimeout) })
        return true
      } catch (err) {
        log.debug({ peer: id, ...errorFields(err) }, 'bootstrap dial failed')
      }
    }
    if (!isRunning() || !isAllowed(id)) {
      return false
    }
    // the DHT is useless until we are connected to someone
    if (libp2p.getConnections().length === 0) {
      return false
    }
    try {
      const found = await this.findPeer(id)
      if (found.length === 0 || !isRunning()) {
        return false
      }
      log.debug({ peer: id, addrs: found }, 'dialling addresses found in the DHT')
      await libp2p.dial(
        found.map((a) => multiaddr(a)),
        { signal: AbortSignal.timeout(options.dialTimeout) },
      )
      return true
    } catch (err) {
      log.debug({ peer: id, ...errorFields(err) }, 'DHT fallback dial failed')
      return false
    }
  }
}

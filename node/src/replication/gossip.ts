/**
 * What every node must hear about, whatever it holds: revocations of officer certificates,
 * the newest charter chain, and evidence of an equivocation. Each is few and small, so it is
 * flooded: sent to every peer, and passed on by each node that learns something new from it.
 */
import {
  MAX_REVOCATIONS_PER_MESSAGE,
  ProtocolError,
  type Revocation,
  type SyncMessage,
} from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import type { MeshLogger } from '../mesh/index.ts'
import type { Peers } from './peers.ts'

/** Equivocation proofs sent to a peer that connects (the rest reach it from other peers). */
const MAX_PROOFS_ON_CONNECT = 64

export class Gossip {
  readonly #engine: Engine
  readonly #peers: Peers
  readonly #log: MeshLogger | undefined
  /** May this peer still be told things (is it still certified, not banned)? */
  readonly #isAllowed: (peerId: string) => boolean
  /** Tells the peer policy who is certified may have changed. */
  readonly #policyChanged: () => void

  constructor(deps: {
    engine: Engine
    peers: Peers
    log: MeshLogger | undefined
    isAllowed: (peerId: string) => boolean
    charterChanged: () => void
  }) {
    this.#engine = deps.engine
    this.#peers = deps.peers
    this.#log = deps.log
    this.#isAllowed = deps.isAllowed
    this.#policyChanged = deps.charterChanged
  }

  /**
   * A peer just connected: revocations must reach every node, so all of them, to it; and the
   * proof of each fork known here (a peer that was away when it was gossiped must still heal).
   */
  connected(peerId: string): void {
    for (const msg of revocationMessages(this.#engine.revocations())) this.#peers.send(peerId, msg)
    void this.#engine
      .equivocationProofs(MAX_PROOFS_ON_CONNECT)
      .then((proofs) => {
        for (const { a, b } of proofs) this.#peers.send(peerId, { t: 'evidence', a, b })
      })
      .catch((err: unknown) => this.#log?.warn({ err }, 'could not read the equivocation evidence'))
  }

  /** Tells every peer (but `except`) of revocations new to this node. */
  revocationsAdded(list: readonly Revocation[], except?: string): void {
    for (const msg of revocationMessages(list)) this.#peers.broadcast(msg, (p) => p === except)
  }

  async onRevocations(peerId: string, list: readonly Revocation[]): Promise<void> {
    // One that does not verify here is skipped, not held against the peer: it may follow
    // another charter version (a revocation signed before a state rotated its key).
    const added: Revocation[] = []
    for (const rev of list) {
      try {
        const r = await this.#engine.addRevocation(rev)
        if (r.added) added.push(r.revocation)
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err
        this.#log?.warn({ peer: peerId, code: err.code }, 'skipped a revocation that does not verify here')
      }
    }
    if (added.length > 0) {
      this.#log?.info({ count: added.length }, 'learned revocations of officer certificates')
      this.revocationsAdded(added, peerId)
    }
  }

  /** A peer said hello on an older charter: send it ours. */
  helloCharter(peerId: string, version: number): void {
    if (version < this.#engine.charter.version) {
      this.#peers.send(peerId, { t: 'charter', chain: [...this.#engine.charterChain] })
    }
  }

  async onCharter(chain: Extract<SyncMessage, { t: 'charter' }>['chain']): Promise<void> {
    if (await this.#engine.adoptCharter(chain)) {
      this.#log?.info({ version: this.#engine.charter.version }, 'adopted a charter amendment')
      this.charterChanged()
    }
  }

  /** After the engine adopted a newer charter: drop peers no longer certified, tell the rest. */
  charterChanged(): void {
    this.#policyChanged()
    const msg: SyncMessage = { t: 'charter', chain: [...this.#engine.charterChain] }
    this.#peers.broadcast(msg, (p) => !this.#isAllowed(p))
  }

  evidence(a: Uint8Array, b: Uint8Array): void {
    this.#peers.broadcast({ t: 'evidence', a, b })
  }

  async onEvidence(a: Uint8Array, b: Uint8Array): Promise<void> {
    await this.#engine.applyEvidence(a, b)
  }
}

function revocationMessages(list: readonly Revocation[]): SyncMessage[] {
  const out: SyncMessage[] = []
  for (let i = 0; i < list.length; i += MAX_REVOCATIONS_PER_MESSAGE) {
    out.push({ t: 'revocations', list: list.slice(i, i + MAX_REVOCATIONS_PER_MESSAGE) })
  }
  return out
}

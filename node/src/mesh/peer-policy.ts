/**
 * Who may be a peer: the one component the mesh (connection gating, bootstrap dialing) and
 * replication (banning a peer that misbehaved) both depend on, so neither depends on the
 * other. Implemented over the trust component (the charter in force) in
 * `replication/peer-policy.ts`; tests give a fixed list.
 */
export interface BootstrapPeer {
  readonly peerId: string
  readonly addrs: readonly string[]
}

export interface PeerPolicy {
  /** May this peer connect and exchange frames now (certified in the charter in force, not banned)? */
  isAllowed(peerId: string): boolean
  /** The peers the mesh should keep dialling, with the addresses the charter gives them. */
  bootstrapPeers(): BootstrapPeer[]
  /**
   * Called whenever the answer of `isAllowed` or `bootstrapPeers` may have changed (a charter
   * amendment, a ban, a ban expiring): the mesh drops peers no longer allowed and dials new
   * ones. Answers a function that removes the listener.
   */
  onChange(listener: () => void): () => void
}

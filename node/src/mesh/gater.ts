/**
 * Connection gating: who may connect. The gater asks the peer policy on every dial and on
 * every inbound and outbound connection before and after encryption, so a stranger never gets
 * as far as opening a stream; relays are refused outright.
 */
import type { AbortOptions, ConnectionGater, Libp2p, PeerId } from '@libp2p/interface'
import { MeshError } from './errors.ts'
import { errorFields, type MeshLogger } from './log.ts'
import { peerIdOfMultiaddr } from './multiaddrs.ts'
import type { PeerPolicy } from './peer-policy.ts'

/**
 * `policy.isAllowed`, made safe to call from libp2p: a throw is logged and counts as "not
 * allowed", and the answer is always a boolean.
 */
export function allowCheck(policy: PeerPolicy, log: MeshLogger): (peerId: string) => boolean {
  return (peerId) => {
    try {
      return policy.isAllowed(peerId) === true
    } catch (err) {
      log.warn({ peer: peerId, ...errorFields(err) }, 'isAllowed threw; treating peer as not allowed')
      return false
    }
  }
}

/** The libp2p connection gater of a private mesh. */
export function connectionGater(isAllowed: (peerId: string) => boolean): ConnectionGater {
  const deny = (peerId: PeerId): boolean => !isAllowed(peerId.toString())
  return {
    denyDialPeer: deny,
    denyDialMultiaddr: (ma) => {
      const peerId = peerIdOfMultiaddr(ma)
      return peerId !== undefined && !isAllowed(peerId)
    },
    // the remote is unknown before the security handshake; inbound strangers
    // are stopped by denyInboundEncryptedConnection right after it
    denyInboundConnection: () => false,
    denyOutboundConnection: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    denyInboundUpgradedConnection: deny,
    denyOutboundUpgradedConnection: deny,
    // no relays in a private mesh
    denyInboundRelayReservation: () => true,
    denyOutboundRelayedConnection: () => true,
    denyInboundRelayedConnection: () => true,
  }
}

/**
 * Ask the policy again about every open connection and close those it now refuses (the gater
 * only sees new ones). Answers the peer ids dropped.
 */
export async function dropDisallowed(
  libp2p: Libp2p,
  isAllowed: (peerId: string) => boolean,
  log: MeshLogger,
  options?: AbortOptions,
): Promise<string[]> {
  const dropped = new Map<string, PeerId>()
  for (const connection of libp2p.getConnections()) {
    const id = connection.remotePeer.toString()
    if (!isAllowed(id)) {
      dropped.set(id, connection.remotePeer)
    }
  }
  await Promise.all(
    [...dropped.values()].map(async (peerId) => {
      log.info({ peer: peerId.toString() }, 'closing connection to peer that is no longer allowed')
      try {
        await libp2p.hangUp(peerId, options)
      } catch (err) {
        // hangUp closes gracefully; if that fails, abort whatever is left
        for (const connection of libp2p.getConnections(peerId)) {
          connection.abort(new MeshError('MESH_PEER_NOT_ALLOWED', 'Peer no longer allowed', { cause: err }))
        }
      }
    }),
  )
  return [...dropped.keys()]
}

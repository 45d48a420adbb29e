/**
 * Connection gating: who may connect. The gater asks the peer policy on every dial and on
 * every inbound and outbound connection before and after encryption, so a stranger never gets
 * as far as opening a stream; relays are refused outright.
 */
import type { ConnectionGater, PeerId } from '@libp2p/interface'
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

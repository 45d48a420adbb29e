/**
 * Small multiaddr helpers shared by the gater, the dialers and the DHT setup: which peer an
 * address names, naming it, and recognising addresses nobody can dial.
 */
import type { PeerInfo } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The `/p2p/<id>` value of a multiaddr, if it has one. */
export function peerIdOfMultiaddr(ma: Multiaddr): string | undefined {
  const components = ma.getComponents()
  for (let i = components.length - 1; i >= 0; i--) {
    const component = components[i]!
    if (component.name === 'p2p') {
      return component.value
    }
  }
  return undefined
}

/** Append `/p2p/<peerId>` unless the multiaddr already names a peer. */
export function withPeerId(ma: Multiaddr, peerId: string): Multiaddr {
  return peerIdOfMultiaddr(ma) === undefined ? ma.encapsulate(`/p2p/${peerId}`) : ma
}

/** Whether the multiaddr has an unspecified (wildcard) IP, which nobody can dial. */
export function isUnspecified(ma: Multiaddr): boolean {
  return ma
    .getComponents()
    .some((c) => (c.name === 'ip4' && c.value === '0.0.0.0') || (c.name === 'ip6' && c.value === '::'))
}

/**
 * DHT address mapper for a private mesh. The kad-dht default
 * (`removePrivateAddressesMapper`) strips loopback and RFC 1918 addresses,
 * which are exactly where a private deployment (and every test) lives, so
 * keep everything dialable.
 */
export function privateMeshPeerInfoMapper(peer: PeerInfo): PeerInfo {
  return { ...peer, multiaddrs: peer.multiaddrs.filter((ma) => !isUnspecified(ma)) }
}

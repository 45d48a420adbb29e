/**
 * The libp2p node under the mesh, configured for a private network of certified peers:
 * TCP + noise + yamux, the connection gater, and a Kademlia DHT that speaks a protocol id
 * under the bloc's prefix (so it never joins or answers the public IPFS DHT), runs in server
 * mode and keeps private and loopback addresses. Nothing discovers peers on its own: no public
 * bootstrap list, no mDNS, relay, AutoNAT or UPnP; peers come from the peer policy and the DHT.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p } from '@libp2p/interface'
import { type KadDHT, kadDHT } from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { privateKeyFromSeed } from './keys.ts'
import { privateMeshPeerInfoMapper } from './multiaddrs.ts'
import type { ResolvedInit } from './options.ts'

export type MeshServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
}

export type MeshLibp2p = Libp2p<MeshServices>

/** Create (not start) the libp2p node. */
export function createMeshLibp2p(init: ResolvedInit, connectionGater: ConnectionGater): Promise<MeshLibp2p> {
  return createLibp2p<MeshServices>({
    privateKey: privateKeyFromSeed(init.privateKey),
    start: false,
    addresses: { listen: [...init.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          maxStreamWindowSize: init.maxStreamWindowBytes,
          // what a paused stream may hold is bounded by the window; allow it
          // (plus slack for one partially consumed chunk) instead of having
          // libp2p reset a stream whose reader is merely slow
          maxReadBufferLength: init.maxStreamWindowBytes + 2 * init.maxFrameBytes,
        },
      }),
    ],
    connectionGater,
    // deliberately empty: peers come from the peer policy and the DHT only
    peerDiscovery: [],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: `${init.protocolPrefix}/kad/1.0.0`,
        // every mesh node is dialable by its peers, so answer queries; leaving
        // this unset would keep the node a client until it sees a *public*
        // address, which a private deployment never has
        clientMode: false,
        peerInfoMapper: privateMeshPeerInfoMapper,
        logPrefix: 'libp2p:mesh:dht',
        datastorePrefix: '/mesh-dht',
        metricsPrefix: 'libp2p_mesh_dht',
      }),
    },
  })
}

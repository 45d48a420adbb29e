// One OrbitDB peer for the benchmark: libp2p over TCP on 127.0.0.1 only, Helia with LevelDB
// blockstore and datastore, OrbitDB (documents database) with its default LevelDB heads/index
// stores and keystore, all under one directory of its own.
//
// The shape follows OrbitDB 4's documented recipe (README "Usage" and its test helper
// test/utils/create-helia.js: libp2p + gossipsub({ allowPublishToZeroTopicPeers: true }) +
// identify, Helia with a LevelBlockstore and bitswap), with two changes for a closed benchmark:
// TCP on loopback instead of WebSockets on 0.0.0.0, and no HTTP routers or gateways (Helia's
// defaults would reach out to public gateways when a block is missing), so blocks move only by
// bitswap between the two peers.
import path from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createOrbitDB } from '@orbitdb/core'
import { LevelBlockstore } from 'blockstore-level'
import { LevelDatastore } from 'datastore-level'
import { createHelia } from 'helia'
import { createLibp2p } from 'libp2p'

export const DB_NAME = 'legation-bench-citizens'

/** Starts libp2p + Helia + OrbitDB whose state all lives under `dir`. */
export async function startPeer(dir) {
  const blockstore = new LevelBlockstore(path.join(dir, 'helia', 'blocks'))
  const datastore = new LevelDatastore(path.join(dir, 'helia', 'data'))
  await blockstore.open()
  await datastore.open()
  const libp2p = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // no peer discovery, no DHT, no bootstrap list: the peers are dialled directly
    services: {
      identify: identify(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
    },
  })
  const ipfs = await createHelia({
    libp2p,
    blockstore,
    datastore,
    blockBrokers: [bitswap()],
    routers: [],
  })
  const orbitdb = await createOrbitDB({ ipfs, directory: path.join(dir, 'orbitdb') })
  const stop = async () => {
    await orbitdb.stop()
    await ipfs.stop()
    await blockstore.close().catch(() => {})
    await datastore.close().catch(() => {})
  }
  return { libp2p, ipfs, orbitdb, stop }
}

export function loopbackAddrs(libp2p) {
  return libp2p
    .getMultiaddrs()
    .map((ma) => ma.toString())
    .filter((s) => s.startsWith('/ip4/127.0.0.1/'))
    .map((s) => (s.includes('/p2p/') ? s : `${s}/p2p/${libp2p.peerId}`))
}

/** Dials the other peer directly at its loopback address (with /p2p/<id>). */
export async function dialPeer(libp2p, addr) {
  const ma = multiaddr(addr)
  const host = ma.toString()
  if (!host.startsWith('/ip4/127.0.0.1/')) throw new Error(`refusing to dial a non-loopback address: ${host}`)
  return libp2p.dial(ma, { signal: AbortSignal.timeout(15_000) })
}

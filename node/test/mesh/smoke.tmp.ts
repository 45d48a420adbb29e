import { randomBytes } from 'node:crypto'
import { createMesh, Mesh } from '../../src/mesh/mesh.ts'

const sa = randomBytes(32),
  sb = randomBytes(32)
const ida = Mesh.peerIdFromSeed(sa),
  idb = Mesh.peerIdFromSeed(sb)
const allowed = new Set([ida, idb])
const b = await createMesh({
  privateKey: sb,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  protocolPrefix: '/legation/test',
  isAllowedPeer: (p) => allowed.has(p),
})
await b.start()
console.log('b', b.peerId === idb, b.addrs())
const a = await createMesh({
  privateKey: sa,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  protocolPrefix: '/legation/test',
  isAllowedPeer: (p) => allowed.has(p),
  bootstrap: () => [{ peerId: idb, addrs: b.addrs() }],
})
let got = 0
b.onFrame((p, f) => {
  got++
})
a.onPeerConnected((p) => console.log('a connected', p === idb))
b.onPeerConnected((p) => console.log('b connected', p === ida))
await a.start()
console.log(a.node.getProtocols())
const t0 = Date.now()
while (a.connectedPeers().length === 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20))
console.log('connected after', Date.now() - t0)
const frame = randomBytes(1024)
const t1 = Date.now()
for (let i = 0; i < 100000; i++) await a.send(idb, frame)
while (got < 100000 && Date.now() - t1 < 30000) await new Promise((r) => setTimeout(r, 5))
console.log('got', got, 'in', Date.now() - t1)
await a.stop()
await b.stop()

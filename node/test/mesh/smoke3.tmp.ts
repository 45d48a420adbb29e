import { randomBytes } from 'node:crypto'
import { createMesh, Mesh, type MeshLogger } from '../../src/mesh/mesh.ts'
const log = (name: string): MeshLogger => { const l: MeshLogger = { child: () => l, debug: (o, m) => console.log(name, 'debug', m, JSON.stringify(o)), info: (o, m) => console.log(name, 'info', m, JSON.stringify(o)), warn: (o, m) => console.log(name, 'warn', m, JSON.stringify(o)), error: (o, m) => console.log(name, 'error', m, JSON.stringify(o)) }; return l }
const base = { listen: ['/ip4/127.0.0.1/tcp/0'], protocolPrefix: '/legation/t', isAllowedPeer: () => true, maintenanceInterval: 100, redialMinDelay: 100, redialMaxDelay: 1000 }
const sa = randomBytes(32), sb = randomBytes(32), sc = randomBytes(32), sx = randomBytes(32)
const mb = await createMesh({ ...base, privateKey: sb }); await mb.start()
const bs = () => [{ peerId: mb.peerId, addrs: mb.addrs() }]
let ma = await createMesh({ ...base, privateKey: sa, bootstrap: bs }); await ma.start()
while (!ma.connectedPeers().includes(mb.peerId)) await new Promise(r => setTimeout(r, 20))
const old = ma.addrs(); await ma.stop()
ma = await createMesh({ ...base, privateKey: sa, bootstrap: bs }); await ma.start()
console.log('old', old, 'new', ma.addrs())
while (!mb.connectedPeers().includes(ma.peerId)) await new Promise(r => setTimeout(r, 20))
const mc = await createMesh({ ...base, privateKey: sc, bootstrap: () => [...bs(), { peerId: ma.peerId, addrs: old }], logger: log('C') }); await mc.start()
const t = Date.now()
while (!mc.connectedPeers().includes(ma.peerId) && Date.now() - t < 10000) await new Promise(r => setTimeout(r, 20))
console.log('C-A after', Date.now() - t, mc.connectedPeers().includes(ma.peerId))
// stranger
const mx = await createMesh({ ...base, privateKey: sx, logger: log('X') }); await mx.start()
const ma2 = ma
const deny = await createMesh({ ...base, privateKey: randomBytes(32), isAllowedPeer: (p) => p !== mx.peerId }); await deny.start()
try { await mx.dial(deny.peerId, deny.addrs()) } catch (e) { console.log('stranger dial error', (e as Error).name, (e as Error).message) }
await Promise.all([ma2.stop(), mb.stop(), mc.stop(), mx.stop(), deny.stop()])

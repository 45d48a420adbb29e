import { randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { createMesh, Mesh } from '../../src/mesh/mesh.ts'

const sa = randomBytes(32),
  sb = randomBytes(32)
const idb = Mesh.peerIdFromSeed(sb)
const b = await createMesh({
  privateKey: sb,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  protocolPrefix: '/legation/test',
  isAllowedPeer: () => true,
})
await b.node.handle('/x', (stream) => {
  stream.pause()
  setTimeout(() => {
    stream.addEventListener('message', () => {})
    stream.resume()
  }, 300)
  setTimeout(() => {
    stream.pause()
  }, 400)
})
await b.start()
const a = await createMesh({
  privateKey: sa,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  protocolPrefix: '/legation/test',
  isAllowedPeer: () => true,
})
await a.start()
await a.dial(idb, b.addrs())
const s = await a.node.dialProtocol(peerIdFromString(idb), '/x')
const chunk = randomBytes(64 * 1024)
let n = 0
while (s.send(chunk)) n++
console.log('first false after', n, 'needsDrain', s.writableNeedsDrain, 'buf', s.writeBufferLength)
let t = Date.now()
await s.onDrain()
console.log('first onDrain waited', Date.now() - t, 'ms')
n = 0
while (s.send(chunk) && n < 10000) n++
console.log('second false after', n, 'needsDrain', s.writableNeedsDrain, 'buf', s.writeBufferLength)
t = Date.now()
await s.onDrain()
console.log(
  'second onDrain waited',
  Date.now() - t,
  'ms; needsDrain now',
  s.writableNeedsDrain,
  'buf',
  s.writeBufferLength,
)
await a.stop()
await b.stop()

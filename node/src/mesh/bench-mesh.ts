/**
 * Throughput benchmark of the mesh transport: two meshes on loopback, one
 * sends N frames of S bytes to the other over the sync channel (TCP + noise +
 * yamux), and we time until the receiver's handler has seen them all.
 *
 *   node node/src/mesh/bench-mesh.ts [frames=100000] [frameBytes=1024]
 *
 * It stops itself after at most 60 s whatever happens, and reports how far it
 * got if the deadline hit first.
 */
import { randomBytes } from 'node:crypto'
import { MeshError } from './errors.ts'
import { silentLogger } from './log.ts'
import { mesh } from './mesh.ts'
import type { PeerPolicy } from './peer-policy.ts'

const DEADLINE_MS = 60_000

const OPEN_POLICY: PeerPolicy = {
  isAllowed: () => true,
  bootstrapPeers: () => [],
  onChange: () => () => {},
}

function parseArg(index: number, fallback: number): number {
  const raw = process.argv[index]
  if (raw === undefined) {
    return fallback
  }
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new MeshError('MESH_INVALID_CONFIG', `argument ${index - 1} must be a positive integer, got ${raw}`)
  }
  return value
}

async function main(): Promise<number> {
  const frames = parseArg(2, 100_000)
  const frameBytes = parseArg(3, 1024)
  const started = Date.now()
  const deadline = AbortSignal.timeout(DEADLINE_MS)

  const seedA = randomBytes(32)
  const seedB = randomBytes(32)
  const common = {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    protocolPrefix: '/legation/bench',
    maxFrameBytes: Math.max(4 * 1024 * 1024, frameBytes),
  }
  // everyone is allowed and nobody is dialled on its own: the sender dials once
  const components = { peerPolicy: OPEN_POLICY, logger: silentLogger }
  const receiver = mesh({ ...common, privateKey: seedB })(components)
  const sender = mesh({ ...common, privateKey: seedA })(components)

  try {
    await receiver.start()
    await sender.start()

    let received = 0
    let receivedBytes = 0
    let allReceived: () => void = () => {}
    const done = new Promise<void>((resolve) => {
      allReceived = resolve
    })
    receiver.onFrame((_from, frame) => {
      received++
      receivedBytes += frame.byteLength
      if (received === frames) {
        allReceived()
      }
    })

    await sender.dial(receiver.peerId, receiver.addrs(), { signal: deadline })

    const payload = randomBytes(frameBytes)
    const t0 = performance.now()
    let sent = 0
    for (; sent < frames && !deadline.aborted; sent++) {
      await sender.send(receiver.peerId, payload, { signal: deadline })
    }
    const tSent = performance.now()
    await Promise.race([
      done,
      new Promise<void>((resolve) => {
        if (deadline.aborted) {
          resolve()
        }
        deadline.addEventListener('abort', () => resolve(), { once: true })
      }),
    ])
    const t1 = performance.now()

    const seconds = (t1 - t0) / 1000
    const complete = received === frames
    const result = {
      complete,
      frames,
      frameBytes,
      sent,
      received,
      seconds: Number(seconds.toFixed(3)),
      sendSeconds: Number(((tSent - t0) / 1000).toFixed(3)),
      framesPerSecond: Math.round(received / seconds),
      megabytesPerSecond: Number((receivedBytes / seconds / 1e6).toFixed(1)),
      mebibytesPerSecond: Number((receivedBytes / seconds / (1024 * 1024)).toFixed(1)),
      rssMiB: Math.round(process.memoryUsage().rss / (1024 * 1024)),
    }
    console.log(
      `mesh bench: ${result.received}/${frames} frames of ${frameBytes} B in ${result.seconds} s -> ` +
        `${result.framesPerSecond} frames/s, ${result.megabytesPerSecond} MB/s` +
        (complete ? '' : ' (deadline hit, partial)'),
    )
    console.log(JSON.stringify(result))
    return complete ? 0 : 1
  } finally {
    await Promise.allSettled([sender.stop(), receiver.stop()])
    if (Date.now() - started > DEADLINE_MS) {
      console.error('deadline exceeded')
    }
  }
}

// a hard stop in case shutting libp2p down itself hangs
const hardStop = setTimeout(() => {
  console.error('mesh bench: hard deadline reached, exiting')
  process.exit(2)
}, DEADLINE_MS + 5_000)
hardStop.unref()

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error('mesh bench failed:', err)
    process.exitCode = 1
  },
)

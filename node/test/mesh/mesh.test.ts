import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { type MeshLogger, silentLogger } from '../../src/mesh/log.ts'
import { Mesh, mesh } from '../../src/mesh/mesh.ts'
import type { MeshInit } from '../../src/mesh/options.ts'
import type { BootstrapPeer, PeerPolicy } from '../../src/mesh/peer-policy.ts'
import { corkSocketWrites } from '../../src/mesh/socket-writes.ts'

const PREFIX = '/legation/test-bloc'

/** Every mesh a test creates, stopped in afterEach whatever happened. */
const running: Mesh[] = []

afterEach(async () => {
  const meshes = running.splice(0)
  await Promise.allSettled(meshes.map((m) => m.stop()))
})

interface Node {
  seed: Uint8Array
  id: string
}

function newNode(): Node {
  const seed = randomBytes(32)
  return { seed, id: Mesh.peerIdFromSeed(seed) }
}

/** A peer policy given as two functions, whose changes the test announces with `changed()`. */
class TestPolicy implements PeerPolicy {
  readonly listeners = new Set<() => void>()
  readonly allow: (peerId: string) => boolean
  readonly bootstrap: () => BootstrapPeer[]
  constructor(allow: (peerId: string) => boolean, bootstrap: () => BootstrapPeer[] = () => []) {
    this.allow = allow
    this.bootstrap = bootstrap
  }
  isAllowed(peerId: string): boolean {
    return this.allow(peerId)
  }
  bootstrapPeers(): BootstrapPeer[] {
    return this.bootstrap()
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  changed(): void {
    for (const listener of this.listeners) listener()
  }
}

interface StartOptions extends Partial<MeshInit> {
  isAllowedPeer: (peerId: string) => boolean
  bootstrap?: () => BootstrapPeer[]
  logger?: MeshLogger
  policy?: TestPolicy
}

async function startMesh(node: Node, opts: StartOptions): Promise<Mesh> {
  const { isAllowedPeer, bootstrap, logger, policy, ...init } = opts
  const m = mesh({
    privateKey: node.seed,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    protocolPrefix: PREFIX,
    // fast upkeep so tests do not wait on production-sized backoffs
    maintenanceInterval: 100,
    redialMinDelay: 100,
    redialMaxDelay: 1_000,
    channelOpenTimeout: 5_000,
    dialTimeout: 3_000,
    findPeerTimeout: 5_000,
    ...init,
  })({ peerPolicy: policy ?? new TestPolicy(isAllowedPeer, bootstrap), logger: logger ?? silentLogger })
  running.push(m)
  await m.start()
  return m
}

/** Wait until `condition` holds (polled), failing with `what` after `timeoutMs`. */
function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 8_000,
): Promise<void> {
  return expect
    .poll(condition, { message: `timed out waiting for ${what}`, timeout: timeoutMs, interval: 25 })
    .toBe(true)
}

function portOf(addr: string): string | undefined {
  return multiaddr(addr)
    .getComponents()
    .find((c) => c.name === 'tcp')?.value
}

/** Logger that records entries (to check what gets logged). */
function recordingLogger(
  entries: Array<{ level: string; obj: Record<string, unknown>; msg?: string }>,
): MeshLogger {
  const make = (bindings: Record<string, unknown>): MeshLogger => ({
    child: (more) => make({ ...bindings, ...more }),
    debug: (obj, msg) => entries.push({ level: 'debug', obj: { ...bindings, ...obj }, msg }),
    info: (obj, msg) => entries.push({ level: 'info', obj: { ...bindings, ...obj }, msg }),
    warn: (obj, msg) => entries.push({ level: 'warn', obj: { ...bindings, ...obj }, msg }),
    error: (obj, msg) => entries.push({ level: 'error', obj: { ...bindings, ...obj }, msg }),
  })
  return make({})
}

describe('mesh', () => {
  it('derives the peer id deterministically from the seed', async () => {
    const node = newNode()
    expect(Mesh.peerIdFromSeed(node.seed)).toBe(node.id)
    const mesh = await startMesh(node, { isAllowedPeer: () => true, logger: pino({ level: 'silent' }) })
    expect(mesh.peerId).toBe(node.id)
    expect(mesh.addrs().length).toBeGreaterThan(0)
    for (const addr of mesh.addrs()) {
      expect(addr.endsWith(`/p2p/${node.id}`)).toBe(true)
    }
    expect(mesh.node.getProtocols()).toContain(`${PREFIX}/kad/1.0.0`)
    expect(mesh.node.getProtocols()).toContain(`${PREFIX}/sync/1.0.0`)
    expect(mesh.node.getProtocols().some((p) => p.startsWith('/ipfs/kad'))).toBe(false)
  })

  it('(a) exchanges 2,000 frames of random sizes both ways, in order and intact', async () => {
    const a = newNode()
    const b = newNode()
    const allowed = new Set([a.id, b.id])
    const isAllowedPeer = (id: string): boolean => allowed.has(id)
    const mb = await startMesh(b, { isAllowedPeer })
    const ma = await startMesh(a, { isAllowedPeer, bootstrap: () => [{ peerId: b.id, addrs: mb.addrs() }] })

    const connected: string[] = []
    mb.onPeerConnected((id) => {
      connected.push(id)
    })
    await waitFor(
      'channel both ways',
      () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id),
    )
    expect(connected).toEqual([a.id])

    const count = 2_000
    const make = (): Uint8Array[] =>
      Array.from({ length: count }, () => randomBytes(Math.floor(Math.random() * 65_536)))
    const aToB = make()
    const bToA = make()
    const atB: Uint8Array[] = []
    const atA: Uint8Array[] = []
    mb.onFrame((from, frame) => {
      expect(from).toBe(a.id)
      atB.push(frame)
    })
    // an async handler on one side: order must still hold
    ma.onFrame(async (from, frame) => {
      expect(from).toBe(b.id)
      if (atA.length % 97 === 0) {
        await new Promise((resolve) => setImmediate(resolve))
      }
      atA.push(frame)
    })

    const sendAll = async (mesh: Mesh, to: string, frames: Uint8Array[]): Promise<void> => {
      for (const frame of frames) {
        await mesh.send(to, frame)
      }
    }
    await Promise.all([sendAll(ma, b.id, aToB), sendAll(mb, a.id, bToA)])
    await waitFor('all frames', () => atB.length === count && atA.length === count, 15_000)

    for (let i = 0; i < count; i++) {
      expect(Buffer.compare(atB[i]!, aToB[i]!)).toBe(0)
      expect(Buffer.compare(atA[i]!, bToA[i]!)).toBe(0)
    }
  }, 20_000)

  it('(a2) a frame leaves in one socket write, and its receiver answers it with none', async () => {
    const a = newNode()
    const b = newNode()
    const isAllowedPeer = (id: string): boolean => id === a.id || id === b.id
    // Upkeep at its production pace: its dials and pings would be counted too.
    const mb = await startMesh(b, { isAllowedPeer, maintenanceInterval: 60_000 })
    const ma = await startMesh(a, {
      isAllowedPeer,
      maintenanceInterval: 60_000,
      bootstrap: () => [{ peerId: b.id, addrs: mb.addrs() }],
    })
    await waitFor(
      'channel both ways',
      () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id),
    )
    let arrived: () => void = () => undefined
    mb.onFrame(() => arrived())
    // Every write both meshes' sockets make (both run here), one system call each.
    const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>
    const original = { _write: proto._write, _writev: proto._writev }
    let writes = 0
    for (const name of ['_write', '_writev'] as const) {
      proto[name] = function (this: Socket, ...args: unknown[]) {
        writes++
        return original[name].apply(this, args)
      }
    }
    const frames = 50
    try {
      for (let i = 0; i < frames; i++) {
        const there = new Promise<void>((resolve) => {
          arrived = resolve
        })
        await ma.send(b.id, randomBytes(2_000))
        await there
      }
    } finally {
      Object.assign(proto, original)
    }
    // As the libraries are, noise's length and ciphertext were two writes, and each frame got a
    // yamux window update back: 354 writes for these 50 frames.
    expect(writes).toBeGreaterThanOrEqual(frames)
    expect(writes).toBeLessThan(frames * 1.5)
  })

  it('(a3) leaves a connection of another shape as it is', () => {
    expect(corkSocketWrites(undefined)).toBe(false)
    expect(corkSocketWrites({ sendData: () => undefined })).toBe(false)
    expect(corkSocketWrites({ socket: {}, sendData: () => undefined })).toBe(false)
  })

  it('(b) refuses peers that are not allowed and drops them when the allowed set changes', async () => {
    const a = newNode()
    const b = newNode()
    const stranger = newNode()
    const allowedByA = new Set([b.id])
    const ma = await startMesh(a, { isAllowedPeer: (id) => allowedByA.has(id) })
    const mb = await startMesh(b, { isAllowedPeer: () => true })
    // the stranger allows everyone, but A does not allow the stranger
    const ms = await startMesh(stranger, { isAllowedPeer: () => true })

    const framesAtA: string[] = []
    ma.onFrame((from) => {
      framesAtA.push(from)
    })

    await expect(ms.dial(a.id, ma.addrs())).rejects.toThrow()
    await expect(ms.send(a.id, Uint8Array.of(1))).rejects.toThrow()
    expect(ma.connectedPeers()).not.toContain(stranger.id)
    expect(ma.node.getConnections(peerIdFromString(stranger.id))).toHaveLength(0)
    // and A will not dial it either
    await expect(ma.dial(stranger.id, ms.addrs())).rejects.toMatchObject({ code: 'MESH_PEER_NOT_ALLOWED' })

    // B is allowed: connect and exchange a frame
    await mb.dial(a.id, ma.addrs())
    await waitFor('A sees B', () => ma.connectedPeers().includes(b.id))
    await mb.send(a.id, Uint8Array.of(42))
    await waitFor('frame from B', () => framesAtA.length === 1)

    // B falls out of the allowed set: refresh drops it
    const disconnected: string[] = []
    ma.onPeerDisconnected((id) => {
      disconnected.push(id)
    })
    allowedByA.delete(b.id)
    const dropped = await ma.refreshAllowedPeers()
    expect(dropped).toEqual([b.id])
    await waitFor(
      'B dropped',
      () => !ma.connectedPeers().includes(b.id) && !mb.connectedPeers().includes(a.id),
    )
    expect(disconnected).toEqual([b.id])
    expect(ma.node.getConnections(peerIdFromString(b.id))).toHaveLength(0)

    // and B cannot come back
    await expect(mb.dial(a.id, ma.addrs())).rejects.toThrow()
    await expect(mb.send(a.id, Uint8Array.of(43))).rejects.toThrow()
    expect(framesAtA).toEqual([b.id])
    expect(framesAtA).not.toContain(stranger.id)
  }, 20_000)

  it('(b2) a peer policy change drops the peers it no longer allows; stop() unsubscribes', async () => {
    const a = newNode()
    const b = newNode()
    const allowedByA = new Set<string>()
    let listedByA: BootstrapPeer[] = []
    const policy = new TestPolicy(
      (id) => allowedByA.has(id),
      () => listedByA,
    )
    const mb = await startMesh(b, { isAllowedPeer: () => true })
    const ma = await startMesh(a, { isAllowedPeer: () => false, policy })
    expect(policy.listeners.size).toBe(1)

    // the policy now allows and lists B: A dials it
    allowedByA.add(b.id)
    listedByA = [{ peerId: b.id, addrs: mb.addrs() }]
    policy.changed()
    await waitFor('A-B', () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id))

    // B falls out of the policy: the change alone (no refreshAllowedPeers call) drops it
    allowedByA.delete(b.id)
    listedByA = []
    policy.changed()
    await waitFor(
      'B dropped',
      () => !ma.connectedPeers().includes(b.id) && !mb.connectedPeers().includes(a.id),
    )
    expect(ma.node.getConnections(peerIdFromString(b.id))).toHaveLength(0)

    await ma.stop()
    expect(policy.listeners.size).toBe(0)
  }, 20_000)

  it('(c) an oversized or malformed frame aborts the channel and reports misbehaviour', async () => {
    const a = newNode()
    const b = newNode()
    const isAllowedPeer = (): boolean => true
    // A accepts at most 64 KiB, B would send up to 1 MiB
    const ma = await startMesh(a, { isAllowedPeer, maxFrameBytes: 64 * 1024 })
    const mb = await startMesh(b, { isAllowedPeer, maxFrameBytes: 1024 * 1024 })

    const misbehaved: Array<[string, string]> = []
    ma.onPeerMisbehaved((id, code) => {
      misbehaved.push([id, code])
    })
    const received: number[] = []
    ma.onFrame((_from, frame) => {
      received.push(frame.byteLength)
    })
    let disconnectsAtA = 0
    ma.onPeerDisconnected(() => {
      disconnectsAtA++
    })

    await mb.dial(a.id, ma.addrs())
    await waitFor('channel', () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id))

    // sending too much locally is refused before touching the wire
    await expect(ma.send(b.id, new Uint8Array(64 * 1024 + 1))).rejects.toMatchObject({
      code: 'MESH_FRAME_TOO_LARGE',
    })

    await mb.send(a.id, new Uint8Array(1000))
    await mb.send(a.id, new Uint8Array(128 * 1024))
    await waitFor('misbehaviour reported', () => misbehaved.length === 1)
    expect(misbehaved[0]).toEqual([b.id, 'MESH_FRAME_TOO_LARGE'])
    // the frame before the oversized one was delivered, the oversized one not
    expect(received).toEqual([1000])
    await waitFor('A saw the channel go', () => disconnectsAtA === 1)

    // the opener (lower peer id) reopens a channel on the same connection
    await waitFor(
      'channel reopened',
      () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id),
    )
    await mb.send(a.id, new Uint8Array(10))
    await waitFor('frame after reopen', () => received.length === 2)
    expect(received).toEqual([1000, 10])

    // a malformed prefix (non-minimal varint) on a raw sync stream
    const raw = await mb.node.dialProtocol(peerIdFromString(a.id), `${PREFIX}/sync/1.0.0`)
    raw.send(Uint8Array.of(0x80, 0x00))
    await waitFor('malformed reported', () => misbehaved.length === 2)
    expect(misbehaved[1]).toEqual([b.id, 'MESH_FRAME_MALFORMED'])
  }, 20_000)

  it('(c2) a throwing frame handler is logged, aborts that channel only, and the node keeps working', async () => {
    const a = newNode()
    const b = newNode()
    const entries: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = []
    const ma = await startMesh(a, { isAllowedPeer: () => true, logger: recordingLogger(entries) })
    const mb = await startMesh(b, { isAllowedPeer: () => true })
    const got: number[] = []
    ma.onFrame((_from, frame) => {
      if (frame[0] === 0xee) {
        throw new Error('handler exploded')
      }
      got.push(frame[0]!)
    })
    await mb.dial(a.id, ma.addrs())
    await waitFor('channel', () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id))
    await mb.send(a.id, Uint8Array.of(1))
    await mb.send(a.id, Uint8Array.of(0xee, 0xaa, 0xbb))
    await waitFor('error logged', () => entries.some((e) => e.level === 'error'))
    const logged = entries.find((e) => e.level === 'error')!
    expect(logged.obj.peer).toBe(b.id)
    expect(logged.obj.bytes).toBe(3)
    // frame contents are never logged
    expect(JSON.stringify(entries)).not.toMatch(/aabb|170,187/)
    await waitFor(
      'channel back',
      () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id),
    )
    await mb.send(a.id, Uint8Array.of(2))
    await waitFor('frame after recovery', () => got.includes(2))
    expect(got).toEqual([1, 2])
  }, 20_000)

  it('(d) finds a restarted peer at its new address through the DHT', async () => {
    const a = newNode()
    const b = newNode()
    const c = newNode()
    const isAllowedPeer = (): boolean => true

    const mb = await startMesh(b, { isAllowedPeer })
    const bootstrapB = (): Array<{ peerId: string; addrs: string[] }> => [{ peerId: b.id, addrs: mb.addrs() }]

    let ma = await startMesh(a, { isAllowedPeer, bootstrap: bootstrapB })
    await waitFor('A-B', () => ma.connectedPeers().includes(b.id))
    const oldAddrs = ma.addrs()
    await ma.stop()
    await waitFor('B notices A left', () => !mb.connectedPeers().includes(a.id))

    // A comes back with the same identity on a new port
    ma = await startMesh(a, { isAllowedPeer, bootstrap: bootstrapB })
    const newAddrs = ma.addrs()
    expect(ma.peerId).toBe(a.id)
    expect(portOf(newAddrs[0]!)).not.toBe(portOf(oldAddrs[0]!))
    await waitFor('A-B again', () => ma.connectedPeers().includes(b.id) && mb.connectedPeers().includes(a.id))
    // the reopened channel works
    const atA: number[] = []
    ma.onFrame((_from, frame) => {
      atA.push(frame[0]!)
    })
    await mb.send(a.id, Uint8Array.of(7))
    await waitFor('frame after restart', () => atA.includes(7))

    // C knows B, and only a stale address for A
    const mc = await startMesh(c, {
      isAllowedPeer,
      bootstrap: () => [...bootstrapB(), { peerId: a.id, addrs: oldAddrs }],
    })
    await waitFor('C-B', () => mc.connectedPeers().includes(b.id))

    // an explicit lookup returns A's new address...
    let found: string[] = []
    await waitFor(
      'DHT lookup',
      async () => {
        found = await mc.findPeer(a.id).catch(() => [])
        return found.some((addr) => portOf(addr) === portOf(newAddrs[0]!))
      },
      10_000,
    )
    // ...and the bootstrap upkeep, after the stale address failed, connects
    await waitFor('C-A through the DHT', () => mc.connectedPeers().includes(a.id), 10_000)
    await mc.send(a.id, Uint8Array.of(9))
    await waitFor('frame C->A', () => atA.includes(9))
  }, 20_000)

  it('(e) a slow receiver does not stall sends to another peer', async () => {
    const a = newNode()
    const slow = newNode()
    const fast = newNode()
    const isAllowedPeer = (): boolean => true
    // small buffers so the slow peer's backpressure reaches the sender quickly
    const ma = await startMesh(a, { isAllowedPeer, maxBufferedBytesPerPeer: 256 * 1024 })
    const mSlow = await startMesh(slow, { isAllowedPeer, maxInboundQueueBytes: 256 * 1024 })
    const mFast = await startMesh(fast, { isAllowedPeer })

    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const atSlow: number[] = []
    mSlow.onFrame(async (_from, frame) => {
      atSlow.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0))
      if (atSlow.length === 1) {
        await gate
      }
    })
    let atFast = 0
    mFast.onFrame(() => {
      atFast++
    })

    await ma.dial(slow.id, mSlow.addrs())
    await ma.dial(fast.id, mFast.addrs())

    // 64 MiB for the slow peer: far more than every buffer on the way together
    const slowCount = 1024
    let slowSent = 0
    const toSlow = (async () => {
      for (let i = 0; i < slowCount; i++) {
        const frame = new Uint8Array(64 * 1024)
        new DataView(frame.buffer).setUint32(0, i)
        await ma.send(slow.id, frame)
        slowSent++
      }
    })()
    // if an assertion below fails first, do not leave an unhandled rejection
    toSlow.catch(() => {})

    await waitFor('slow peer stuck in its handler', () => atSlow.length === 1)
    // let the backpressure build up
    await new Promise((resolve) => setTimeout(resolve, 500))
    const stuckAt = slowSent
    // bounded by the buffers on the way: the receiver's queue (256 KiB), the
    // yamux window (4 MiB, it also bounds what sits in the TCP sockets) and the
    // sender's cap (256 KiB), nowhere near the 64 MiB the sender wants to push
    expect(stuckAt * 64 * 1024).toBeLessThan(8 * 1024 * 1024)
    // and the sender's own stream buffer stays under its cap plus one frame
    const syncStreams = ma.node
      .getConnections(peerIdFromString(slow.id))
      .flatMap((c) => c.streams)
      .filter((s) => s.protocol === `${PREFIX}/sync/1.0.0`)
    expect(syncStreams).toHaveLength(1)
    expect(syncStreams[0]!.writeBufferLength).toBeLessThanOrEqual(256 * 1024 + 64 * 1024 + 8)

    const started = Date.now()
    for (let i = 0; i < 1_000; i++) {
      await ma.send(fast.id, randomBytes(1024))
    }
    await waitFor('fast peer got everything', () => atFast === 1_000, 5_000)
    expect(Date.now() - started).toBeLessThan(5_000)
    // the slow peer is still blocked: nothing got through meanwhile
    expect(slowSent).toBe(stuckAt)
    expect(atSlow).toHaveLength(1)

    release()
    await toSlow
    await waitFor('slow peer got everything', () => atSlow.length === slowCount, 15_000)
    expect(atSlow).toEqual(Array.from({ length: slowCount }, (_, i) => i))
  }, 20_000)
})

/**
 * Nodes for replication tests, all in this process: each a real engine over a MemoryStore
 * and a real mesh on loopback TCP, joined by replication and a charter peer policy.
 * Mesh creation lives in `testMesh` alone, so a change of the mesh's API is made here once.
 */
import { protocolPrefix } from '@legation/protocol'
import { vi } from 'vitest'
import { Engine } from '../../src/engine/engine.ts'
import { mesh as createMesh, type Mesh, silentLogger } from '../../src/mesh/index.ts'
import { type PeerPolicyControl, peerPolicy } from '../../src/replication/peer-policy.ts'
import type { SyncRegistrar } from '../../src/replication/registrar.ts'
import {
  type Replication,
  type ReplicationInit,
  type ReplicationObserver,
  replication,
} from '../../src/replication/replication.ts'
import type { Startable } from '../../src/service.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, type TestBloc } from '../fixtures.ts'

export interface TestNode {
  readonly engine: Engine
  readonly mesh: Mesh
  readonly policy: PeerPolicyControl & Startable
  readonly rep: Replication
  readonly peerId: string
  readonly misbehaved: Array<{ peerId: string; code: string }>
}

/** Everything a test started, stopped by `stopAll` in afterEach whatever happened. */
const running: TestNode[] = []

/** A mesh on loopback that asks `policy` who may connect, with test-sized timers. */
export function testMesh(seed: Uint8Array, bloc: string, policy: PeerPolicyControl): Mesh {
  return createMesh({
    privateKey: seed,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    protocolPrefix: protocolPrefix(bloc),
    maintenanceInterval: 100,
    redialMinDelay: 100,
    redialMaxDelay: 1_000,
    channelOpenTimeout: 5_000,
    dialTimeout: 3_000,
    findPeerTimeout: 5_000,
  })({ peerPolicy: policy, logger: silentLogger })
}

export interface NodeOptions {
  /** The charter chain this node starts on. @default bloc.chain */
  chain?: TestBloc['chain']
  init?: ReplicationInit
  /** @default a new MemoryStore */
  store?: MemoryStore
  /** Called before replication starts, e.g. to register a handler. */
  register?: (registrar: SyncRegistrar) => void
}

/** Node `i` of `bloc`, started but not connected to anyone (see `connect`). */
export async function startNode(bloc: TestBloc, i: number, opts: NodeOptions = {}): Promise<TestNode> {
  const keys = bloc.nodes[i]!.keys
  const engine = await Engine.open({
    store: opts.store ?? new MemoryStore(),
    ed,
    nodeKeys: keys,
    charter: opts.chain ?? bloc.chain,
  })
  // The charter gives no addresses: tests connect nodes themselves.
  const policy = peerPolicy({ bootstrap: false })({ engine })
  const mesh = testMesh(keys.secretKey, engine.bloc, policy)
  const misbehaved: TestNode['misbehaved'] = []
  const observer: ReplicationObserver = {
    peerMisbehaved: (peerId, code) => misbehaved.push({ peerId, code }),
  }
  const rep = replication({ statusIntervalMs: 100, ...opts.init })({
    engine,
    mesh,
    peerPolicy: policy,
    ed,
    observer,
  })
  opts.register?.(rep)
  const node: TestNode = {
    engine,
    mesh,
    policy,
    rep,
    peerId: engine.certifiedNode(engine.nodeId)!.peerId,
    misbehaved,
  }
  running.push(node)
  await policy.start()
  await rep.start()
  await mesh.start()
  return node
}

/** Dials every pair and waits until replication on each side sees the other. */
export async function connect(...nodes: TestNode[]): Promise<void> {
  for (const [i, a] of nodes.entries()) {
    for (const b of nodes.slice(i + 1)) await a.mesh.dial(b.peerId, b.mesh.addrs())
  }
  await vi.waitFor(
    () => {
      for (const n of nodes) {
        const others = nodes.filter((o) => o !== n).map((o) => o.engine.nodeId)
        for (const id of others) if (!n.rep.liveNodes().includes(id)) throw new Error('not connected yet')
      }
    },
    { timeout: 10_000, interval: 50 },
  )
}

export async function stopAll(): Promise<void> {
  for (const n of running.splice(0)) {
    await n.rep.stop().catch(() => undefined)
    await n.mesh.stop().catch(() => undefined)
    await n.policy.stop()
    await n.engine.close()
  }
}

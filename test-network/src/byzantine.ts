/**
 * A byzantine peer for scenario tests: a node certified in the charter (so the mesh lets it
 * in) run in the test process, which speaks the sync protocol with crafted frames and
 * entries signed with its own node key, to check that honest nodes refuse each attack,
 * keep the evidence, count it, and carry on.
 *
 * @example
 * const hostile = await HostilePeer.start(net, 3)
 * try { await hostile.connect(net.nodes[0]!); await hostile.sendEntries(net.nodes[0]!, [bytes]) }
 * finally { await hostile.stop() }
 */

import { type Mesh, mesh, type PeerPolicy, silentLogger } from '@legation/node/mesh'
import {
  applyLocal,
  type BuiltRecord,
  type Change,
  createDoc,
  decodeCanonical,
  type EntryBody,
  encodeSyncMessage,
  fromBase64url,
  type LegationClient,
  protocolPrefix,
  type SealedEntry,
  type SyncMessage,
  sealEntry,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { vi } from 'vitest'
import type { TestNetwork, TestNode } from './network.ts'

const ed = nativeEd25519

/** A Yjs doc as `createDoc` makes it (no direct dependency on yjs here). */
export type Doc = ReturnType<typeof createDoc>

export interface HostileInit {
  /** Largest frame our side may send; above the honest nodes' 4 MiB to send oversized frames. */
  maxFrameBytes?: number
}

export class HostilePeer {
  readonly mesh: Mesh
  readonly node: TestNode
  readonly bloc: string
  readonly #net: TestNetwork

  private constructor(net: TestNetwork, node: TestNode, mesh: Mesh) {
    this.#net = net
    this.node = node
    this.mesh = mesh
    this.bloc = net.bloc
  }

  /** Starts the mesh of certified node `index` (whose process must not be running) in this process. */
  static async start(net: TestNetwork, index: number, init: HostileInit = {}): Promise<HostilePeer> {
    const node = net.nodes[index]!
    if (node.running) throw new Error(`node ${index} runs as a process; a hostile peer needs its keys`)
    const honest = net.nodes.filter((n) => n.index !== index)
    // Every peer is allowed (a hostile peer has no charter to check) and the honest ones dialled.
    const peerPolicy: PeerPolicy = {
      isAllowed: () => true,
      bootstrapPeers: () =>
        honest.map((n) => ({ peerId: n.peerId, addrs: [`/ip4/127.0.0.1/tcp/${n.p2pPort}`] })),
      onChange: () => () => {},
    }
    const hostile = mesh({
      privateKey: node.keys.secretKey,
      // The address the charter gives this node, so honest nodes also dial it on their own.
      listen: [`/ip4/127.0.0.1/tcp/${node.p2pPort}`],
      protocolPrefix: protocolPrefix(net.bloc),
      maxFrameBytes: init.maxFrameBytes ?? 8 * 1024 * 1024,
      dialTimeout: 2_000,
      channelOpenTimeout: 3_000,
    })({ peerPolicy, logger: silentLogger })
    await hostile.start()
    return new HostilePeer(net, node, hostile)
  }

  get nodeId(): string {
    return this.node.nodeId
  }

  /** The Yjs client id the charter binds to this node. */
  get clientId(): number {
    return 10_000 + this.node.index
  }

  /**
   * Connects (again) to an honest node and waits for the sync channel, retrying until
   * `timeoutMs` (an honest node refuses a banned peer until its ban runs out).
   */
  async connect(target: TestNode, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    await vi.waitFor(
      async () => {
        if (this.mesh.connectedPeers().includes(target.peerId)) return
        await this.mesh.dial(target.peerId, [`/ip4/127.0.0.1/tcp/${target.p2pPort}`], {
          signal: AbortSignal.timeout(Math.max(100, Math.min(3_000, deadline - Date.now()))),
        })
        if (!this.mesh.connectedPeers().includes(target.peerId)) {
          throw new Error(`hostile peer not yet reconnected to node ${target.index}`)
        }
      },
      { timeout: timeoutMs, interval: 100 },
    )
  }

  /** Waits until `target` has dropped the sync channel to us (after a ban or a bad frame). */
  async waitDropped(target: TestNode, timeoutMs = 5_000): Promise<void> {
    await vi.waitFor(
      () => {
        if (this.mesh.connectedPeers().includes(target.peerId)) {
          throw new Error(`node ${target.index} has not dropped the hostile peer yet`)
        }
      },
      { timeout: timeoutMs, interval: 20 },
    )
  }

  /** Sends one sync message (canonically encoded, as honest nodes do). */
  async send(target: TestNode, msg: SyncMessage): Promise<void> {
    await this.sendFrame(target, encodeSyncMessage(msg))
  }

  /** Sends one frame of arbitrary bytes through the mesh (its length prefix is correct). */
  async sendFrame(target: TestNode, frame: Uint8Array): Promise<void> {
    await this.mesh.send(target.peerId, frame, { signal: AbortSignal.timeout(5_000) })
  }

  async sendEntries(
    target: TestNode,
    entries: readonly Uint8Array[],
    records: readonly BuiltRecord[] = [],
  ): Promise<void> {
    const payloads = records.flatMap((r) =>
      r.payload && r.record.header.payload ? [{ d: r.record.header.payload, p: r.payload }] : [],
    )
    await this.send(target, { t: 'entries', entries: [...entries], payloads })
  }

  /**
   * Writes raw bytes on a fresh sync stream to `target`, bypassing our framing: for length
   * prefixes no honest encoder produces. The honest node takes the new stream as our channel.
   */
  async sendRaw(target: TestNode, bytes: Uint8Array): Promise<void> {
    const conn = this.mesh.node.getConnections().find((c) => c.remotePeer.toString() === target.peerId)
    if (!conn) throw new Error(`no connection to node ${target.index}`)
    const stream = await conn.newStream(this.mesh.syncProtocol, { signal: AbortSignal.timeout(5_000) })
    stream.send(bytes)
  }

  /** Signs an entry body with this node's key, whatever origin the body claims. */
  seal(body: Omit<EntryBody, 'v' | 'bloc' | 'hlc' | 'deps'> & Partial<Pick<EntryBody, 'hlc' | 'deps'>>) {
    const full: EntryBody = {
      v: 1,
      bloc: this.bloc,
      hlc: [Date.now(), 0],
      deps: {},
      ...body,
    }
    return sealEntry(ed, full, this.node.keys.secretKey)
  }

  async stop(): Promise<void> {
    await this.mesh.stop()
  }

  /** For messages: the network this peer attacks. */
  get net(): TestNetwork {
    return this.#net
  }
}

/**
 * Applies `records` to `doc` as its client id (the node's own write path) and returns the
 * change an entry carries.
 */
export function changeFor(doc: Doc, docId: string, records: readonly BuiltRecord[], carry = records): Change {
  const update = applyLocal(
    doc,
    records.map((r) => ({ id: r.id, header: r.record.header })),
    (id) => records.find((r) => r.id === id)?.record.header,
  )
  return { doc: docId, update, records: carry.map((r) => r.record) }
}

/** The Yjs update `edit` makes to `doc`. */
export function updateOf(doc: Doc, edit: (doc: Doc) => void): Uint8Array {
  let update: Uint8Array | undefined
  const capture = (u: Uint8Array) => {
    update = u
  }
  doc.on('update', capture)
  try {
    doc.transact(() => edit(doc))
  } finally {
    doc.off('update', capture)
  }
  if (!update) throw new Error('the edit changed nothing')
  return update
}

export type { SealedEntry }

// ---- What an operator and the secretariat see ----

/** The value of a counter (0 if absent) in a node's Prometheus text, by name and labels. */
export async function metric(node: TestNode, name: string, labels: Record<string, string> = {}) {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`GET /metrics at node ${node.index}: ${res.status}`)
  const text = await res.text()
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const m = /^[^{ ]+(?:\{(.*)\})?\s+(\S+)$/.exec(line)
    if (!m) continue
    const have = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    )
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[2])
  }
  return total
}

export interface Evidence {
  kind: string
  id: string
  value: Record<string, unknown>
}

/** The evidence a node keeps (GET /v1/audit/evidence, signed as an officer), decoded. */
export async function evidenceAt(node: TestNode, officer: LegationClient): Promise<Evidence[]> {
  const body = await node.get<{ evidence: Array<{ kind: string; id: string; bytes: string }> }>(
    '/v1/audit/evidence?limit=1000',
    officer,
  )
  return body.evidence.map((e) => ({
    kind: e.kind,
    id: e.id,
    value: decodeCanonical(fromBase64url(e.bytes)) as Record<string, unknown>,
  }))
}

/** Polls `check` (bounded, with vitest's waitFor) until it returns a value other than undefined/false. */
export function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const v = await check()
      if (v === undefined || v === false) throw new Error(`still waiting for ${what}`)
      return v
    },
    { timeout: timeoutMs, interval: 50 },
  )
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

export { createDoc }

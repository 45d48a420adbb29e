/**
 * A fake sync registrar for the duty tests: a set of nodes that see each other through
 * per-node live sets (what the mesh would say is connected), with messages delivered to the
 * handler the receiving node registered, the way replication routes them. It honours the
 * SyncRegistrar contract: one handler per type (registering twice throws), a message to a
 * node with no handler for its type is dropped, `liveNodes()` never includes the node itself.
 */
import type { SyncMessage } from '@legation/protocol'
import type { SyncHandler, SyncPeer, SyncRegistrar, SyncType } from '../../src/replication/registrar.ts'

export class FakeRegistrar implements SyncRegistrar {
  readonly #handlers = new Map<SyncType, SyncHandler<SyncType>>()
  /** Every message this node broadcast, in order. */
  readonly sent: SyncMessage[] = []

  readonly self: SyncPeer
  /** Node ids this node is connected to now; tests change it to simulate the mesh. */
  readonly live: Set<string>
  readonly #peers: () => readonly FakeRegistrar[]

  constructor(self: SyncPeer, live: Set<string>, peers: () => readonly FakeRegistrar[]) {
    this.self = self
    this.live = live
    this.#peers = peers
  }

  handle<T extends SyncType>(type: T, handler: SyncHandler<T>): void {
    if (this.#handlers.has(type)) throw new Error(`a handler for ${type} is registered already`)
    this.#handlers.set(type, handler as unknown as SyncHandler<SyncType>)
  }

  unhandle(type: SyncType): void {
    this.#handlers.delete(type)
  }

  handles(type: SyncType): boolean {
    return this.#handlers.has(type)
  }

  broadcast(msg: SyncMessage): void {
    this.sent.push(msg)
    for (const peer of this.#peers()) {
      if (peer !== this && this.live.has(peer.self.nodeId)) void peer.receive(msg, this.self)
    }
  }

  liveNodes(): string[] {
    return [...this.live].filter((n) => n !== this.self.nodeId)
  }

  /** A message from `from`, routed to this node's handler for its type (dropped if none). */
  async receive(msg: SyncMessage, from: SyncPeer): Promise<void> {
    await this.#handlers.get(msg.t)?.onMessage(msg as never, from)
  }

  /** `peer` connects: each of this node's handlers may tell it what it missed. */
  async greet(peer: FakeRegistrar): Promise<void> {
    for (const h of this.#handlers.values()) {
      const msg = await h.onConnect?.(peer.self)
      if (msg) await peer.receive(msg, this.self)
    }
  }
}

/** Registrars for nodes `ids`, all connected to each other. */
export function fakeNet(ids: readonly string[]): FakeRegistrar[] {
  const out: FakeRegistrar[] = []
  for (const nodeId of ids) {
    const live = new Set(ids.filter((x) => x !== nodeId))
    out.push(new FakeRegistrar({ nodeId, peerId: `peer-${nodeId}` }, live, () => out))
  }
  return out
}

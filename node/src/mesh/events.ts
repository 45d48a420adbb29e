/**
 * The mesh's listeners (frames, peers coming and going, misbehaviour) and how they are called:
 * a listener that throws or rejects is logged and never breaks the mesh or the other listeners.
 */
import type { MeshMisbehaviourCode } from './errors.ts'
import { errorFields, type MeshLogger } from './log.ts'

export type FrameHandler = (peerId: string, frame: Uint8Array) => void | Promise<void>
export type PeerHandler = (peerId: string) => void | Promise<void>
export type MisbehaviourHandler = (peerId: string, code: MeshMisbehaviourCode) => void | Promise<void>

type Handler<A extends unknown[]> = (...args: A) => void | Promise<void>

export class MeshEvents {
  /** Called in order for each frame by the inbox (which handles their failures itself). */
  readonly frame = new Set<FrameHandler>()
  readonly connected = new Set<PeerHandler>()
  readonly disconnected = new Set<PeerHandler>()
  readonly misbehaved = new Set<MisbehaviourHandler>()
  readonly #log: MeshLogger

  constructor(log: MeshLogger) {
    this.#log = log
  }

  peerConnected(peerId: string): void {
    this.#emit(this.connected, 'onPeerConnected', peerId)
  }

  peerDisconnected(peerId: string): void {
    this.#emit(this.disconnected, 'onPeerDisconnected', peerId)
  }

  peerMisbehaved(peerId: string, code: MeshMisbehaviourCode): void {
    this.#emit(this.misbehaved, 'onPeerMisbehaved', peerId, code)
  }

  #emit<A extends unknown[]>(handlers: Set<Handler<A>>, name: string, ...args: A): void {
    for (const handler of handlers) {
      try {
        const result = handler(...args)
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          ;(result as Promise<void>).catch((err: unknown) => {
            this.#log.error({ handler: name, ...errorFields(err) }, 'event handler rejected')
          })
        }
      } catch (err) {
        this.#log.error({ handler: name, ...errorFields(err) }, 'event handler threw')
      }
    }
  }
}

/** Add `handler` to `set`; answers the function that removes it. */
export function subscribe<T>(set: Set<T>, handler: T): () => void {
  set.add(handler)
  return () => {
    set.delete(handler)
  }
}

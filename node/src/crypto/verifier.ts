/**
 * Batched Ed25519 verification on worker threads.
 *
 * Verification is most of a record's cost (docs/architecture.md), and a node has more
 * cores than its event loop uses: big batches go to workers, small ones are checked
 * inline (a round trip to a worker costs more than a few verifications).
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Ed25519 } from '@legation/protocol'

export interface SigCheck {
  readonly sig: Uint8Array
  readonly message: Uint8Array
  readonly key: Uint8Array
}

/** Batches smaller than this are verified on the calling thread. @default 32 */
export const DEFAULT_INLINE_BELOW = 32

export interface VerifierInit {
  /** The inline implementation (native in the node). */
  ed: Ed25519
  /** Worker threads. @default availableParallelism() - 1 (0 disables workers) */
  workers?: number
  /** @default DEFAULT_INLINE_BELOW */
  inlineBelow?: number
}

export class Verifier {
  readonly #ed: Ed25519
  readonly #workers: Worker[] = []
  readonly #inlineBelow: number
  readonly #waiting = new Map<number, (out: Uint8Array) => void>()
  #next = 0
  #rr = 0

  constructor(init: VerifierInit) {
    this.#ed = init.ed
    this.#inlineBelow = init.inlineBelow ?? DEFAULT_INLINE_BELOW
    const n = init.workers ?? Math.max(0, availableParallelism() - 1)
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./verify-worker.ts', import.meta.url))
      w.unref()
      w.on('message', (m: { id: number; out: Uint8Array }) => {
        const done = this.#waiting.get(m.id)
        this.#waiting.delete(m.id)
        done?.(m.out)
      })
      this.#workers.push(w)
    }
  }

  /** One boolean per check, in order. */
  async verify(checks: readonly SigCheck[]): Promise<boolean[]> {
    if (checks.length < this.#inlineBelow || this.#workers.length === 0) {
      return checks.map((c) => this.#ed.verify(c.sig, c.message, c.key))
    }
    // Split over the workers and the calling thread's share is none: it has other work.
    const parts = Math.min(this.#workers.length, Math.ceil(checks.length / this.#inlineBelow))
    const size = Math.ceil(checks.length / parts)
    const results = await Promise.all(
      Array.from({ length: parts }, (_, p) => this.#send(checks.slice(p * size, (p + 1) * size))),
    )
    return results.flatMap((r) => [...r].map((b) => b === 1))
  }

  #send(checks: readonly SigCheck[]): Promise<Uint8Array> {
    let total = 0
    for (const c of checks) total += 100 + c.message.length
    const buf = new Uint8Array(total)
    const view = new DataView(buf.buffer)
    let o = 0
    for (const c of checks) {
      // A signature or key of the wrong size is left all zeros, which never verifies.
      if (c.sig.length === 64 && c.key.length === 32) {
        buf.set(c.sig, o)
        buf.set(c.key, o + 64)
      }
      view.setUint32(o + 96, c.message.length, true)
      buf.set(c.message, o + 100)
      o += 100 + c.message.length
    }
    const id = this.#next++
    const worker = this.#workers[this.#rr++ % this.#workers.length]!
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve)
      worker.postMessage({ id, buf, count: checks.length }, [buf.buffer])
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()))
    this.#workers.length = 0
  }
}

/**
 * Batched Ed25519 verification on worker threads.
 *
 * Verification is most of a record's cost (docs/architecture.md), and a node has more
 * cores than its event loop uses: every check goes to a worker, batched across callers.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Ed25519 } from '@legation/protocol'

export interface SigCheck {
  readonly sig: Uint8Array
  readonly message: Uint8Array
  readonly key: Uint8Array
}

export interface VerifierInit {
  /** The implementation used when there are no workers (native in the node). */
  ed: Ed25519
  /** Worker threads. @default availableParallelism() - 1 (0 verifies on the calling thread) */
  workers?: number
}

/** A caller's answer being filled in, chunk by chunk. */
interface Answer {
  readonly waiting: Waiting
  readonly ok: boolean[]
  left: number
}

interface Waiting {
  readonly checks: readonly SigCheck[]
  readonly resolve: (ok: boolean[]) => void
  readonly reject: (err: unknown) => void
}

/**
 * Checks from every caller in one turn of the event loop go to the workers together: a node
 * answering many single-record requests at once sends one message, not one per request, and
 * its event loop, which has everything else to do, verifies nothing itself.
 */
export class Verifier {
  readonly #ed: Ed25519
  readonly #workers: Worker[] = []
  readonly #inFlight: number[] = []
  readonly #replies = new Map<
    number,
    {
      readonly worker: Worker
      readonly resolve: (out: Uint8Array) => void
      readonly reject: (e: unknown) => void
    }
  >()
  #queue: Waiting[] = []
  #scheduled = false
  #next = 0

  constructor(init: VerifierInit) {
    this.#ed = init.ed
    const n = init.workers ?? Math.max(0, availableParallelism() - 1)
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./verify-worker.ts', import.meta.url))
      w.unref()
      w.on('message', (m: { id: number; out: Uint8Array }) => {
        const reply = this.#replies.get(m.id)
        this.#replies.delete(m.id)
        reply?.resolve(m.out)
      })
      // A worker that fails fails its pending batches (their callers refuse those records)
      // and leaves the pool; without workers, checks run on the calling thread.
      const lost = (err: unknown) => this.#lose(w, err)
      w.on('error', lost)
      w.on('exit', (code) => lost(new Error(`verification worker exited (${code})`)))
      this.#workers.push(w)
      this.#inFlight.push(0)
    }
  }

  /** One boolean per check, in order. */
  #lose(worker: Worker, err: unknown): void {
    const i = this.#workers.indexOf(worker)
    if (i < 0) return
    this.#workers.splice(i, 1)
    this.#inFlight.splice(i, 1)
    for (const [id, reply] of this.#replies) {
      if (reply.worker !== worker) continue
      this.#replies.delete(id)
      reply.reject(err)
    }
  }

  verify(checks: readonly SigCheck[]): Promise<boolean[]> {
    if (checks.length === 0) return Promise.resolve([])
    if (this.#workers.length === 0) {
      return Promise.resolve(checks.map((c) => this.#ed.verify(c.sig, c.message, c.key)))
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ checks, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  #flush(): void {
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    if (this.#workers.length === 0) {
      for (const w of batch) w.resolve(w.checks.map((c) => this.#ed.verify(c.sig, c.message, c.key)))
      return
    }
    // Messages of at most MAX_PER_MESSAGE checks, in the callers' order: small callers share
    // one, a big one is split, and each caller is answered as soon as its own checks are back
    // (a frame applied while the next one is still being verified, not after all of them).
    let message: SigCheck[] = []
    let parts: Array<{ answer: Answer; from: number; count: number }> = []
    const send = () => {
      if (message.length === 0) return
      const mine = parts
      this.#send(message).then(
        (out) => {
          let k = 0
          for (const { answer, from, count } of mine) {
            // Chunks of one caller may come back from different workers in any order.
            for (let i = 0; i < count; i++) answer.ok[from + i] = out[k + i] === 1
            k += count
            answer.left -= count
            if (answer.left === 0) answer.waiting.resolve(answer.ok)
          }
        },
        (err) => {
          for (const { answer } of mine) answer.waiting.reject(err)
        },
      )
      message = []
      parts = []
    }
    for (const waiting of batch) {
      const answer: Answer = {
        waiting,
        ok: new Array<boolean>(waiting.checks.length),
        left: waiting.checks.length,
      }
      for (let from = 0; from < waiting.checks.length; ) {
        const count = Math.min(waiting.checks.length - from, MAX_PER_MESSAGE - message.length)
        for (let i = 0; i < count; i++) message.push(waiting.checks[from + i]!)
        parts.push({ answer, from, count })
        from += count
        if (message.length >= MAX_PER_MESSAGE) send()
      }
    }
    send()
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
    let w = 0
    for (let i = 1; i < this.#workers.length; i++) if (this.#inFlight[i]! < this.#inFlight[w]!) w = i
    const worker = this.#workers[w]!
    this.#inFlight[w]! += checks.length
    return new Promise((resolve, reject) => {
      this.#replies.set(id, {
        worker,
        resolve: (out) => {
          const i = this.#workers.indexOf(worker)
          if (i >= 0) this.#inFlight[i]! -= checks.length
          resolve(out)
        },
        reject,
      })
      worker.postMessage({ id, buf, count: checks.length }, [buf.buffer])
    })
  }

  async close(): Promise<void> {
    const workers = this.#workers.splice(0)
    this.#inFlight.length = 0
    await Promise.all(workers.map((w) => w.terminate()))
    for (const [id, reply] of this.#replies) {
      this.#replies.delete(id)
      reply.reject(new Error('verifier closed'))
    }
    // Whatever was waiting will not be answered now.
    for (const w of this.#queue) w.reject(new Error('verifier closed'))
    this.#queue = []
  }
}

/**
 * Most checks in one message to a worker (≈ 30 ms of work): large enough that posting costs
 * little, small enough that callers are answered while the rest is still being checked.
 */
const MAX_PER_MESSAGE = 512

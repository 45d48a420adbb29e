/**
 * Batched Ed25519 verification on worker threads.
 *
 * Verification is most of a record's cost (docs/architecture.md), and a node has more
 * cores than its event loop uses: every check goes to a worker, batched across callers.
 * A worker that dies fails the batches it held (their callers refuse those records) and is
 * replaced; past `maxReplacementsPerMinute`, checks run on the calling thread instead.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Ed25519 } from '@legation/protocol'
import { NodeError } from '../errors.ts'
import type { Startable } from '../service.ts'
import { integerOptions } from '../util/options.ts'

/** Workers replaced at most in one minute: a worker that cannot live must not spin the CPU. */
export const DEFAULT_MAX_REPLACEMENTS_PER_MINUTE = 10
/**
 * Checks verified on the calling thread rather than sent to a worker when a turn has no more:
 * a check costs ~80 µs here, while a round trip to a worker costs a wake-up of another thread
 * (milliseconds when cores are busy) on the path of every single write and every pushed entry.
 */
export const DEFAULT_INLINE_CHECKS = 4

export interface SigCheck {
  readonly sig: Uint8Array
  readonly message: Uint8Array
  readonly key: Uint8Array
}

export interface VerifierInit {
  /** Worker threads. @default availableParallelism() - 1 (0 verifies on the calling thread) */
  workers?: number
  /** @default DEFAULT_MAX_REPLACEMENTS_PER_MINUTE */
  maxReplacementsPerMinute?: number
  /**
   * A turn's checks, all callers together, verified on the calling thread when there are at
   * most this many. @default DEFAULT_INLINE_CHECKS
   */
  inlineChecks?: number
  /** The worker's script. @default ./verify-worker.ts */
  workerUrl?: URL
}

export interface VerifierComponents {
  /** The implementation used when there are no workers (native in the node). */
  ed: Ed25519
}

export interface VerifierStats {
  /** Workers running now. */
  readonly workers: number
  /** Workers that died and were replaced since start. */
  readonly replaced: number
}

/** The verifier as a service: workers start with `start()` and end with `stop()`. */
export function verifier(init: VerifierInit = {}): (components: VerifierComponents) => Verifier {
  const {
    workers,
    maxReplacementsPerMinute: maxReplacements,
    inlineChecks,
  } = integerOptions(
    'verifier',
    init,
    {
      workers: Math.max(0, availableParallelism() - 1),
      maxReplacementsPerMinute: DEFAULT_MAX_REPLACEMENTS_PER_MINUTE,
      inlineChecks: DEFAULT_INLINE_CHECKS,
    },
    { min: { workers: 0, maxReplacementsPerMinute: 0, inlineChecks: 0 } },
  )
  const url = init.workerUrl ?? new URL('./verify-worker.ts', import.meta.url)
  return (components) => new Verifier({ workers, maxReplacements, inlineChecks, url }, components)
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
export class Verifier implements Startable {
  readonly #ed: Ed25519
  readonly #size: number
  readonly #maxReplacements: number
  readonly #inlineChecks: number
  readonly #url: URL
  /** When workers were replaced in the last minute. */
  #replacedAt: number[] = []
  #replaced = 0
  #running = false
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

  constructor(
    init: { workers: number; maxReplacements: number; inlineChecks: number; url: URL },
    components: VerifierComponents,
  ) {
    this.#ed = components.ed
    this.#size = init.workers
    this.#maxReplacements = init.maxReplacements
    this.#inlineChecks = init.inlineChecks
    this.#url = init.url
  }

  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    for (let i = 0; i < this.#size; i++) this.#spawn()
  }

  stop(): Promise<void> {
    return this.close()
  }

  stats(): VerifierStats {
    return { workers: this.#workers.length, replaced: this.#replaced }
  }

  #spawn(): void {
    const w = new Worker(this.#url)
    w.unref()
    w.on('message', (m: { id: number; out: Uint8Array }) => {
      const reply = this.#replies.get(m.id)
      this.#replies.delete(m.id)
      reply?.resolve(m.out)
    })
    const lost = (err: unknown) => this.#lose(w, err)
    w.on('error', lost)
    w.on('exit', (code) => lost(new NodeError('INTERNAL', `verification worker exited (${code})`)))
    this.#workers.push(w)
    this.#inFlight.push(0)
  }

  /** A worker died: its batches fail, and another takes its place while the budget lasts. */
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
    if (!this.#running) return
    const now = Date.now()
    this.#replacedAt = this.#replacedAt.filter((t) => t > now - 60_000)
    if (this.#replacedAt.length >= this.#maxReplacements) return
    this.#replacedAt.push(now)
    this.#replaced++
    this.#spawn()
  }

  /** One boolean per check, in order. */
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
    let checks = 0
    for (const w of batch) checks += w.checks.length
    if (this.#workers.length === 0 || checks <= this.#inlineChecks) {
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
    this.#running = false
    const workers = this.#workers.splice(0)
    this.#inFlight.length = 0
    await Promise.all(workers.map((w) => w.terminate()))
    for (const [id, reply] of this.#replies) {
      this.#replies.delete(id)
      reply.reject(new NodeError('SHUTTING_DOWN', 'verifier closed'))
    }
    // Whatever was waiting will not be answered now.
    for (const w of this.#queue) w.reject(new NodeError('SHUTTING_DOWN', 'verifier closed'))
    this.#queue = []
  }
}

/**
 * Most checks in one message to a worker (≈ 30 ms of work): large enough that posting costs
 * little, small enough that callers are answered while the rest is still being checked.
 */
const MAX_PER_MESSAGE = 512

/**
 * A store whose writes are seen at once by point reads but become durable only when the test
 * opens their gate (or fail when it fails it): to watch what a caller does while a write is on
 * its way to disk. It keeps the store contract (compliance.ts): range reads see only what is
 * durable, writes become durable in call order, and after a failed write nothing that was not
 * yet durable is kept and no more writes are taken.
 */
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { BatchOp } from '../../src/storage/store.ts'

export interface Gate {
  /** Let this write reach the medium (in call order: it waits for the writes before it). */
  open(): void
  /** Fail this write, and with it every write not yet durable. */
  fail(err: Error): void
}

interface Held {
  ops: readonly BatchOp[]
  n: number
  opened: boolean
  settled: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

export class GatedStore extends MemoryStore {
  /** One gate per write made while armed, in call order. */
  readonly gates: Gate[] = []
  /** Until armed, writes go straight through (opening an engine writes its charter). */
  armed = false
  /** When set, a write fails as it reaches the medium: a full disk. */
  failWith: Error | undefined
  #queue: Held[] = []
  #draining = false
  #written = 0
  #failed: unknown
  /** Writes not yet durable, by key (undefined: deleted), with the write that made each. */
  readonly #overlay = new Map<string, { value: Uint8Array | undefined; n: number }>()

  override async get(key: string) {
    const pending = this.#overlay.get(key)
    return pending ? pending.value : super.get(key)
  }

  override async getMany(keys: readonly string[]) {
    const durable = await super.getMany(keys)
    return keys.map((k, i) => {
      const pending = this.#overlay.get(k)
      return pending ? pending.value : durable[i]
    })
  }

  // range is MemoryStore's own: it sees only what reached the medium.

  override write(ops: readonly BatchOp[]): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (ops.length === 0) return Promise.resolve()
    const n = ++this.#written
    for (const op of ops) this.#overlay.set(op.key, { value: op.type === 'put' ? op.value : undefined, n })
    const held = { ops, n, opened: false } as Held
    const done = new Promise<void>((resolve, reject) => {
      held.resolve = resolve
      held.reject = reject
    })
    held.settled = done.then(
      () => {},
      () => {},
    )
    this.#queue.push(held)
    const gate: Gate = {
      open: () => {
        held.opened = true
        void this.#drain()
      },
      fail: (err) => this.#fail(err),
    }
    if (this.armed) this.gates.push(gate)
    else gate.open()
    return done
  }

  override async close() {
    await Promise.all(this.#queue.map((h) => h.settled))
    await super.close()
  }

  async #drain(): Promise<void> {
    if (this.#draining) return
    this.#draining = true
    try {
      while (this.#queue[0]?.opened) {
        const held = this.#queue[0]
        if (this.failWith) return this.#fail(this.failWith)
        try {
          await super.write(held.ops)
        } catch (err) {
          return this.#fail(err)
        }
        this.#queue.shift()
        for (const op of held.ops) if (this.#overlay.get(op.key)?.n === held.n) this.#overlay.delete(op.key)
        held.resolve()
      }
    } finally {
      this.#draining = false
    }
  }

  #fail(err: unknown): void {
    // Later writes may build on the failed one: none of them is kept.
    this.#failed ??= err
    this.#overlay.clear()
    for (const held of this.#queue.splice(0)) held.reject(err)
  }
}

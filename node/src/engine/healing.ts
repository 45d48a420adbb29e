/**
 * Healing: bringing this node's state back to the bloc's when something it applied turns out not
 * to stand — entries a charter amendment voids (docs/protocol.md § Charter versions) or an
 * equivocating origin's entries past its cut or of the losing version (§ Forks that heal). It
 * decides (rebuild.ts `needsRebuild`, forks.ts), then rebuilds the derived state from the stored
 * feeds; writes and peers' entries wait for it (`rebuilding`).
 *
 * A rebuild deletes the derived state and resets the feed state, so nothing else may build on
 * them meanwhile: work that does (a peer's frame being applied, a write until it is durable) runs
 * through `outside`, which waits for a rebuild to end before it starts, and a rebuild waits for
 * such work already started to end. Deciding and rebuilding run one at a time. Without that, a
 * frame being verified when a rebuild began was committed in the middle of it, on the state from
 * before: its entries left out of what was applied again, or counted as held while the records
 * the rebuild deleted never came back (found by repeated runs of the real-process fork scenario).
 */
import { leafHash, openEntry, verifyInclusion } from '@legation/protocol'
import type { RestoreFence } from '../backup/restore-fence.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import type { AuditView } from './audit-view.ts'
import type { Durability } from './durability.ts'
import { readEntries, readEntry } from './entry-rows.ts'
import type { Evidence } from './evidence.ts'
import { forksNeedRebuild } from './forks.ts'
import type { HeldEntries } from './held-entries.ts'
import { K } from './keys.ts'
import { needsRebuild, type RebuildComponents, rebuild, storedPayloads } from './rebuild.ts'
import type { Trust } from './trust.ts'
import type { EngineObserver } from './types.ts'

export interface HealingComponents {
  store: Store
  durability: Durability
  held: HeldEntries
  trust: Trust
  evidence: Evidence
  audit: AuditView
  observer: EngineObserver
  /** Applies entries as a peer's (RemoteApplier.applyMany). */
  apply: RebuildComponents['apply']
  /** This node's id, or undefined for a read-only engine. */
  self: string | undefined
  /** Keeps the node from writing while its own feed is not whole (own entries wait). */
  fence: RestoreFence
  clock: () => number
}

/** Which entry a checkpoint's tree holds where its origin equivocated, and the proof of it. */
export interface ForkProof {
  readonly seq: number
  readonly entry: Uint8Array
  readonly path: Uint8Array[]
}

export class Healing {
  readonly #c: HealingComponents
  /** Feeds found to hold the bloc-final version of a fork, by `<origin>/<final size>` (forks.ts). */
  readonly #checked = new Set<string>()
  /** Each equivocating origin's feed length when the forks were last checked after applying. */
  readonly #seen = new Map<string, number>()
  #rebuilding: Promise<void> | undefined
  #replaying = false
  /** Work that builds on the state, started before a rebuild (`outside`). */
  readonly #working = new Set<Promise<unknown>>()
  /** The last decision or rebuild queued: each waits for the one before (`#exclusive`). */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(components: HealingComponents) {
    this.#c = components
  }

  /** Set while the derived state is rebuilt, from when it is decided until it is done. */
  get rebuilding(): Promise<void> | undefined {
    return this.#rebuilding
  }

  /** True while a rebuild applies the stored entries again (not news to peers). */
  get replaying(): boolean {
    return this.#replaying
  }

  /**
   * Runs `work`, which builds on the state (applies entries, writes), once no rebuild is under
   * way; a rebuild that begins meanwhile waits for it to settle.
   */
  async outside<T>(work: () => Promise<T>): Promise<T> {
    while (this.#rebuilding) await this.#rebuilding
    // Counted in the same turn as the check: a rebuild set after it waits for this.
    const run = work()
    this.#working.add(run)
    void run.then(
      () => this.#working.delete(run),
      () => this.#working.delete(run),
    )
    return run
  }

  /** Runs `step` after every decision or rebuild queued before it. */
  #exclusive<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step)
    this.#queue = run.catch(() => undefined)
    return run
  }

  /**
   * Rebuilds the derived state if entries applied here do not stand (see the file comment).
   * Answers whether it did. A rebuild that cannot bring this node's own feed back whole stops
   * its writes (REBUILD_LOST_OWN_ENTRIES).
   */
  ifNeeded(): Promise<boolean> {
    return this.#exclusive(() => this.#ifNeeded())
  }

  async #ifNeeded(): Promise<boolean> {
    const c = this.#c
    if (c.durability.failure) return false
    const forks = {
      store: c.store,
      evidence: c.evidence,
      audit: c.audit,
      vv: () => c.durability.state.vv,
      checked: this.#checked,
    }
    if (
      !(await needsRebuild(c.store, c.durability.state, c.trust.versions)) &&
      !(c.evidence.equivocations().size > 0 && (await forksNeedRebuild(forks)))
    ) {
      return false
    }
    const components: RebuildComponents = {
      store: c.store,
      durability: c.durability,
      held: c.held,
      versions: () => c.trust.versions,
      apply: c.apply,
      cuts: () => c.evidence.cuts(),
      self: c.self,
      fence: (ownSeq) => c.fence.raiseOps(ownSeq, c.clock()),
    }
    const working = this.#working
    const run = (async () => {
      // What began before the rebuild ends first; what comes now waits (`outside`).
      while (working.size > 0) await Promise.allSettled([...working])
      this.#replaying = true
      try {
        return await rebuild(components)
      } finally {
        this.#replaying = false
      }
    })()
    this.#rebuilding = run
      .then(async (report) => {
        // Own entries waiting (now, or since an earlier rebuild) wait in the held set again.
        await c.fence.load()
        await this.#holdOwn()
        c.observer.rebuilt?.(report)
      })
      .catch((err: unknown) => {
        c.durability.fail(err)
      })
      .finally(() => {
        this.#rebuilding = undefined
      })
    await this.#rebuilding
    return true
  }

  /**
   * This node's own stored entries past its feed state, applied as a peer's would be: they wait
   * (held) for the entries they depend on, which peers send, and the fence keeps the node from
   * writing at their seqs meanwhile. After a rebuild that left them waiting, at start, and while
   * the fence stands (what is held is kept in memory only, and for a limited time).
   */
  holdOwn(): Promise<void> {
    return this.outside(() => this.#holdOwn())
  }

  async #holdOwn(): Promise<void> {
    const c = this.#c
    if (c.self === undefined || !c.fence.pending) return
    const from = (c.durability.state.vv[c.self] ?? 0) + 1
    const own: Uint8Array[] = []
    for await (const { bytes } of readEntries(c.store, c.self, { from })) own.push(bytes)
    if (own.length > 0) await c.apply(own, await storedPayloads(c.store, c.durability.vault, own))
  }

  /**
   * After peers' entries were applied: checks the forks again if one was just found, or if an
   * equivocating origin's feed moved (it may have reached its bloc-final size). Otherwise
   * nothing — so a bloc that once saw a fork does not pay for it on every frame.
   */
  async afterApply(foundEquivocation: boolean): Promise<void> {
    const { evidence, durability } = this.#c
    const forked = evidence.equivocations()
    if (forked.size === 0) return
    let changed = foundEquivocation
    for (const origin of forked.keys()) {
      const held = durability.head.vv[origin] ?? 0
      if (this.#seen.get(origin) !== held) {
        this.#seen.set(origin, held)
        changed = true
      }
    }
    if (!changed) return
    await durability.durable
    await this.ifNeeded()
  }

  /** A bloc-final checkpoint of `origin`'s feed: where it equivocated, that version stands. */
  async setFinal(origin: string, size: number, root: Uint8Array): Promise<void> {
    const { evidence } = this.#c
    if (!evidence.setFinal(origin, size, root) || !evidence.equivocations().has(origin)) return
    await this.#exclusive(async () => {
      await this.#ifNeeded()
      await this.#restore(origin)
    })
  }

  /**
   * Applies again the entries of `origin` set aside past its cut (rebuild.ts) that a higher cut
   * now covers: a node that cut a fork before it knew the bloc-final checkpoint over it holds
   * the version that stands again, and can serve it (and its proof) to the others.
   */
  async #restore(origin: string): Promise<void> {
    const c = this.#c
    const cut = c.evidence.cut(origin)
    const held = c.durability.head.vv[origin] ?? 0
    if (cut === undefined || cut <= held) return
    const stashed: Uint8Array[] = []
    for await (const [, bytes] of c.store.range({
      gte: K.stash(origin, held + 1),
      lte: K.stash(origin, cut),
    })) {
      stashed.push(bytes)
    }
    if (stashed.length === 0) return
    await c.apply(stashed, await storedPayloads(c.store, c.durability.vault, stashed))
    await c.durability.durable
    const now = c.durability.state.vv[origin] ?? 0
    const done: BatchOp[] = []
    for (let s = held + 1; s <= now; s++) done.push({ type: 'del', key: K.stash(origin, s) })
    if (done.length > 0) await c.store.write(done)
  }

  /**
   * Where `origin` equivocated at q ≤ `size` and this node holds the tree of that size: the entry
   * hash its tree holds at q and the proof of it — which version a checkpoint of `size` keeps.
   */
  async forkProof(origin: string, size: number): Promise<ForkProof | undefined> {
    const c = this.#c
    const q = c.evidence.equivocations().get(origin)
    if (q === undefined || q > size || (c.durability.state.vv[origin] ?? 0) < size) return undefined
    const bytes = await readEntry(c.store, origin, q)
    if (!bytes) return undefined
    return { seq: q, entry: openEntry(bytes).hash, path: await c.audit.inclusionProof(origin, q, size) }
  }

  /**
   * A bloc-final checkpoint of `origin` (`size`, `root`) with the proof of the entry it holds at
   * the origin's fork: that version stands. Answers whether the proof was new and held.
   */
  async pinFork(origin: string, size: number, root: Uint8Array, fork: ForkProof): Promise<boolean> {
    const { evidence } = this.#c
    if (evidence.pinned(origin)) return false
    if (!verifyInclusion(leafHash(fork.entry), fork.seq - 1, size, fork.path, root)) return false
    await this.setFinal(origin, size, root)
    if (!(await evidence.pin(origin, fork.seq, fork.entry))) return false
    await this.ifNeeded()
    return true
  }
}

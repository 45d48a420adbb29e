/**
 * The duty scheduler: work that must happen once across the bloc (a crisis alert to each
 * citizen in the area, a new case to its nationality state's queue), done by one live node
 * and taken over by another within about a tick when that node stops answering.
 *
 * This file ties the parts together and holds the in-memory state (pending duties, the ready
 * queue, the counters):
 * - discovery (scan.ts, discovery.ts) finds duties in every stored entry; they are stored with
 *   the scan cursor (duty-store.ts), so a restart reloads the pending ones and rescans the rest;
 * - ownership (ownership.ts) is rendezvous hashing over this node and the live nodes,
 *   recomputed every tick; a node with no webhook for a duty, or whose deliveries keep failing,
 *   hands it on: the node ranked r may deliver it `r · handOnMs` after it was discovered;
 * - delivery (delivery.ts) posts to the webhook and retries with backoff; done is stored, then
 *   announced to peers over the sync registrar (announcements.ts), who mark it done without
 *   delivering. Two nodes may still both deliver (a partition, an announcement in flight while
 *   ownership moves): the idempotency key lets the receiver drop the second.
 *
 * Logs carry duty ids, kinds and HTTP statuses only — never contact details, names or URLs
 * (a webhook URL may hold a token).
 *
 * @example
 * const duties = dutyScheduler({ webhooks: { alerts: 'https://crisis.example/notify' } })({
 *   engine, store, registrar, logger,
 * })
 * await duties.start()
 * await duties.stop()
 */
import type { EntryBody, VersionVector } from '@legation/protocol'
import { Mutex } from 'async-mutex'
import type { Engine } from '../engine/engine.ts'
import { alerts as alertViews } from '../engine/views.ts'
import { COMPONENTS } from '../logger.ts'
import type { SyncRegistrar } from '../replication/registrar.ts'
import type { Store } from '../storage/store.ts'
import { dutyDoneHandler, isDutyDone, RECENT_DONE_ON_CONNECT } from './announcements.ts'
import { Delivery, type Outcome } from './delivery.ts'
import type { AlertArea, DutyRef } from './discovery.ts'
import { DUTIES_PER_WRITE, DutyStore } from './duty-store.ts'
import { type DutyOptions, type DutySchedulerInit, dutyOptions } from './options.ts'
import { Ownership } from './ownership.ts'
import { ENTRIES_PER_BATCH, scanEntries } from './scan.ts'
import {
  type DutyDone,
  type DutyLogger,
  errorFields,
  newPending,
  type PendingDuty,
  type StoredDuty,
  silentLogger,
} from './types.ts'

/** The logger component name of this service (the scheduler adds it to the logger it is given). */
export const DUTIES_COMPONENT = COMPONENTS.duties

export interface DutyComponents {
  engine: Engine
  /** The node's store (the engine's): duties live next to the records they come from. */
  store: Store
  /** Carries `dutyDone` to and from peers, and says which nodes are connected now. */
  registrar: SyncRegistrar
  /** @default a logger that discards everything */
  logger?: DutyLogger
  /** @default globalThis.fetch */
  fetch?: typeof fetch
  /** @default Date.now */
  clock?: () => number
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number
}

export interface DutySchedulerStatus {
  /** Duties known here and not yet done. */
  pending: number
  /** Duties completed since start: delivered here or announced by a peer. */
  done: number
  /** Pending duties this node owns now. */
  mine: number
  /** Successful deliveries made by this node since start. */
  delivered: number
  /** Failed delivery attempts since start (each is retried). */
  failures: number
  /**
   * Duties this node found it has no webhook for, since start: it leaves them to the next node of
   * their ranking (`handOnMs`) instead of closing them.
   */
  handedOn: number
  /** Deliveries in flight now. */
  inFlight: number
}

/** libp2p-style factory: `dutyScheduler(init)(components)`. */
export function dutyScheduler(init: DutySchedulerInit = {}): (components: DutyComponents) => DutyScheduler {
  return (components) => new DutyScheduler(components, init)
}

export class DutyScheduler {
  readonly #engine: Engine
  readonly #registrar: SyncRegistrar
  readonly #store: DutyStore
  readonly #ownership: Ownership
  readonly #delivery: Delivery
  readonly #log: DutyLogger
  readonly #clock: () => number
  readonly #o: DutyOptions

  readonly #pending = new Map<string, PendingDuty>()
  /** Pending duties found to be ours and due; consumed from `#readyHead`. */
  #ready: PendingDuty[] = []
  #readyHead = 0
  readonly #inFlight = new Set<Promise<void>>()
  /** Recent alerts, matched against new presences. */
  readonly #alerts = new Map<string, AlertArea>()
  /** Per origin, the last entry scanned for duties. */
  #cursor: VersionVector = {}
  #cursorDirty = false
  #queue: EntryBody[] = []
  #catchUp: VersionVector | null = null
  #discovering = false
  /** Store writes and the in-memory state they go with happen one at a time. */
  readonly #lock = new Mutex()
  #running = false
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => void) | undefined
  #abort = new AbortController()
  #deliverFrom = 0
  readonly #counts = { done: 0, delivered: 0, failures: 0, handedOn: 0 }

  constructor(components: DutyComponents, init: DutySchedulerInit = {}) {
    this.#o = dutyOptions(init)
    this.#engine = components.engine
    this.#registrar = components.registrar
    this.#store = new DutyStore(components.store)
    this.#log = (components.logger ?? silentLogger).child({ component: DUTIES_COMPONENT })
    this.#clock = components.clock ?? Date.now
    this.#ownership = new Ownership({
      engine: components.engine,
      liveNodes: () => this.#registrar.liveNodes(),
      log: this.#log,
    })
    this.#delivery = new Delivery(
      {
        engine: components.engine,
        webhooks: this.#o.webhooks,
        fetch: components.fetch ?? globalThis.fetch,
        random: components.random ?? Math.random,
      },
      this.#o,
    )
  }

  get nodeId(): string {
    return this.#engine.nodeId
  }

  /**
   * Loads pending duties and the scan cursor, rescans entries stored since, registers for
   * `dutyDone` messages and starts ticking.
   */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    this.#deliverFrom = this.#clock() + this.#o.startDelayMs
    try {
      await this.#lock.runExclusive(() => this.#load())
    } catch (err) {
      this.#running = false
      throw err
    }
    this.#registrar.handle(
      'dutyDone',
      dutyDoneHandler({
        engine: this.#engine,
        onAnnounced: (d) => this.onAnnounced(d),
        recentDone: (limit) => this.recentDone(limit),
        log: this.#log,
      }),
    )
    // Subscribe before taking the snapshot: an entry stored in between is then seen twice
    // (and skipped by the cursor the second time) rather than not at all.
    this.#unsubscribe = this.#engine.onEntry((entry) => {
      this.#queue.push(entry.body)
      this.#kickDiscovery()
    })
    this.#catchUp = this.#engine.versionVector()
    this.#kickDiscovery()
    this.#timer = setInterval(() => this.#tick(), this.#o.tickMs)
    this.#timer.unref?.()
    this.#log.info({ pending: this.#pending.size }, 'duty scheduler started')
  }

  /**
   * The grace period starts once the whole node is up, the mesh included: peers connect and say
   * what they did before this node takes over anything.
   */
  afterStart(): void {
    if (this.#running) this.#deliverFrom = this.#clock() + this.#o.startDelayMs
  }

  /**
   * Stops before the mesh does: with peers gone, every duty would look like this node's to do,
   * and what it did could no longer be announced.
   */
  beforeStop(): Promise<void> {
    return this.stop()
  }

  /** Stops ticking, aborts deliveries in flight (they stay pending) and saves the scan cursor. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#registrar.unhandle('dutyDone')
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#abort.abort()
    await Promise.allSettled([...this.#inFlight])
    await this.#lock.runExclusive(() => this.#saveCursor())
    this.#queue = []
    this.#ready = []
    this.#readyHead = 0
    this.#log.info({ pending: this.#pending.size }, 'duty scheduler stopped')
  }

  /**
   * A peer says it did a duty: mark it done here without delivering. Also records duties not
   * discovered here yet, so that discovering them later does not bring them back.
   * Never rejects; a malformed announcement is logged and dropped.
   */
  async onAnnounced(done: DutyDone): Promise<void> {
    if (!isDutyDone(done)) {
      this.#log.warn({}, 'dropped a malformed duty announcement')
      return
    }
    try {
      await this.#lock.runExclusive(() => this.#markDoneByPeer(done))
    } catch (err) {
      this.#log.error(
        { duty: done.id, ...errorFields(err, { message: false }) },
        'could not record an announced duty',
      )
    }
  }

  /**
   * The most recent completions this node knows of (its own and peers'), newest first: what
   * to send a peer when it (re)connects, so that a node that was away does not redo them.
   */
  recentDone(limit = RECENT_DONE_ON_CONNECT): Promise<DutyDone[]> {
    return this.#store.recentDone(limit)
  }

  /** A stored duty, for operators and tests. */
  get(id: string): Promise<StoredDuty | undefined> {
    return this.#store.get(id)
  }

  status(): DutySchedulerStatus {
    const live = this.#ownership.live()
    let mine = 0
    const now = this.#clock()
    for (const p of this.#pending.values()) if (this.#mayDeliver(p, live, now)) mine++
    return {
      pending: this.#pending.size,
      ...this.#counts,
      mine,
      inFlight: this.#inFlight.size,
    }
  }

  // ---- Loading and discovery ----

  async #load(): Promise<void> {
    // First start over this store: begin with what is stored now, do not redo the past.
    this.#cursor = await this.#store.loadCursor(() => this.#engine.versionVector())
    for (const d of await this.#store.pending()) {
      if (!this.#pending.has(d.id)) this.#pending.set(d.id, newPending(d.id, d.ref!, d.discoveredAt))
    }
    const oldest = this.#clock() - this.#o.maxAgeMs
    for (const a of await alertViews(this.#engine)) {
      if (a.issuedAt >= oldest) {
        this.#alerts.set(a.id, { id: a.id, country: a.country, region: a.region, at: a.issuedAt })
      }
    }
  }

  #kickDiscovery(): void {
    if (this.#discovering) return
    this.#discovering = true
    void this.#lock.runExclusive(async () => {
      try {
        while (this.#running && (this.#catchUp || this.#queue.length > 0)) await this.#discoverBatch()
      } catch (err) {
        // The cursor did not move past what failed: the next entry (or restart) rescans it.
        this.#log.error({ ...errorFields(err, { message: false }) }, 'duty discovery failed')
      } finally {
        this.#discovering = false
      }
    })
  }

  async #discoverBatch(): Promise<void> {
    const ctx = { now: this.#clock(), maxAgeMs: this.#o.maxAgeMs, alerts: this.#alerts }
    const upTo = this.#catchUp
    this.#catchUp = null
    const what = upTo ? { upTo } : { bodies: this.#queue.splice(0, ENTRIES_PER_BATCH) }
    const { found, cursor } = await scanEntries(this.#engine, this.#cursor, what, ctx)
    await this.#persistFound(found, cursor)
  }

  async #persistFound(found: Map<string, DutyRef>, cursor: VersionVector): Promise<void> {
    const fresh = await this.#store.unknown([...found.keys()].filter((id) => !this.#pending.has(id)))
    if (fresh.length === 0) {
      this.#cursor = cursor
      this.#cursorDirty = true // saved at the next tick: rescanning entries without duties is harmless
      return
    }
    const now = this.#clock()
    const live = this.#ownership.live()
    for (let i = 0; i < fresh.length; i += DUTIES_PER_WRITE) {
      const chunk = fresh.slice(i, i + DUTIES_PER_WRITE).map((id) => [id, found.get(id)!] as const)
      const last = i + DUTIES_PER_WRITE >= fresh.length
      await this.#store.addPending(chunk, now, last ? cursor : undefined)
      for (const [id, ref] of chunk) {
        const p = newPending(id, ref, now)
        p.owner = this.#ownership.ownerOf(p, live)
        this.#pending.set(id, p)
        if (this.#mayDeliver(p, live, now)) this.#ready.push(p)
      }
    }
    this.#cursor = cursor
    this.#cursorDirty = false
    this.#log.debug({ duties: fresh.length }, 'duties discovered')
    this.#pump()
  }

  async #saveCursor(): Promise<void> {
    if (!this.#cursorDirty) return
    this.#cursorDirty = false
    await this.#store.saveCursor(this.#cursor)
  }

  // ---- Assignment and delivery ----

  #tick(): void {
    if (!this.#running) return
    const now = this.#clock()
    for (const [id, a] of this.#alerts) if (a.at < now - this.#o.maxAgeMs) this.#alerts.delete(id)
    const live = this.#ownership.live()
    const ready: PendingDuty[] = []
    let takenOver = 0
    for (const p of this.#pending.values()) {
      const owner = this.#ownership.ownerOf(p, live)
      if (owner === this.nodeId && p.owner !== undefined && p.owner !== this.nodeId) takenOver++
      if (this.#mayDeliver(p, live, now) && !p.inFlight && p.nextAt <= now) ready.push(p)
      p.owner = owner
    }
    if (takenOver > 0) this.#log.info({ duties: takenOver }, 'took over duties of nodes no longer live')
    this.#ready = ready
    this.#readyHead = 0
    this.#pump()
    if (this.#cursorDirty) {
      this.#lock
        .runExclusive(() => this.#saveCursor())
        .catch((err: unknown) => {
          this.#log.error({ ...errorFields(err, { message: false }) }, 'could not save the duty scan cursor')
        })
    }
  }

  #pump(): void {
    if (!this.#running) return
    const now = this.#clock()
    if (now < this.#deliverFrom) return
    let live: Set<string> | undefined
    while (this.#inFlight.size < this.#o.maxInFlight && this.#readyHead < this.#ready.length) {
      const p = this.#ready[this.#readyHead++]!
      if (p.inFlight || p.nextAt > now || this.#pending.get(p.id) !== p) continue
      live ??= this.#ownership.live()
      if (!this.#mayDeliver(p, live, now)) continue
      p.inFlight = true
      p.attempts++
      const run: Promise<void> = this.#deliver(p).finally(() => {
        p.inFlight = false
        this.#inFlight.delete(run)
        this.#pump()
      })
      this.#inFlight.add(run)
    }
    if (this.#readyHead >= this.#ready.length) {
      this.#ready = []
      this.#readyHead = 0
    }
  }

  async #deliver(p: PendingDuty): Promise<void> {
    const outcome: Outcome = await this.#delivery.attempt(p, this.#abort.signal)
    switch (outcome.result) {
      case 'delivered':
        this.#counts.delivered++
        this.#log.debug({ duty: p.id, kind: p.ref.kind, attempt: p.attempts }, 'duty delivered')
        return this.#complete(p)
      case 'skipped':
        // Not closed: the next node of its ranking takes it after handOnMs (or at once if it owns it).
        p.notHere = true
        this.#counts.handedOn++
        this.#log.warn(
          { duty: p.id, kind: p.ref.kind, reason: outcome.reason },
          'no webhook here for this duty: handed on to the next node of its ranking',
        )
        return
      case 'failed': {
        this.#counts.failures++
        const delay = this.#delivery.retryDelay(p.attempts)
        p.nextAt = this.#clock() + delay
        this.#log.warn(
          { duty: p.id, kind: p.ref.kind, attempt: p.attempts, reason: outcome.reason, retryInMs: delay },
          'duty delivery failed; will retry',
        )
        return
      }
      case 'aborted':
        return
    }
  }

  /**
   * Whether this node may deliver `p` now: it has a webhook for it (as far as it knows), and it
   * owns it, or every live node ranked above it had `handOnMs` each to deliver it and did not
   * (no webhook there, failing deliveries, or a node that is up but not working).
   */
  #mayDeliver(p: PendingDuty, live: ReadonlySet<string>, now: number): boolean {
    if (p.notHere) return false
    const rank = this.#ownership.rankOf(p, live)
    return rank === 0 || now >= (p.discoveredAt ?? 0) + rank * this.#o.handOnMs
  }

  /** Stores the outcome, then tells the peers (store before send). */
  async #complete(p: PendingDuty): Promise<void> {
    const done: DutyDone = { id: p.id, node: this.nodeId, at: this.#clock() }
    let recorded = false
    try {
      recorded = await this.#lock.runExclusive(async () => {
        if (this.#pending.get(p.id) !== p) return false // a peer announced it meanwhile
        await this.#store.close({
          v: 1,
          id: p.id,
          state: 'done',
          ref: p.ref,
          discoveredAt: p.discoveredAt,
          doneBy: done.node,
          at: done.at,
        })
        this.#pending.delete(p.id)
        return true
      })
    } catch (err) {
      // Done but not recorded: it stays pending, and is delivered again (same key) later.
      this.#log.error(
        { duty: p.id, kind: p.ref.kind, ...errorFields(err, { message: false }) },
        'could not record a done duty',
      )
      return
    }
    if (!recorded) return
    this.#counts.done++
    try {
      this.#registrar.broadcast({ t: 'dutyDone', done: [done] })
    } catch (err) {
      this.#log.error(
        { duty: p.id, ...errorFields(err, { message: false }) },
        'could not announce a done duty',
      )
    }
  }

  async #markDoneByPeer(done: DutyDone): Promise<void> {
    const p = this.#pending.get(done.id)
    let ref: DutyRef | null = p?.ref ?? null
    let discoveredAt = p?.discoveredAt ?? null
    if (!p) {
      const d = await this.#store.get(done.id)
      if (d && d.state !== 'pending') return // already done
      if (d) {
        ref = d.ref
        discoveredAt = d.discoveredAt
      }
    }
    await this.#store.close({
      v: 1,
      id: done.id,
      state: 'done',
      ref,
      discoveredAt,
      doneBy: done.node,
      at: done.at,
    })
    if (this.#pending.delete(done.id) || ref) this.#counts.done++
    this.#log.debug({ duty: done.id, by: done.node }, 'duty done by a peer')
  }
}

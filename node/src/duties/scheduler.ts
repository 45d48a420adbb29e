/**
 * The duty scheduler: work that must happen once across the bloc (a crisis alert to each
 * citizen in the area, a new case to its nationality state's queue), done by one live node
 * and taken over by another within about a tick when that node stops answering.
 *
 * - Discovery: every stored entry (local or remote) is scanned for duties (discovery.ts);
 *   new ones are written under `duty/<id>` in one batch with the scan cursor, so a restart
 *   reloads the pending ones and rescans whatever was stored but not yet scanned.
 * - Assignment: rendezvous hashing of the duty id over this node and the nodes it is
 *   connected to (ids.ts), recomputed every tick: when the owner drops out of the live set,
 *   the next node of that duty's ranking owns it.
 * - Delivery: an HTTP POST of JSON with `Idempotency-Key: <duty id>`; 2xx is done, anything
 *   else is retried with exponential backoff and jitter. Done is stored, then announced to
 *   peers, who mark it done without delivering. Two nodes may still both deliver (a partition,
 *   an announcement in flight while ownership moves): the key lets the receiver drop the second.
 *
 * Logs carry duty ids, kinds and HTTP statuses only — never contact details, names or URLs
 * (a webhook URL may hold a token).
 *
 * @example
 * const duties = new DutyScheduler(
 *   { engine, store, liveNodes: () => replication.liveNodeIds(), announce: (d) => replication.announceDuty(d), logger },
 *   { webhooks: { alerts: 'https://crisis.example/notify', cases: { AT: 'https://queue.example.at/cases' } } },
 * )
 * await duties.start()
 * // …when a peer says it did one:
 * duties.onAnnounced({ id, node, at })
 * await duties.stop()
 */
import {
  decodeEntry,
  type EntryBody,
  type RecordBody,
  utf8ToBytes,
  type VersionVector,
} from '@legation/protocol'
import type { Engine } from '../engine/engine.ts'
import { alertView, alerts as alertViews, citizenView } from '../engine/views.ts'
import { NodeError } from '../errors.ts'
import { COMPONENTS } from '../logger.ts'
import type { BatchOp, Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import { type AlertArea, type DutyRef, dutiesOfEntry, refId } from './discovery.ts'
import { rankNodes } from './ids.ts'
import { DK } from './keys.ts'

/** The logger component name of this service (the scheduler adds it to the logger it is given). */
export const DUTIES_COMPONENT = COMPONENTS.duties

export const DEFAULT_TICK_MS = 500
export const DEFAULT_RETRY_MIN_MS = 500
export const DEFAULT_RETRY_MAX_MS = 30_000
export const DEFAULT_MAX_IN_FLIGHT = 16
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000
export const DEFAULT_START_DELAY_MS = 2000
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000
/** Entries scanned per discovery batch (one storage batch for the duties they give). */
const ENTRIES_PER_BATCH = 256
/** Duties per storage batch when one alert fans out to very many citizens. */
const DUTIES_PER_WRITE = 4096

/** A peer's statement that a duty is done (or closed as skipped). Carried by the sync protocol. */
export interface DutyDone {
  readonly id: string
  /** Node id of the node that did it. */
  readonly node: string
  /** When it was done (that node's clock, ms). */
  readonly at: number
}

export interface DutyWebhooks {
  /** Receives every `alert-notify` delivery. */
  alerts?: string
  /** Per member-state code: the queue that receives `route-case` for that state's nationals. */
  cases?: Readonly<Record<string, string>>
}

export interface DutySchedulerInit {
  /**
   * How often ownership is recomputed against the live set and due deliveries start. A dead
   * owner's duties move within one tick of the mesh noticing it is gone.
   * @default DEFAULT_TICK_MS (500)
   */
  tickMs?: number
  /** First retry delay after a failed delivery; doubles per attempt. @default DEFAULT_RETRY_MIN_MS (500) */
  retryMinMs?: number
  /** Longest retry delay. @default DEFAULT_RETRY_MAX_MS (30 000) */
  retryMaxMs?: number
  /** Deliveries in flight at once. @default DEFAULT_MAX_IN_FLIGHT (16) */
  maxInFlight?: number
  /** A delivery not answered in this time failed (and is retried). @default DEFAULT_REQUEST_TIMEOUT_MS (5000) */
  requestTimeoutMs?: number
  /**
   * No delivery starts until this long after `start()`. A node that has just started sees no
   * peers yet and would otherwise claim every pending duty; this leaves the mesh time to
   * connect and peers time to tell it what they did meanwhile.
   * @default DEFAULT_START_DELAY_MS (2000)
   */
  startDelayMs?: number
  /**
   * Records signed longer ago than this create no duties (a node catching up does not redo
   * old work), and a new presence is matched against alerts issued within it.
   * @default DEFAULT_MAX_AGE_MS (7 days)
   */
  maxAgeMs?: number
  /**
   * Where deliveries go. A duty whose webhook is not configured is closed as skipped (and
   * announced, so no node retries it): configure the same webhooks on every node.
   * @default {} (everything is skipped)
   */
  webhooks?: DutyWebhooks
}

/** Minimal structural logger; a pino logger satisfies it. */
export interface DutyLogger {
  child(bindings: Record<string, unknown>): DutyLogger
  debug(obj: Record<string, unknown>, msg?: string): void
  info(obj: Record<string, unknown>, msg?: string): void
  warn(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
}

export interface DutyComponents {
  engine: Engine
  /** The node's store (the engine's): duties live next to the records they come from. */
  store: Store
  /** Node ids of the nodes this node is connected to now, not including itself. */
  liveNodes: () => readonly string[]
  /** Sends a completion to every connected peer (they call `onAnnounced`). */
  announce: (done: DutyDone) => void
  /** @default a logger that discards everything */
  logger?: DutyLogger
  /** @default globalThis.fetch */
  fetch?: typeof fetch
  /** @default Date.now */
  clock?: () => number
  /** Jitter source in [0, 1). @default Math.random */
  random?: () => number
}

export type DutyState = 'pending' | 'done' | 'skipped'

/** A duty as stored under `duty/<id>`. */
export interface StoredDuty {
  v: 1
  id: string
  state: DutyState
  /** What it is about; null when this node only heard from a peer that it was done. */
  ref: DutyRef | null
  discoveredAt: number | null
  /** The node that delivered (or skipped) it. */
  doneBy?: string
  at?: number
  /** Why it was skipped, e.g. `no-webhook`. */
  reason?: string
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
  /** Duties this node closed since start because no webhook is configured for them. */
  skipped: number
  /** Deliveries in flight now. */
  inFlight: number
}

interface PendingDuty {
  readonly id: string
  readonly ref: DutyRef
  readonly discoveredAt: number | null
  /** Candidate nodes in rendezvous order, and the charter version they were ranked for. */
  rank: readonly string[]
  rankedFor: string
  /** The owner at the last tick, to notice takeovers. */
  owner: string | undefined
  attempts: number
  nextAt: number
  inFlight: boolean
}

type Target =
  | { readonly skip: string }
  | { readonly url: string; readonly body: Record<string, unknown>; readonly skip?: undefined }

/** The data a delivery needs is not (yet) stored here: retry later. */
class DutyUnavailable extends Error {
  override readonly name = 'DutyUnavailable'
}

const silentLogger: DutyLogger = {
  child: () => silentLogger,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
}

const enc = (v: unknown) => utf8ToBytes(JSON.stringify(v))
const dec = <T>(b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as T
const DUTY_ID = /^[0-9a-f]{64}$/

/** libp2p-style factory: `dutyScheduler(init)(components)`. */
export function dutyScheduler(init: DutySchedulerInit = {}): (components: DutyComponents) => DutyScheduler {
  return (components) => new DutyScheduler(components, init)
}

export class DutyScheduler {
  readonly #engine: Engine
  readonly #store: Store
  readonly #liveNodes: () => readonly string[]
  readonly #announce: (done: DutyDone) => void
  readonly #log: DutyLogger
  readonly #fetch: typeof fetch
  readonly #clock: () => number
  readonly #random: () => number
  readonly #tickMs: number
  readonly #retryMinMs: number
  readonly #retryMaxMs: number
  readonly #maxInFlight: number
  readonly #requestTimeoutMs: number
  readonly #startDelayMs: number
  readonly #maxAgeMs: number
  readonly #webhooks: DutyWebhooks

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
  #lock: Promise<unknown> = Promise.resolve()
  #running = false
  #timer: ReturnType<typeof setInterval> | undefined
  #unsubscribe: (() => void) | undefined
  #abort = new AbortController()
  #deliverFrom = 0
  readonly #counts = { done: 0, delivered: 0, failures: 0, skipped: 0 }

  constructor(components: DutyComponents, init: DutySchedulerInit = {}) {
    this.#engine = components.engine
    this.#store = components.store
    this.#liveNodes = components.liveNodes
    this.#announce = components.announce
    this.#log = (components.logger ?? silentLogger).child({ component: DUTIES_COMPONENT })
    this.#fetch = components.fetch ?? globalThis.fetch
    this.#clock = components.clock ?? Date.now
    this.#random = components.random ?? Math.random
    const o = {
      tickMs: init.tickMs ?? DEFAULT_TICK_MS,
      retryMinMs: init.retryMinMs ?? DEFAULT_RETRY_MIN_MS,
      retryMaxMs: init.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
      maxInFlight: init.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      requestTimeoutMs: init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      startDelayMs: init.startDelayMs ?? DEFAULT_START_DELAY_MS,
      maxAgeMs: init.maxAgeMs ?? DEFAULT_MAX_AGE_MS,
    }
    checkOptions(o)
    this.#webhooks = init.webhooks ?? {}
    checkWebhooks(this.#webhooks)
    this.#tickMs = o.tickMs
    this.#retryMinMs = o.retryMinMs
    this.#retryMaxMs = o.retryMaxMs
    this.#maxInFlight = o.maxInFlight
    this.#requestTimeoutMs = o.requestTimeoutMs
    this.#startDelayMs = o.startDelayMs
    this.#maxAgeMs = o.maxAgeMs
  }

  get nodeId(): string {
    return this.#engine.nodeId
  }

  /** Loads pending duties and the scan cursor, rescans entries stored since, and starts ticking. */
  async start(): Promise<void> {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    this.#deliverFrom = this.#clock() + this.#startDelayMs
    try {
      await this.#exclusive(() => this.#load())
    } catch (err) {
      this.#running = false
      throw err
    }
    // Subscribe before taking the snapshot: an entry stored in between is then seen twice
    // (and skipped by the cursor the second time) rather than not at all.
    this.#unsubscribe = this.#engine.onEntry((entry) => {
      this.#queue.push(entry.body)
      this.#kickDiscovery()
    })
    this.#catchUp = this.#engine.versionVector()
    this.#kickDiscovery()
    this.#timer = setInterval(() => this.#tick(), this.#tickMs)
    this.#timer.unref?.()
    this.#log.info({ pending: this.#pending.size }, 'duty scheduler started')
  }

  /** Stops ticking, aborts deliveries in flight (they stay pending) and saves the scan cursor. */
  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#abort.abort()
    await Promise.allSettled([...this.#inFlight])
    await this.#exclusive(() => this.#saveCursor())
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
  onAnnounced(done: DutyDone): Promise<void> {
    if (!isDutyDone(done)) {
      this.#log.warn({}, 'dropped a malformed duty announcement')
      return Promise.resolve()
    }
    return this.#exclusive(() => this.#markDoneByPeer(done)).catch((err: unknown) => {
      this.#log.error({ duty: done.id, err: errorFields(err) }, 'could not record an announced duty')
    })
  }

  /**
   * The most recent completions this node knows of (its own and peers'), newest first: what
   * to send a peer when it (re)connects, so that a node that was away does not redo them.
   */
  async recentDone(limit = 1000): Promise<DutyDone[]> {
    const out: DutyDone[] = []
    for await (const [, v] of this.#store.range(prefixRange(DK.donePrefix, { limit, reverse: true }))) {
      out.push(dec<DutyDone>(v))
    }
    return out
  }

  /** A stored duty, for operators and tests. */
  async get(id: string): Promise<StoredDuty | undefined> {
    const raw = await this.#store.get(DK.duty(id))
    return raw ? dec<StoredDuty>(raw) : undefined
  }

  status(): DutySchedulerStatus {
    const live = this.#live()
    let mine = 0
    for (const p of this.#pending.values()) if (this.#ownerOf(p, live) === this.nodeId) mine++
    return {
      pending: this.#pending.size,
      done: this.#counts.done,
      mine,
      delivered: this.#counts.delivered,
      failures: this.#counts.failures,
      skipped: this.#counts.skipped,
      inFlight: this.#inFlight.size,
    }
  }

  // ---- Loading and discovery ----

  async #load(): Promise<void> {
    const raw = await this.#store.get(DK.cursor)
    if (raw) {
      this.#cursor = dec<VersionVector>(raw)
    } else {
      // First start over this store: begin with what is stored now, do not redo the past.
      this.#cursor = this.#engine.versionVector()
      await this.#store.write([{ type: 'put', key: DK.cursor, value: enc(this.#cursor) }])
    }
    const ids: string[] = []
    for await (const [k] of this.#store.range(prefixRange(DK.pendingPrefix))) {
      ids.push(k.slice(DK.pendingPrefix.length))
    }
    for (let i = 0; i < ids.length; i += DUTIES_PER_WRITE) {
      const chunk = ids.slice(i, i + DUTIES_PER_WRITE)
      const raws = await this.#store.getMany(chunk.map(DK.duty))
      for (const r of raws) {
        const d = r && dec<StoredDuty>(r)
        if (d?.state === 'pending' && d.ref && !this.#pending.has(d.id)) {
          this.#pending.set(d.id, this.#newPending(d.id, d.ref, d.discoveredAt))
        }
      }
    }
    const oldest = this.#clock() - this.#maxAgeMs
    for (const a of await alertViews(this.#engine)) {
      if (a.issuedAt >= oldest) {
        this.#alerts.set(a.id, { id: a.id, country: a.country, region: a.region, at: a.issuedAt })
      }
    }
  }

  #kickDiscovery(): void {
    if (this.#discovering) return
    this.#discovering = true
    void this.#exclusive(async () => {
      try {
        while (this.#running && (this.#catchUp || this.#queue.length > 0)) await this.#discoverBatch()
      } catch (err) {
        // The cursor did not move past what failed: the next entry (or restart) rescans it.
        this.#log.error({ err: errorFields(err) }, 'duty discovery failed')
      } finally {
        this.#discovering = false
      }
    })
  }

  async #discoverBatch(): Promise<void> {
    const cursor: VersionVector = { ...this.#cursor }
    const found = new Map<string, DutyRef>()
    const ctx = { now: this.#clock(), maxAgeMs: this.#maxAgeMs, alerts: this.#alerts }
    const scan = async (body: EntryBody): Promise<void> => {
      const have = cursor[body.origin] ?? 0
      if (body.seq <= have) return
      if (body.seq > have + 1) {
        // Stored but never scanned (a crash, or entries stored while stopped): read them back.
        for await (const bytes of this.#engine.entries(body.origin, have + 1, body.seq - have - 1)) {
          await scan(decodeEntry(bytes).body)
        }
      }
      for (const ref of await dutiesOfEntry(this.#engine, body, ctx)) found.set(refId(ref), ref)
      cursor[body.origin] = body.seq
    }
    if (this.#catchUp) {
      const target = this.#catchUp
      this.#catchUp = null
      for (const [origin, seq] of Object.entries(target)) {
        if (seq <= (cursor[origin] ?? 0)) continue
        const bytes = await this.#engine.getEntryBytes(origin, seq)
        if (bytes) await scan(decodeEntry(bytes).body)
      }
    } else {
      for (const body of this.#queue.splice(0, ENTRIES_PER_BATCH)) await scan(body)
    }
    await this.#persistFound(found, cursor)
  }

  async #persistFound(found: Map<string, DutyRef>, cursor: VersionVector): Promise<void> {
    const ids = [...found.keys()].filter((id) => !this.#pending.has(id))
    const known = ids.length > 0 ? await this.#store.getMany(ids.map(DK.duty)) : []
    const fresh = ids.filter((_, i) => known[i] === undefined)
    if (fresh.length === 0) {
      this.#cursor = cursor
      this.#cursorDirty = true // saved at the next tick: rescanning entries without duties is harmless
      return
    }
    const now = this.#clock()
    const live = this.#live()
    for (let i = 0; i < fresh.length; i += DUTIES_PER_WRITE) {
      const chunk = fresh.slice(i, i + DUTIES_PER_WRITE)
      const ops: BatchOp[] = []
      for (const id of chunk) {
        const d: StoredDuty = { v: 1, id, state: 'pending', ref: found.get(id)!, discoveredAt: now }
        ops.push({ type: 'put', key: DK.duty(id), value: enc(d) })
        ops.push({ type: 'put', key: DK.pending(id), value: new Uint8Array() })
      }
      const last = i + DUTIES_PER_WRITE >= fresh.length
      if (last) ops.push({ type: 'put', key: DK.cursor, value: enc(cursor) })
      await this.#store.write(ops)
      for (const id of chunk) {
        const p = this.#newPending(id, found.get(id)!, now)
        p.owner = this.#ownerOf(p, live)
        this.#pending.set(id, p)
        if (p.owner === this.nodeId) this.#ready.push(p)
      }
    }
    this.#cursor = cursor
    this.#cursorDirty = false
    this.#log.debug({ duties: fresh.length }, 'duties discovered')
    this.#pump()
  }

  #newPending(id: string, ref: DutyRef, discoveredAt: number | null): PendingDuty {
    return {
      id,
      ref,
      discoveredAt,
      rank: [],
      rankedFor: '',
      owner: undefined,
      attempts: 0,
      nextAt: 0,
      inFlight: false,
    }
  }

  async #saveCursor(): Promise<void> {
    if (!this.#cursorDirty) return
    this.#cursorDirty = false
    await this.#store.write([{ type: 'put', key: DK.cursor, value: enc(this.#cursor) }])
  }

  // ---- Assignment ----

  #live(): Set<string> {
    try {
      return new Set(this.#liveNodes())
    } catch (err) {
      this.#log.error({ err: errorFields(err) }, 'liveNodes() threw; acting as if alone')
      return new Set()
    }
  }

  /** This duty's owner among this node and the live nodes (certified ones only). */
  #ownerOf(p: PendingDuty, live: ReadonlySet<string>): string | undefined {
    const charter = this.#engine.charter
    if (p.rankedFor !== charter.hash) {
      p.rank = rankNodes(p.id, [...charter.nodes.keys(), this.nodeId])
      p.rankedFor = charter.hash
    }
    return p.rank.find((n) => n === this.nodeId || live.has(n))
  }

  #tick(): void {
    if (!this.#running) return
    const now = this.#clock()
    for (const [id, a] of this.#alerts) if (a.at < now - this.#maxAgeMs) this.#alerts.delete(id)
    const live = this.#live()
    const ready: PendingDuty[] = []
    let takenOver = 0
    for (const p of this.#pending.values()) {
      const owner = this.#ownerOf(p, live)
      if (owner === this.nodeId) {
        if (p.owner !== undefined && p.owner !== this.nodeId) takenOver++
        if (!p.inFlight && p.nextAt <= now) ready.push(p)
      }
      p.owner = owner
    }
    if (takenOver > 0) this.#log.info({ duties: takenOver }, 'took over duties of nodes no longer live')
    this.#ready = ready
    this.#readyHead = 0
    this.#pump()
    if (this.#cursorDirty) {
      void this.#exclusive(() => this.#saveCursor()).catch((err: unknown) => {
        this.#log.error({ err: errorFields(err) }, 'could not save the duty scan cursor')
      })
    }
  }

  // ---- Delivery ----

  #pump(): void {
    if (!this.#running) return
    const now = this.#clock()
    if (now < this.#deliverFrom) return
    let live: Set<string> | undefined
    while (this.#inFlight.size < this.#maxInFlight && this.#readyHead < this.#ready.length) {
      const p = this.#ready[this.#readyHead++]!
      if (p.inFlight || p.nextAt > now || this.#pending.get(p.id) !== p) continue
      live ??= this.#live()
      if (this.#ownerOf(p, live) !== this.nodeId) continue
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
    let target: Target
    try {
      target = await this.#target(p)
    } catch (err) {
      return this.#failed(p, err instanceof DutyUnavailable ? err.message : errorCode(err))
    }
    if (target.skip !== undefined) return this.#complete(p, 'skipped', target.skip)
    try {
      const res = await this.#fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': p.id },
        body: JSON.stringify(target.body),
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#requestTimeoutMs)]),
      })
      await res.arrayBuffer().catch(() => undefined) // read to the end, so the connection is reused
      if (res.status >= 200 && res.status < 300) {
        this.#counts.delivered++
        this.#log.debug({ duty: p.id, kind: p.ref.kind, attempt: p.attempts }, 'duty delivered')
        await this.#complete(p, 'done')
      } else {
        this.#failed(p, `status ${res.status}`)
      }
    } catch (err) {
      if (this.#abort.signal.aborted) return // stopping: the duty stays pending, on disk
      this.#failed(p, errorCode(err))
    }
  }

  /** Where the duty goes and what it says, read from the engine now (never stored with the duty). */
  async #target(p: PendingDuty): Promise<Target> {
    const ref = p.ref
    if (ref.kind === 'alert-notify') {
      const url = this.#webhooks.alerts
      if (!url) return { skip: 'no-webhook' }
      const alert = await alertView(this.#engine, ref.alert)
      if (!alert) throw new DutyUnavailable('alert not stored here')
      const citizen = await citizenView(this.#engine, ref.citizen)
      if (!citizen) throw new DutyUnavailable('citizen not registered here')
      const { id, country, region, severity, title, message } = alert
      return {
        url,
        body: {
          kind: ref.kind,
          duty: p.id,
          alert: { id, country, region, severity, title, message },
          citizen: ref.citizen,
          contact: citizen.contact,
        },
      }
    }
    const nationality = (await this.#engine.getSummary(ref.citizen))?.nationality
    if (!nationality) throw new DutyUnavailable('citizen not registered here')
    const cases = this.#webhooks.cases
    const url = cases && Object.hasOwn(cases, nationality) ? cases[nationality] : undefined
    if (!url) return { skip: 'no-webhook' }
    const opened = await this.#engine.getRecord(ref.case)
    if (opened?.record.header.kind !== 'case.opened') throw new DutyUnavailable('case not stored here')
    return {
      url,
      body: {
        kind: ref.kind,
        duty: p.id,
        case: ref.case,
        citizen: ref.citizen,
        caseType: (opened.record.header.body as RecordBody<'case.opened'>).caseType,
        nationality,
      },
    }
  }

  #failed(p: PendingDuty, reason: string): void {
    this.#counts.failures++
    const d = Math.min(this.#retryMaxMs, this.#retryMinMs * 2 ** Math.min(p.attempts - 1, 30))
    const delay = Math.round(d / 2 + (this.#random() * d) / 2) // "equal jitter": at least half the step
    p.nextAt = this.#clock() + delay
    this.#log.warn(
      { duty: p.id, kind: p.ref.kind, attempt: p.attempts, reason, retryInMs: delay },
      'duty delivery failed; will retry',
    )
  }

  /** Stores the outcome, then tells the peers (store before send). */
  async #complete(p: PendingDuty, state: 'done' | 'skipped', reason?: string): Promise<void> {
    const done: DutyDone = { id: p.id, node: this.nodeId, at: this.#clock() }
    let recorded = false
    try {
      recorded = await this.#exclusive(async () => {
        if (this.#pending.get(p.id) !== p) return false // a peer announced it meanwhile
        const d: StoredDuty = {
          v: 1,
          id: p.id,
          state,
          ref: p.ref,
          discoveredAt: p.discoveredAt,
          doneBy: done.node,
          at: done.at,
          ...(reason ? { reason } : {}),
        }
        await this.#store.write([
          { type: 'put', key: DK.duty(p.id), value: enc(d) },
          { type: 'del', key: DK.pending(p.id) },
          { type: 'put', key: DK.done(done.at, p.id), value: enc(done) },
        ])
        this.#pending.delete(p.id)
        return true
      })
    } catch (err) {
      // Done but not recorded: it stays pending, and is delivered again (same key) later.
      this.#log.error({ duty: p.id, kind: p.ref.kind, err: errorFields(err) }, 'could not record a done duty')
      return
    }
    if (!recorded) return
    if (state === 'skipped') {
      this.#counts.skipped++
      this.#log.warn({ duty: p.id, kind: p.ref.kind, reason }, 'duty skipped: no webhook configured for it')
    } else {
      this.#counts.done++
    }
    try {
      this.#announce(done)
    } catch (err) {
      this.#log.error({ duty: p.id, err: errorFields(err) }, 'announce() threw')
    }
  }

  async #markDoneByPeer(done: DutyDone): Promise<void> {
    const p = this.#pending.get(done.id)
    let ref: DutyRef | null = p?.ref ?? null
    let discoveredAt = p?.discoveredAt ?? null
    if (!p) {
      const raw = await this.#store.get(DK.duty(done.id))
      const d = raw && dec<StoredDuty>(raw)
      if (d && d.state !== 'pending') return // already done
      if (d) {
        ref = d.ref
        discoveredAt = d.discoveredAt
      }
    }
    const d: StoredDuty = {
      v: 1,
      id: done.id,
      state: 'done',
      ref,
      discoveredAt,
      doneBy: done.node,
      at: done.at,
    }
    await this.#store.write([
      { type: 'put', key: DK.duty(done.id), value: enc(d) },
      { type: 'del', key: DK.pending(done.id) },
      {
        type: 'put',
        key: DK.done(done.at, done.id),
        value: enc({ id: done.id, node: done.node, at: done.at }),
      },
    ])
    if (this.#pending.delete(done.id) || ref) this.#counts.done++
    this.#log.debug({ duty: done.id, by: done.node }, 'duty done by a peer')
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn)
    this.#lock = run.catch(() => undefined)
    return run
  }
}

/** Checks a `DutyDone` received from a peer. */
export function isDutyDone(v: unknown): v is DutyDone {
  if (typeof v !== 'object' || v === null) return false
  const d = v as Record<string, unknown>
  return (
    typeof d.id === 'string' &&
    DUTY_ID.test(d.id) &&
    typeof d.node === 'string' &&
    d.node.length > 0 &&
    d.node.length <= 128 &&
    typeof d.at === 'number' &&
    Number.isFinite(d.at) &&
    d.at >= 0
  )
}

function checkOptions(o: Record<string, number>): void {
  const problems = Object.entries(o)
    .filter(([k, v]) => !Number.isFinite(v) || v < (k === 'startDelayMs' ? 0 : 1))
    .map(([k]) => `duties.${k}: must be a positive number (startDelayMs may be 0)`)
  if (problems.length > 0) {
    throw new NodeError('CONFIG_INVALID', 'duty scheduler options are invalid', { details: problems })
  }
}

function checkWebhooks(w: DutyWebhooks): void {
  const problems: string[] = []
  const check = (name: string, url: unknown) => {
    let ok = false
    try {
      const u = new URL(String(url))
      ok = typeof url === 'string' && (u.protocol === 'http:' || u.protocol === 'https:')
    } catch {}
    // The URL itself is not repeated: it may carry a token.
    if (!ok) problems.push(`${name}: not an http(s) URL`)
  }
  if (w.alerts !== undefined) check('webhooks.alerts', w.alerts)
  for (const [state, url] of Object.entries(w.cases ?? {})) check(`webhooks.cases.${state}`, url)
  if (problems.length > 0) {
    throw new NodeError('CONFIG_INVALID', 'duty webhooks are invalid', { details: problems })
  }
}

/** A short, non-personal reason for a failure (never a message that could quote a URL). */
function errorCode(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause as { code?: unknown } | undefined
    if (typeof cause?.code === 'string') return cause.code
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timeout'
    return err.name
  }
  return 'error'
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}) }
  }
  return { name: 'unknown' }
}

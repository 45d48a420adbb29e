/**
 * Member states as witnesses of each other's feeds (docs/protocol.md § Witnesses).
 *
 * Every node signs a checkpoint of its own feed when the feed has grown (a C2SP tlog-checkpoint
 * in a signed note: `AuditView.checkpoint`) and gossips it. Every node that receives another
 * node's checkpoint checks it against the entries of that feed it holds — the checkpoint's root
 * must be the root of its own tree of that size — and, if it holds them and the checkpoint is at
 * least as large as the last it checked, adds its **cosignature** (C2SP tlog-cosignature,
 * Ed25519 `cosignature/v1`, under its node key and the name `legation/<bloc>/witness/<node id>`)
 * and sends its cosignature to every peer once (the note as it came, with its own line).
 * Notes of one checkpoint merge their signature lines; a checkpoint
 * cosigned by nodes of at least `quorum` member states of the charter in force is **bloc-final**.
 *
 * A node that signs two checkpoints of one size with different roots, or one whose root is not
 * that of the entries it signed, has shown two views of its feed: both notes (or the note) are
 * stored as evidence (`split-view`), as an equivocation is.
 *
 * What is kept, per origin: the latest checkpoint checked here and the latest bloc-final one
 * (`ckpt/latest/<origin>`, `ckpt/final/<origin>`), each as the note with every signature line
 * known here. A checkpoint larger than the entries held waits until they arrive.
 */
import { createHash } from 'node:crypto'
import {
  cosignatureLine,
  decodeEntry,
  type Ed25519,
  equalBytes,
  joinNote,
  type KeyPair,
  noteParts,
  type OpenedWitnessed,
  openWitnessedCheckpoint,
  toHex,
  utf8ToBytes,
  witnessName,
} from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import type { Engine } from '../engine/engine.ts'
import type { ForkProof } from '../engine/healing.ts'
import { seqKey } from '../engine/keys.ts'
import type { SyncPeer, SyncRegistrar } from '../replication/registrar.ts'
import type { Store } from '../storage/store.ts'
import { integerOptions } from '../util/options.ts'

export const DEFAULT_WITNESS_INTERVAL_MS = 2_000

/** Signature lines a stored note keeps at most (Go's note package reads 100). */
const MAX_LINES = 100

/** Signatures remembered as verified (a few per checkpoint, per origin). */
const VERIFIED_SIGNATURES = 4096

/**
 * `ed` that remembers the signatures it found valid, by signature, key and the SHA-256 of the
 * message, and does not verify them again. A checkpoint's lines come back in every witness's
 * copy of its note and again in the note merged here: each was verified once per copy.
 */
function rememberingVerifier(ed: Ed25519, max = VERIFIED_SIGNATURES): Ed25519 {
  const valid = new LRUCache<string, true>({ max })
  return {
    name: ed.name,
    publicKey: (k) => ed.publicKey(k),
    sign: (m, k) => ed.sign(m, k),
    verify: (sig, message, key) => {
      const id = `${toHex(sig)}${toHex(key)}${createHash('sha256').update(message).digest('hex')}`
      if (valid.has(id)) return true
      const ok = ed.verify(sig, message, key)
      if (ok) valid.set(id, true)
      return ok
    },
  }
}

export interface WitnessInit {
  /** How often this node checkpoints its own feed (when it grew) and retries what waits. @default 2000 */
  intervalMs?: number
  /**
   * A witness sends its cosignature after a random delay of up to this long, and not at all if
   * by then the cosignatures of others make the checkpoint bloc-final with a member state to
   * spare (0: at once, always). @default 500
   */
  cosignSpreadMs?: number
}

export const DEFAULT_COSIGN_SPREAD_MS = 500

export interface WitnessObserver {
  cosigned?(): void
  /** A cosignature not sent: the checkpoint was bloc-final here before its turn came. */
  cosignatureHeld?(): void
  final?(): void
  splitView?(): void
}

export interface WitnessComponents {
  engine: Engine
  store: Store
  ed: Ed25519
  /** This node's key: it signs its checkpoints and cosignatures. */
  nodeKeys: KeyPair
  registrar: SyncRegistrar
  observer?: WitnessObserver
  clock?: () => number
  logger?: { warn(obj: Record<string, unknown>, msg?: string): void }
}

/** A checkpoint as this node keeps it. */
export type WitnessedCheckpoint = OpenedWitnessed

const K = {
  latest: (origin: string) => `ckpt/latest/${origin}`,
  final: (origin: string) => `ckpt/final/${origin}`,
  all: 'ckpt/latest/',
} as const

export function witness(init: WitnessInit = {}): (components: WitnessComponents) => Witness {
  const opts = integerOptions(
    'witness',
    init,
    { intervalMs: DEFAULT_WITNESS_INTERVAL_MS, cosignSpreadMs: DEFAULT_COSIGN_SPREAD_MS },
    { min: { intervalMs: 10, cosignSpreadMs: 0 } },
  )
  return (components) => new Witness(opts, components)
}

export class Witness {
  readonly #c: WitnessComponents
  readonly #intervalMs: number
  /** What opens notes: `ed`, remembering the signatures it verified. */
  readonly #openEd: Ed25519
  readonly #latest = new Map<string, WitnessedCheckpoint>()
  readonly #final = new Map<string, WitnessedCheckpoint>()
  /** Checkpoints larger than the entries held, by origin: checked once the entries are here. */
  readonly #waiting = new Map<string, string>()
  #timer: NodeJS.Timeout | undefined
  readonly #cosignSpreadMs: number
  /** Cosignatures waiting for their turn to be sent (`#announce`). */
  readonly #announcing = new Set<NodeJS.Timeout>()
  #unlisten: (() => void) | undefined
  #ticking: Promise<void> = Promise.resolve()
  /** Notes are merged one at a time: two merged at once from one stale copy would lose lines. */
  #receiving: Promise<unknown> = Promise.resolve()

  constructor(opts: { intervalMs: number; cosignSpreadMs: number }, components: WitnessComponents) {
    this.#c = components
    this.#intervalMs = opts.intervalMs
    this.#cosignSpreadMs = opts.cosignSpreadMs
    this.#openEd = rememberingVerifier(components.ed)
  }

  async start(): Promise<void> {
    const { store } = this.#c
    for await (const [key, value] of store.range({ gte: 'ckpt/', lt: 'ckpt/\uffff' })) {
      const origin = key.slice(key.lastIndexOf('/') + 1)
      try {
        const seen = this.#open(new TextDecoder().decode(value))
        ;(key.startsWith(K.all) ? this.#latest : this.#final).set(origin, seen)
      } catch {
        // A checkpoint that no longer opens (its witnesses left the charter): forgotten.
      }
    }
    this.#c.registrar.handle('checkpoint', {
      onMessage: (msg, from) => this.receive(msg.note, from, msg.fork),
      onConnect: async () => {
        const own = this.#latest.get(this.#c.engine.nodeId)
        return own ? { t: 'checkpoint', note: own.note } : undefined
      },
    })
    // Where this node learns of an equivocation, it tells the bloc which version the bloc-final
    // checkpoint it holds keeps (forks that heal).
    this.#unlisten = this.#c.engine.onEvidence((a) => {
      const origin = decodeEntry(a).body.origin
      this.#ticking = this.#ticking.then(() => this.#announceFinal(origin)).catch(() => undefined)
    })
    for (const [origin, f] of this.#final) await this.#c.engine.healing.setFinal(origin, f.size, f.root)
    this.#timer = setInterval(() => {
      this.#ticking = this.#ticking
        .then(() => this.tick())
        .catch((err: unknown) => {
          this.#c.logger?.warn({ err }, 'witness tick failed')
        })
    }, this.#intervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    for (const t of this.#announcing) clearTimeout(t)
    this.#announcing.clear()
    this.#unlisten?.()
    this.#c.registrar.unhandle('checkpoint')
    await this.#ticking
  }

  /** The latest checkpoint checked here, and the latest bloc-final one, of every feed. */
  checkpoints(): Array<{ latest?: WitnessedCheckpoint; final?: WitnessedCheckpoint; origin: string }> {
    const origins = new Set([...this.#latest.keys(), ...this.#final.keys()])
    return [...origins].sort().map((origin) => ({
      origin,
      ...(this.#latest.has(origin) ? { latest: this.#latest.get(origin)! } : {}),
      ...(this.#final.has(origin) ? { final: this.#final.get(origin)! } : {}),
    }))
  }

  /**
   * Checkpoints this node's own feed if it grew (or tells the peers again while its latest is
   * not bloc-final), and checks the checkpoints that waited for entries.
   */
  async tick(): Promise<void> {
    const { engine } = this.#c
    const self = engine.nodeId
    const size = engine.versionVector()[self] ?? 0
    const own = this.#latest.get(self)
    if (size > 0 && (!own || own.size < size)) {
      if (engine.charter.nodes.has(self)) await this.receive((await engine.audit.checkpoint()).note)
    } else if (own && !own.final) {
      this.#c.registrar.broadcast({ t: 'checkpoint', note: own.note })
    }
    // Which version stands where a feed forked, told again each tick: a peer that learns of the
    // fork later needs it then.
    for (const origin of engine.equivocations().keys()) await this.#announceFinal(origin)
    for (const [origin, note] of [...this.#waiting]) {
      this.#waiting.delete(origin)
      await this.receive(note)
    }
  }

  /**
   * A checkpoint note from a peer (or this node's own): checked, cosigned, merged with what is
   * known of it, kept and passed on when it taught this node something. Throws a ProtocolError
   * for a note that does not open (the peer's misbehaviour).
   */
  receive(note: string, _from?: SyncPeer, fork?: ForkProof): Promise<void> {
    const done = this.#receiving.then(() => this.#receive(note, fork))
    this.#receiving = done.catch(() => undefined)
    return done
  }

  async #receive(note: string, fork?: ForkProof): Promise<void> {
    const { engine } = this.#c
    const seen = this.#open(note)
    const nodeId = seen.origin
    // A bloc-final checkpoint says which version of an equivocating feed stands, whatever this
    // node holds of it yet.
    if (seen.final) {
      await engine.healing.setFinal(nodeId, seen.size, seen.root)
      if (fork) await engine.healing.pinFork(nodeId, seen.size, seen.root, fork)
    }
    const have = this.#latest.get(nodeId)
    const held = engine.versionVector()[nodeId] ?? 0
    if (have && have.size === seen.size && !equalBytes(have.root, seen.root)) {
      return this.#splitView(nodeId, seen.size, [have.note, note])
    }
    if (seen.size > held) {
      const waiting = this.#waiting.get(nodeId)
      if (!waiting || this.#open(waiting).size < seen.size) this.#waiting.set(nodeId, note)
      return
    }
    // Checked against the entries of its feed held here: a root that is not theirs is a view
    // of the feed no honest node was shown.
    if (!equalBytes(await engine.audit.root(nodeId, seen.size), seen.root)) {
      return this.#splitView(nodeId, seen.size, [note])
    }
    if (have && (seen.size < have.size || (seen.size === have.size && !sameText(have.note, note)))) {
      // Older, or the same tree in another text (other extension lines): the first kept wins
      // where texts differ, so that cosignatures gather on one text.
      if (have.size > seen.size || noteParts(have.note).text <= noteParts(note).text) return
    }
    const same = have && sameText(have.note, note) ? have : undefined
    const lines = mergeLines(same?.note, note)
    const own = nodeId === engine.nodeId
    let cosignedHere = false
    if (!own && !seen.cosigners.includes(engine.nodeId) && !same?.cosigners.includes(engine.nodeId)) {
      cosignedHere = true
      lines.push(
        cosignatureLine(
          this.#c.ed,
          noteParts(note).text,
          { name: witnessName(engine.bloc, engine.nodeId), secretKey: this.#c.nodeKeys.secretKey },
          Math.floor((this.#c.clock ?? Date.now)() / 1000),
        ),
      )
      this.#c.observer?.cosigned?.()
    }
    const merged = this.#open(joinNote({ text: noteParts(note).text, lines }))
    if (have && have.note === merged.note) return
    if (have && sameText(have.note, merged.note) && merged.cosigners.length <= have.cosigners.length) return
    this.#latest.set(nodeId, merged)
    const ops = [{ type: 'put' as const, key: K.latest(nodeId), value: utf8ToBytes(merged.note) }]
    const final = this.#final.get(nodeId)
    if (
      merged.final &&
      (!final || final.size < merged.size || final.cosigners.length < merged.cosigners.length)
    ) {
      if (!final || final.size < merged.size) this.#c.observer?.final?.()
      this.#final.set(nodeId, merged)
      ops.push({ type: 'put', key: K.final(nodeId), value: utf8ToBytes(merged.note) })
    }
    await this.#c.store.write(ops)
    if (merged.final) await engine.healing.setFinal(nodeId, merged.size, merged.root)
    const proof = merged.final ? await engine.healing.forkProof(nodeId, merged.size) : undefined
    // Who hears of what. Passing every merged note on to every peer cost each node O(n) notes of
    // O(n) lines per checkpoint: the traffic grew with the square of the bloc. Now the origin
    // sends its checkpoint out, and each witness sends its own cosignature to every peer once,
    // on the note as it came (a few lines, not every line known here): every node merges the
    // cosignatures it receives and sees the checkpoint become bloc-final by itself, without the
    // origin's help (a hostile origin cannot withhold finality). A note with a fork proof is
    // passed on to everyone, as before.
    if (proof) {
      this.#c.registrar.broadcast({ t: 'checkpoint', note: merged.note, fork: proof })
    } else if (own) {
      if (!have || have.size < merged.size)
        this.#c.registrar.broadcast({ t: 'checkpoint', note: merged.note })
    } else if (cosignedHere) {
      const mine = joinNote({ text: noteParts(note).text, lines: [...noteParts(note).lines, lines.at(-1)!] })
      this.#announce(nodeId, merged.size, mine)
    }
  }

  /**
   * Sends this node's cosignature of `origin`'s checkpoint of `size` to every peer, after a
   * random delay within `cosignSpreadMs`, unless by then a larger one is held, or the
   * cosignatures of others make this one bloc-final at every peer with a state to spare
   * (`#finalWithoutMe`). Every witness sending its own to every peer cost each
   * node O(n) notes per checkpoint, 83 B per record per node in a bloc of 15 (5 % of its
   * traffic, against 3 B at 5 nodes); with a quorum of q member states, about q + 1 witnesses send.
   * A hostile origin withholds nothing: the witnesses still reach finality among themselves.
   */
  #announce(origin: string, size: number, note: string): void {
    const send = () => {
      const held = this.#latest.get(origin)
      if (held && (held.size > size || this.#finalWithoutMe(held))) {
        this.#c.observer?.cosignatureHeld?.()
        return
      }
      this.#c.registrar.broadcast({ t: 'checkpoint', note })
    }
    if (this.#cosignSpreadMs === 0) {
      send()
      return
    }
    const timer = setTimeout(() => {
      this.#announcing.delete(timer)
      send()
    }, Math.random() * this.#cosignSpreadMs)
    timer.unref()
    this.#announcing.add(timer)
  }

  /**
   * Whether the cosignatures of others make `held` bloc-final at every peer too, with a state to
   * spare: each was sent to every peer, but a hostile witness may have sent its own to some
   * peers only (to this node, say), and this node holding back would then leave the others
   * short. So they must come from `quorum + 1` member states (this node's own line not
   * counted): without any one state's lines, a quorum is still left.
   */
  #finalWithoutMe(held: WitnessedCheckpoint): boolean {
    const latest = this.#c.engine.trust.versions.at(-1)
    if (!latest) return false
    const states = new Set<string>()
    for (const id of held.cosigners) {
      const state = id === this.#c.engine.nodeId ? undefined : latest.nodes.get(id)?.state
      if (state !== undefined) states.add(state)
    }
    return states.size > latest.charter.quorum
  }

  /** Tells the peers the bloc-final checkpoint of `origin` held here, with its fork proof. */
  async #announceFinal(origin: string): Promise<void> {
    const final = this.#final.get(origin)
    if (!final) return
    const proof = await this.#c.engine.healing.forkProof(origin, final.size)
    this.#c.registrar.broadcast({ t: 'checkpoint', note: final.note, ...(proof ? { fork: proof } : {}) })
  }

  /** Opens a checkpoint note of a node of this bloc; throws a ProtocolError if it does not. */
  #open(note: string): WitnessedCheckpoint {
    const { engine } = this.#c
    // Kept and passed on: the origin's signature and the cosignatures that verify, nothing else.
    const opened = openWitnessedCheckpoint(this.#openEd, engine.bloc, engine.trust.versions, note)
    const { text, lines } = noteParts(opened.note)
    return lines.length <= MAX_LINES
      ? opened
      : { ...opened, note: joinNote({ text, lines: lines.slice(0, MAX_LINES) }) }
  }

  async #splitView(nodeId: string, size: number, notes: string[]): Promise<void> {
    this.#c.observer?.splitView?.()
    this.#c.logger?.warn(
      { origin: nodeId, size },
      'a node signed a checkpoint that contradicts another view of its feed',
    )
    await this.#c.engine.storeEvidence('split-view', `${nodeId}/${seqKey(size)}`, { notes })
  }
}

function sameText(a: string, b: string): boolean {
  return noteParts(a).text === noteParts(b).text
}

/** The signature lines of `note` and, if given, of `have` (same text). */
function mergeLines(have: string | undefined, note: string): string[] {
  return [...(have ? noteParts(have).lines : []), ...noteParts(note).lines]
}

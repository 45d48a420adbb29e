/**
 * Offline audit of a node's store (a stopped node's data dir, or a backup), the checks of
 * `legation audit --data-dir`: every entry checked alone and in its place in its feed
 * (`checkEntry`, `FeedChain` from @legation/protocol — the same checks the live audit runs on
 * what nodes serve), each feed's stored tree against the root of its entries, the revocations
 * and equivocation evidence the store keeps, and a replay of all feeds into a fresh, read-only
 * engine whose state root must equal the one the node stored. Trusts nothing the node derived:
 * only the signed entries, the revocations (checked against their states' keys) and the charter
 * chain (checked against its quorum signatures, and against the auditor's own when given).
 * Payloads are sealed under keys only the node holds (vault.ts), so the audit reads none: the
 * state root covers the signed headers and docs, never personal data, and an auditor given the
 * node's secret key (`nodeSecret`) also checks each payload against its signed digest.
 *
 * Streams: entries are read feed by feed in clock order (an entry's dependencies are earlier),
 * payloads fetched per record, so memory does not grow with the store — but for the replay's
 * own in-memory state (`replay: false` skips it).
 *
 * @example
 * const report = await auditStore(await LevelStore.open(`${dataDir}/db`), nativeEd25519)
 * if (!report.ok) console.error(report.findings)
 */
import {
  type AuditFindingKind,
  auditCharter,
  BoundedSet,
  type CheckedEntry,
  checkEntry,
  checkEquivocation,
  compareHlc,
  decodeCanonical,
  type Ed25519,
  EMPTY_ACCUMULATOR,
  type EquivocationEvidence,
  encodeEntry,
  entryHash,
  equalBytes,
  type FeedAuditContext,
  FeedChain,
  fromHex,
  type Hlc,
  isProtocolError,
  openSplitView,
  openWitnessed,
  ProtocolError,
  type Revocation,
  rangeRootFromSubtrees,
  revocationIndex,
  type SignedCharter,
  type SignedEntry,
  stateRoot,
  toBase64url,
  toHex,
  type WitnessedTree,
} from '@legation/protocol'
import { Engine } from './engine/engine.ts'
import { readEntries } from './engine/entry-rows.ts'
import { idOfKeyPart, K } from './engine/keys.ts'
import { storeFormat } from './engine/migrate.ts'
import { Vault } from './engine/vault.ts'
import { MemoryStore } from './storage/memory-store.ts'
import { prefixRange, type Store } from './storage/store.ts'

/** The signed material, kept in the store, that shows a finding to anyone holding the charter. */
export interface FindingMaterial {
  /** Signed entries, canonical CBOR, in feed order. */
  readonly entries?: readonly Uint8Array[]
  readonly revocations?: readonly Revocation[]
  /** Signed checkpoints (C2SP signed notes, with their cosignatures). */
  readonly checkpoints?: readonly string[]
  /** Every entry of a feed, 1..n, as stored: the tree a signed checkpoint must match. */
  readonly feed?: { readonly origin: string; readonly entries: readonly Uint8Array[] }
}

export interface StoreFinding {
  readonly kind: AuditFindingKind
  /** The feed (its origin's node id), if the finding is about one. */
  readonly feed: string | null
  readonly seq: number | null
  readonly record?: string
  readonly detail: string
  readonly material?: FindingMaterial
}

export interface AuditReport {
  ok: boolean
  bloc: string
  /** The charter version audited under: the latest of the store's and the auditor's chains. */
  charterVersion: number
  charterHash: string
  /** Entries per origin node id. */
  feeds: Record<string, number>
  /** Each feed's tree root (base64url) as its stored subtrees give it and as its entries give it. */
  trees: Record<string, { size: number; stored: string | null; recomputed: string | null }>
  entries: number
  records: number
  storedRoot: string
  /** Null when the replay was skipped. */
  replayedRoot: string | null
  /** Equivocations and refused entries kept as evidence. */
  evidence: number
  /** Checkpoints kept as witness (latest and bloc-final, per feed) that opened and were checked. */
  witnessed: number
  /** Entries that are void: dated after an amendment removed their node (not a fault). */
  voidEntries: number
  /**
   * Why the reads-logged lists were not compared with the replay's (null: they were): the store
   * predates them, a migration or rebuild was cut short, or there was no replay.
   */
  accessLogsSkipped: string | null
  findings: StoreFinding[]
  /** The findings as lines, `<feed>: entry <seq>: <kind>: <detail>`. */
  problems: string[]
}

export interface AuditStoreOptions {
  /** The auditor's own charter chain: the store's must be it or extend it. @default the store's */
  charter?: readonly SignedCharter[]
  /** Replay every entry into a fresh engine and compare state roots. @default true */
  replay?: boolean
  /** Told how many of the store's entries are checked so far, of how many. */
  onProgress?: (done: number, total: number) => void
  /** The node's secret key: payloads are opened and checked against their digests too. */
  nodeSecret?: Uint8Array
}

/** Entries between two progress reports. */
const PROGRESS_EVERY = 500
const MAX_CHARTER_BYTES = 64 * 1024 * 1024

interface Head {
  readonly origin: string
  readonly seq: number
  readonly bytes: Uint8Array
  readonly checked: CheckedEntry
  readonly hlc: Hlc
}

export async function auditStore(
  store: Store,
  ed: Ed25519,
  opts: AuditStoreOptions = {},
): Promise<AuditReport> {
  const findings: StoreFinding[] = []
  const find = (f: StoreFinding) => findings.push(f)
  const rawChain = await store.get(K.charter)
  if (!rawChain) throw new ProtocolError('CHARTER_INVALID', 'the store holds no charter')
  const stored = decodeCanonical(rawChain, MAX_CHARTER_BYTES) as SignedCharter[]
  const charter = auditCharter(ed, opts.charter ?? stored, stored)
  if (charter.divergesAt !== undefined) {
    find({
      kind: 'charter-mismatch',
      feed: null,
      seq: null,
      detail: `the store's charter chain differs from the auditor's at version ${charter.divergesAt}`,
    })
  }
  const charters = charter.views
  const bloc = charters[0]!.bloc

  const revs: Revocation[] = []
  for await (const [, value] of store.range(prefixRange(K.revocations)))
    revs.push(decodeCanonical(value) as Revocation)
  const revocations = revocationIndex(ed, bloc, charters, revs)
  for (const { revocation, detail } of revocations.invalid) {
    find({
      kind: 'revocation-invalid',
      feed: null,
      seq: null,
      detail: `revocation of ${revocation.body.cert} by ${revocation.body.state}: ${detail}`,
      material: { revocations: [revocation] },
    })
  }
  const ctx: FeedAuditContext = {
    ed,
    bloc,
    charters,
    revocation: revocations.revocation,
    verifiedCerts: new BoundedSet(),
  }

  const rawState = await store.get(K.state)
  const state = rawState
    ? (JSON.parse(new TextDecoder().decode(rawState)) as { vv: Record<string, number>; acc: string })
    : { vv: {}, acc: toHex(EMPTY_ACCUMULATOR) }
  const total = Object.values(state.vv).reduce((a, b) => a + b, 0)
  const replayStore = new MemoryStore()
  const replay =
    opts.replay === false ? undefined : await Engine.open({ store: replayStore, ed, charter: charter.chain })
  const vault = opts.nodeSecret && new Vault(opts.nodeSecret, { store })

  const chains = new Map<string, FeedChain>()
  const last = new Map<string, { bytes: Uint8Array; hlc: Hlc }>()
  const iterators = new Map<string, AsyncIterator<{ seq: number; bytes: Uint8Array }>>()
  const heads = new Map<string, Head>()
  const advance = async (origin: string, seq: number) => {
    const next = await iterators.get(origin)!.next()
    if (next.done) return heads.delete(origin)
    const checked = checkEntry(ctx, next.value.bytes)
    const hlc = (checked.entry?.body.hlc as Hlc | undefined) ?? last.get(origin)?.hlc ?? [0, 0]
    heads.set(origin, { origin, seq, bytes: next.value.bytes, checked, hlc })
  }
  // The checkpoints this node witnessed (docs/protocol.md § Witnesses): each must open, be
  // bloc-final if kept as such, and have the root of the entries stored.
  const witnessed = await witnessedCheckpoints(store, ed, bloc, charters, find)
  for (const [origin, size] of Object.entries(state.vv)) {
    const sizes = witnessed.filter((w) => w.origin === origin).map((w) => w.tree.size)
    chains.set(origin, new FeedChain(origin, charters, [size, ...sizes]))
    iterators.set(origin, readEntries(store, origin, { from: 1 }))
    await advance(origin, 1)
  }

  let entries = 0
  let records = 0
  let voidEntries = 0
  let faulty = 0
  let pending = 0
  opts.onProgress?.(0, total)
  // Clock order across feeds: an entry comes after every entry it depends on.
  while (heads.size > 0) {
    let head: Head | undefined
    for (const h of heads.values()) {
      if (
        !head ||
        compareHlc(h.hlc, head.hlc) < 0 ||
        (compareHlc(h.hlc, head.hlc) === 0 && h.origin < head.origin)
      )
        head = h
    }
    const { origin, seq, bytes, checked } = head!
    const prev = last.get(origin)
    const faults = [...checked.faults, ...chains.get(origin)!.next(checked)]
    for (const f of faults) {
      const chainFault = !checked.faults.includes(f) && prev
      find({
        kind: f.kind,
        feed: origin,
        seq,
        ...(f.record ? { record: f.record } : {}),
        detail: f.detail,
        material: {
          entries: chainFault ? [prev.bytes, bytes] : [bytes],
          ...(f.revocation ? { revocations: [f.revocation] } : {}),
        },
      })
    }
    if (faults.length > 0) faulty++
    entries++
    records += checked.records
    if (checked.voidFrom !== undefined) voidEntries++
    if (replay && checked.entry) {
      try {
        const payloads = vault ? await payloadsOf(store, vault, checked.entry) : new Map()
        const result = await replay.applyRemote(bytes, payloads)
        if (result === 'pending') pending++
      } catch (err) {
        // An entry already named above need not be named again.
        if (faults.length === 0) {
          find({
            kind: 'replay-refused',
            feed: origin,
            seq,
            detail: isProtocolError(err) ? `${err.code}: ${err.message}` : String(err),
            material: { entries: [bytes] },
          })
        }
      }
    }
    last.set(origin, { bytes, hlc: head!.hlc })
    if (entries % PROGRESS_EVERY === 0) opts.onProgress?.(entries, total)
    await advance(origin, seq + 1)
  }
  opts.onProgress?.(entries, total)

  const feeds: Record<string, number> = {}
  const trees: AuditReport['trees'] = {}
  for (const [origin, size] of Object.entries(state.vv)) {
    const chain = chains.get(origin)!
    feeds[origin] = chain.size
    if (chain.size !== size) {
      find({
        kind: 'size-mismatch',
        feed: origin,
        seq: null,
        detail: `${chain.size} entries stored, the version vector says ${size}`,
      })
    }
    const recomputed = chain.rootAt(size)
    const treeRoot = await storedTreeRoot(store, origin, size)
    trees[origin] = {
      size,
      stored: treeRoot ? toBase64url(treeRoot) : null,
      recomputed: recomputed ? toBase64url(recomputed) : null,
    }
    if (!treeRoot) {
      find({
        kind: 'root-mismatch',
        feed: origin,
        seq: null,
        detail: `the stored tree of ${size} entries is incomplete`,
      })
    } else if (recomputed && toHex(recomputed) !== toHex(treeRoot)) {
      find({
        kind: 'root-mismatch',
        feed: origin,
        seq: null,
        detail: `the stored tree of ${size} entries has root ${toBase64url(treeRoot)}, its entries give ${toBase64url(recomputed)}`,
      })
    }
  }

  for (const w of witnessed) {
    const recomputed = chains.get(w.origin)?.rootAt(w.tree.size)
    if (!recomputed || equalBytes(recomputed, w.tree.root)) continue
    find({
      kind: 'root-mismatch',
      feed: w.origin,
      seq: null,
      detail: `the ${w.which} checkpoint kept here, of ${w.tree.size} entries, has root ${toBase64url(w.tree.root)}; the entries stored give ${toBase64url(recomputed)}`,
      material: {
        checkpoints: [w.note],
        feed: { origin: w.origin, entries: await feedEntries(store, w.origin, w.tree.size) },
      },
    })
  }

  let evidence = 0
  for await (const [key, value] of store.range(prefixRange('evid/'))) {
    evidence++
    if (key.startsWith(K.evidence('equivocation', '')))
      checkStoredEquivocation(ed, bloc, charters, key, value, find)
  }

  const storedRoot = stateRoot(fromHex(state.acc))
  let replayedRoot: string | null = null
  let accessLogsSkipped: string | null = 'no replay'
  if (replay) {
    replayedRoot = replay.stateRoot()
    // Entries held for a dependency that never came: worth naming only when nothing else explains it.
    if (replay.pendingCount() > 0 && faulty === 0) {
      find({
        kind: 'replay-refused',
        feed: null,
        seq: null,
        detail: `${replay.pendingCount()} entries never became applicable (${pending} held on arrival)`,
      })
    }
    if (storedRoot !== replayedRoot) {
      find({
        kind: 'state-root-mismatch',
        feed: null,
        seq: null,
        detail: `stored ${storedRoot}, replayed ${replayedRoot}`,
      })
    }
    accessLogsSkipped = await accessLogsUnfinished(store)
    if (accessLogsSkipped === null) await compareAccessLogs(store, replayStore, find)
    await replay.close()
  }
  return {
    ok: findings.length === 0,
    bloc,
    charterVersion: charters.length,
    charterHash: charters.at(-1)!.hash,
    feeds,
    trees,
    entries,
    records,
    storedRoot,
    replayedRoot,
    evidence,
    witnessed: witnessed.length,
    voidEntries,
    accessLogsSkipped,
    findings,
    problems: findings.map(
      (f) => `${f.feed ?? 'store'}: ${f.seq === null ? '' : `entry ${f.seq}: `}${f.kind}: ${f.detail}`,
    ),
  }
}

/** Mismatches of the reads-logged lists named one by one; past it, one finding counts the rest. */
const DERIVED_NAMED = 20
/** The data format that lists the reads logged of each citizen (`acc/`, migrate.ts). */
const ACCESS_LOGS_FORMAT = 7

/**
 * Why the store's reads-logged lists cannot be held to the replay's, or null: a store of an
 * older format has none until a node of this version starts on it (a stopped node, a backup),
 * and a migration or rebuild cut short leaves them part-written until the node finishes it.
 */
async function accessLogsUnfinished(store: Store): Promise<string | null> {
  const format = await storeFormat(store)
  if (format < ACCESS_LOGS_FORMAT) return `data format ${format}: a node lists them at its next start`
  const [migrating, rebuild] = await store.getMany([K.migrating, K.rebuild])
  if (migrating || rebuild)
    return `a ${migrating ? 'migration' : 'rebuild'} cut short: the node finishes it at its next start`
  return null
}

/**
 * The reads logged of each citizen as the store lists them (`acc/<citizen>/<record>`) against
 * the list a replay of the entries derived. The state root does not cover the list, and a file
 * leaves out the records it names (views.ts): a listed id that is no logged read about that
 * citizen hides a record from the citizen's file; a logged read not listed shows in it.
 */
async function compareAccessLogs(
  stored: Store,
  replayed: Store,
  find: (f: StoreFinding) => void,
): Promise<void> {
  const keys = (store: Store) => store.range(prefixRange(K.accessLogs))[Symbol.asyncIterator]()
  const [a, b] = [keys(stored), keys(replayed)]
  let [x, y] = await Promise.all([a.next(), b.next()])
  let mismatches = 0
  const note = (key: string, listed: boolean) => {
    if (++mismatches > DERIVED_NAMED) return
    // Named by its record only: the key names the citizen too, whom a report need not name.
    const what = idOfKeyPart(key.slice(key.lastIndexOf('/') + 1))
    find({
      kind: 'derived-mismatch',
      feed: null,
      seq: null,
      record: what,
      detail: listed
        ? `record ${what} is listed as a read logged of a citizen, which a replay does not give: that citizen's file would leave it out`
        : `record ${what} is a read logged of a citizen that the store does not list: that citizen's file would show it`,
    })
  }
  while (!x.done || !y.done) {
    const [kx, ky] = [x.done ? undefined : x.value[0], y.done ? undefined : y.value[0]]
    if (kx !== undefined && (ky === undefined || kx < ky)) {
      note(kx, true)
      x = await a.next()
    } else if (ky !== undefined && (kx === undefined || ky < kx)) {
      note(ky, false)
      y = await b.next()
    } else {
      ;[x, y] = await Promise.all([a.next(), b.next()])
    }
  }
  if (mismatches > DERIVED_NAMED) {
    find({
      kind: 'derived-mismatch',
      feed: null,
      seq: null,
      detail: `${mismatches - DERIVED_NAMED} more keys of the reads-logged lists differ from the replay's`,
    })
  }
}

/** The payloads a replica would have been sent with an entry: those the store holds. */
async function payloadsOf(store: Store, vault: Vault, entry: SignedEntry): Promise<Map<string, Uint8Array>> {
  const digests = entry.body.changes.flatMap((c) =>
    c.records.flatMap((r) => (r.header.payload ? [toHex(r.header.payload)] : [])),
  )
  const found = await store.getMany(digests.map(K.payload))
  const out = new Map<string, Uint8Array>()
  for (const [i, p] of found.entries()) {
    const plain = p && (await vault.openPayload(digests[i]!, p))
    if (plain) out.set(digests[i]!, plain)
  }
  return out
}

/** The root of a feed's tree of `size` as the store's complete subtrees give it, if all are there. */
async function storedTreeRoot(store: Store, origin: string, size: number): Promise<Uint8Array | undefined> {
  const missing = Symbol('missing')
  const range = rangeRootFromSubtrees(async (level, index) => {
    const h = await store.get(K.subtree(origin, level, index))
    if (!h) throw missing
    return h
  })
  try {
    return await range(0, size)
  } catch (err) {
    if (err === missing) return undefined
    throw err
  }
}

/** Equivocation evidence the store keeps must be two entries its origin signed for one seq. */
function checkStoredEquivocation(
  ed: Ed25519,
  bloc: string,
  charters: FeedAuditContext['charters'],
  key: string,
  value: Uint8Array,
  find: (f: StoreFinding) => void,
): void {
  let proof: EquivocationEvidence
  try {
    proof = decodeCanonical(value) as EquivocationEvidence
    checkEquivocation(ed, bloc, charters, proof)
  } catch (err) {
    const detail = isProtocolError(err) ? `${err.code}: ${err.message}` : String(err)
    find({ kind: 'evidence-invalid', feed: null, seq: null, detail: `${key}: ${detail}` })
    return
  }
  find({
    kind: 'equivocation',
    feed: proof.a.body.origin,
    seq: proof.a.body.seq,
    detail: `entries ${toHex(entryHash(proof.a.body))} and ${toHex(entryHash(proof.b.body))}`,
    material: { entries: [encodeEntry(proof.a), encodeEntry(proof.b)] },
  })
}

interface Witnessed {
  readonly origin: string
  readonly which: 'latest' | 'final' | 'split-view'
  readonly note: string
  readonly tree: WitnessedTree
}

/**
 * The checkpoints a node keeps as witness (`ckpt/latest/<origin>`, `ckpt/final/<origin>`), opened:
 * one that does not is `checkpoint-invalid`, one kept as bloc-final whose cosigners' states do not
 * reach the quorum is `cosignature-quorum`.
 */
async function witnessedCheckpoints(
  store: Store,
  ed: Ed25519,
  bloc: string,
  charters: FeedAuditContext['charters'],
  find: (f: StoreFinding) => void,
): Promise<Witnessed[]> {
  const out: Witnessed[] = []
  // Split views kept as evidence: checkpoints in conflict by themselves, or with the entries here.
  for await (const [key, value] of store.range(prefixRange(K.evidence('split-view', '')))) {
    const origin = key.slice(K.evidence('split-view', '').length).split('/')[0] ?? ''
    let notes: string[] = []
    try {
      const v = decodeCanonical(value) as { notes?: unknown }
      if (Array.isArray(v.notes) && v.notes.every((n) => typeof n === 'string')) notes = v.notes
    } catch {
      // named below
    }
    const opened =
      notes.length > 0 ? openSplitView(ed, bloc, charters, origin, notes) : 'no checkpoints in it'
    if (typeof opened === 'string') {
      find({ kind: 'evidence-invalid', feed: origin, seq: null, detail: `${key}: ${opened}` })
    } else if (opened.conflict) {
      find({
        kind: 'checkpoint-inconsistent',
        feed: origin,
        seq: null,
        detail: opened.conflict,
        material: { checkpoints: notes },
      })
    } else {
      for (const [k, tree] of opened.trees.entries())
        out.push({ origin, which: 'split-view', note: notes[k]!, tree })
    }
  }
  for await (const [key, value] of store.range(prefixRange('ckpt/'))) {
    const [, which, origin = ''] = key.split('/')
    if (which !== 'latest' && which !== 'final') continue
    const note = new TextDecoder().decode(value)
    const tree = openWitnessed(ed, bloc, charters, origin, note)
    if (typeof tree === 'string') {
      find({
        kind: 'checkpoint-invalid',
        feed: origin,
        seq: null,
        detail: `${key}: ${tree}`,
        material: { checkpoints: [note] },
      })
      continue
    }
    if (which === 'final' && !tree.final) {
      find({
        kind: 'cosignature-quorum',
        feed: origin,
        seq: null,
        detail: `kept as bloc-final, but cosigned by nodes of ${tree.states.join(', ') || 'no state'} only`,
        material: { checkpoints: [note] },
      })
    }
    out.push({ origin, which, note, tree })
  }
  return out
}

/** The entries 1..size of a feed as stored. */
async function feedEntries(store: Store, origin: string, size: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const { bytes } of readEntries(store, origin, { from: 1, limit: size })) out.push(bytes)
  return out
}

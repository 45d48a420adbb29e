/**
 * The Yjs document model: one small Y.Doc per citizen, plus one bloc-wide doc for alerts.
 *
 * A doc holds references, never content: `records` (Y.Array of record ids, the citizen's
 * timeline, append-only) and `fields` (Y.Map slot → id of the record that set it: per-field
 * merge of profile, presence and welfare status). The content lives in the signed records
 * and their payloads, so a node can never put words in anyone's mouth through Yjs: every
 * value in a doc must name a verified record about that doc's subject.
 *
 * A node writes a doc with its own Yjs client id only (bound in its certificate). A remote
 * update is applied to a throw-away copy first and accepted only if it keeps these rules (or,
 * for a doc not stored yet, read off its structs under the same rules: `newDocContents`).
 */
import * as encoding from 'lib0/encoding'
import * as Y from 'yjs'
import { toHex } from './bytes.ts'
import { DOMAINS, domainHash, hashOfCanonical } from './encoding.ts'
import { EntryError } from './errors.ts'
import type { RecordBody, RecordHeader } from './records.ts'

export const RECORDS = 'records'
export const FIELDS = 'fields'
const SHARED_TYPES: ReadonlySet<string> = new Set([RECORDS, FIELDS])

/** The `fields` slots a record sets when it is newer than the record already there. */
export function recordSlots(header: RecordHeader, id: string): string[] {
  switch (header.kind) {
    case 'citizen.registered':
      return ['registration', 'names', 'birth', 'travelDocument', 'contact']
    case 'citizen.updated':
      return [...(header.body as RecordBody<'citizen.updated'>).fields]
    case 'presence.registered':
      return ['presence']
    case 'welfare.checkin':
      return [`welfare:${(header.body as RecordBody<'welfare.checkin'>).alert}`]
    case 'case.opened':
      return [`case:${id}`]
    case 'case.transition':
      return [`case:${(header.body as RecordBody<'case.transition'>).case}`]
    default:
      return []
  }
}

/** Newer wins: by the author's time, then by id, so every node picks the same record. */
export function isNewer(a: { at: number; id: string }, b: { at: number; id: string }): boolean {
  return a.at > b.at || (a.at === b.at && a.id > b.id)
}

/** `guid` names the doc (a citizen id); without one Yjs draws a random uuid per doc. */
export function createDoc(clientId?: number, guid?: string): Y.Doc {
  const doc = new Y.Doc(guid === undefined ? {} : { guid })
  if (clientId !== undefined) doc.clientID = clientId
  return doc
}

export function loadDoc(state: Uint8Array | undefined, clientId?: number, guid?: string): Y.Doc {
  const doc = new Y.Doc(guid === undefined ? {} : { guid })
  if (state) Y.applyUpdate(doc, state)
  // Set the client id only after loading: Yjs gives a doc a fresh random client id when a
  // remote update carries structs of the doc's own id — which a node's saved state does.
  if (clientId !== undefined) doc.clientID = clientId
  return doc
}

export function encodeDoc(doc: Y.Doc): Uint8Array {
  return Y.encodeStateAsUpdate(doc)
}

/**
 * Whether a doc holds nothing: no structs, nothing waiting on missing ones. Such a doc's state
 * after one update is that update, so the update can be stored as the doc's state as it is.
 */
export function isEmptyDoc(doc: Y.Doc): boolean {
  return doc.store.clients.size === 0 && doc.store.pendingStructs === null && doc.store.pendingDs === null
}

/** What a slot's contest reads of the record that holds it: its time. */
export type RecordTime = Pick<RecordHeader, 'at'>

export interface LocalRecord {
  readonly id: string
  readonly header: RecordHeader
}

/**
 * Applies newly accepted records to a doc as this node (whose client id the doc carries)
 * and returns the Yjs update to put in the node's next feed entry.
 * `timeOf` finds the time of the record a slot currently names, to keep the newer one.
 */
export function applyLocal(
  doc: Y.Doc,
  records: readonly LocalRecord[],
  timeOf: (id: string) => RecordTime | undefined,
): Uint8Array {
  let update: Uint8Array | undefined
  const capture = (u: Uint8Array) => {
    update = u
  }
  doc.on('update', capture)
  try {
    doc.transact(() => {
      const timeline = doc.getArray<string>(RECORDS)
      const fields = doc.getMap<string>(FIELDS)
      for (const r of records) {
        timeline.push([r.id])
        for (const slot of recordSlots(r.header, r.id)) {
          if (takesSlot(r, fields.get(slot), timeOf)) fields.set(slot, r.id)
        }
      }
    })
  } finally {
    doc.off('update', capture)
  }
  if (!update) throw new EntryError('ENTRY_INVALID', 'no document change')
  return update
}

/**
 * Whether record `r` takes a slot that now names `cur` (undefined: empty). A case transition was
 * authorized against the case's current state, so it is that state's successor whatever the
 * clocks say; other slots keep the newer record.
 */
function takesSlot(
  r: LocalRecord,
  cur: string | undefined,
  timeOf: (id: string) => RecordTime | undefined,
): boolean {
  if (cur === undefined || r.header.kind === 'case.transition') return true
  const curTime = cur === r.id ? undefined : timeOf(cur)
  return curTime !== undefined && isNewer({ at: r.header.at, id: r.id }, { at: curTime.at, id: cur })
}

/** An item's kind of content in Yjs's encoding of structs (`ContentAny`), and its info flags. */
const CONTENT_ANY = 8
const HAS_ORIGIN = 0x80
const HAS_PARENT_SUB = 0x20

/**
 * `applyLocal` on a doc that holds nothing, without a Y.Doc: the update Yjs makes, byte for
 * byte, and what the doc then holds. A new citizen's first records at the origin (every
 * registration) take this way: building the doc, its transaction and its hash was about a fifth
 * of what a single-record request allocated. The doc is decoded from the update only if a later
 * change needs it. Undefined where the records would set a slot twice (Yjs then deletes the
 * first item: a shape left to it), and for no records: the caller takes `applyLocal`. A test
 * holds the two to the same bytes and contents.
 *
 * What Yjs does here, written out: each record pushed to the timeline is an item of one value
 * whose origin is the timeline's last value (none for the first, which names the timeline as
 * its parent); each slot set is an item of one value under its slot in `fields`, with no origin
 * (the slot is empty). Items are numbered by clock in that order, and once the transaction is
 * done, a timeline item right after another (no slot set between) is merged into it. The update
 * holds this one client's items from clock 0, and no deletions.
 */
export function newDocUpdate(
  clientId: number,
  records: readonly LocalRecord[],
  timeOf: (id: string) => RecordTime | undefined,
): { update: Uint8Array; contents: DocContents } | undefined {
  if (records.length === 0) return undefined
  type Pushed = { ids: string[]; origin: number | null }
  const items: Array<Pushed | { slot: string; id: string }> = []
  const timeline: string[] = []
  const fields = new Map<string, string>()
  let clock = 0
  // The timeline's item being extended (the last item, if it is the timeline's), and the clock
  // of the timeline's last value.
  let open: Pushed | undefined
  let last: number | null = null
  for (const r of records) {
    if (open) open.ids.push(r.id)
    else {
      open = { ids: [r.id], origin: last }
      items.push(open)
    }
    timeline.push(r.id)
    last = clock++
    for (const slot of recordSlots(r.header, r.id)) {
      const cur = fields.get(slot)
      if (takesSlot(r, cur, timeOf)) {
        if (cur !== undefined) return undefined
        fields.set(slot, r.id)
        items.push({ slot, id: r.id })
        clock++
        open = undefined
      }
    }
  }
  const e = updateEncoder()
  encoding.writeVarUint(e.restEncoder, 1)
  encoding.writeVarUint(e.restEncoder, items.length)
  e.writeClient(clientId)
  encoding.writeVarUint(e.restEncoder, 0)
  for (const item of items) {
    if ('slot' in item) {
      e.writeInfo(CONTENT_ANY | HAS_PARENT_SUB)
      e.writeParentInfo(true)
      e.writeString(FIELDS)
      e.writeString(item.slot)
      e.writeLen(1)
      e.writeAny(item.id)
      continue
    }
    if (item.origin === null) {
      e.writeInfo(CONTENT_ANY)
      e.writeParentInfo(true)
      e.writeString(RECORDS)
    } else {
      e.writeInfo(CONTENT_ANY | HAS_ORIGIN)
      e.writeLeftID(Y.createID(clientId, item.origin))
    }
    e.writeLen(item.ids.length)
    for (const id of item.ids) e.writeAny(id)
  }
  // No deletions: a delete set of no clients.
  encoding.writeVarUint(e.restEncoder, 0)
  return { update: e.toUint8Array(), contents: { records: timeline, fields } }
}

/**
 * The encoder of new docs' updates, one for all of them (`newDocUpdate` is synchronous), its
 * buffer kept between uses. A new encoder's buffer starts at 100 bytes outside V8's heap and a
 * registration's update grows it twice: three array buffers of their own, ~2–5 µs of CPU each
 * in Node, for bytes that are copied into the update at once. Emptied by hand: lib0's encoder
 * is its write position, its current buffer and the buffers it filled before (lib0 0.2, pinned
 * by the lockfile; the byte-for-byte tests against `applyLocal` would see a leftover byte).
 */
const sharedUpdateEncoder = new Y.UpdateEncoderV1()

function updateEncoder(): Y.UpdateEncoderV1 {
  let r = sharedUpdateEncoder.restEncoder
  // A huge update's buffer is not kept for the next small one.
  if (r.cbuf.length > 64 * 1024) {
    r = encoding.createEncoder()
    sharedUpdateEncoder.restEncoder = r
  }
  r.cpos = 0
  r.bufs = []
  return sharedUpdateEncoder
}

/** What the validator needs to know about a record a doc refers to. */
export interface KnownRecord {
  readonly subject: string | null
  readonly header: RecordHeader
}

/**
 * Validates a remote update on a throw-away copy of `doc` and returns the copy with the
 * update applied (the caller swaps it in; it keeps `doc`'s client id). Refuses: structs of any
 * client id other than the origin's, missing dependencies, new shared types, keyed values in
 * `records` or positional ones in `fields`, removal of any record from the timeline, any value
 * left in `fields` that is not in the timeline, and any value the update's own structs put in
 * either that does not name a known record about this doc (in a slot that record sets).
 *
 * What `doc` held before was validated when it was stored, so `known` is asked only about the
 * values the update's own structs carry: the work is the update's size, not the doc's, and a
 * doc of any length needs no header of its past. An honest origin's structs name only the
 * records of its own entry (`applyLocal`): a node that knows only those (remote-apply.ts)
 * judges an entry the same way whatever else it holds or applied first.
 */
export function validateRemoteUpdate(
  doc: Y.Doc,
  docId: string,
  update: Uint8Array,
  originClientId: number,
  known: (id: string) => KnownRecord | undefined,
): Y.Doc {
  // Read on its own: applying an update passes over some structs without a trace (skips, a
  // client's group repeated), which must be refused all the same.
  onlyStructsOf(update, originClientId)
  const empty = isEmptyDoc(doc)
  const copy = new Y.Doc({ guid: docId })
  copy.clientID = 0 // never writes
  // An empty doc held nothing before; its types are not defined until after the update (each
  // root array Yjs defines costs it a transaction of its own).
  if (!empty) Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  const before = empty ? new Map<unknown, number>() : countIds(copy.getArray<unknown>(RECORDS).toArray())
  // The origin's structs from this clock on are the update's own.
  const prior = empty ? 0 : Y.getState(copy.store, originClientId)
  try {
    Y.applyUpdate(copy, update)
  } catch (cause) {
    throw new EntryError('ENTRY_INVALID', 'document update does not apply', { cause })
  }
  if (copy.store.pendingStructs !== null || copy.store.pendingDs !== null) {
    throw new EntryError('ENTRY_INVALID', 'document update depends on changes not yet received')
  }
  for (const name of copy.share.keys()) {
    if (!SHARED_TYPES.has(name)) throw new EntryError('ENTRY_INVALID', `unknown shared type ${name}`)
  }
  const timeline = copy.getArray<unknown>(RECORDS)
  const fields = copy.getMap<unknown>(FIELDS)
  // Yjs lets any root type hold both keyed and positional items; each of ours uses one kind.
  // Without this check, values nobody validates could ride along in a doc.
  if (timeline._map.size > 0 || fields._start !== null) {
    throw new EntryError('ENTRY_INVALID', 'update uses a shared type in the wrong shape')
  }
  const after = timeline.toArray()
  const afterCounts = countIds(after)
  for (const [id, n] of before) {
    if ((afterCounts.get(id) ?? 0) < n)
      throw new EntryError('ENTRY_REWRITE', 'update removes a record from the timeline')
  }
  const inTimeline = new Set<string>()
  for (const id of after) {
    if (typeof id !== 'string') throw new EntryError('ENTRY_INVALID', 'timeline holds a non-id value')
    inTimeline.add(id)
  }
  for (const id of fields.values()) {
    if (typeof id !== 'string' || !inTimeline.has(id)) {
      throw new EntryError('ENTRY_INVALID', 'field names a record not in the timeline')
    }
  }
  const about = docId === 'alerts' ? null : docId
  const structs = copy.store.clients.get(originClientId) ?? []
  const end = Y.getState(copy.store, originClientId)
  for (let i = prior < end ? Y.findIndexSS(structs, prior) : structs.length; i < structs.length; i++) {
    const s = structs[i]
    if (!(s instanceof Y.Item) || s.content instanceof Y.ContentDeleted) continue
    const into = s.parent === timeline ? 'timeline' : s.parent === fields ? 'fields' : undefined
    if (into === undefined) continue // inside a value refused below, or in a type refused above
    if (!(s.content instanceof Y.ContentAny)) {
      throw new EntryError('ENTRY_INVALID', `update puts a value that is not an id in the ${into}`)
    }
    // A struct merged with an older one of the origin's holds that one's values first.
    const values = s.content.arr
    for (let k = Math.max(0, prior - s.id.clock); k < values.length; k++) {
      const id = values[k]
      const rec = typeof id === 'string' ? known(id) : undefined
      if (!rec || rec.subject !== about) {
        throw new EntryError('ENTRY_INVALID', `${into} names a record unknown or about someone else`)
      }
      if (into === 'fields' && !recordSlots(rec.header, id as string).includes(s.parentSub!)) {
        throw new EntryError('ENTRY_INVALID', `record may not set field ${s.parentSub}`)
      }
    }
  }
  // Set after applying (see loadDoc): the caller swaps the copy in and writes to it as itself.
  copy.clientID = doc.clientID
  return copy
}

/**
 * What a doc holds, as plain values: its timeline (record ids in order, a record relayed twice
 * named twice) and its fields (slot → record id). What the doc's hash and a citizen's summary
 * are made from.
 */
export interface DocContents {
  readonly records: readonly string[]
  readonly fields: ReadonlyMap<string, string>
}

export function contentsOf(doc: Y.Doc): DocContents {
  return {
    records: doc.getArray<string>(RECORDS).toArray(),
    fields: new Map(doc.getMap<string>(FIELDS).entries()),
  }
}

/**
 * The contents of a doc not stored yet after `update`, read off the update's structs, when the
 * update is in the shape an honest origin's first update of a doc has (`applyLocal` on an empty
 * doc) and passes every rule `validateRemoteUpdate` applies; otherwise undefined, and the caller
 * validates it the full way (which refuses it, or accepts a shape this does not read). On the
 * path of every new citizen a replica takes, this saves building and hashing a Y.Doc it need
 * not hold (~30 µs and ~30 KB of garbage a record): the update is the doc's state as it is.
 *
 * The shape, in which Yjs's result is plain: one group of structs, all the origin's, from clock
 * 0 without a gap; no deletions; every struct an item of a `ContentAny` of one value or more; the
 * timeline's items
 * a chain (the first at the start of `records`, each next one right after the one before, as a
 * push appends), each value of the timeline named by the update's own records about this doc;
 * each field set once, at the start of `fields` under its slot, to a record in the timeline
 * that sets that slot. Anything else (a slot set twice, an item placed anywhere else) is left
 * to Yjs. A test holds the two paths to the same contents on honest and mutated updates.
 */
export function newDocContents(
  docId: string,
  update: Uint8Array,
  originClientId: number,
  known: (id: string) => KnownRecord | undefined,
): DocContents | undefined {
  // One group: a client's group repeated replaces the one before it when Yjs applies it.
  if (update[0] !== 1) return undefined
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch {
    return undefined
  }
  if (decoded.ds.clients.size > 0) return undefined
  const about = docId === 'alerts' ? null : docId
  const records: string[] = []
  const fields = new Map<string, string>()
  let clock = 0
  // The timeline's last item so far: the next one names its last id as its origin.
  let tail: { clock: number; length: number } | undefined
  for (const s of decoded.structs) {
    if (!(s instanceof Y.Item) || s.id.client !== originClientId || s.id.clock !== clock) return undefined
    clock += s.length
    if (!(s.content instanceof Y.ContentAny) || s.rightOrigin !== null) return undefined
    const values = s.content.arr
    // An item of no values ends where the struct before it ends: an origin naming that end
    // would name the struct before (a field, say), and Yjs fails on such items besides.
    if (values.length === 0) return undefined
    const o = s.origin
    // A decoded item, not applied to any doc, names a root type by its name.
    const parent = s.parent as unknown
    if (o === null && parent === FIELDS && typeof s.parentSub === 'string' && values.length === 1) {
      const id = values[0]
      if (fields.has(s.parentSub) || typeof id !== 'string') return undefined
      fields.set(s.parentSub, id)
      continue
    }
    const first = o === null && tail === undefined && parent === RECORDS && s.parentSub === null
    // An item with an origin has no parent of its own: it takes its origin's (the timeline).
    const next =
      o !== null &&
      tail !== undefined &&
      parent === null &&
      o.client === originClientId &&
      o.clock === tail.clock + tail.length - 1
    if (!first && !next) return undefined
    tail = { clock: s.id.clock, length: s.length }
    for (const id of values) {
      if (typeof id !== 'string' || known(id)?.subject !== about) return undefined
      records.push(id)
    }
  }
  const inTimeline = new Set(records)
  for (const [slot, id] of fields) {
    const rec = known(id)
    if (!inTimeline.has(id) || !rec || !recordSlots(rec.header, id).includes(slot)) return undefined
  }
  return { records, fields }
}

/** Refuses an update that does not decode, or that carries a struct of a client but the origin's. */
function onlyStructsOf(update: Uint8Array, originClientId: number): void {
  let decoded: ReturnType<typeof Y.decodeUpdate>
  try {
    decoded = Y.decodeUpdate(update)
  } catch (cause) {
    throw new EntryError('ENTRY_INVALID', 'malformed document update', { cause })
  }
  for (const s of decoded.structs) {
    if (s.id.client !== originClientId) throw new EntryError('ENTRY_FOREIGN_CLIENT')
  }
}

function countIds(values: unknown[]): Map<unknown, number> {
  const m = new Map<unknown, number>()
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1)
  return m
}

/** The deterministic view of a doc: what two nodes must agree on byte for byte. */
export interface DocView {
  readonly records: string[]
  readonly fields: Record<string, string>
}

export function docView(doc: Y.Doc): DocView {
  return viewOf(contentsOf(doc))
}

function viewOf(c: DocContents): DocView {
  const records = [...new Set(c.records)].sort()
  const entries = [...c.fields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return { records, fields: Object.fromEntries(entries) }
}

export function docHash(docId: string, doc: Y.Doc): Uint8Array {
  return contentsHash(docId, contentsOf(doc))
}

/** A doc's hash from its contents (`docHash` of the doc that holds them). */
export function contentsHash(docId: string, contents: DocContents): Uint8Array {
  const v = viewOf(contents)
  return hashOfCanonical(DOMAINS.doc, { id: docId, records: v.records, fields: v.fields })
}

// ---- State root ----
//
// The state root must be updatable in O(1) per changed doc (a node may hold a million
// citizens) and independent of the order docs changed in. It is the hash of a sum, mod
// 2^256, of one SHA-256 value per doc (a multiset hash over (doc id, doc hash) pairs).

const ACC_BYTES = 32

/** A doc's term of the sum: SHA-256 over (doc id, doc hash), a 256-bit big-endian number. */
function leaf(docId: string, hash: Uint8Array): Uint8Array {
  return hashOfCanonical(DOMAINS.stateRoot, { id: docId, hash })
}

/**
 * `acc ± term` mod 2^256, in place, both big-endian 32-byte numbers: byte by byte with a carry
 * (or borrow), the last one dropped. The sum was kept as a BigInt parsed from hex and written
 * back a byte at a time, which cost more than the hash of the term.
 */
function addInto(acc: Uint8Array, term: Uint8Array, sign: 1 | -1): void {
  let carry = 0
  for (let i = ACC_BYTES - 1; i >= 0; i--) {
    const v = acc[i]! + sign * term[i]! + carry
    acc[i] = v & 0xff
    carry = v >> 8 // −1, 0 or 1: an arithmetic shift keeps the borrow's sign
  }
}

/** The accumulator of an empty state. */
export const EMPTY_ACCUMULATOR = new Uint8Array(32)

/** Moves a doc in the accumulator from `oldHash` (undefined if new) to `newHash`. */
export function accumulate(
  acc: Uint8Array,
  docId: string,
  oldHash: Uint8Array | undefined,
  newHash: Uint8Array,
): Uint8Array {
  // An accumulator shorter than 32 bytes is the same number, zero-padded on the left.
  if (acc.length > ACC_BYTES) throw new RangeError(`an accumulator is ${ACC_BYTES} bytes`)
  const out = new Uint8Array(ACC_BYTES)
  out.set(acc, ACC_BYTES - acc.length)
  if (oldHash) addInto(out, leaf(docId, oldHash), -1)
  addInto(out, leaf(docId, newHash), 1)
  return out
}

/** The state root that nodes compare: hex of the domain hash of the accumulator. */
export function stateRoot(acc: Uint8Array): string {
  return toHex(domainHash(DOMAINS.stateRoot, acc))
}

/**
 * The secretariat's checks of a feed, pure: what `legation audit` runs over entries fetched from
 * running nodes and `auditStore` over a stopped node's store, so that both name the same faults
 * the same way. An entry is checked alone (`checkEntry`: it decodes, its origin signed it under
 * the charter version it names, each record verifies at its own time, under a version no later
 * than its entry's, and was not signed under a certificate its state had revoked by then), then
 * in its place (`FeedChain`: sequence, hash chain, clock, charter never back) while the feed's
 * RFC 6962 tree is recomputed, so that any root a node serves or signs can be compared with the
 * root of the entries it serves.
 *
 * @example
 * const ctx = { ed, bloc, charters, revocation: revocationIndex(ed, bloc, charters, revs).revocation }
 * const chain = new FeedChain(origin, charters, [checkpoint.size])
 * for (const bytes of entries) faults.push(...chain.next(checkEntry(ctx, bytes)))
 * if (!equalBytes(chain.rootAt(checkpoint.size)!, checkpoint.root)) // root-mismatch
 */
import { equalBytes, toHex } from './bytes.ts'
import { type Revocation, verifyRevocation } from './certificates.ts'
import {
  type CharterView,
  charterHash,
  type SignedCharter,
  verifyAmendment,
  verifyCharterChain,
} from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import { CertificateError, CharterError, EntryError, isProtocolError, type ProtocolError } from './errors.ts'
import {
  entryCharter,
  isEquivocation,
  openEntry,
  type SignedEntry,
  verifyEntrySignature,
  verifyOpenedEntry,
  withdrawnAt,
} from './feed.ts'
import { compareHlc, type Hlc } from './hlc.ts'
import { CompactTree, leafHash } from './merkle.ts'
import { noteParts, parseCheckpoint } from './note.ts'
import { type BoundedSet, recordId, type SignedRecord, verifyRecord } from './records.ts'
import { certifiedNode, openWitnessedCheckpoint } from './witnessed.ts'

/**
 * Every kind of fault an audit names, and what it means. A report (the CLI's JSON, a store
 * audit) uses these names; docs/audit.md explains each.
 */
export const AUDIT_FINDING_KINDS = {
  'entry-undecodable': 'the stored bytes are not a canonical signed entry',
  'entry-signature': 'the entry does not verify under the charter version it names',
  'entry-charter-unknown': 'the entry names a charter version the audit does not have',
  'entry-out-of-place': 'the entry’s origin or sequence number is not its place in the feed',
  'chain-broken': 'the entry does not name the hash of the entry before it',
  'clock-not-increasing': 'the entry’s clock is not later than the entry before it',
  'charter-went-back': 'the entry names an earlier charter version than the entry before it',
  'record-invalid': 'a record does not verify: signature, certificate chain, validity at its time, role',
  'record-revoked': 'a record was signed under an officer certificate revoked at or before its time',
  'root-mismatch': 'a tree root the node serves or signs is not the root of the entries it serves',
  'size-mismatch': 'the node holds or serves another number of entries than it says',
  'checkpoint-invalid': 'the node’s checkpoint does not verify, or names another log',
  'checkpoint-inconsistent': 'a checkpoint does not extend an earlier one of the same log',
  'proof-invalid': 'a proof the node serves does not verify against its signed roots',
  equivocation: 'the origin signed two different entries for one sequence number',
  'nodes-disagree': 'two nodes hold different trees of one feed at the same size',
  'revocation-invalid': 'a revocation the node holds is not signed by its state',
  'evidence-invalid': 'evidence the node keeps does not prove what it says',
  'state-root-mismatch': 'the state root stored is not the one a replay of the entries gives',
  'replay-refused': 'replaying the stored entries, a fresh engine refuses an entry',
  'derived-mismatch':
    'a list the node derives from its entries to shape what it serves (the reads logged of each citizen) is not the one a replay of the entries gives',
  'charter-mismatch': 'the node follows a charter chain that is not the auditor’s',
  'cosignature-quorum': 'a checkpoint called bloc-final lacks a quorum of member states’ cosignatures',
} as const satisfies Record<string, string>

export type AuditFindingKind = keyof typeof AUDIT_FINDING_KINDS

/** One fault of one entry, before the caller says which node and feed it was found in. */
export interface EntryFault {
  readonly kind: AuditFindingKind
  readonly detail: string
  /** The record concerned, for record faults. */
  readonly record?: string
  /** The revocation a `record-revoked` record was signed after. */
  readonly revocation?: Revocation
}

export interface FeedAuditContext {
  readonly ed: Ed25519
  readonly bloc: string
  /** Every charter version the audit knows, genesis first. */
  readonly charters: readonly CharterView[]
  /** The revocation of certificate `certId` by `state` in force (the earliest that verifies), if any. */
  readonly revocation: (certId: string, state: string) => Revocation | undefined
  /** Officer certificates already verified: one officer signs many records. */
  readonly verifiedCerts?: BoundedSet
}

/** An entry checked alone. */
export interface CheckedEntry {
  /** The decoded entry, unless its bytes do not decode. */
  readonly entry: SignedEntry | undefined
  /** Its hash, the leaf data of its feed's tree. */
  readonly hash: Uint8Array | undefined
  /** Whether its origin signed it, under the charter version it names. */
  readonly signed: boolean
  readonly records: number
  /**
   * When an amendment removed its node, if the entry is dated at or after it: void everywhere
   * that holds the amendment (docs/protocol.md § Charter versions). Not a fault of the origin,
   * which may not have had the amendment yet.
   */
  readonly voidFrom: number | undefined
  readonly faults: readonly EntryFault[]
}

const codeOf = (err: unknown): string => (isProtocolError(err) ? err.code : String(err))
const messageOf = (err: unknown): string =>
  isProtocolError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)

/** Checks an entry on its own: decoding, its origin's signature, and every record in it. */
export function checkEntry(ctx: FeedAuditContext, bytes: Uint8Array): CheckedEntry {
  let opened: ReturnType<typeof openEntry>
  try {
    opened = openEntry(bytes)
  } catch (err) {
    return {
      entry: undefined,
      hash: undefined,
      signed: false,
      records: 0,
      voidFrom: undefined,
      faults: [{ kind: 'entry-undecodable', detail: messageOf(err) }],
    }
  }
  const { entry, hash } = opened
  const records = entry.body.changes.reduce((n, c) => n + c.records.length, 0)
  const base = { entry, hash, records }
  try {
    verifyOpenedEntry(ctx.ed, opened, ctx.bloc, ctx.charters)
  } catch (err) {
    const kind = codeOf(err) === 'ENTRY_CHARTER_UNKNOWN' ? 'entry-charter-unknown' : 'entry-signature'
    // Records of an entry its origin did not sign prove nothing about anyone: not checked.
    return { ...base, signed: false, voidFrom: undefined, faults: [{ kind, detail: messageOf(err) }] }
  }
  const faults: EntryFault[] = []
  const entryIndex = entryCharter(entry.body, ctx.charters)!.index
  for (const change of entry.body.changes) {
    for (const record of change.records) {
      const fault = checkRecord(ctx, record, entryIndex)
      if (fault) faults.push(fault)
    }
  }
  return { ...base, signed: true, voidFrom: withdrawnAt(entry.body, ctx.charters), faults }
}

/** A record's own checks, those that hold on every replica, and the revocations known. */
function checkRecord(
  ctx: FeedAuditContext,
  record: SignedRecord,
  entryIndex: number,
): EntryFault | undefined {
  let id: string
  try {
    id = recordId(record.header)
  } catch (err) {
    return { kind: 'record-invalid', detail: messageOf(err) }
  }
  let verified: ReturnType<typeof verifyRecord>
  try {
    verified = verifyRecord(
      {
        ed: ctx.ed,
        charter: (hash) => ctx.charters.find((c) => c.hash === hash),
        ...(ctx.verifiedCerts ? { verifiedCerts: ctx.verifiedCerts } : {}),
      },
      record,
      ctx.bloc,
    )
  } catch (err) {
    return { kind: 'record-invalid', record: id, detail: messageOf(err) }
  }
  const underEntry = recordUnderEntry(ctx.charters, record, entryIndex)
  if (underEntry) return { kind: 'record-invalid', record: id, detail: underEntry.message }
  const authority = verified.authority
  if (authority.type !== 'officer') return undefined
  const revocation = ctx.revocation(authority.certId, authority.state)
  const revoked = revocation?.body.at
  if (revoked !== undefined && revoked <= record.header.at) {
    return {
      kind: 'record-revoked',
      record: id,
      revocation,
      detail:
        `signed at ${new Date(record.header.at).toISOString()} under certificate ${authority.certId} ` +
        `of ${authority.state}, revoked from ${new Date(revoked).toISOString()}`,
    }
  }
  return undefined
}

/**
 * The rule every replica applies to a record in an entry naming charter version `entryIndex`
 * (docs/protocol.md § Charter versions, 3): the record names no later version, and an officer's
 * state is a member of the entry's version under the key that signed the officer's certificate.
 * Answers why not (the error a replica refuses the entry with), or undefined. Nodes apply it
 * where entries are accepted (`Trust.checkRecordUnder`), the audit where it checks them.
 */
export function recordUnderEntry(
  charters: readonly CharterView[],
  record: Pick<SignedRecord, 'header' | 'cert'>,
  entryIndex: number,
): ProtocolError | undefined {
  const index = charters.findIndex((c) => c.hash === record.header.charter)
  if (index < 0 || index > entryIndex) {
    return new EntryError('ENTRY_INVALID', 'a record names a later charter version than its entry')
  }
  if (record.cert === null || index === entryIndex) return undefined
  const signedUnder = charters[index]!.members.get(record.cert.body.state)
  const inEntry = charters[entryIndex]!.members.get(record.cert.body.state)
  if (!signedUnder || !inEntry || !equalBytes(signedUnder.stateKey, inEntry.stateKey)) {
    return new CertificateError(
      'CERT_INVALID',
      `${record.cert.body.state}’s key that certified the officer is not in force in the entry’s charter version`,
    )
  }
  return undefined
}

/**
 * One feed as one node serves it, entry after entry: each in its place, chained to the one
 * before, its clock later, its charter version no earlier; and its tree, recomputed, with the
 * roots at the sizes asked for kept.
 */
export class FeedChain {
  readonly origin: string
  readonly #charters: readonly CharterView[]
  readonly #want: ReadonlySet<number>
  readonly #roots = new Map<number, Uint8Array>()
  readonly #tree = new CompactTree()
  #prev: Uint8Array | undefined
  #hlc: Hlc | undefined
  #charterIndex = -1
  /** Once an entry does not decode, its leaf is unknown and so is every root after it. */
  #treeLost = false

  /** `rootsAt`: the sizes whose root the caller will ask for (a checkpoint's, another node's). */
  constructor(origin: string, charters: readonly CharterView[], rootsAt: Iterable<number> = []) {
    this.origin = origin
    this.#charters = charters
    this.#want = new Set(rootsAt)
    if (this.#want.has(0)) this.#roots.set(0, this.#tree.root())
  }

  /** Entries taken so far. */
  get size(): number {
    return this.#tree.size
  }

  /** Takes the next entry (seq `size + 1`); answers the faults of its place in the feed. */
  next(checked: CheckedEntry): EntryFault[] {
    const seq = this.#tree.size + 1
    const faults: EntryFault[] = []
    const { entry, hash } = checked
    if (!entry || !hash) {
      this.#treeLost = true
      this.#tree.append(new Uint8Array(32))
      this.#prev = undefined
      this.#hlc = undefined
      return faults
    }
    const b = entry.body
    if (b.origin !== this.origin || b.seq !== seq) {
      faults.push({
        kind: 'entry-out-of-place',
        detail: `entry ${seq} of ${this.origin} is entry ${b.seq} of ${b.origin}`,
      })
    }
    const chained =
      seq === 1
        ? b.prev === null
        : b.prev !== null && (this.#prev === undefined || equalBytes(b.prev, this.#prev))
    if (!chained) {
      faults.push({
        kind: 'chain-broken',
        detail:
          seq === 1
            ? 'the first entry names a previous one'
            : `prev is ${b.prev ? toHex(b.prev) : 'null'}, entry ${seq - 1} hashes to ${toHex(this.#prev!)}`,
      })
    }
    if (this.#hlc && compareHlc(b.hlc, this.#hlc) <= 0) {
      faults.push({
        kind: 'clock-not-increasing',
        detail: `clock ${b.hlc.join('.')} after ${this.#hlc.join('.')}`,
      })
    }
    const index = entryCharter(b, this.#charters)?.index
    if (index !== undefined) {
      if (index < this.#charterIndex) {
        faults.push({
          kind: 'charter-went-back',
          detail: `names charter version ${index + 1} after version ${this.#charterIndex + 1}`,
        })
      }
      this.#charterIndex = Math.max(this.#charterIndex, index)
    }
    this.#tree.append(leafHash(hash))
    if (this.#want.has(this.#tree.size)) this.#roots.set(this.#tree.size, this.#tree.root())
    this.#prev = hash
    this.#hlc = b.hlc as Hlc
    return faults
  }

  /** The recomputed root at `size`, if it was asked for (or is the current size) and can be known. */
  rootAt(size: number): Uint8Array | undefined {
    if (this.#treeLost) return undefined
    if (size === this.#tree.size) return this.#tree.root()
    return this.#roots.get(size)
  }
}

/** The revocations an audit holds: the earliest that verifies per (state, certificate). */
export interface RevocationIndex {
  readonly revocation: (certId: string, state: string) => Revocation | undefined
  /** The revocations in force, one per (state, certificate). */
  readonly inForce: readonly Revocation[]
  /** Those that do not verify (or name another bloc), with why. */
  readonly invalid: ReadonlyArray<{ revocation: Revocation; detail: string }>
}

/**
 * Builds the revocations an audit checks records against. A revocation counts if it names this
 * bloc and is signed by the key its state has in some charter version: a state that has since
 * rotated its key still revoked what it revoked then. The earliest per certificate wins, as on
 * the nodes (docs/protocol.md § Revocations).
 */
export function revocationIndex(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  revocations: Iterable<Revocation>,
): RevocationIndex {
  const inForce = new Map<string, Revocation>()
  const invalid: Array<{ revocation: Revocation; detail: string }> = []
  for (const rev of revocations) {
    const why = revocationFault(ed, bloc, charters, rev)
    if (why) {
      invalid.push({ revocation: rev, detail: why })
      continue
    }
    const key = `${rev.body.state}/${rev.body.cert}`
    const known = inForce.get(key)
    if (!known || rev.body.at < known.body.at) inForce.set(key, rev)
  }
  return {
    revocation: (certId, state) => inForce.get(`${state}/${certId}`),
    inForce: [...inForce.values()],
    invalid,
  }
}

/** Why a revocation does not count, or undefined if it does. */
export function revocationFault(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  rev: Revocation,
): string | undefined {
  if (rev.body.bloc !== bloc) return 'it names another bloc'
  const keys = charters.flatMap((c) => {
    const m = c.members.get(rev.body.state)
    return m ? [m.stateKey] : []
  })
  if (keys.length === 0) return `${rev.body.state} is a member of no charter version`
  for (const key of keys) {
    try {
      verifyRevocation(ed, rev, key)
      return undefined
    } catch {
      // another version's key, perhaps
    }
  }
  return `not signed by any key ${rev.body.state} has held`
}

/** The charter chain an audit works under, and how a node's chain differs from the auditor's. */
export interface AuditCharter {
  readonly chain: readonly SignedCharter[]
  readonly views: readonly CharterView[]
  /** The first version (1-based) at which the offered chain differs from the trusted one, if it does. */
  readonly divergesAt: number | undefined
}

/**
 * The chain to audit under: the auditor's own (`trusted`, verified), extended by the versions a
 * node offers beyond it — each amendment verified against its quorum, so a node cannot slip in a
 * version the members did not sign. A chain of another bloc throws BLOC_MISMATCH; one that
 * differs from the trusted chain at a later version is not taken (`divergesAt` says where).
 */
export function auditCharter(
  ed: Ed25519,
  trusted: readonly SignedCharter[],
  offered: readonly SignedCharter[] = [],
): AuditCharter {
  const views = verifyCharterChain(ed, trusted)
  for (let i = 0; i < Math.min(trusted.length, offered.length); i++) {
    if (charterHash(offered[i]!.charter) !== views[i]!.hash) {
      if (i === 0) throw new CharterError('BLOC_MISMATCH', 'the chain is of another bloc')
      return { chain: trusted, views, divergesAt: i + 1 }
    }
  }
  if (offered.length <= trusted.length) return { chain: trusted, views, divergesAt: undefined }
  const more = [...views]
  try {
    for (let i = trusted.length; i < offered.length; i++)
      more.push(verifyAmendment(ed, more.at(-1)!, offered[i]!))
  } catch {
    return { chain: trusted, views, divergesAt: more.length + 1 }
  }
  return { chain: [...trusted, ...offered.slice(trusted.length)], views: more, divergesAt: undefined }
}

/** Equivocation evidence as nodes keep it (`evid/equivocation/…`): two entries of one seq. */
export interface EquivocationEvidence {
  readonly origin: string
  readonly seq: number
  readonly a: SignedEntry
  readonly b: SignedEntry
}

/**
 * Checks equivocation evidence: two different entries for one (origin, seq), each signed by the
 * origin under the charter version it names. Throws a ProtocolError when it proves nothing.
 */
export function checkEquivocation(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  evidence: EquivocationEvidence,
): void {
  verifyEntrySignature(ed, evidence.a, bloc, charters)
  verifyEntrySignature(ed, evidence.b, bloc, charters)
  if (!isEquivocation(evidence.a, evidence.b) || evidence.a.body.origin !== evidence.origin) {
    throw new EntryError('ENTRY_INVALID', 'not two different entries of one origin and sequence')
  }
}

/** A witnessed checkpoint, opened: its tree, and the member states whose nodes cosigned it. */
export interface WitnessedTree {
  readonly size: number
  readonly root: Uint8Array
  readonly states: readonly string[]
  /** Cosigned by nodes of at least the quorum of member states of the latest charter version. */
  readonly final: boolean
}

/**
 * Opens a checkpoint of `origin`'s feed as witnesses keep it (docs/protocol.md § Witnesses): the
 * origin's signature with its node key, each cosignature by another node of the latest charter
 * version under its witness name, and whether their states reach that version's quorum.
 * Answers why not when it does not open.
 */
export function openWitnessed(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  origin: string,
  note: string,
): WitnessedTree | string {
  if (!certifiedNode(charters, origin)) return `node ${origin} is certified in no charter version`
  const name = `legation/${bloc}/${origin}`
  try {
    const cp = parseCheckpoint(noteParts(note).text)
    if (cp.origin !== name) return `the checkpoint is of ${cp.origin}, not ${name}`
    const opened = openWitnessedCheckpoint(ed, bloc, charters, note, origin)
    return { size: opened.size, root: opened.root, states: opened.states, final: opened.final }
  } catch (err) {
    return `the checkpoint does not verify: ${messageOf(err)}`
  }
}

/**
 * Checks split-view evidence as witnesses keep it (`{ notes }`, docs/protocol.md § Witnesses):
 * checkpoints `origin` signed that contradict each other (one size, two roots) or contradict the
 * entries the keeper holds. Answers why it proves nothing (a note that does not open), or the
 * checkpoints opened and, if two of them conflict by themselves, how.
 */
export function openSplitView(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  origin: string,
  notes: readonly string[],
): { trees: WitnessedTree[]; conflict: string | undefined } | string {
  const trees: WitnessedTree[] = []
  for (const note of notes) {
    const tree = openWitnessed(ed, bloc, charters, origin, note)
    if (typeof tree === 'string') return tree
    trees.push(tree)
  }
  for (const a of trees) {
    for (const b of trees) {
      if (a.size === b.size && !equalBytes(a.root, b.root)) {
        return { trees, conflict: `it signed two checkpoints of ${a.size} entries with different roots` }
      }
    }
  }
  return { trees, conflict: undefined }
}

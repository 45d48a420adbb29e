/**
 * Who a citizen is, and which member state is theirs. The rule (docs/protocol.md § Identity
 * and nationality):
 *
 * - The first registration of a citizen fixes their nationality and identity (names, birth,
 *   travel document).
 * - After that, identity and nationality change only by records signed by an officer of the
 *   citizen's nationality: a new `citizen.registered` (which may name another nationality: the
 *   state that held the citizen hands them over) or a `citizen.updated` of identity fields.
 * - Contact details change by the citizen or by any member state's officer.
 *
 * The node that first accepts a record refuses one the rule forbids (`authorizeInContext`).
 * Every replica folds a citizen's records under the same rule (`foldIdentity`), in the order
 * newer-wins uses everywhere (author's time, then id), so a record a node should have refused
 * changes nothing anywhere, whatever order the replicas learned the records in.
 */
import type { RecordBody, RecordHeader, SignedRecord } from './records.ts'

/** The profile fields that are a citizen's identity (contact details are not). */
export const IDENTITY_FIELDS: ReadonlySet<string> = new Set(['names', 'birth', 'travelDocument'])

/** Who signed a record, as the rule needs it. */
export type Signer = { readonly type: 'officer'; readonly state: string } | { readonly type: 'citizen' }

export function signerOf(record: Pick<SignedRecord, 'cert'>): Signer {
  return record.cert ? { type: 'officer', state: record.cert.body.state } : { type: 'citizen' }
}

/**
 * Why the rule forbids `signer` this record about a citizen of `nationality` (undefined: not
 * registered yet), or undefined if it allows it.
 */
export function identityRuleRefuses(
  header: RecordHeader,
  signer: Signer,
  nationality: string | undefined,
): string | undefined {
  const national = signer.type === 'officer' && signer.state === nationality
  if (header.kind === 'citizen.registered') {
    if (nationality === undefined || national) return undefined
    return `only officers of ${nationality} may register this citizen again`
  }
  if (header.kind === 'citizen.updated') {
    const fields = (header.body as RecordBody<'citizen.updated'>).fields
    if (national || !fields.some((f) => IDENTITY_FIELDS.has(f))) return undefined
    return `only officers of ${nationality ?? 'the citizen’s state'} may change a citizen’s names, birth or travel document`
  }
  return undefined
}

/** The records that make a citizen's identity: which record each part comes from. */
export interface Identity {
  readonly nationality: string
  /** The registration in force. */
  readonly registration: string
  readonly names: string
  readonly birth: string
  readonly travelDocument: string
  readonly contact: string
}

export interface IdentityRecord {
  readonly id: string
  readonly header: RecordHeader
  readonly signer: Signer
}

/**
 * A citizen's identity from their registration and update records (others are ignored), folded
 * in newer-wins order under the rule: what it forbids changes nothing. Undefined before any
 * registration.
 */
export function foldIdentity(records: Iterable<IdentityRecord>): Identity | undefined {
  const relevant = [...records]
    .filter((r) => r.header.kind === 'citizen.registered' || r.header.kind === 'citizen.updated')
    .sort((a, b) => a.header.at - b.header.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  let identity: { -readonly [K in keyof Identity]: Identity[K] } | undefined
  for (const r of relevant) {
    if (identityRuleRefuses(r.header, r.signer, identity?.nationality)) continue
    if (r.header.kind === 'citizen.registered') {
      const nationality = (r.header.body as RecordBody<'citizen.registered'>).nationality
      identity = {
        nationality,
        registration: r.id,
        names: r.id,
        birth: r.id,
        travelDocument: r.id,
        contact: r.id,
      }
    } else if (identity) {
      for (const f of (r.header.body as RecordBody<'citizen.updated'>).fields) identity[f] = r.id
    }
  }
  return identity
}

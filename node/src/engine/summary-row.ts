/**
 * A citizen's summary as stored (`sum/<citizen>`, data formats 5 and 6): canonical CBOR, an array of
 * its parts, with ids as their 32 bytes. It was JSON until format 4, with the index keys it put
 * listed in full and the id of the record holding the travel document: ~240 bytes for a
 * registered citizen, now ~32 (63 B on disk with its key at 100,000 citizens, against 148). The
 * keys are now derived from the summary (`indexKeysOf`), with the blind tokens of the personal
 * values kept for them, since those values themselves are not stored here (projections.ts).
 *
 *   [nationality, pres, tdToken, presToken, [[case, type, state, opened, updated]...],
 *    [[alert, status]...]]
 *
 * `pres` is the id of the presence registration in force, whose sealed payload holds where the
 * citizen is (read back with the summary: alerts and their boards need it); the tokens are what
 * the index keys hold of the travel document and the country of presence (vault.ts
 * `indexToken`), already on disk in the keys themselves: as their bytes (data format 6; text
 * before).
 */
import { decodeCanonical, encodeCanonical, fromHex, toHex } from '@legation/protocol'
import { storeDamaged } from './codec.ts'
import { idKeyPart } from './keys.ts'
import type { CaseSummary } from './types.ts'

export interface StoredSummary {
  nationality: string | null
  cases: Record<string, CaseSummary>
  welfare: Record<string, 'safe' | 'needs-help'>
  /** The presence registration in force, whose payload holds where the citizen is. */
  r: { pres?: string }
  /** The blind tokens of those values, as their index keys hold them. */
  t: { td?: string; pres?: string }
}

/** What the index keys follow: all of a summary but its personal values' records. */
export type IndexedParts = Pick<StoredSummary, 'nationality' | 'cases' | 't'>

const ID_HEX = /^[0-9a-f]{64}$/

/** A record id as its bytes; anything else (never written by the engine) as it is. */
const packId = (id: string): Uint8Array | string => (ID_HEX.test(id) ? fromHex(id) : id)

function unpackId(v: unknown): string {
  if (v instanceof Uint8Array) return toHex(v)
  if (typeof v === 'string') return v
  throw storeDamaged('a summary with an id neither bytes nor text')
}

const orNull = <T>(v: T | undefined): T | null => v ?? null

/** A blind token (base64url text, vault.ts `indexToken`) as its bytes; anything else as it is. */
function packToken(t: string | undefined): Uint8Array | string | null {
  if (t === undefined) return null
  const b = Buffer.from(t, 'base64url')
  return b.toString('base64url') === t ? new Uint8Array(b) : t
}

function unpackToken(v: unknown): string | undefined {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64url')
  return text(v)
}

export function encodeSummaryRow(s: StoredSummary): Uint8Array {
  return encodeCanonical([
    s.nationality,
    s.r.pres === undefined ? null : packId(s.r.pres),
    packToken(s.t.td),
    packToken(s.t.pres),
    Object.entries(s.cases).map(([id, c]) => [packId(id), c.type, c.state, c.opened, c.updated]),
    Object.entries(s.welfare).map(([id, status]) => [packId(id), status]),
  ])
}

const text = (v: unknown): string | undefined => {
  if (v === null) return undefined
  if (typeof v === 'string') return v
  throw storeDamaged('a summary with a part neither text nor null')
}

const word = (v: unknown): string => {
  if (typeof v === 'string') return v
  throw storeDamaged('a summary with a case or welfare part not text')
}

const time = (v: unknown): number => {
  if (Number.isSafeInteger(v)) return v as number
  throw storeDamaged('a summary with a case time not an integer')
}

function rows(v: unknown, width: number): unknown[][] {
  if (!Array.isArray(v) || !v.every((r) => Array.isArray(r) && r.length === width))
    throw storeDamaged('a summary with a malformed list')
  return v as unknown[][]
}

/** A stored summary from its row; a row that is not one is `STORAGE_FAILED`. */
export function decodeSummaryRow(raw: Uint8Array): StoredSummary {
  let v: unknown
  try {
    v = decodeCanonical(raw)
  } catch {
    throw storeDamaged('a summary row that is not canonical CBOR')
  }
  if (!Array.isArray(v) || v.length !== 6) throw storeDamaged('a summary row that is not its 6 parts')
  const [nationality, pres, tdToken, presToken, cases, welfare] = v
  // Built with fromEntries: an id is an own key whatever it spells (`__proto__` too).
  const s: StoredSummary = {
    nationality: orNull(text(nationality)),
    cases: Object.fromEntries(
      rows(cases, 5).map(([id, type, state, opened, updated]) => [
        unpackId(id),
        {
          type: word(type) as CaseSummary['type'],
          state: word(state) as CaseSummary['state'],
          opened: time(opened),
          updated: time(updated),
        },
      ]),
    ),
    welfare: Object.fromEntries(
      rows(welfare, 2).map(([id, status]) => [unpackId(id), word(status) as 'safe' | 'needs-help']),
    ),
    r: {},
    t: {},
  }
  if (pres !== null) s.r.pres = unpackId(pres)
  const tdT = unpackToken(tdToken)
  const presT = unpackToken(presToken)
  if (tdT !== undefined) s.t.td = tdT
  if (presT !== undefined) s.t.pres = presT
  return s
}

/**
 * The index keys a summary puts: by nationality, travel document, presence, case state. The
 * personal values (travel document, country of presence) go in as their blind tokens. Their
 * rows hold nothing: what an index answers is in its keys, the citizen or case id last, spelled
 * as keys spell ids (`idKeyPart`; `Reads.indexKeys` spells them back).
 */
export function indexKeysOf(citizenId: string, s: IndexedParts): string[] {
  const ix: string[] = []
  const citizen = idKeyPart(citizenId)
  if (s.nationality) ix.push(`ix/nat/${s.nationality}/${citizen}`)
  if (s.t.td) ix.push(`ix/td/${s.t.td}/${citizen}`)
  if (s.t.pres) ix.push(`ix/pres/${s.t.pres}/${citizen}`)
  for (const [caseId, c] of Object.entries(s.cases)) {
    const id = idKeyPart(caseId)
    ix.push(`ix/case/${c.state}/${id}`)
    if (s.nationality) ix.push(`ix/ncase/${s.nationality}/${c.state}/${id}`)
  }
  return ix
}

/** Realistic records for test networks and benchmarks, signed by an officer (and citizens). */
import type { BatchResults } from '@legation/node/http/schemas'
import {
  type BuiltRecord,
  generateKeyPair,
  type KeyPair,
  keyId,
  type LegationClient,
  toCborBatch,
  toSubmission,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import type { TestNode } from './network.ts'

const GIVEN = [
  'Ana',
  'Jonas',
  'Mira',
  'Tomas',
  'Elif',
  'Piet',
  'Sofia',
  'Lukas',
  'Ines',
  'Karel',
  'Noor',
  'Matej',
]
const FAMILY = [
  'Peeters',
  'Novak',
  'Schmidt',
  'Horvat',
  'Janssens',
  'Dvorak',
  'Weber',
  'Kovac',
  'Maes',
  'Svoboda',
]
const COUNTRIES = [
  { country: 'KE', regions: ['Nairobi', 'Mombasa'] },
  { country: 'TH', regions: ['Bangkok', 'Phuket'] },
  { country: 'PE', regions: ['Lima', 'Cusco'] },
]

let n = 0
export function citizenRegistration(
  officer: LegationClient,
  nationality: string,
  keys: KeyPair = generateKeyPair(nativeEd25519),
) {
  n++
  const citizenId = keyId(keys.publicKey)
  const passport = `X${String(n).padStart(8, '0')}${Math.floor(Math.random() * 1e6)}`
  const built = officer.record(
    'citizen.registered',
    citizenId,
    {
      citizenKey: keys.publicKey,
      nationality,
      consent: { purposes: ['consular-assistance', 'crisis-contact'], version: 1 },
    },
    {
      salt: officer.salt(),
      names: { given: GIVEN[n % GIVEN.length]!, family: FAMILY[(n * 7) % FAMILY.length]! },
      birth: { date: `19${50 + (n % 50)}-0${1 + (n % 9)}-1${n % 10}` },
      travelDocument: {
        type: 'passport',
        number: passport,
        issuer: nationality,
        expires: '2032-06-30',
      },
      contact: { email: `citizen${n}@mail.example`, phone: `+32 470 ${String(n).padStart(6, '0')}` },
    },
  )
  return { ...built, citizenId, keys, passport }
}

export function presence(officer: LegationClient, citizenId: string, i: number) {
  const c = COUNTRIES[i % COUNTRIES.length]!
  return officer.record(
    'presence.registered',
    citizenId,
    { from: Date.now(), until: null },
    { salt: officer.salt(), country: c.country, region: c.regions[i % c.regions.length]! },
  )
}

export interface Acked {
  id: string
  node: number
}

/**
 * Submits a batch, as JSON or as CBOR; returns the ids the node acknowledged (accepted or
 * duplicate).
 */
export async function submitBatch(
  node: TestNode,
  records: readonly BuiltRecord[],
  as: 'json' | 'cbor' = 'json',
): Promise<string[]> {
  const res =
    as === 'json'
      ? await node.post<Static<typeof BatchResults>>('/v1/records/batch', {
          records: records.map(toSubmission),
        })
      : await node.postCbor<Static<typeof BatchResults>>('/v1/records/batch', toCborBatch(records))
  if (res.status !== 200)
    throw new Error(`batch refused by node ${node.index}: ${res.status} ${JSON.stringify(res.body)}`)
  const refused = res.body.results.filter((r) => r.status === 'refused')
  if (refused.length > 0) throw new Error(`node ${node.index} refused ${refused.length}: ${refused[0]!.code}`)
  return res.body.results.map((r) => r.id!)
}

/** Ids (of `ids`) that `node` does not have. */
export async function missingAt(
  node: TestNode,
  ids: readonly string[],
  signer: LegationClient,
): Promise<string[]> {
  const missing: string[] = []
  for (const id of ids) {
    const path = `/v1/records/${id}`
    const res = await fetch(`${node.url}${path}`, {
      headers: signer.sign({ method: 'GET', path }),
      signal: AbortSignal.timeout(10_000),
    })
    await res.arrayBuffer()
    if (res.status === 404) missing.push(id)
    else if (res.status !== 200) throw new Error(`GET ${path} at node ${node.index}: ${res.status}`)
  }
  return missing
}

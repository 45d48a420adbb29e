/**
 * Realistic, deterministic test data for development blocs: given a seed, the same citizens
 * (names, keys, documents, whereabouts, cases, crisis check-ins) every time. Record times come
 * from the clock, so ids differ from run to run; everything else is a function of the seed.
 *
 * The keys are derived from the seed: anyone who knows the seed knows them. Development only.
 */
import { createHash } from 'node:crypto'
import { CASE_TYPES, type CaseType } from '@legation/protocol'

/** A small, fast, seeded PRNG (sfc32), seeded from SHA-256 of the seed text. Not for secrets. */
export class SeededRandom {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: string) {
    const h = createHash('sha256').update(`legation-dev-seed:${seed}`).digest()
    this.#a = h.readUInt32LE(0)
    this.#b = h.readUInt32LE(4)
    this.#c = h.readUInt32LE(8)
    this.#d = h.readUInt32LE(12)
    for (let i = 0; i < 16; i++) this.uint32()
  }

  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Picks by weight. */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0)
    let r = this.next() * total
    for (const [item, w] of items) {
      r -= w
      if (r < 0) return item
    }
    return items[items.length - 1]![0]
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i += 4) {
      const v = this.uint32()
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff
    }
    return out
  }
}

const GIVEN_NAMES = [
  'Amara',
  'Lukas',
  'Sofia',
  'Mateus',
  'Ingrid',
  'Tomasz',
  'Elena',
  'Kofi',
  'Aiko',
  'Rahul',
  'Leila',
  'Jonas',
  'Marta',
  'Nikolai',
  'Chiara',
  'Pedro',
  'Fatima',
  'Oskar',
  'Zeynep',
  'Milan',
  'Anouk',
  'Diego',
  'Freya',
  'Andrei',
  'Noor',
  'Hugo',
  'Ilse',
  'Kwame',
  'Lucía',
  'Emil',
] as const
const FAMILY_NAMES = [
  'Okafor',
  'Novak',
  'Lindqvist',
  'Ferreira',
  'Kowalski',
  'Papadopoulos',
  'Van der Berg',
  'Mensah',
  'Tanaka',
  'Sharma',
  'Haddad',
  'Schneider',
  'Horvat',
  'Ivanova',
  'Rossi',
  'Costa',
  'El Amrani',
  'Nieminen',
  'Yılmaz',
  'Dvořák',
  'Jansen',
  'García',
  'Andersen',
  'Popescu',
  'Rahman',
  'Moreau',
  'Bakker',
  'Asante',
  'Morales',
  'Larsen',
] as const
const BIRTH_PLACES = [
  'Lisbon',
  'Tallinn',
  'Accra',
  'Kraków',
  'Thessaloniki',
  'Rotterdam',
  'Osaka',
  'Pune',
  'Beirut',
  'Graz',
  'Split',
  'Turin',
  'Porto',
  'Tampere',
  'Izmir',
  'Brno',
  'Valencia',
  'Aarhus',
  'Cluj-Napoca',
  'Lyon',
] as const

/** Where citizens travel: ISO 3166 country, regions, and how likely each country is. */
export const DESTINATIONS: ReadonlyArray<readonly [{ country: string; regions: readonly string[] }, number]> =
  [
    [{ country: 'TH', regions: ['Bangkok', 'Chiang Mai', 'Phuket'] }, 35],
    [{ country: 'KE', regions: ['Nairobi', 'Mombasa', 'Kisumu'] }, 20],
    [{ country: 'PE', regions: ['Lima', 'Cusco', 'Arequipa'] }, 15],
    [{ country: 'NP', regions: ['Kathmandu', 'Pokhara'] }, 10],
    [{ country: 'MA', regions: ['Marrakesh', 'Casablanca', 'Fès'] }, 10],
    [{ country: 'JP', regions: ['Tokyo', 'Osaka', 'Kyoto'] }, 10],
  ]

const PRESENCE_NOTES = [
  'Travelling with family',
  'Business trip',
  'Backpacking, moving between regions',
  'Studying for one semester',
  'Volunteering with an NGO',
] as const

const CASE_DETAILS: Record<CaseType, readonly string[]> = {
  'passport-renewal': [
    'Passport expires before the planned return date',
    'Passport pages full; needs a new one for onward visas',
  ],
  'emergency-travel-document': [
    'Passport stolen the night before the flight home',
    'Passport damaged by water; airline refused boarding',
  ],
  'document-attestation': ['Marriage certificate to be attested for local authorities'],
  'birth-registration': ['Child born abroad; registration of the birth requested'],
  'lost-passport': [
    'Passport lost on a bus; police report attached',
    'Bag with passport stolen at the market',
  ],
}

const CRISES = [
  { title: 'Severe flooding', message: 'Heavy rain has caused severe flooding' },
  { title: 'Civil unrest', message: 'Demonstrations have turned violent' },
  { title: 'Earthquake', message: 'A strong earthquake has struck' },
  { title: 'Tropical storm', message: 'A tropical storm is approaching' },
] as const

const NEEDS_HELP_NOTES = [
  'Hotel flooded, need help to leave the area',
  'Lost passport and money in the confusion',
  'Travelling with a child who needs medication',
  'Roads closed, stranded without transport',
] as const

export interface CitizenPlan {
  secretKey: Uint8Array
  nationality: string
  consent: Array<'consular-assistance' | 'crisis-contact' | 'next-of-kin-notification'>
  names: { given: string; family: string }
  birth: { date: string; place: string }
  travelDocument: { type: 'passport'; number: string; issuer: string; expires: string }
  contact: { email: string; phone?: string }
  presence: { country: string; region: string; from: number; until: number | null; note?: string } | null
  case: { type: CaseType; details: string } | null
}

export interface AlertPlan {
  country: string
  region: string | null
  severity: 'advisory' | 'warning' | 'evacuation'
  title: string
  message: string
}

export interface CheckinPlan {
  /** Index into the citizens. */
  citizen: number
  /** Index into the alerts. */
  alert: number
  status: 'safe' | 'needs-help'
  note: string | null
  location: string
}

export interface SeedPlan {
  citizens: CitizenPlan[]
  alerts: AlertPlan[]
  checkins: CheckinPlan[]
}

export interface PlanOptions {
  citizens: number
  /** Nationalities to draw from: the bloc's member states. */
  nationalities: readonly string[]
  now: number
}

const DAY = 86_400_000
const pad = (n: number, w = 2) => String(n).padStart(w, '0')
const isoDate = (y: number, m: number, d: number) => `${y}-${pad(m)}-${pad(d)}`
const ascii = (s: string) =>
  s
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase()

/** Everything `dev seed` will submit, decided up front from the seed. */
export function planSeed(rng: SeededRandom, opts: PlanOptions): SeedPlan {
  const year = new Date(opts.now).getUTCFullYear()
  const citizens: CitizenPlan[] = []
  for (let i = 0; i < opts.citizens; i++) {
    const nationality = rng.pick(opts.nationalities)
    const given = rng.pick(GIVEN_NAMES)
    const family = rng.pick(FAMILY_NAMES)
    const consent: CitizenPlan['consent'] = ['consular-assistance']
    if (rng.chance(0.8)) consent.push('crisis-contact')
    if (rng.chance(0.3)) consent.push('next-of-kin-notification')
    const contact: CitizenPlan['contact'] = { email: `${ascii(given)}.${ascii(family)}${i}@example.org` }
    // +44 7700 900xxx is reserved for drama: never a real subscriber.
    if (rng.chance(0.7)) contact.phone = `+44 7700 900${pad(rng.int(0, 999), 3)}`
    let presence: CitizenPlan['presence'] = null
    if (rng.chance(0.8)) {
      const dest = rng.weighted(DESTINATIONS)
      const from = opts.now - rng.int(1, 60) * DAY
      presence = {
        country: dest.country,
        region: rng.pick(dest.regions),
        from,
        until: rng.chance(0.6) ? opts.now + rng.int(3, 90) * DAY : null,
      }
      if (rng.chance(0.4)) presence.note = rng.pick(PRESENCE_NOTES)
    }
    let kase: CitizenPlan['case'] = null
    if (rng.chance(0.3)) {
      const type = rng.pick(CASE_TYPES)
      kase = { type, details: rng.pick(CASE_DETAILS[type]) }
    }
    citizens.push({
      secretKey: rng.bytes(32),
      nationality,
      consent,
      names: { given, family },
      birth: {
        date: isoDate(rng.int(1945, year - 18), rng.int(1, 12), rng.int(1, 28)),
        place: rng.pick(BIRTH_PLACES),
      },
      travelDocument: {
        type: 'passport',
        number: `${nationality.slice(0, 2)}${pad(rng.int(0, 9_999_999), 7)}`,
        issuer: nationality,
        expires: isoDate(year + rng.int(1, 9), rng.int(1, 12), rng.int(1, 28)),
      },
      contact,
      presence,
      case: kase,
    })
  }
  const { alerts, checkins } = planCrisis(rng, citizens)
  return { citizens, alerts, checkins }
}

/** One or two alerts where most citizens are, and check-ins from some of the people there. */
function planCrisis(rng: SeededRandom, citizens: readonly CitizenPlan[]) {
  const alerts: AlertPlan[] = []
  const checkins: CheckinPlan[] = []
  const byCountry = new Map<string, number[]>()
  citizens.forEach((c, i) => {
    if (c.presence) byCountry.set(c.presence.country, [...(byCountry.get(c.presence.country) ?? []), i])
  })
  // Ties broken by country code, so the plan does not depend on insertion order.
  const top = [...byCountry].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))[0]
  if (!top) return { alerts, checkins }
  const [country, present] = top
  const crisis = rng.pick(CRISES)
  alerts.push({
    country,
    region: null,
    severity: 'warning',
    title: `${crisis.title} (${country})`,
    message: `${crisis.message}. Avoid non-essential travel, follow the instructions of local authorities and check in to tell us you are safe.`,
  })
  const regions = new Map<string, number>()
  for (const i of present) {
    const r = citizens[i]!.presence!.region
    regions.set(r, (regions.get(r) ?? 0) + 1)
  }
  const worst = [...regions].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]!
  if (regions.size > 1) {
    alerts.push({
      country,
      region: worst[0],
      severity: 'evacuation',
      title: `Evacuation: ${worst[0]}`,
      message: `Leave ${worst[0]} if you can do so safely. Assisted departures are being arranged; check in so that we know where you are.`,
    })
  }
  for (const i of present) {
    if (!rng.chance(0.6)) continue
    const region = citizens[i]!.presence!.region
    const needsHelp = rng.chance(0.15)
    checkins.push({
      citizen: i,
      alert: alerts.length > 1 && region === worst[0] ? 1 : 0,
      status: needsHelp ? 'needs-help' : 'safe',
      note: needsHelp ? rng.pick(NEEDS_HELP_NOTES) : null,
      location: region,
    })
  }
  return { alerts, checkins }
}

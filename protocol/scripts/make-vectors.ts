/**
 * Generates the golden test vectors in docs/test-vectors.json from fixed seeds.
 *
 * Everything is deterministic: secret keys are SHA-256 of `legation test key N`, payload salts
 * are the first 16 bytes of SHA-256 of `legation test salt N`, times are fixed, and Ed25519
 * signatures are deterministic (RFC 8032). `protocol/test/vectors.test.ts` rebuilds the file
 * with both Ed25519 implementations and compares it byte for byte, so a change to any
 * encoding, hash or signing input shows up as a failing test, not as a silent fork.
 *
 *   npm run vectors             # (re)write docs/test-vectors.json
 *   npm run vectors -- --check  # exit 1 if the file is not up to date
 *
 * Regenerate only for a deliberate, versioned change of the protocol (see docs/protocol.md).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  accumulate,
  admitMember,
  applyLocal,
  type CanonicalValue,
  type CharterView,
  certificateId,
  certifyOfficer,
  createDoc,
  createGenesis,
  DOMAINS,
  type Domain,
  docHash,
  docView,
  domainHash,
  type Ed25519,
  EMPTY_ACCUMULATOR,
  type EntryBody,
  encodeCanonical,
  encodeEntry,
  entryHash,
  fromHex,
  generateKeyPair,
  type KeyPair,
  keyId,
  LegationClient,
  type MemberSpec,
  memberOf,
  peerIdOf,
  type RecordHeader,
  type SignedCharter,
  type SignedRecord,
  signAmendment,
  signEntry,
  signingInput,
  signRequest,
  signRevocation,
  stateRoot,
  toHex,
  utf8ToBytes,
  verifyAmendment,
  verifyGenesis,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'

export const VECTORS_PATH = fileURLToPath(new URL('../../docs/test-vectors.json', import.meta.url))

/** 2026-01-01T00:00:00Z: every time in the vectors is an offset from it. */
export const T0 = Date.UTC(2026, 0, 1)
export const DAY = 86_400_000
export const VALIDITY = { notBefore: T0, notAfter: T0 + 365 * DAY } as const

/** The seed text of test key `n`; its SHA-256 is the 32-byte Ed25519 secret key. */
export const seedText = (n: number): string => `legation test key ${n}`
export const testSecretKey = (n: number): Uint8Array => sha256(utf8ToBytes(seedText(n)))
export const testKeyPair = (ed: Ed25519, n: number): KeyPair => generateKeyPair(ed, testSecretKey(n))
/** A fixed 16-byte payload salt. */
export const testSalt = (n: number): Uint8Array => sha256(utf8ToBytes(`legation test salt ${n}`)).slice(0, 16)

/** Which test key plays which part. */
export const KEY_ROLES = [
  [1, 'AT state'],
  [2, 'BE state'],
  [3, 'CZ state'],
  [4, 'DK state'],
  [5, 'AT node'],
  [6, 'BE node'],
  [7, 'CZ node'],
  [8, 'DK node'],
  [9, 'auditor'],
  [10, 'AT officer'],
  [11, 'citizen'],
] as const

export const MEMBERS = [
  { code: 'AT', name: 'Republic of Austria', stateKey: 1, nodeKey: 5, clientId: 1001 },
  { code: 'BE', name: 'Kingdom of Belgium', stateKey: 2, nodeKey: 6, clientId: 1002 },
  { code: 'CZ', name: 'Czech Republic', stateKey: 3, nodeKey: 7, clientId: 1003 },
  { code: 'DK', name: 'Kingdom of Denmark', stateKey: 4, nodeKey: 8, clientId: 1004 },
] as const

export function memberSpec(ed: Ed25519, i: number): MemberSpec {
  const m = MEMBERS[i]!
  return {
    code: m.code,
    name: m.name,
    stateKeys: testKeyPair(ed, m.stateKey),
    nodes: [
      {
        name: `${m.code.toLowerCase()}-1`,
        keys: testKeyPair(ed, m.nodeKey),
        clientId: m.clientId,
        addrs: [`/ip4/127.0.0.1/tcp/${4001 + i}`],
      },
    ],
  }
}

// ---- JSON form of canonical values: bytes as { "$bytes": hex } ----

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

export function toJsonValue(v: CanonicalValue): JsonValue {
  if (v instanceof Uint8Array) return { $bytes: toHex(v) }
  if (Array.isArray(v)) return v.map(toJsonValue)
  if (v !== null && typeof v === 'object') {
    const out: { [key: string]: JsonValue } = {}
    for (const [k, x] of Object.entries(v)) out[k] = toJsonValue(x as CanonicalValue)
    return out
  }
  return v as JsonValue
}

export function fromJsonValue(v: JsonValue): CanonicalValue {
  if (Array.isArray(v)) return v.map(fromJsonValue)
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v)
    if (keys.length === 1 && keys[0] === '$bytes' && typeof v.$bytes === 'string') {
      return fromHex(v.$bytes)
    }
    const out: { [key: string]: CanonicalValue } = {}
    for (const [k, x] of Object.entries(v)) out[k] = fromJsonValue(x)
    return out
  }
  return v
}

/** Sample values for the canonical encoding, in the JSON form above. */
const CBOR_SAMPLES: readonly { name: string; value: JsonValue }[] = [
  { name: 'zero', value: 0 },
  { name: 'largest one-byte int', value: 23 },
  { name: 'smallest uint8', value: 24 },
  { name: 'largest uint8', value: 255 },
  { name: 'smallest uint16', value: 256 },
  { name: 'smallest uint32', value: 65536 },
  { name: 'smallest uint64', value: 4294967296 },
  { name: 'largest safe integer', value: Number.MAX_SAFE_INTEGER },
  { name: 'minus one', value: -1 },
  { name: 'smallest one-byte negative', value: -24 },
  { name: 'largest int8 negative', value: -25 },
  { name: 'smallest int8 negative', value: -256 },
  { name: 'largest int16 negative', value: -257 },
  { name: 'smallest safe integer', value: Number.MIN_SAFE_INTEGER },
  { name: 'false', value: false },
  { name: 'true', value: true },
  { name: 'null', value: null },
  { name: 'empty text', value: '' },
  { name: 'text with a two-byte character', value: 'légation' },
  { name: 'empty bytes', value: { $bytes: '' } },
  { name: 'bytes', value: { $bytes: '0001feff' } },
  { name: 'empty array', value: [] },
  { name: 'nested array', value: [1, [2, [3, { $bytes: '2a' }]], -1] },
  { name: 'empty map', value: {} },
  {
    name: 'map keys sorted by encoded bytes (shorter first, then bytewise)',
    value: { b: 1, a: 2, aa: 3, é: 4, z: { y: { $bytes: '01' }, x: -1 }, A: null },
  },
  {
    name: 'nested maps and arrays',
    value: {
      version: 1,
      members: [
        { code: 'CZ', weight: -3 },
        { code: 'AT', weight: 100000 },
      ],
      digest: { $bytes: '00112233445566778899aabbccddeeff' },
      empty: {},
    },
  },
]

const hex = toHex

function signedCharterVector(signed: SignedCharter, view: CharterView) {
  return {
    version: view.version,
    hash: view.hash,
    bodyHex: hex(encodeCanonical(signed.charter)),
    signingInputHex: hex(signingInput(DOMAINS.charter, encodeCanonical(signed.charter))),
    sigs: signed.sigs.map((s) => ({ state: s.state, sig: hex(s.sig) })),
    signedHex: hex(encodeCanonical(signed)),
    members: view.charter.members.map((m) => m.code),
    quorum: view.charter.quorum,
    // Node certificates as they sit in this version.
    nodes: [...view.nodes.values()].map((n) => ({
      state: n.state,
      nodeId: n.nodeId,
      peerId: n.peerId,
      clientId: n.clientId,
    })),
  }
}

function recordVector(record: SignedRecord, id: string, payload: Uint8Array | null, note: string) {
  const headerBytes = encodeCanonical(record.header)
  return {
    note,
    kind: record.header.kind,
    headerHex: hex(headerBytes),
    signingInputHex: hex(signingInput(DOMAINS.record, headerBytes)),
    sig: hex(record.sig),
    recordHex: hex(encodeCanonical(record)),
    id,
    payloadHex: payload ? hex(payload) : null,
    payloadDigest: record.header.payload ? hex(record.header.payload) : null,
  }
}

/** Builds every vector with the given Ed25519 implementation. */
export function buildVectors(ed: Ed25519) {
  const keys = KEY_ROLES.map(([n, label]) => {
    const kp = testKeyPair(ed, n)
    return {
      n,
      label,
      seed: seedText(n),
      secretKey: hex(kp.secretKey),
      publicKey: hex(kp.publicKey),
      keyId: keyId(kp.publicKey),
      peerId: peerIdOf(kp.publicKey),
    }
  })

  const cbor = CBOR_SAMPLES.map((s) => ({ ...s, hex: hex(encodeCanonical(fromJsonValue(s.value))) }))

  const hashInput = encodeCanonical({ msg: 'hello' })
  const domainHashes = Object.values(DOMAINS).map((domain: Domain) => ({
    domain,
    prefixHex: hex(utf8ToBytes(`legation/v1/hash/${domain}\u0000`)),
    inputHex: hex(hashInput),
    hash: hex(domainHash(domain, hashInput)),
  }))

  // One body, one key, every signing domain: the signatures must all differ.
  const signer = testKeyPair(ed, 1)
  const sigDomains: Domain[] = [
    DOMAINS.record,
    DOMAINS.certificate,
    DOMAINS.revocation,
    DOMAINS.charter,
    DOMAINS.entry,
    DOMAINS.receipt,
    DOMAINS.checkpoint,
    DOMAINS.request,
  ]
  const signatures = sigDomains.map((domain) => {
    const input = signingInput(domain, hashInput)
    return {
      domain,
      key: 'AT state',
      publicKey: hex(signer.publicKey),
      bodyHex: hex(hashInput),
      signingInputHex: hex(input),
      sig: hex(ed.sign(input, signer.secretKey)),
    }
  })

  // ---- Charter: genesis of AT, BE, CZ (quorum 2), then BE and AT admit DK. ----
  const founders = [0, 1, 2].map((i) => memberSpec(ed, i))
  const genesis = createGenesis(ed, {
    name: 'Legation Test Bloc',
    members: founders,
    auditorKey: testKeyPair(ed, 9).publicKey,
    quorum: 2,
    issuedAt: T0,
    validity: VALIDITY,
  })
  const v1 = verifyGenesis(ed, genesis)
  const dk = memberSpec(ed, 3)
  const draft = admitMember(v1, memberOf(ed, dk, VALIDITY), { issuedAt: T0 + DAY })
  // Signed by 2 of 3 (BE first: the order of signatures does not matter).
  const amendment = signAmendment(ed, draft, [
    { code: 'BE', secretKey: founders[1]!.stateKeys.secretKey },
    { code: 'AT', secretKey: founders[0]!.stateKeys.secretKey },
  ])
  const v2 = verifyAmendment(ed, v1, amendment)

  const nodeCertificates = v2.charter.members.flatMap((m) =>
    m.nodes.map((n) => ({
      state: m.code,
      name: n.cert.body.name,
      bodyHex: hex(encodeCanonical(n.cert.body)),
      sig: hex(n.cert.sig),
      id: certificateId(n.cert),
    })),
  )

  // ---- Officer certificate, revocation, records ----
  const at = founders[0]!
  const officerKeys = testKeyPair(ed, 10)
  const cert = certifyOfficer(
    ed,
    v1.bloc,
    'AT',
    at.stateKeys.secretKey,
    officerKeys.publicKey,
    ['consul'],
    VALIDITY,
  )
  const officerCertificate = {
    state: 'AT',
    roles: cert.body.roles,
    bodyHex: hex(encodeCanonical(cert.body)),
    signingInputHex: hex(signingInput(DOMAINS.certificate, encodeCanonical(cert.body))),
    sig: hex(cert.sig),
    certHex: hex(encodeCanonical(cert)),
    id: certificateId(cert),
  }
  const revocation = signRevocation(
    ed,
    {
      type: 'revocation',
      bloc: v1.bloc,
      state: 'AT',
      cert: officerCertificate.id,
      at: T0 + 200 * DAY,
      reason: 'superseded',
    },
    at.stateKeys.secretKey,
  )

  const citizenKeys = testKeyPair(ed, 11)
  const citizenId = keyId(citizenKeys.publicKey)
  const officer = new LegationClient({ ed, bloc: v1.bloc, charter: v2.hash, keys: officerKeys, cert })
  const reg = officer.record(
    'citizen.registered',
    citizenId,
    {
      citizenKey: citizenKeys.publicKey,
      nationality: 'BE',
      consent: { purposes: ['consular-assistance', 'crisis-contact'], version: 1 },
    },
    {
      salt: testSalt(1),
      names: { given: 'Ana', family: 'Peeters' },
      birth: { date: '1990-01-02', place: 'Gent' },
      travelDocument: { type: 'passport', number: 'EH123456', issuer: 'BE', expires: '2030-01-01' },
      contact: { email: 'ana@example.org', phone: '+32 470 12 34 56' },
    },
    T0 + DAY,
  )
  const citizen = new LegationClient({ ed, bloc: v1.bloc, charter: v2.hash, keys: citizenKeys })
  const presence = citizen.record(
    'presence.registered',
    citizenId,
    { from: T0 + 2 * DAY, until: null },
    { salt: testSalt(2), country: 'KE', region: 'Nairobi' },
    T0 + 2 * DAY,
  )

  // ---- Feed: two entries of the AT node carrying the citizen's doc ----
  const atNode = at.nodes[0]!
  const atNodeId = keyId(atNode.keys.publicKey)
  const doc = createDoc(atNode.clientId)
  const headers = new Map<string, RecordHeader>([
    [reg.id, reg.record.header],
    [presence.id, presence.record.header],
  ])
  const u1 = applyLocal(doc, [{ id: reg.id, header: reg.record.header }], (id) => headers.get(id))
  const body1: EntryBody = {
    v: 1,
    bloc: v1.bloc,
    origin: atNodeId,
    seq: 1,
    prev: null,
    hlc: [T0 + DAY, 0],
    deps: {},
    changes: [{ doc: citizenId, update: u1, records: [reg.record] }],
  }
  const e1 = signEntry(ed, body1, atNode.keys.secretKey)
  const u2 = applyLocal(doc, [{ id: presence.id, header: presence.record.header }], (id) => headers.get(id))
  const body2: EntryBody = {
    ...body1,
    seq: 2,
    prev: entryHash(body1),
    hlc: [T0 + 2 * DAY, 1],
    changes: [{ doc: citizenId, update: u2, records: [presence.record] }],
  }
  const e2 = signEntry(ed, body2, atNode.keys.secretKey)
  const entries = [e1, e2].map((e) => ({
    origin: e.body.origin,
    seq: e.body.seq,
    bodyHex: hex(encodeCanonical(e.body)),
    signingInputHex: hex(signingInput(DOMAINS.entry, encodeCanonical(e.body))),
    hash: hex(entryHash(e.body)),
    sig: hex(e.sig),
    entryHex: hex(encodeEntry(e)),
    updateHex: hex(e.body.changes[0]!.update),
  }))

  const dh = docHash(citizenId, doc)
  const acc = accumulate(EMPTY_ACCUMULATOR, citizenId, undefined, dh)

  const requestAt = T0 + DAY
  const requestBody = utf8ToBytes('{"nationality":"BE"}')
  const requestHeaders = signRequest(
    ed,
    { method: 'POST', path: '/v1/citizens/search?limit=10', body: requestBody },
    officerKeys,
    requestAt,
    cert,
  )

  return {
    about:
      'Golden test vectors of the Legation protocol (docs/protocol.md). Generated by ' +
      'protocol/scripts/make-vectors.ts; checked byte for byte by protocol/test/vectors.test.ts ' +
      'with both Ed25519 implementations. Hex is lower case; bytes inside "value" are {"$bytes": hex}.',
    version: 1,
    times: { t0: T0, day: DAY, validity: VALIDITY },
    keys,
    cbor,
    domainHashes,
    signatures,
    charter: {
      genesis: signedCharterVector(genesis, v1),
      amendment: { ...signedCharterVector(amendment, v2), prev: v1.hash, signedBy: ['BE', 'AT'] },
    },
    bloc: v1.bloc,
    nodeCertificates,
    officerCertificate,
    revocation: {
      bodyHex: hex(encodeCanonical(revocation.body)),
      sig: hex(revocation.sig),
      revocationHex: hex(encodeCanonical(revocation)),
    },
    records: [
      recordVector(reg.record, reg.id, reg.payload, 'registration by an AT consul; the citizen is Belgian'),
      recordVector(presence.record, presence.id, presence.payload, 'presence abroad, signed by the citizen'),
    ],
    entries,
    doc: {
      id: citizenId,
      view: docView(doc),
      docHash: hex(dh),
      accumulator: hex(acc),
      stateRoot: stateRoot(acc),
    },
    request: {
      method: 'POST',
      path: '/v1/citizens/search?limit=10',
      bodyHex: hex(requestBody),
      at: requestAt,
      authorization: requestHeaders.authorization!,
      certificate: requestHeaders['legation-certificate']!,
    },
  }
}

export type Vectors = ReturnType<typeof buildVectors>

/**
 * The vectors as one line of JSON: what is compared. (The file's layout is biome's: the
 * generator formats it with the repository's formatter, so `biome check` passes.)
 */
export function vectorsJson(ed: Ed25519): string {
  return JSON.stringify(buildVectors(ed))
}

/** The file's content, normalized the same way. */
export function frozenJson(): string {
  return JSON.stringify(JSON.parse(readFileSync(VECTORS_PATH, 'utf8')))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--check')) {
    if (frozenJson() !== vectorsJson(nativeEd25519)) {
      console.error(`${VECTORS_PATH} is out of date: run npm run vectors`)
      process.exit(1)
    }
    console.log(`${VECTORS_PATH} is up to date`)
  } else {
    writeFileSync(VECTORS_PATH, `${JSON.stringify(buildVectors(nativeEd25519), null, 2)}\n`)
    const biome = fileURLToPath(new URL('../../node_modules/.bin/biome', import.meta.url))
    const formatted = spawnSync(biome, ['format', '--write', VECTORS_PATH], { stdio: 'ignore' })
    if (formatted.status !== 0)
      console.warn('could not format with biome; run: npx biome format --write docs/')
    console.log(`wrote ${VECTORS_PATH}`)
  }
}

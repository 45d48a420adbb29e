/**
 * Development and test blocs.
 *
 * `createLocalBloc` builds, in memory, a bloc of three member states (DVA, DVB, DVC, quorum 2)
 * with n certified nodes spread over them and one officer per state; test networks use it.
 * `ensureDevBloc` is what `npm start` runs when no charter is configured: on the first run it
 * creates a one-node development bloc in the data folder, and on every later run loads it
 * (never regenerating it). Its state and officer keys are kept in plaintext in
 * `dev-secrets.json`: a development bloc is for trying the software, never for real data.
 *
 * @example
 * const dev = await ensureDevBloc(config.dataDir, { ed: nativeEd25519, log, httpPort: 8080 })
 * if (dev.plaintextKeys) log.warn('node key stored WITHOUT encryption (development bloc)')
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  certifyOfficer,
  charterHash,
  createGenesis,
  decodeCanonical,
  type Ed25519,
  encodeCanonical,
  generateKeyPair,
  type KeyPair,
  keyId,
  type OfficerCertificate,
  type OfficerRole,
  parseOfficerCertificate,
  type SignedCharter,
  verifyCharterChain,
} from '@legation/protocol'
import type { Logger } from 'pino'
import { readCharterChain } from './charter-file.ts'
import { NodeError } from './errors.ts'
import { type KeystoreOptions, loadKeys, saveKeys, writeFileAtomic } from './keystore.ts'
import { DEV_FILES } from './layout.ts'

export const DEV_BLOC_NAME = 'Legation development bloc'
export const DEV_STATES = [
  { code: 'DVA', name: 'Development State A' },
  { code: 'DVB', name: 'Development State B' },
  { code: 'DVC', name: 'Development State C' },
] as const
export const DEV_QUORUM = 2
export const DEV_OFFICER_ROLES: readonly OfficerRole[] = ['registrar', 'consul', 'crisis']

const DAY_MS = 86_400_000
export const DEFAULT_OFFICER_VALIDITY_MS = 365 * DAY_MS
/** Node certificates of a development bloc outlive its officers: the bloc is kept, officers re-issued. */
export const DEFAULT_NODE_VALIDITY_MS = 10 * 365 * DAY_MS
/** Certificates start a little in the past so that a clock that lags behind still accepts them. */
export const CLOCK_SKEW_MS = 60 * 60 * 1000
/** An officer certificate this close to expiry is re-issued on start. */
export const OFFICER_RENEW_BEFORE_MS = DAY_MS

export { MAX_CHARTER_FILE_BYTES, readCharterChain } from './charter-file.ts'
export { DEV_FILES }

/** Name of the node's secret key inside its key file. */
export const NODE_KEY_NAME = 'node'

// ---- A bloc in memory ----

export interface LocalBlocInit {
  /** How many nodes; spread round-robin over the three member states. */
  nodes: number
  ed: Ed25519
  /** Issue time of the charter and certificates (ms since the epoch). */
  now: number
  /** @default Web Crypto getRandomValues */
  random?: (n: number) => Uint8Array
  /** @default DEV_BLOC_NAME */
  name?: string
  /** Listen multiaddrs written into the charter for node `index`. @default none */
  addrs?: (index: number) => string[]
  /** @default DEFAULT_OFFICER_VALIDITY_MS */
  officerValidityMs?: number
  /** @default DEFAULT_NODE_VALIDITY_MS */
  nodeValidityMs?: number
  /** Key pairs to use for the first nodes instead of new ones (e.g. an existing node key). */
  nodeKeys?: readonly KeyPair[]
}

export interface LocalNode {
  readonly index: number
  readonly name: string
  readonly state: string
  readonly keys: KeyPair
  /** Yjs client id, bound to the node by its certificate. */
  readonly clientId: number
}

export interface LocalOfficer {
  readonly state: string
  readonly keys: KeyPair
  readonly cert: OfficerCertificate
}

export interface LocalBloc {
  readonly chain: SignedCharter[]
  readonly bloc: string
  readonly charterHash: string
  readonly stateKeys: Record<string, KeyPair>
  /** The secretariat's key pair. */
  readonly auditor: KeyPair
  readonly nodes: LocalNode[]
  /** The officer of the first state (DVA). */
  readonly officer: LocalOfficer
  /** One officer per member state, with every role. */
  readonly officers: Record<string, LocalOfficer>
}

const defaultRandom = (n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n))

/** A Yjs client id: random in 1..2^32-1. */
function randomClientId(random: (n: number) => Uint8Array, taken: Set<number>): number {
  for (;;) {
    const b = random(4)
    const id = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0
    if (id !== 0 && !taken.has(id)) {
      taken.add(id)
      return id
    }
  }
}

function issueOfficer(
  ed: Ed25519,
  bloc: string,
  state: string,
  stateSecretKey: Uint8Array,
  keys: KeyPair,
  now: number,
  validityMs: number,
): LocalOfficer {
  const cert = certifyOfficer(ed, bloc, state, stateSecretKey, keys.publicKey, [...DEV_OFFICER_ROLES], {
    notBefore: now - CLOCK_SKEW_MS,
    notAfter: now + validityMs,
  })
  return { state, keys, cert }
}

/**
 * A bloc of the three development states with `nodes` certified nodes and one officer per
 * state. Pure apart from `random`.
 */
export function createLocalBloc(init: LocalBlocInit): LocalBloc {
  if (!Number.isInteger(init.nodes) || init.nodes < 1) throw new RangeError('a bloc needs at least one node')
  const { ed, now } = init
  const random = init.random ?? defaultRandom
  const keyPair = () => generateKeyPair(ed, random(32))
  const stateKeys: Record<string, KeyPair> = {}
  for (const s of DEV_STATES) stateKeys[s.code] = keyPair()
  const auditor = keyPair()
  const taken = new Set<number>()
  const nodes: LocalNode[] = Array.from({ length: init.nodes }, (_, index) => ({
    index,
    name: `node-${index}`,
    state: DEV_STATES[index % DEV_STATES.length]!.code,
    keys: init.nodeKeys?.[index] ?? keyPair(),
    clientId: randomClientId(random, taken),
  }))
  const genesis = createGenesis(ed, {
    name: init.name ?? DEV_BLOC_NAME,
    members: DEV_STATES.map((s) => ({
      code: s.code,
      name: s.name,
      stateKeys: stateKeys[s.code]!,
      nodes: nodes
        .filter((n) => n.state === s.code)
        .map((n) => ({
          name: n.name,
          keys: n.keys,
          clientId: n.clientId,
          addrs: init.addrs?.(n.index) ?? [],
        })),
    })),
    auditorKey: auditor.publicKey,
    quorum: DEV_QUORUM,
    issuedAt: now,
    validity: {
      notBefore: now - CLOCK_SKEW_MS,
      notAfter: now + (init.nodeValidityMs ?? DEFAULT_NODE_VALIDITY_MS),
    },
  })
  const bloc = charterHash(genesis.charter)
  const officers: Record<string, LocalOfficer> = {}
  for (const s of DEV_STATES) {
    officers[s.code] = issueOfficer(
      ed,
      bloc,
      s.code,
      stateKeys[s.code]!.secretKey,
      keyPair(),
      now,
      init.officerValidityMs ?? DEFAULT_OFFICER_VALIDITY_MS,
    )
  }
  return {
    chain: [genesis],
    bloc,
    charterHash: bloc,
    stateKeys,
    auditor,
    nodes,
    officer: officers[DEV_STATES[0].code]!,
    officers,
  }
}

// ---- The development bloc on disk ----

export interface DevBlocInit {
  ed: Ed25519
  /** The current time (ms since the epoch). @default Date.now() */
  now?: number
  log?: Logger
  /** Only used to tell the operator where the API is. */
  httpPort?: number
  /** Where the node's key file lives. @default `<dataDir>/node-key.json` */
  keyFile?: string
  /** Encrypt the node key file with this passphrase. @default null (plaintext, development) */
  passphrase?: string | null
  /** Keystore options (tests lower the scrypt cost). */
  keystore?: KeystoreOptions
}

export interface DevBloc {
  /** The charter chain, genesis first (it may have been amended since it was created). */
  readonly chain: SignedCharter[]
  readonly bloc: string
  /** Hash of the latest charter version. */
  readonly charterHash: string
  readonly nodeKeys: KeyPair
  readonly clientId: number
  /** The development officer of DVA (every role). */
  readonly officer: { readonly keys: KeyPair; readonly cert: OfficerCertificate }
  readonly stateKeys: Record<string, KeyPair>
  readonly auditor: KeyPair
  /** True when this call created the bloc. */
  readonly created: boolean
  /** True when the node key file is not encrypted: the caller must warn loudly. */
  readonly plaintextKeys: boolean
  readonly files: { readonly charter: string; readonly nodeKeys: string; readonly secrets: string }
}

/** `dev-secrets.json`: development only, plaintext. */
interface DevSecretsFile {
  warning: string
  bloc: string
  states: Record<string, string>
  auditor: string
  officer: { state: string; secretKey: string; cert: string }
}

const SECRETS_WARNING =
  'DEVELOPMENT ONLY. These are the secret keys of a generated development bloc, stored without ' +
  'encryption. Anyone who reads this file can sign for every member state. Never use this bloc for real data.'

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
const unb64 = (text: unknown): Uint8Array => {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text)) throw new TypeError('expected base64url')
  return new Uint8Array(Buffer.from(text, 'base64url'))
}

function damaged(dataDir: string, what: string, cause?: unknown): NodeError {
  return new NodeError(
    'CONFIG_INVALID',
    `development bloc in ${dataDir} is damaged (${what}); move the folder away to start a new one`,
    { cause },
  )
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

function secretsToFile(
  bloc: Pick<LocalBloc, 'bloc' | 'stateKeys' | 'auditor'>,
  officer: LocalOfficer,
): DevSecretsFile {
  return {
    warning: SECRETS_WARNING,
    bloc: bloc.bloc,
    states: Object.fromEntries(Object.entries(bloc.stateKeys).map(([c, k]) => [c, b64(k.secretKey)])),
    auditor: b64(bloc.auditor.secretKey),
    officer: {
      state: officer.state,
      secretKey: b64(officer.keys.secretKey),
      cert: b64(encodeCanonical(officer.cert)),
    },
  }
}

/**
 * Creates the development bloc in `dataDir` on the first run; loads it on later runs.
 * Files: `charter.cbor` (written last: its presence marks a complete bloc), the node key file
 * (keystore, plaintext unless a passphrase is given) and `dev-secrets.json` (mode 0600).
 * An existing node key file is never overwritten: its key is the one certified.
 */
export async function ensureDevBloc(dataDir: string, init: DevBlocInit): Promise<DevBloc> {
  const { ed, log } = init
  const now = init.now ?? Date.now()
  const passphrase = init.passphrase ?? null
  const files = {
    charter: join(dataDir, DEV_FILES.charter),
    nodeKeys: init.keyFile ?? join(dataDir, DEV_FILES.nodeKeys),
    secrets: join(dataDir, DEV_FILES.secrets),
  }
  if (await exists(files.charter)) return loadDevBloc(dataDir, files, init, now)

  // First run (or a first run that stopped before the charter was written).
  let existingKey: Uint8Array | undefined
  let plaintextKeys = passphrase === null
  if (await exists(files.nodeKeys)) {
    const loaded = await loadKeys(files.nodeKeys, passphrase)
    existingKey = loaded.keys[NODE_KEY_NAME]
    plaintextKeys = !loaded.encrypted
  }
  // The local node is node 0 (of DVA).
  const local = createLocalBloc({
    nodes: 1,
    ed,
    now,
    ...(existingKey ? { nodeKeys: [generateKeyPair(ed, existingKey)] } : {}),
  })
  const node = local.nodes[0]!
  const officer = local.officer

  await writeFileAtomic(files.secrets, `${JSON.stringify(secretsToFile(local, officer), null, 2)}\n`)
  if (!existingKey)
    await saveKeys(files.nodeKeys, { [NODE_KEY_NAME]: node.keys.secretKey }, passphrase, init.keystore)
  await writeFileAtomic(files.charter, encodeCanonical(local.chain), 0o644)

  log?.warn(
    { dataDir, bloc: local.bloc, node: keyId(node.keys.publicKey), secrets: files.secrets },
    'created a DEVELOPMENT bloc (states DVA, DVB, DVC): its secret keys are stored unencrypted; never use it for real data',
  )
  logOfficer(log, officer, files.secrets, init.httpPort)
  return {
    chain: local.chain,
    bloc: local.bloc,
    charterHash: local.charterHash,
    nodeKeys: node.keys,
    clientId: node.clientId,
    officer: { keys: officer.keys, cert: officer.cert },
    stateKeys: local.stateKeys,
    auditor: local.auditor,
    created: true,
    plaintextKeys,
    files,
  }
}

function logOfficer(log: Logger | undefined, officer: LocalOfficer, secrets: string, httpPort?: number) {
  log?.info(
    {
      officer: keyId(officer.keys.publicKey),
      state: officer.state,
      notAfter: new Date(officer.cert.body.notAfter).toISOString(),
      secrets,
      ...(httpPort !== undefined ? { api: `http://127.0.0.1:${httpPort}/v1/node` } : {}),
    },
    'development officer (registrar, consul, crisis): key and certificate are in the secrets file',
  )
}

async function loadDevBloc(
  dataDir: string,
  files: DevBloc['files'],
  init: DevBlocInit,
  now: number,
): Promise<DevBloc> {
  const { ed, log } = init
  let chain: SignedCharter[]
  try {
    chain = await readCharterChain(ed, files.charter)
  } catch (cause) {
    throw damaged(dataDir, `${DEV_FILES.charter} does not verify`, cause)
  }
  const views = verifyCharterChain(ed, chain)
  const latest = views[views.length - 1]!

  const loaded = await loadKeys(files.nodeKeys, init.passphrase ?? null)
  const secret = loaded.keys[NODE_KEY_NAME]
  if (secret?.length !== 32) throw damaged(dataDir, `the key file has no "${NODE_KEY_NAME}" key`)
  const nodeKeys = generateKeyPair(ed, secret)
  const certified = latest.nodes.get(keyId(nodeKeys.publicKey))
  if (!certified) throw damaged(dataDir, 'the node key is not certified in the charter')

  let secrets: DevSecretsFile
  let stateKeys: Record<string, KeyPair>
  let auditor: KeyPair
  let officer: LocalOfficer
  try {
    secrets = JSON.parse(await readFile(files.secrets, 'utf8')) as DevSecretsFile
    stateKeys = Object.fromEntries(
      Object.entries(secrets.states).map(([code, s]) => [code, generateKeyPair(ed, unb64(s))]),
    )
    auditor = generateKeyPair(ed, unb64(secrets.auditor))
    const cert = parseOfficerCertificate.parse(
      decodeCanonical(unb64(secrets.officer.cert)),
      'officer certificate',
    )
    officer = {
      state: secrets.officer.state,
      keys: generateKeyPair(ed, unb64(secrets.officer.secretKey)),
      cert,
    }
  } catch (cause) {
    throw damaged(dataDir, `${DEV_FILES.secrets} cannot be read`, cause)
  }

  if (now >= officer.cert.body.notAfter - OFFICER_RENEW_BEFORE_MS) {
    const stateKey = stateKeys[officer.state]
    const member = latest.members.get(officer.state)
    if (stateKey && member && Buffer.from(member.stateKey).equals(Buffer.from(stateKey.publicKey))) {
      officer = issueOfficer(
        ed,
        latest.bloc,
        officer.state,
        stateKey.secretKey,
        officer.keys,
        now,
        DEFAULT_OFFICER_VALIDITY_MS,
      )
      const bloc = { bloc: latest.bloc, stateKeys, auditor }
      await writeFileAtomic(files.secrets, `${JSON.stringify(secretsToFile(bloc, officer), null, 2)}\n`)
      log?.info(
        { officer: keyId(officer.keys.publicKey) },
        're-issued the expiring development officer certificate',
      )
    } else {
      log?.warn({ state: officer.state }, 'development officer certificate expired and cannot be re-issued')
    }
  }
  logOfficer(log, officer, files.secrets, init.httpPort)
  return {
    chain,
    bloc: latest.bloc,
    charterHash: latest.hash,
    nodeKeys,
    clientId: certified.clientId,
    officer: { keys: officer.keys, cert: officer.cert },
    stateKeys,
    auditor,
    created: false,
    plaintextKeys: !loaded.encrypted,
    files,
  }
}

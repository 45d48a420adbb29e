import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
/** Test fixtures: a bloc with n certified nodes over three states, an officer per state. */
import {
  certifyOfficer,
  createGenesis,
  type Ed25519,
  generateKeyPair,
  type KeyPair,
  LegationClient,
  type OfficerRole,
  type SignedCharter,
  verifyGenesis,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Engine } from '../src/engine/engine.ts'
import { citizenView } from '../src/engine/views.ts'

export const ed = nativeEd25519

/** `ed`, counting the signatures it makes and the ones it verifies. */
export function countingEd(): { ed: Ed25519; count: { sign: number; verify: number } } {
  const count = { sign: 0, verify: 0 }
  return {
    count,
    ed: {
      name: ed.name,
      publicKey: (k) => ed.publicKey(k),
      sign: (m, k) => {
        count.sign++
        return ed.sign(m, k)
      },
      verify: (sig, m, k) => {
        count.verify++
        return ed.verify(sig, m, k)
      },
    },
  }
}
export const STATES = ['AAA', 'BBB', 'CCC'] as const

export interface TestBloc {
  chain: SignedCharter[]
  bloc: string
  charterHash: string
  stateKeys: Record<string, KeyPair>
  nodes: Array<{ keys: KeyPair; clientId: number; state: string }>
  officer(
    state: string,
    roles?: OfficerRole[],
    validity?: { notBefore: number; notAfter: number },
  ): LegationClient
  citizen(keys?: KeyPair): LegationClient
  /** The secretariat's auditor, whose key the charter names. */
  auditor: LegationClient
}

export function testBloc(n = 3, now = Date.now()): TestBloc {
  const validity = { notBefore: now - 86_400_000, notAfter: now + 365 * 86_400_000 }
  const stateKeys = Object.fromEntries(STATES.map((s) => [s, generateKeyPair(ed)]))
  const auditorKeys = generateKeyPair(ed)
  const nodes = Array.from({ length: n }, (_, i) => ({
    keys: generateKeyPair(ed),
    clientId: 1000 + i,
    state: STATES[i % STATES.length]!,
  }))
  const genesis = createGenesis(ed, {
    name: 'Test bloc',
    members: STATES.map((code) => ({
      code,
      name: `State ${code}`,
      stateKeys: stateKeys[code]!,
      nodes: nodes
        .map((node, i) => ({ ...node, i }))
        .filter((node) => node.state === code)
        .map((node) => ({ name: `node-${node.i}`, keys: node.keys, clientId: node.clientId, addrs: [] })),
    })),
    auditorKey: auditorKeys.publicKey,
    quorum: 2,
    issuedAt: now,
    validity,
  })
  const view = verifyGenesis(ed, genesis)
  return {
    chain: [genesis],
    bloc: view.bloc,
    charterHash: view.hash,
    stateKeys,
    nodes,
    officer(state, roles = ['registrar', 'consul', 'crisis'], v = validity) {
      const keys = generateKeyPair(ed)
      const cert = certifyOfficer(ed, view.bloc, state, stateKeys[state]!.secretKey, keys.publicKey, roles, v)
      return new LegationClient({ ed, bloc: view.bloc, charter: view.hash, keys, cert })
    },
    citizen(keys = generateKeyPair(ed)) {
      return new LegationClient({ ed, bloc: view.bloc, charter: view.hash, keys })
    },
    auditor: new LegationClient({ ed, bloc: view.bloc, charter: view.hash, keys: auditorKeys }),
  }
}

let counter = 0
/** A registration of a new citizen by `officer`, with realistic personal data. */
export function registration(
  officer: LegationClient,
  nationality = 'AAA',
  citizenKeys = generateKeyPair(ed),
) {
  counter++
  const id = officer.record(
    'citizen.registered',
    new LegationClient({ ed, bloc: officer.bloc, charter: officer.charter, keys: citizenKeys }).id,
    {
      citizenKey: citizenKeys.publicKey,
      nationality,
      consent: { purposes: ['consular-assistance'], version: 1 },
    },
    {
      salt: officer.salt(),
      names: { given: `Given${counter}`, family: `Family${counter}` },
      birth: { date: '1988-04-12' },
      travelDocument: {
        type: 'passport',
        number: `P${String(counter).padStart(7, '0')}`,
        issuer: nationality,
        expires: '2031-01-01',
      },
      contact: { email: `person${counter}@example.org` },
    },
  )
  return { ...id, citizenKeys, citizenId: id.record.header.subject! }
}

/** Every byte of every file under `dir` (a store's logs and tables as they are on disk, the key ring). */
export async function allBytes(dir: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) parts.push(await readFile(join(e.parentPath, e.name)))
  }
  return Buffer.concat(parts)
}

/**
 * The travel document number a node shows in a citizen's file: null when it has none to show
 * (no registration, or its payload not here or erased).
 */
export async function travelDocumentNumber(engine: Engine, citizen: string): Promise<string | null> {
  const view = await citizenView(engine, citizen)
  return (view?.travelDocument as { number?: string } | null | undefined)?.number ?? null
}

/**
 * Real node HTTP apps on loopback for CLI tests, and an in-process `legation` runner.
 *
 * `devNode()` creates a development bloc on disk exactly as `npm start` does
 * (node/src/dev-bloc.ts: charter.cbor, dev-secrets.json), then serves it from an engine over
 * an in-memory store, so the CLI reads the very files a dev node writes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp, Engine, ensureDevBloc, MemoryStore } from '@legation/node'
import {
  certifyOfficer,
  createGenesis,
  encodeCanonical,
  generateKeyPair,
  LegationClient,
  type SignedCharter,
  toSubmission,
  verifyGenesis,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { Registry } from 'prom-client'
import { run } from '../src/cli.ts'
import type { CliIo } from '../src/io.ts'
import { loadKeyFile } from '../src/key-file.ts'

export const ed = nativeEd25519

export interface TestNode {
  url: string
  dir: string
  engine: Engine
  bloc: string
  charterHash: string
  /** The officer key file (dev-secrets format). */
  secrets: string
  charterFile: string
  close(): Promise<void>
}

async function serve(
  dir: string,
  chain: SignedCharter[],
  nodeKeys: { publicKey: Uint8Array; secretKey: Uint8Array },
) {
  const engine = await Engine.open({ store: new MemoryStore(), ed, nodeKeys, charter: chain })
  const self = engine.charter.nodes.get(engine.nodeId)!
  const app = await buildApp({
    ctx: {
      engine,
      ed,
      now: Date.now,
      writeConcernTimeoutMs: 1000,
      node: { peerId: self.peerId, name: self.name, state: self.state, version: 'test' },
      isReady: () => true,
    },
    registry: new Registry(),
    rateLimitPerMinute: 100_000,
  })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  return {
    engine,
    url: address,
    close: async () => {
      await app.close()
      await engine.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A node of a freshly generated development bloc (states DVA, DVB, DVC). */
export async function devNode(): Promise<TestNode> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-cli-dev-'))
  const dev = await ensureDevBloc(dir, { ed })
  const s = await serve(dir, dev.chain, dev.nodeKeys)
  return {
    ...s,
    dir,
    bloc: dev.bloc,
    charterHash: dev.charterHash,
    secrets: dev.files.secrets,
    charterFile: dev.files.charter,
  }
}

/**
 * A node of a "real" bloc (states AT and BE), with an officer key file in the dev-secrets
 * format: everything `dev seed` needs except a development bloc.
 */
export async function productionNode(): Promise<TestNode> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-cli-prod-'))
  const now = Date.now()
  const validity = { notBefore: now - 60_000, notAfter: now + 86_400_000 }
  const states = ['AT', 'BE'].map((code) => ({ code, keys: generateKeyPair(ed) }))
  const nodeKeys = generateKeyPair(ed)
  const genesis = createGenesis(ed, {
    name: 'Test bloc',
    members: states.map((s, i) => ({
      code: s.code,
      name: `State ${s.code}`,
      stateKeys: s.keys,
      nodes: i === 0 ? [{ name: 'vienna-1', keys: nodeKeys, clientId: 7, addrs: [] }] : [],
    })),
    auditorKey: generateKeyPair(ed).publicKey,
    quorum: 2,
    issuedAt: now,
    validity,
  })
  const view = verifyGenesis(ed, genesis)
  const officer = generateKeyPair(ed)
  const cert = certifyOfficer(
    ed,
    view.bloc,
    'AT',
    states[0]!.keys.secretKey,
    officer.publicKey,
    ['registrar', 'crisis'],
    validity,
  )
  const secrets = join(dir, 'dev-secrets.json')
  const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url')
  await writeFile(
    secrets,
    JSON.stringify({
      bloc: view.bloc,
      officer: { state: 'AT', secretKey: b64(officer.secretKey), cert: b64(encodeCanonical(cert)) },
    }),
    { mode: 0o600 },
  )
  const charterFile = join(dir, 'charter.cbor')
  await writeFile(charterFile, encodeCanonical([genesis]))
  const s = await serve(dir, [genesis], nodeKeys)
  return { ...s, dir, bloc: view.bloc, charterHash: view.hash, secrets, charterFile }
}

/**
 * Registers a new citizen as the officer of `keyFile` (an officer key file, or a dev node's
 * dev-secrets.json); answers the node's status and, for a refusal, its code.
 */
export async function submitAsOfficer(
  node: TestNode,
  keyFile: string = node.secrets,
): Promise<{ status: number; code?: string }> {
  const officer = loadKeyFile(ed, keyFile)
  const client = new LegationClient({
    ed,
    bloc: node.bloc,
    charter: node.charterHash,
    keys: officer.keys,
    cert: officer.cert ?? undefined,
  })
  const citizen = generateKeyPair(ed)
  const record = client.record(
    'citizen.registered',
    new LegationClient({ ed, bloc: node.bloc, charter: node.charterHash, keys: citizen }).id,
    {
      citizenKey: citizen.publicKey,
      nationality: 'DVB',
      consent: { purposes: ['consular-assistance'], version: 1 },
    },
    {
      salt: client.salt(),
      names: { given: 'Ana', family: 'Novak' },
      birth: { date: '1990-04-12' },
      travelDocument: { type: 'passport', number: 'X1234567', issuer: 'DVB', expires: '2031-06-30' },
      contact: { email: 'ana@example.org' },
    },
  )
  const res = await fetch(`${node.url}/v1/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(toSubmission(record)),
  })
  const body = (await res.json()) as { code?: string }
  return { status: res.status, ...(body.code ? { code: body.code } : {}) }
}

export interface Ran {
  code: number
  stdout: string
  stderr: string
}

/**
 * Runs `legation <argv>` in-process with captured output and an empty environment; `now` is
 * the CLI's clock (default `Date.now`).
 */
export async function legation(
  argv: string[],
  env: Record<string, string> = {},
  opts: { tty?: boolean; now?: () => number } = {},
): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false },
    fetch: globalThis.fetch,
    env,
    now: opts.now ?? Date.now,
  }
  const code = await run(argv, io)
  return { code, stdout, stderr }
}

/** The lines of a command's error output: a user's mistake gives exactly one, and no stack. */
export function errorLines(r: Ran): string[] {
  return r.stderr.split('\n').filter((l) => l !== '')
}

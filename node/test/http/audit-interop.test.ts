/**
 * The secretariat's existing tooling reads a node's audit answers: checkpoints and proofs fetched
 * over HTTP as the auditor are checked by Go's own transparency-log packages
 * (golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, through
 * protocol/interop/go-verify), which share no code with Legation. They must accept what the node
 * serves and refuse it tampered with: a flipped root, a wrong proof hash, another key's signature,
 * a consistency proof between unrelated trees.
 *
 * Needs Go and x/mod from Debian (golang-go, golang-golang-x-mod-dev); without them it fails and
 * says so, it does not skip.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  checkpointText,
  consistencyProof,
  generateKeyPair,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  rootOf,
  signNote,
  toBase64url,
  toSubmission,
} from '@legation/protocol'
import type { Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConsistencyProofView, InclusionProofView, Receipt } from '../../src/http/schemas.ts'
import { ed, registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const TOOL_DIR = fileURLToPath(new URL('../../../protocol/interop/go-verify/', import.meta.url))
/** Where Debian's golang-golang-x-mod-dev puts x/mod: a GOPATH. */
const DEBIAN_GOPATH = '/usr/share/gocode'
const MISSING_GO =
  'the independent verifier needs Go and golang.org/x/mod: apt-get install golang-go golang-golang-x-mod-dev'
/** Checkpoints taken after this many entries: 1 and 8 (powers of two) are proofs' edge cases. */
const SIZES = [1, 8, 13, 37] as const

type Inclusion = Static<typeof InclusionProofView>
type Consistency = Static<typeof ConsistencyProofView>

interface VerifierInput {
  origin: string
  publicKey: string
  verifierKey?: string
  checkpoints: string[]
  inclusion?: Inclusion[]
  consistency?: Consistency[]
}

/** Builds go-verify into a temp dir, offline (GOPATH mode over Debian's x/mod; no module proxy). */
function buildVerifier(outDir: string): string {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) throw new Error(`go is not installed: ${MISSING_GO}`)
  for (const pkg of ['note', 'tlog']) {
    if (!existsSync(join(DEBIAN_GOPATH, 'src/golang.org/x/mod/sumdb', pkg))) {
      throw new Error(`golang.org/x/mod/sumdb/${pkg} is not in ${DEBIAN_GOPATH}: ${MISSING_GO}`)
    }
  }
  const out = join(outDir, 'go-verify')
  const built = spawnSync('go', ['build', '-o', out, '.'], {
    cwd: TOOL_DIR,
    encoding: 'utf8',
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: DEBIAN_GOPATH,
      GOPROXY: 'off',
      GOFLAGS: '',
      // Kept between runs: a second build takes well under a second.
      GOCACHE: join(tmpdir(), 'legation-go-build-cache'),
    },
  })
  if (built.status !== 0)
    throw new Error(`building go-verify failed (${version.stdout.trim()}):\n${built.stderr}`)
  return out
}

let outDir: string
/** The built verifier, or why it could not be built: each test that needs it then fails with that. */
let tool: string | Error
let app: FastifyInstance
let base: string
/** What the auditor fetched from the node, and what the secretariat knows from the charter. */
let fetched: {
  origin: string
  publicKey: Uint8Array
  secretKey: Uint8Array
  verifierKey: string
  /** Checkpoint notes by tree size. */
  notes: Map<number, string>
  inclusion: Inclusion[]
  consistency: Consistency[]
  receipts: Static<typeof Receipt>[]
}

/** Runs go-verify on `input`: its exit status and its lines. */
function verify(input: VerifierInput): { status: number | null; lines: string[] } {
  if (tool instanceof Error) throw tool
  const r = spawnSync(tool, [], { input: JSON.stringify(input), encoding: 'utf8' })
  if (r.error) throw r.error
  expect(r.stderr).toBe('')
  return { status: r.status, lines: r.stdout.trim().split('\n') }
}

function genuine(): VerifierInput {
  return {
    origin: fetched.origin,
    publicKey: toBase64url(fetched.publicKey),
    verifierKey: fetched.verifierKey,
    checkpoints: [...fetched.notes.values()],
    inclusion: fetched.inclusion,
    consistency: fetched.consistency,
  }
}

/** The note's checkpoint with its root's first byte flipped, its signature left as it was. */
function flipRootLine(note: string): string {
  const lines = note.split('\n')
  const root = Buffer.from(lines[2]!, 'base64')
  root[0]! ^= 0x01
  lines[2] = root.toString('base64')
  return lines.join('\n')
}

/** A checkpoint of the node's origin signed with `secretKey` (the node's own, for a lying node). */
function signed(secretKey: Uint8Array, size: number, root: Uint8Array, extensions: string[] = []): string {
  const text = checkpointText({ origin: fetched.origin, size, root, extensions })
  return signNote(ed, text, [{ name: fetched.origin, secretKey }])
}

function flipHash(b64url: string): string {
  const bytes = Buffer.from(b64url, 'base64url')
  bytes[bytes.length - 1]! ^= 0x80
  return bytes.toString('base64url')
}

/** The node's checkpoint of `size`, opened with Legation's own note.ts (to build tampered ones). */
function checkpointOf(size: number) {
  return parseCheckpoint(openNote(ed, fetched.notes.get(size)!, [parseVerifierKey(fetched.verifierKey)]).text)
}

const failures = (lines: string[]) => lines.filter((l) => !l.startsWith('ok   '))

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'legation-go-verify-'))
  try {
    tool = buildVerifier(outDir)
  } catch (err) {
    tool = err as Error
  }

  const t = await testApp()
  app = t.app
  await app.listen({ host: '127.0.0.1', port: 0 })
  const addr = app.server.address()
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  const { bloc, engine } = t
  const auditor = async <T>(path: string): Promise<T> => {
    const res = await fetch(base + path, { headers: bloc.auditor.sign({ method: 'GET', path }) })
    expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200)
    return (await res.json()) as T
  }

  const officer = bloc.officer('AAA')
  const receipts: Static<typeof Receipt>[] = []
  const notes = new Map<number, string>()
  let verifierKey = ''
  for (const size of SIZES) {
    while (receipts.length < size) {
      const res = await fetch(`${base}/v1/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(toSubmission(registration(officer))),
      })
      expect(res.status).toBe(201)
      receipts.push(((await res.json()) as { receipt: Static<typeof Receipt> }).receipt)
    }
    const cp = await auditor<{ note: string; verifierKey: string; size: number }>('/v1/audit/checkpoint')
    expect(cp.size).toBe(size)
    notes.set(size, cp.note)
    verifierKey = cp.verifierKey
  }

  const feed = `/v1/audit/feeds/${engine.nodeId}`
  const inclusion: Inclusion[] = []
  for (const size of SIZES) {
    for (let seq = 1; seq <= size; seq++) {
      inclusion.push(await auditor<Inclusion>(`${feed}/inclusion?seq=${seq}&size=${size}`))
    }
  }
  const consistency: Consistency[] = []
  for (const from of SIZES) {
    for (const to of SIZES.filter((s) => s >= from)) {
      consistency.push(await auditor<Consistency>(`${feed}/consistency?from=${from}&to=${to}`))
    }
  }
  fetched = {
    // What the secretariat knows without asking the node: the bloc, the node and its key (charter).
    origin: `legation/${bloc.bloc}/${engine.nodeId}`,
    publicKey: bloc.nodes[0]!.keys.publicKey,
    secretKey: bloc.nodes[0]!.keys.secretKey,
    verifierKey,
    notes,
    inclusion,
    consistency,
    receipts,
  }
}, 180_000)

afterAll(async () => {
  await app?.close()
  if (outDir) rmSync(outDir, { recursive: true, force: true })
})

describe('audit answers checked by Go’s golang.org/x/mod/sumdb (note, tlog)', () => {
  it('the inclusion answers name each leaf as the receipts do', () => {
    for (const inc of fetched.inclusion) {
      expect(inc.index).toBe(inc.seq - 1)
      expect(inc.entry).toBe(fetched.receipts[inc.seq - 1]!.entry)
    }
  })

  it('accept the node’s verifier key, every checkpoint and every proof', () => {
    const input = genuine()
    const { status, lines } = verify(input)
    expect(failures(lines)).toEqual([])
    expect(status).toBe(0)
    // One line per check: the key, 4 checkpoints, 59 inclusions, 10 consistencies.
    expect(lines).toHaveLength(1 + SIZES.length + input.inclusion!.length + input.consistency!.length)
    expect(lines[0]).toBe(`ok   verifier key ${fetched.verifierKey}: the node serves the same`)
    expect(lines.filter((l) => l.includes('tlog.CheckRecord accepts'))).toHaveLength(1 + 8 + 13 + 37)
    expect(lines.filter((l) => l.includes('tlog.CheckTree accepts'))).toHaveLength(10)
    const [r13, r37] = [13, 37].map((n) => Buffer.from(checkpointOf(n).root).toString('base64'))
    expect(lines).toContain(
      `ok   consistency 8 (tree of 13 in tree of 37): tlog.CheckTree accepts 7 hashes from root ${r13} to root ${r37}`,
    )
  })

  it('refuse a checkpoint whose root has a flipped byte', () => {
    const input = genuine()
    input.checkpoints = [flipRootLine(fetched.notes.get(37)!)]
    input.inclusion = fetched.inclusion.filter((i) => i.size === 37)
    const { status, lines } = verify(input)
    expect(status).toBe(1)
    // x/mod names the key by name+hash: the verifier key without its key bytes.
    const keyName = fetched.verifierKey.split('+').slice(0, 2).join('+')
    expect(failures(lines)[0]).toBe(`FAIL checkpoint 0: signature: invalid signature for key ${keyName}`)
    // Nothing is proven against a checkpoint that did not verify.
    expect(failures(lines)).toHaveLength(1 + 37 + fetched.consistency.length)
  })

  it('refuse proofs against a flipped root even when the node’s own key signs it', () => {
    const cp = checkpointOf(37)
    const root = cp.root.slice()
    root[0]! ^= 0x01
    const input = genuine()
    input.checkpoints = [fetched.notes.get(13)!, signed(fetched.secretKey, 37, root, [...cp.extensions])]
    input.inclusion = fetched.inclusion.filter((i) => i.size === 37)
    input.consistency = fetched.consistency.filter((c) => c.from === 13 && c.to === 37)
    const { status, lines } = verify(input)
    expect(status).toBe(1)
    expect(lines.slice(0, 3).every((l) => l.startsWith('ok   '))).toBe(true)
    const fails = failures(lines)
    expect(fails).toHaveLength(38)
    expect(fails.filter((l) => l.endsWith('tlog.CheckRecord: invalid transparency proof'))).toHaveLength(37)
    expect(fails).toContain(
      'FAIL consistency 0 (tree of 13 in tree of 37): tlog.CheckTree: invalid transparency proof',
    )
  })

  it('refuse a wrong proof hash and a leaf claimed for another entry', () => {
    const input = genuine()
    const inc = fetched.inclusion.filter((i) => i.size === 37)
    const con = fetched.consistency.find((c) => c.from === 13 && c.to === 37)!
    input.inclusion = [
      inc[20]!,
      { ...inc[4]!, proof: inc[4]!.proof.map((h, i) => (i === 2 ? flipHash(h) : h)) },
      { ...inc[5]!, entry: inc[6]!.entry },
    ]
    input.consistency = [
      con,
      { ...con, proof: con.proof.map((h, i) => (i === con.proof.length - 1 ? flipHash(h) : h)) },
    ]
    const { status, lines } = verify(input)
    expect(status).toBe(1)
    expect(failures(lines)).toEqual([
      'FAIL inclusion 1 (entry 5, leaf index 4, tree of 37): tlog.CheckRecord: invalid transparency proof',
      'FAIL inclusion 2 (entry 6, leaf index 5, tree of 37): tlog.CheckRecord: invalid transparency proof',
      'FAIL consistency 1 (tree of 13 in tree of 37): tlog.CheckTree: invalid transparency proof',
    ])
    // The untouched proofs beside them still pass: the refusal is the tampering's.
    expect(
      lines.filter((l) => l.startsWith('ok   inclusion') || l.startsWith('ok   consistency')),
    ).toHaveLength(2)
  })

  it('refuse a checkpoint signed by another key, and another node’s key', () => {
    const other = generateKeyPair(ed)
    const cp = checkpointOf(37)
    const forged = genuine()
    forged.checkpoints = [signed(other.secretKey, cp.size, cp.root, [...cp.extensions])]
    forged.inclusion = []
    forged.consistency = []
    const byOther = verify(forged)
    expect(byOther.status).toBe(1)
    expect(byOther.lines).toEqual([
      `ok   verifier key ${fetched.verifierKey}: the node serves the same`,
      'FAIL checkpoint 0: signature: note has no verifiable signatures',
    ])

    // The secretariat holds the wrong key for the node: the served key no longer matches the
    // derived one, and the node's genuine notes do not open.
    const wrongKey = { ...genuine(), publicKey: toBase64url(other.publicKey), inclusion: [], consistency: [] }
    const { status, lines } = verify(wrongKey)
    expect(status).toBe(1)
    expect(lines[0]).toMatch(/^FAIL verifier key: the node serves ".+", x\/mod derives ".+"$/)
    expect(lines.slice(1)).toEqual(
      SIZES.map((_, i) => `FAIL checkpoint ${i}: signature: note has no verifiable signatures`),
    )
  })

  it('refuse a consistency proof between unrelated trees', async () => {
    // A forked log under the node's name and key: 37 entries of which none is the node's.
    const leaves = Array.from({ length: 37 }, (_, i) => leafHash(Uint8Array.of(i, 0xfe)))
    const forkProof = await consistencyProof(leaves, 13)
    const genuineProof = fetched.consistency.find((c) => c.from === 13 && c.to === 37)!
    const input = genuine()
    input.checkpoints = [fetched.notes.get(13)!, signed(fetched.secretKey, 37, rootOf(leaves))]
    input.inclusion = []
    input.consistency = [genuineProof, { ...genuineProof, proof: forkProof.map(toBase64url) }]
    const { status, lines } = verify(input)
    expect(status).toBe(1)
    // Both checkpoints carry the node's signature...
    expect(lines.slice(1, 3).every((l) => l.startsWith('ok   checkpoint'))).toBe(true)
    // ...but no proof links them: neither the node's own nor the fork's.
    expect(failures(lines)).toEqual([
      'FAIL consistency 0 (tree of 13 in tree of 37): tlog.CheckTree: invalid transparency proof',
      'FAIL consistency 1 (tree of 13 in tree of 37): tlog.CheckTree: invalid transparency proof',
    ])
  })

  it('report two signed trees of one size with different roots (a forked log)', () => {
    const leaves = Array.from({ length: 13 }, (_, i) => leafHash(Uint8Array.of(i)))
    const input = genuine()
    input.checkpoints = [fetched.notes.get(13)!, signed(fetched.secretKey, 13, rootOf(leaves))]
    input.inclusion = []
    input.consistency = []
    const { status, lines } = verify(input)
    expect(status).toBe(1)
    expect(failures(lines)).toEqual([
      expect.stringMatching(/^FAIL checkpoint 1: a second signed tree of size 13 /),
    ])
  })
})

/**
 * `legation audit` in-process, against a node's HTTP app and against a store on disk: a clean
 * node is audited clean (exit 0, every check ok but those that do not apply), the JSON report
 * has its shape, a tampered store is named with exit 3, a bundle written by `audit export`
 * verifies offline with only the charter, and the command line is checked.
 */
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deleteEntryRows, Engine, ensureDevBloc, LevelStore, putEntryRows, readEntry } from '@legation/node'
import {
  certificateId,
  decodeCanonical,
  encodeCanonical,
  generateKeyPair,
  LegationClient,
  parseOfficerCertificate,
  signRevocation,
  toBase64url,
  toSubmission,
} from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { run } from '../../src/cli.ts'
import { devNode, ed, errorLines, legation, type TestNode } from '../helpers.ts'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c()
})

async function nodeWithRecords(n: number): Promise<TestNode> {
  const node = await devNode()
  cleanup.push(() => node.close())
  const secrets = JSON.parse(await readFile(node.secrets, 'utf8'))
  const officerKeys = generateKeyPair(ed, Buffer.from(secrets.officer.secretKey, 'base64url'))
  const cert = parseOfficerCertificate.parse(
    decodeCanonical(Buffer.from(secrets.officer.cert, 'base64url')),
    'cert',
  )
  const officer = new LegationClient({
    ed,
    bloc: node.bloc,
    charter: node.charterHash,
    keys: officerKeys,
    cert: cert as never,
  })
  for (let i = 0; i < n; i++) {
    const citizen = generateKeyPair(ed)
    const id = new LegationClient({ ed, bloc: node.bloc, charter: node.charterHash, keys: citizen }).id
    const built = officer.record(
      'citizen.registered',
      id,
      {
        citizenKey: citizen.publicKey,
        nationality: 'DVA',
        consent: { purposes: ['consular-assistance'], version: 1 },
      },
      {
        salt: officer.salt(),
        names: { given: 'Ana', family: `Test${i}` },
        birth: { date: '1990-01-02' },
        travelDocument: { type: 'passport', number: `P${1000 + i}`, issuer: 'DVA', expires: '2031-01-01' },
        contact: { email: `a${i}@example.org` },
      },
    )
    const res = await fetch(`${node.url}/v1/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(toSubmission(built)),
    })
    expect(res.status).toBe(201)
  }
  return node
}

describe('legation audit (live)', () => {
  it('audits a clean node clean: exit 0, every check that applies ok', async () => {
    const node = await nodeWithRecords(4)
    const r = await legation([
      'audit',
      '--node',
      node.url,
      '--charter',
      node.charterFile,
      '--key',
      node.secrets,
    ])
    expect(errorLines(r)).toEqual([])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('No findings.')
    expect(r.stdout).toMatch(/OK\s+entry-signatures/)
    expect(r.stdout).toMatch(/OK\s+cosignature-quorum/)
    expect(r.stdout).toMatch(/SKIPPED\s+state-root/)

    const json = await legation([
      'audit',
      '--node',
      node.url,
      '--charter',
      node.charterFile,
      '--key',
      node.secrets,
      '--json',
      '--page-size',
      '3',
    ])
    expect(json.code).toBe(0)
    const report = JSON.parse(json.stdout)
    expect(report).toMatchObject({ v: 1, mode: 'live', bloc: node.bloc, findings: [] })
    expect(report.totals).toMatchObject({ nodes: 1, feeds: 1, entries: 4, records: 4 })
    expect(report.nodes[0].checkpoint.size).toBe(4)
    expect(report.checks.find((c: { check: string }) => c.check === 'merkle-roots').status).toBe('ok')
  })

  it('refuses a key that is not the charter’s auditor key before reading anything', async () => {
    const node = await nodeWithRecords(1)
    const other = join(node.dir, 'other.key.json')
    await writeFile(other, JSON.stringify({ secretKey: toBase64url(generateKeyPair(ed).secretKey) }))
    const r = await legation(['audit', '--node', node.url, '--charter', node.charterFile, '--key', other])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([expect.stringContaining('[AUDITOR_KEY_MISMATCH]')])
  })

  it('refuses to audit a node of another bloc than the charter’s', async () => {
    const node = await nodeWithRecords(1)
    const other = await devNode()
    cleanup.push(() => other.close())
    const r = await legation([
      'audit',
      '--node',
      node.url,
      '--charter',
      other.charterFile,
      '--key',
      other.secrets,
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([expect.stringContaining('[BLOC_MISMATCH]')])
  })

  it('remembers checkpoints with --state and checks the next one extends it', async () => {
    const node = await nodeWithRecords(2)
    const state = join(node.dir, 'audit-state.json')
    const args = [
      'audit',
      '--node',
      node.url,
      '--charter',
      node.charterFile,
      '--key',
      node.secrets,
      '--state',
      state,
    ]
    expect((await legation(args)).code).toBe(0)
    const saved = JSON.parse(await readFile(state, 'utf8'))
    expect(Object.values(saved.checkpoints)).toEqual([expect.objectContaining({ size: 2 })])
    expect((await legation(args)).code).toBe(0)
  })

  it('follows for --max-rounds rounds when nothing is wrong, and exits 0', async () => {
    const node = await nodeWithRecords(1)
    const r = await legation([
      'audit',
      '--follow',
      '--interval',
      '1',
      '--max-rounds',
      '2',
      '--node',
      node.url,
      '--charter',
      node.charterFile,
      '--key',
      node.secrets,
    ])
    expect(r.code).toBe(0)
    expect(r.stderr.match(/^round \d/gm)).toEqual(['round 1', 'round 2'])
  })
})

describe('legation audit --follow', () => {
  it('stops at the first finding of a later round, exits 3 and posts the report to the webhook', async () => {
    const node = await nodeWithRecords(2)
    const posted: unknown[] = []
    const hook = createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        posted.push(JSON.parse(body))
        res.end()
      })
    })
    hook.listen(0, '127.0.0.1')
    await once(hook, 'listening')
    cleanup.push(async () => void hook.close())
    const port = (hook.address() as { port: number }).port

    let stdout = ''
    let stderr = ''
    const following = run(
      [
        'audit',
        '--follow',
        '--interval',
        '1',
        '--max-rounds',
        '20',
        '--webhook',
        `http://127.0.0.1:${port}/alert`,
        '--node',
        node.url,
        '--charter',
        node.charterFile,
        '--key',
        node.secrets,
        '--json',
      ],
      {
        stdout: { write: (s: string) => (stdout += s) },
        stderr: { write: (s: string) => (stderr += s) },
        fetch: globalThis.fetch,
        env: {},
        now: Date.now,
      },
    )
    await expect.poll(() => stderr, { timeout: 10_000 }).toContain('round 1')
    // Between two rounds, the officer's state revokes its certificate from before it signed.
    const secrets = JSON.parse(await readFile(node.secrets, 'utf8'))
    const cert = parseOfficerCertificate.parse(
      decodeCanonical(Buffer.from(secrets.officer.cert, 'base64url')),
      'c',
    )
    const revocation = signRevocation(
      ed,
      {
        type: 'revocation',
        bloc: node.bloc,
        state: secrets.officer.state,
        cert: certificateId(cert as never),
        at: Date.now() - 3_600_000,
        reason: 'key-compromise',
      },
      Buffer.from(secrets.states[secrets.officer.state], 'base64url'),
    )
    const res = await fetch(`${node.url}/v1/revocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ revocation: toBase64url(encodeCanonical(revocation)) }),
    })
    expect(res.status).toBe(201)

    expect(await following).toBe(3)
    expect(stderr).toContain('[AUDIT_FINDINGS]')
    const report = JSON.parse(stdout)
    expect(report.findings.map((f: { kind: string }) => f.kind)).toEqual(['record-revoked', 'record-revoked'])
    expect(posted).toEqual([{ event: 'legation.audit.finding', report }])
  })
})

describe('legation audit (offline)', () => {
  async function storeDir(records: number) {
    const dir = await mkdtemp(join(tmpdir(), 'legation-audit-'))
    cleanup.push(() => rm(dir, { recursive: true, force: true }))
    const dev = await ensureDevBloc(dir, { ed })
    const store = await LevelStore.open(join(dir, 'db'))
    const engine = await Engine.open({ store, ed, nodeKeys: dev.nodeKeys, charter: dev.chain })
    const secrets = JSON.parse(await readFile(dev.files.secrets, 'utf8'))
    const cert = parseOfficerCertificate.parse(
      decodeCanonical(Buffer.from(secrets.officer.cert, 'base64url')),
      'cert',
    )
    const officer = new LegationClient({
      ed,
      bloc: dev.bloc,
      charter: dev.charterHash,
      keys: generateKeyPair(ed, Buffer.from(secrets.officer.secretKey, 'base64url')),
      cert: cert as never,
    })
    for (let i = 0; i < records; i++) {
      const citizen = generateKeyPair(ed)
      const id = new LegationClient({ ed, bloc: dev.bloc, charter: dev.charterHash, keys: citizen }).id
      const built = officer.record(
        'citizen.registered',
        id,
        {
          citizenKey: citizen.publicKey,
          nationality: 'DVB',
          consent: { purposes: ['consular-assistance'], version: 1 },
        },
        {
          salt: officer.salt(),
          names: { given: 'Bo', family: `Off${i}` },
          birth: { date: '1980-05-06' },
          travelDocument: { type: 'passport', number: `Q${2000 + i}`, issuer: 'DVB', expires: '2030-01-01' },
          contact: { email: `b${i}@example.org` },
        },
      )
      expect((await engine.submit([built]))[0]?.ok).toBe(true)
    }
    await engine.stop()
    await store.close()
    return { dir, charter: dev.files.charter, nodeId: engine.nodeId }
  }

  it('audits a clean store clean, and names a byte changed in a stored entry with exit 3', async () => {
    const { dir, charter, nodeId } = await storeDir(3)
    const clean = await legation(['audit', '--data-dir', dir, '--charter', charter, '--json'])
    expect(clean.code).toBe(0)
    expect(JSON.parse(clean.stdout)).toMatchObject({ mode: 'offline', findings: [], totals: { entries: 3 } })

    const store = await LevelStore.open(join(dir, 'db'))
    const bytes = (await readEntry(store, nodeId, 2))!
    bytes[12]! ^= 0x80
    const ops = await deleteEntryRows(store, nodeId, 2)
    putEntryRows(ops, nodeId, 2, bytes)
    await store.write(ops)
    await store.close()
    const r = await legation(['audit', '--data-dir', dir, '--charter', charter, '--json'])
    expect(r.code).toBe(3)
    expect(errorLines(r)).toEqual([expect.stringContaining('[AUDIT_FINDINGS]')])
    expect(JSON.parse(r.stdout).findings[0]).toMatchObject({
      kind: 'entry-signature',
      node: dir,
      feed: nodeId,
      seq: 2,
    })

    const bundle = join(dir, 'bundle.json')
    const exported = await legation([
      'audit',
      'export',
      '--out',
      bundle,
      '--data-dir',
      dir,
      '--charter',
      charter,
    ])
    expect(exported.code).toBe(3)
    const verified = await legation(['audit', 'verify-bundle', bundle, '--charter', charter, '--json'])
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout)[0]).toMatchObject({
      kind: 'entry-signature',
      seq: 2,
      verdict: 'shown',
    })
  })

  it('says in a notice that a store of a data format before 7 has no reads-logged list to compare yet', async () => {
    const { dir, charter } = await storeDir(1)
    const store = await LevelStore.open(join(dir, 'db'))
    // The store's data format mark (docs/operations.md), as a store written before format 7 has it.
    await store.write([{ type: 'put', key: 'meta/format', value: new TextEncoder().encode('6') }])
    await store.close()
    const r = await legation(['audit', '--data-dir', dir, '--charter', charter, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).notices).toEqual(
      expect.arrayContaining([
        "the reads-logged lists were not compared with the replay's: data format 6: a node lists them at its next start",
      ]),
    )
  })

  it('needs exactly one of --node and --data-dir, and --charter', async () => {
    const r = await legation(['audit', '--charter', '/nonexistent'])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toEqual([expect.stringContaining('[USAGE]')])
    expect((await legation(['audit', '--data-dir', '/tmp'])).code).toBe(2)
    expect((await legation(['audit', '--node', 'ftp://x', '--charter', 'c'])).code).toBe(2)
  })
})

/**
 * The secretariat's audit of a bloc of real node processes (`legation audit`, run in-process
 * against them): a clean bloc is audited clean, live and offline; and each of these is detected
 * and named — node, feed, entry, kind — with exit status 3: a byte changed in a stopped node's
 * stored entry; a node that rewrote an old entry of its own feed; a checkpoint whose root does
 * not match the entries; a record signed by an officer whose certificate was revoked before the
 * record's time. Where signed material proves it, the evidence bundle says so offline.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { deleteEntryRows, LevelStore, putEntryRows, readEntry, type Store } from '@legation/node'
import {
  certificateId,
  type EntryBody,
  encodeCanonical,
  encodeEntry,
  openEntry,
  signEntry,
  signRevocation,
  toBase64url,
} from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { legation } from '../src/admin.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface Finding {
  kind: string
  node: string
  nodes: string[]
  feed: string | null
  seq: number | null
  record?: string
  detail: string
}

/** A bloc of 3 nodes where nodes 0 and 1 took records, converged. */
async function bloc(): Promise<TestNetwork> {
  net = await TestNetwork.start({ nodes: 3 })
  await writeFile(
    join(net.dir, 'auditor.key.json'),
    JSON.stringify({ secretKey: toBase64url(net.auditorKeys.secretKey) }),
  )
  const officer = net.officer('DVA')
  for (const i of [0, 1, 2]) {
    for (let b = 0; b < 3; b++) {
      await submitBatch(
        net.nodes[i]!,
        Array.from({ length: 4 }, () => citizenRegistration(officer, 'DVB')),
      )
    }
  }
  await net.waitForConvergence()
  return net
}

const keyFile = (n: TestNetwork) => join(n.dir, 'auditor.key.json')

/** Waits until every node holds a bloc-final checkpoint of every feed at its full size. */
async function finalEverywhere(n: TestNetwork): Promise<void> {
  const auditor = n.auditor()
  for (const node of n.nodes) {
    const vv = (await node.info()).versionVector
    await expect
      .poll(
        async () => {
          const list = await node.get<{ checkpoints: Array<{ origin: string; final?: { size: number } }> }>(
            '/v1/audit/checkpoints',
            auditor,
          )
          return Object.entries(vv).every(
            ([o, size]) => list.checkpoints.find((c) => c.origin === o)?.final?.size === size,
          )
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe(true)
  }
}

async function auditLive(n: TestNetwork, extra: string[] = []) {
  const nodes = n.nodes.filter((x) => x.running).flatMap((x) => ['--node', x.url])
  const r = await legation([
    'audit',
    ...nodes,
    '--charter',
    n.charterFile,
    '--key',
    keyFile(n),
    '--json',
    ...extra,
  ])
  return {
    ...r,
    report: r.stdout
      ? (JSON.parse(r.stdout) as { findings: Finding[]; totals: Record<string, number> })
      : undefined,
  }
}

async function auditOffline(n: TestNetwork, node: TestNode) {
  const r = await legation(['audit', '--data-dir', node.dir, '--charter', n.charterFile, '--json'])
  return { ...r, report: JSON.parse(r.stdout) as { findings: Finding[]; totals: Record<string, number> } }
}

/** Stops a node, changes its store, starts it again (if asked). */
async function tamper(node: TestNode, change: (store: LevelStore) => Promise<void>, restart = true) {
  await node.stop()
  const store = await LevelStore.open(join(node.dir, 'db'))
  try {
    await change(store)
  } finally {
    await store.close()
  }
  if (restart) await node.start()
}

/** Stores other bytes as an entry, as one rewriting the store would. */
async function replaceEntry(store: Store, origin: string, seq: number, bytes: Uint8Array) {
  const ops = await deleteEntryRows(store, origin, seq)
  putEntryRows(ops, origin, seq, bytes)
  await store.write(ops)
}
const kinds = (findings: Finding[]) => findings.map((f) => `${f.kind} ${f.feed ?? '-'} ${f.seq ?? '-'}`)

describe('legation audit against real nodes', () => {
  it('audits a clean bloc clean, live (three nodes) and offline (a stopped node)', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    // The witnesses' bloc-final checkpoints are checked too: wait for them, so that the check is not empty.
    await finalEverywhere(n)
    const live = await auditLive(n)
    expect(live.report!.findings).toEqual([])
    expect(live.code).toBe(0)
    const checks = (live.report as unknown as { checks: Array<{ check: string; status: string }> }).checks
    expect(checks.find((c) => c.check === 'cosignature-quorum')!.status).toBe('ok')
    // Three feeds of three entries, each read from each of the three nodes.
    expect(live.report!.totals).toMatchObject({ nodes: 3, feeds: 3, records: 36 })

    await n.nodes[2]!.stop()
    const offline = await auditOffline(n, n.nodes[2]!)
    expect(offline.report.findings).toEqual([])
    expect(offline.code).toBe(0)
    expect(offline.report.totals).toMatchObject({ feeds: 3, entries: 9, records: 36 })
  })

  it('names a byte changed in a stopped node’s stored entry: offline, and live once it serves it', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    const [a, b] = n.nodes as [TestNode, TestNode]
    await tamper(
      b,
      async (store) => {
        const bytes = (await readEntry(store, a.nodeId, 2))!
        bytes[10]! ^= 0x01 // inside its signature
        await replaceEntry(store, a.nodeId, 2, bytes)
      },
      false,
    )
    const offline = await auditOffline(n, b)
    expect(offline.code).toBe(3)
    expect(offline.report.findings[0]).toMatchObject({
      kind: 'entry-signature',
      node: b.dir,
      feed: a.nodeId,
      seq: 2,
    })

    await b.start()
    const live = await auditLive(n)
    expect(live.code).toBe(3)
    const atB = live.report!.findings.filter((f) => f.node === b.nodeId)
    expect(kinds(atB)).toEqual(expect.arrayContaining([`entry-signature ${a.nodeId} 2`]))
    // Node b holds another entry 2 of a's feed than a and c: the place is named.
    expect(kinds(live.report!.findings)).toContain(`nodes-disagree ${a.nodeId} 2`)
  })

  it('names a node that rewrote an old entry of its own feed, and the bundle proves it', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    const a = n.nodes[0]!
    const state = join(n.dir, 'audit-state.json')
    expect((await auditLive(n, ['--state', state])).code).toBe(0)
    await tamper(a, async (store) => {
      const old = openEntry((await readEntry(store, a.nodeId, 2))!).entry
      const body: EntryBody = { ...old.body, hlc: [old.body.hlc[0], old.body.hlc[1] + 1] }
      await replaceEntry(store, a.nodeId, 2, encodeEntry(signEntry(ed, body, a.keys.secretKey)))
    })
    const live = await auditLive(n, ['--state', state])
    expect(live.code).toBe(3)
    const found = kinds(live.report!.findings)
    expect(found).toEqual(
      expect.arrayContaining([
        // The others hold the entry a signed first; a now serves another it signed for the same place.
        `equivocation ${a.nodeId} 2`,
        `chain-broken ${a.nodeId} 3`,
        // Its signed checkpoint still has the old root; its entries give another.
        `root-mismatch ${a.nodeId} -`,
        // And the checkpoint the last audit saw is no longer a prefix of what it serves.
        `checkpoint-inconsistent ${a.nodeId} -`,
      ]),
    )
    expect(live.report!.findings.find((f) => f.kind === 'checkpoint-inconsistent')!.node).toBe(a.nodeId)

    const bundle = join(n.dir, 'bundle.json')
    const nodes = n.nodes.flatMap((x) => ['--node', x.url])
    const exported = await legation([
      'audit',
      'export',
      '--out',
      bundle,
      ...nodes,
      '--charter',
      n.charterFile,
      '--key',
      keyFile(n),
      '--state',
      state,
    ])
    expect(exported.code).toBe(3)
    const verified = await legation(['audit', 'verify-bundle', bundle, '--charter', n.charterFile, '--json'])
    expect(verified.code).toBe(0)
    const verdicts = JSON.parse(verified.stdout) as Array<Finding & { verdict: string }>
    const proven = verdicts.filter((v) => v.verdict === 'proven').map((v) => `${v.kind} ${v.seq ?? '-'}`)
    // The root GET /v1/audit/feeds says is unsigned (observed); the checkpoint's is signed (proven).
    expect(proven).toEqual(
      expect.arrayContaining([
        'equivocation 2',
        'chain-broken 3',
        'root-mismatch -',
        'checkpoint-inconsistent -',
      ]),
    )
    expect(verdicts.filter((v) => v.verdict === 'unproven')).toEqual([])
  })

  it('names a checkpoint whose root does not match the entries, live and offline', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    const c = n.nodes[2]!
    // c's own feed has 3 entries: its tree is the subtree of entries 1–2 and the leaf of entry 3.
    await tamper(c, async (store) => {
      await store.write([
        {
          type: 'put',
          key: `mkt/${c.nodeId}/01/${'0'.padStart(12, '0')}`,
          value: new Uint8Array(32).fill(9),
        },
      ])
    })
    const live = await auditLive(n)
    expect(live.code).toBe(3)
    const mismatch = live.report!.findings.filter((f) => f.kind === 'root-mismatch' && f.node === c.nodeId)
    expect(mismatch.map((f) => f.feed)).toContain(c.nodeId)
    expect(mismatch.some((f) => f.detail.includes('signed checkpoint'))).toBe(true)

    await c.stop()
    const offline = await auditOffline(n, c)
    expect(offline.code).toBe(3)
    expect(kinds(offline.report.findings)).toEqual([`root-mismatch ${c.nodeId} -`])
  })

  it('names a checkpoint a stopped node keeps as bloc-final without a quorum of cosignatures', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    await finalEverywhere(n)
    const [a, b] = n.nodes as [TestNode, TestNode]
    // Node b's bloc-final checkpoint of a's feed, with the witnesses' cosignatures struck out.
    await tamper(
      b,
      async (store) => {
        const key = `ckpt/final/${a.nodeId}`
        const note = new TextDecoder().decode((await store.get(key))!)
        const [text, sigs] = note.split('\n\n') as [string, string]
        const own = sigs.split('\n').filter((l) => l.startsWith(`— legation/${n.bloc}/${a.nodeId} `))
        await store.write([
          { type: 'put', key, value: new TextEncoder().encode(`${text}\n\n${own.join('\n')}\n`) },
        ])
      },
      false,
    )
    const offline = await auditOffline(n, b)
    expect(offline.code).toBe(3)
    expect(kinds(offline.report.findings)).toEqual([`cosignature-quorum ${a.nodeId} -`])
    const bundle = join(n.dir, 'bundle.json')
    const args = ['audit', 'export', '--out', bundle, '--data-dir', b.dir, '--charter', n.charterFile]
    expect((await legation(args)).code).toBe(3)
    const verified = await legation(['audit', 'verify-bundle', bundle, '--charter', n.charterFile, '--json'])
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout)).toEqual([
      expect.objectContaining({ kind: 'cosignature-quorum', verdict: 'shown' }),
    ])
  })

  it('names a record signed by an officer whose certificate was revoked before the record’s time', {
    timeout: 60_000,
  }, async () => {
    const n = await bloc()
    const a = n.nodes[0]!
    const officer = n.officer('DVB')
    const record = citizenRegistration(officer, 'DVA')
    const [id] = await submitBatch(a, [record])
    // The state revokes the certificate from a moment before the record was signed.
    const revocation = signRevocation(
      ed,
      {
        type: 'revocation',
        bloc: n.bloc,
        state: 'DVB',
        cert: certificateId(officer.cert!),
        at: record.record.header.at - 1000,
        reason: 'key-compromise',
      },
      n.stateKeys.DVB!.secretKey,
    )
    expect(
      (await a.post('/v1/revocations', { revocation: toBase64url(encodeCanonical(revocation)) })).status,
    ).toBe(201)
    await n.waitForConvergence()

    const live = await auditLive(n)
    expect(live.code).toBe(3)
    const revoked = live.report!.findings.filter((f) => f.kind === 'record-revoked')
    expect(revoked).toEqual([
      expect.objectContaining({
        feed: a.nodeId,
        seq: 4,
        record: id,
        nodes: expect.arrayContaining([a.nodeId]),
      }),
    ])
    expect(revoked[0]!.nodes).toHaveLength(3)

    const bundle = join(n.dir, 'bundle.json')
    const nodes = n.nodes.flatMap((x) => ['--node', x.url])
    expect(
      (
        await legation([
          'audit',
          'export',
          '--out',
          bundle,
          ...nodes,
          '--charter',
          n.charterFile,
          '--key',
          keyFile(n),
        ])
      ).code,
    ).toBe(3)
    const verified = await legation(['audit', 'verify-bundle', bundle, '--charter', n.charterFile, '--json'])
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout)).toEqual([
      expect.objectContaining({ kind: 'record-revoked', record: id, verdict: 'proven' }),
    ])

    await n.nodes[1]!.stop()
    const offline = await auditOffline(n, n.nodes[1]!)
    expect(offline.code).toBe(3)
    expect(kinds(offline.report.findings)).toEqual([`record-revoked ${a.nodeId} 4`])
  })
})

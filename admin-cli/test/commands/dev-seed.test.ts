import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySigner } from '../../src/commands/officer-reads.ts'
import { loadKeyFile } from '../../src/key-file.ts'
import { NodeClient } from '../../src/node-client.ts'
import { devNode, ed, errorLines, legation, productionNode, type TestNode } from '../helpers.ts'

const nodes: TestNode[] = []
afterAll(async () => {
  for (const n of nodes.splice(0)) await n.close()
})
async function start(make: () => Promise<TestNode>) {
  const n = await make()
  nodes.push(n)
  return n
}

describe('legation dev seed', () => {
  let node: TestNode
  let summary: {
    sent: number
    accepted: number
    refused: number
    refusedByCode: Record<string, number>
    acceptedByKind: Record<string, number>
    seed: string
    batches: number
  }
  let stderr: string

  beforeAll(async () => {
    node = await start(devNode)
    // No --officer: the default is <LEGATION_DATA_DIR>/dev-secrets.json, where the dev node wrote it.
    const r = await legation(
      ['dev', 'seed', '--node', node.url, '--citizens', '30', '--seed', 'fixture', '--batch', '25', '--json'],
      { LEGATION_DATA_DIR: node.dir },
    )
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([])
    expect(r.code).toBe(0)
    summary = JSON.parse(r.stdout)
    stderr = r.stderr
  })

  it('creates the citizens and every other record, none refused', async () => {
    expect(summary.seed).toBe('fixture')
    expect(summary.refused).toBe(0)
    expect(summary.refusedByCode).toEqual({})
    expect(summary.accepted).toBe(summary.sent)
    expect(summary.acceptedByKind['citizen.registered']).toBe(30)
    expect(summary.acceptedByKind['presence.registered']).toBeGreaterThan(15)
    expect(summary.acceptedByKind['case.opened']).toBeGreaterThan(0)
    expect(summary.acceptedByKind['alert.issued']).toBeGreaterThanOrEqual(1)
    expect(summary.acceptedByKind['welfare.checkin']).toBeGreaterThan(0)
  })

  it('shows plain progress lines when stderr is not a terminal', () => {
    const lines = stderr.split('\n').filter((l) => l !== '')
    expect(lines.length).toBe(summary.batches)
    expect(summary.batches).toBeGreaterThanOrEqual(Math.ceil(summary.sent / 25))
    expect(lines.at(-1)).toBe(`seeding: ${summary.sent}/${summary.sent} records sent, 0 refused`)
  })

  it('the node serves all 30 to a signed officer search by nationality', async () => {
    const ids = new Set<string>()
    for (const nationality of ['DVA', 'DVB', 'DVC']) {
      const r = await legation([
        'citizen',
        'find',
        '--node',
        node.url,
        '--key',
        node.secrets,
        '--nationality',
        nationality,
        '--limit',
        '200',
        '--purpose',
        'legal-obligation',
      ])
      expect(r.stderr).toBe('')
      const { citizens } = JSON.parse(r.stdout) as {
        citizens: Array<{ id: string; nationality: string; names: { given: string } }>
      }
      for (const c of citizens) {
        expect(c.nationality).toBe(nationality)
        expect(c.names.given).toMatch(/^\p{Lu}\p{Ll}+$/u)
        ids.add(c.id)
      }
    }
    expect(ids.size).toBe(30)
  })

  it('opened cases are in the submitted queue, and a citizen’s file shows theirs', async () => {
    const r = await legation([
      'cases',
      '--node',
      node.url,
      '--key',
      node.secrets,
      '--state',
      'submitted',
      '--limit',
      '200',
    ])
    expect(r.code).toBe(0)
    const { cases } = JSON.parse(r.stdout) as { cases: Array<{ citizen: string; type: string }> }
    expect(cases).toHaveLength(summary.acceptedByKind['case.opened']!)
    const show = await legation([
      'citizen',
      'show',
      cases[0]!.citizen,
      '--node',
      node.url,
      '--key',
      node.secrets,
      '--purpose',
      'case-processing',
    ])
    expect(show.code).toBe(0)
    const file = JSON.parse(show.stdout)
    expect(file.cases.map((c: { type: string }) => c.type)).toContain(cases[0]!.type)
    expect(file.travelDocument.number).toMatch(/^DV\d{7}$/)
  })

  it('check-ins signed by the citizens themselves reach the crisis dashboard', async () => {
    const { alerts } = (await (await fetch(`${node.url}/v1/alerts`)).json()) as {
      alerts: Array<{ id: string }>
    }
    expect(alerts.length).toBe(summary.acceptedByKind['alert.issued'])
    let heard = 0
    for (const a of alerts) heard += await welfareHeard(node, a.id)
    expect(heard).toBe(summary.acceptedByKind['welfare.checkin'])
  })

  it('prints a human summary with the rate', async () => {
    const other = await start(devNode)
    const r = await legation([
      'dev',
      'seed',
      '--node',
      other.url,
      '--citizens',
      '3',
      '--officer',
      other.secrets,
      '--seed',
      'x',
    ])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^Seeded http:\/\/127\.0\.0\.1:\d+ \(bloc [0-9a-f]{12}…, charter v1\) from seed "x"$/m,
    )
    expect(r.stdout).toMatch(/^ {2}citizens {3}3 registered, \d present abroad, \d cases opened$/m)
    // Two: the citizens and the alert, then the check-ins that need them.
    expect(r.stdout).toMatch(
      /^ {2}records {4}\d+ sent in 2 batch\(es\): \d+ accepted, 0 duplicate, 0 refused$/m,
    )
    expect(r.stdout).toMatch(/^ {2}rate {7}(\d+ records\/s|n\/a) \(\d+\.\d\d s\)$/m)
  })

  it('draws a progress bar on a terminal', async () => {
    const other = await start(devNode)
    const r = await legation(
      ['dev', 'seed', '--node', other.url, '--citizens', '20', '--officer', other.secrets, '--batch', '10'],
      {},
      { tty: true },
    )
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/seeding \[[█░]+\] 100% \| (\d+)\/\1 records \| 0 refused/)
    expect(r.stderr).not.toContain('seeding:')
  })
})

/** Citizens heard from (safe or needing help) on an alert's dashboard, read as the dev officer. */
async function welfareHeard(node: TestNode, alert: string): Promise<number> {
  const client = new NodeClient({ url: node.url, fetch })
  const board = await client.get<{ counts: { safe: number; needsHelp: number } }>(
    `/v1/alerts/${alert}/welfare?purpose=crisis-response`,
    keySigner(ed, loadKeyFile(ed, node.secrets), Date.now),
  )
  return board.counts.safe + board.counts.needsHelp
}

describe('legation dev seed refuses', () => {
  it('a node that does not run a development bloc, before writing anything', async () => {
    const prod = await start(productionNode)
    const r = await legation([
      'dev',
      'seed',
      '--node',
      prod.url,
      '--citizens',
      '5',
      '--officer',
      prod.secrets,
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(/not a development bloc; .* \[NOT_DEV_BLOC\]$/m)
    expect(r.stderr).toContain('AT, BE')
    const info = await (await fetch(`${prod.url}/v1/node`)).json()
    expect(Object.values(info.versionVector).reduce((a: number, b) => a + (b as number), 0)).toBe(0)
  })

  it('an officer of another bloc', async () => {
    const a = await start(devNode)
    const b = await start(devNode)
    const r = await legation(['dev', 'seed', '--node', a.url, '--citizens', '1', '--officer', b.secrets])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toContain('[BLOC_MISMATCH]')
  })

  it('a missing officer file, naming it', async () => {
    const a = await start(devNode)
    const missing = join(a.dir, 'nope.json')
    const r = await legation(['dev', 'seed', '--node', a.url, '--citizens', '1', '--officer', missing])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: key file not found: ${missing} [FILE_NOT_FOUND]`])
  })

  it('a missing --citizens', async () => {
    const r = await legation(['dev', 'seed', '--node', 'http://127.0.0.1:9'])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toEqual(["error: required option '--citizens <n>' not specified"])
  })
})

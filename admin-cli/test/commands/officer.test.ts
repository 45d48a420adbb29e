import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { certificateId, type OfficerCertificate } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseTime } from '../../src/commands/officer.ts'
import { loadKeyFile } from '../../src/key-file.ts'
import { devNode, ed, errorLines, legation, submitAsOfficer, type TestNode } from '../helpers.ts'

const nodes: TestNode[] = []
afterAll(async () => {
  for (const n of nodes.splice(0)) await n.close()
})
async function start() {
  const n = await devNode()
  nodes.push(n)
  return n
}

/** The development officer (of DVA) that a dev node writes to dev-secrets.json. */
function devOfficer(node: TestNode) {
  const key = loadKeyFile(ed, node.secrets)
  const cert = key.cert as OfficerCertificate
  return { ...key, cert, id: certificateId(cert) }
}

/** Every secret key in a dev-secrets.json, to check none is ever printed. */
function secretsIn(path: string): string[] {
  const file = JSON.parse(readFileSync(path, 'utf8'))
  return [...Object.values(file.states as Record<string, string>), file.auditor, file.officer.secretKey]
}

async function revocations(node: TestNode) {
  const r = await legation(['officer', 'revocations', '--node', node.url, '--json'])
  expect(r.code).toBe(0)
  return (JSON.parse(r.stdout) as { revocations: Array<{ cert: string; state: string; at: number }> })
    .revocations
}

describe('legation officer revoke', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await start()
  })

  it('revokes the officer: their new records are refused CERT_REVOKED, and the list shows it', async () => {
    const officer = devOfficer(node)
    expect(await submitAsOfficer(node)).toEqual({ status: 201 })
    const empty = await legation(['officer', 'revocations', '--node', node.url])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toBe(`No revoked officer certificates known to ${node.url}\n`)

    const args = ['--node', node.url, '--state-key', node.secrets, '--state', 'DVA']
    const r = await legation(['officer', 'revoke', ...args, '--officer-key', node.secrets])
    expect(errorLines(r)).toEqual([])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(`Revoked      certificate of DVA at ${node.url}`)
    expect(lines[1]).toBe(`Certificate  ${officer.id}`)
    expect(lines[2]).toBe('State        DVA')
    expect(lines[3]).toMatch(/^From {9}\d{4}-\d\d-\d\dT[\d:.]+Z \(\d+\)$/)
    expect(lines[4]).toBe('Reason       key-compromise')
    expect(lines[5]).toBe('Status       new: the node stored it and passes it to every node of the bloc')
    expect(lines).toHaveLength(6)
    for (const secret of secretsIn(node.secrets)) {
      expect(r.stdout + r.stderr).not.toContain(secret)
    }

    expect(await submitAsOfficer(node)).toEqual({ status: 401, code: 'CERT_REVOKED' })

    const [listed, ...more] = await revocations(node)
    expect(more).toEqual([])
    expect(listed).toMatchObject({ cert: officer.id, state: 'DVA', reason: 'key-compromise' })
    expect(lines[3]).toBe(`From         ${new Date(listed!.at).toISOString()} (${listed!.at})`)
    const table = await legation(['officer', 'revocations', '--node', node.url])
    expect(table.stdout.split('\n')).toEqual([
      `1 revoked officer certificate(s) known to ${node.url}`,
      '',
      `STATE  CERTIFICATE${' '.repeat(53)}  FROM${' '.repeat(20)}  REASON`,
      `DVA    ${officer.id}  ${new Date(listed!.at).toISOString()}  key-compromise`,
      '',
    ])

    // The same revocation again (same time) is not new; a later one leaves the earlier in force.
    const again = await legation([
      'officer',
      'revoke',
      ...args,
      '--cert',
      officer.id,
      '--at',
      String(listed!.at),
      '--json',
    ])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({
      node: node.url,
      new: false,
      cert: officer.id,
      at: listed!.at,
    })
    const later = await legation([
      'officer',
      'revoke',
      ...args,
      '--cert',
      officer.id,
      '--at',
      new Date(listed!.at + 3_600_000).toISOString(),
      '--reason',
      'ceased',
    ])
    expect(later.code).toBe(0)
    expect(later.stdout).toContain(`From         ${new Date(listed!.at).toISOString()}`)
    expect(later.stdout).toContain('Reason       key-compromise')
    expect(later.stdout).toContain(
      'Status       not new: a revocation of this certificate from the same or an earlier time is in force, and stays so',
    )
    expect(await revocations(node)).toEqual([listed])
  })
})

describe('legation officer revoke with another state’s key', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await start()
  })

  it('refuses, before sending anything, to revoke a certificate it can see another state issued', async () => {
    const r = await legation([
      'officer',
      'revoke',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--state',
      'DVB',
      '--officer-key',
      node.secrets,
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: the certificate in ${node.secrets} was issued by DVA; a revocation by DVB would not count against it [STATE_MISMATCH]`,
    ])
    expect(await revocations(node)).toEqual([])
    expect(await submitAsOfficer(node)).toEqual({ status: 201 })
  })

  it('by certificate id, the node keeps it as that state’s, says so, and the officer still signs', async () => {
    const officer = devOfficer(node)
    const r = await legation([
      'officer',
      'revoke',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--state',
      'DVB',
      '--cert',
      officer.id,
    ])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('State        DVB\n')
    expect(r.stdout).toContain(
      "Counts only  if DVB issued this certificate: another state's revocation is ignored\n",
    )
    expect(await revocations(node)).toEqual([expect.objectContaining({ cert: officer.id, state: 'DVB' })])
    expect(await submitAsOfficer(node)).toEqual({ status: 201 })
  })
})

describe('--at', () => {
  it('takes milliseconds, a date (midnight UTC) or a time with its zone; not a time without one', () => {
    expect(parseTime('1796168081700')).toBe(1796168081700)
    expect(parseTime('2026-12-01')).toBe(Date.UTC(2026, 11, 1))
    expect(parseTime('2026-12-01T09:00:00+01:00')).toBe(Date.UTC(2026, 11, 1, 8))
    expect(parseTime('2026-12-01T09:00:00.250Z')).toBe(Date.UTC(2026, 11, 1, 9, 0, 0, 250))
    for (const bad of ['2026-12-01T09:00', 'yesterday', '-1', '2026-13-01', '99999999999999999']) {
      expect(() => parseTime(bad), bad).toThrow(/ISO 8601/)
    }
  })
})

describe('legation officer revoke: mistakes', () => {
  let node: TestNode
  let cert: string
  beforeAll(async () => {
    node = await start()
    cert = devOfficer(node).id
  })
  const revoke = (...more: string[]) => legation(['officer', 'revoke', '--node', node.url, ...more])

  it('a missing state key file', async () => {
    const path = join(node.dir, 'no-such.json')
    const r = await revoke('--state-key', path, '--state', 'DVA', '--cert', cert)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: state key file not found: ${path} [FILE_NOT_FOUND]`])
  })

  it('a state that is not in the file, or no state where the file holds several', async () => {
    const r = await revoke('--state-key', node.secrets, '--state', 'DVX', '--cert', cert)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: ${node.secrets} holds no key of DVX (it holds DVA, DVB, DVC) [STATE_KEY_NOT_FOUND]`,
    ])
    const none = await revoke('--state-key', node.secrets, '--cert', cert)
    expect(none.code).toBe(2)
    expect(errorLines(none)).toEqual([
      `error: ${node.secrets} holds the keys of DVA, DVB, DVC: say which with --state [USAGE]`,
    ])
  })

  it('a bad certificate id, or not exactly one of --cert and --officer-key', async () => {
    const bad = await revoke('--state-key', node.secrets, '--state', 'DVA', '--cert', 'ABC')
    expect(bad.code).toBe(2)
    expect(errorLines(bad)).toEqual([
      "error: option '--cert <id>' argument 'ABC' is invalid. expected a certificate id (64 lower-case hex characters)",
    ])
    const neither = await revoke('--state-key', node.secrets, '--state', 'DVA')
    expect(neither.code).toBe(2)
    expect(errorLines(neither)).toEqual(['error: give exactly one of --cert, --officer-key [USAGE]'])
    const both = await revoke(
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--cert',
      cert,
      '--officer-key',
      node.secrets,
    )
    expect(both.code).toBe(2)
    expect(await revocations(node)).toEqual([])
  })

  it('a bad time, reason, or no node', async () => {
    const at = await revoke(
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--cert',
      cert,
      '--at',
      '2026-12-01 09:00',
    )
    expect(at.code).toBe(2)
    expect(at.stderr).toContain('an ISO 8601 time with Z or an offset')
    const reason = await revoke(
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--cert',
      cert,
      '--reason',
      'lost',
    )
    expect(reason.code).toBe(2)
    expect(reason.stderr).toContain('Allowed choices are key-compromise, superseded, ceased')
    const noNode = await legation([
      'officer',
      'revoke',
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--cert',
      cert,
    ])
    expect(noNode.code).toBe(2)
    expect(errorLines(noNode)).toEqual(["error: required option '--node <url>' not specified"])
  })

  it('a damaged file, or an officer’s key file, is reported without its contents', async () => {
    const file = join(node.dir, 'broken.json')
    const secret = 'b'.repeat(63)
    await writeFile(file, `{ "state": "DVA", "secretKey": "${secret}"`)
    const r = await revoke('--state-key', file, '--cert', cert)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: state key file ${file}: not JSON [KEY_FILE_INVALID]`])
    // An officer's key file given as the state's key: refused, its secret not shown.
    const officerFile = join(node.dir, 'officer.json')
    const dev = JSON.parse(readFileSync(node.secrets, 'utf8'))
    await writeFile(officerFile, JSON.stringify({ state: 'DVA', ...dev.officer }))
    const o = await revoke('--state-key', officerFile, '--cert', cert)
    expect(o.code).toBe(1)
    expect(errorLines(o)).toEqual([
      `error: state key file ${officerFile}: an officer's key file (it has a certificate), not a state key [KEY_FILE_INVALID]`,
    ])
    expect(o.stderr).not.toContain(dev.officer.secretKey)
  })

  it('an unreachable node', async () => {
    const r = await legation([
      'officer',
      'revoke',
      '--node',
      'http://127.0.0.1:9',
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--cert',
      cert,
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:9: .+ \[NODE_UNREACHABLE\]$/m)
  })

  it('a key that is not the state’s: the node’s refusal, with its code', async () => {
    const key = join(node.dir, 'not-dva.key.json')
    expect(
      (
        await legation([
          'keys',
          'generate',
          '--role',
          'state',
          '--state',
          'DVA',
          '--insecure-plaintext',
          '--out',
          key,
        ])
      ).code,
    ).toBe(0)
    const r = await revoke('--state-key', key, '--state', 'DVA', '--cert', cert)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: POST ${node.url}/v1/revocations: 401 CERT_INVALID: revocation is not signed by its state key (is ${key} the current key of DVA, a member of the node's bloc?) [NODE_REFUSED]`,
    ])
    // A state the bloc does not have.
    const atKey = join(node.dir, 'at.key.json')
    const made = await legation([
      'keys',
      'generate',
      '--role',
      'state',
      '--state',
      'AT',
      '--insecure-plaintext',
      '--out',
      atKey,
    ])
    expect(made.code).toBe(0)
    const other = await revoke('--state-key', atKey, '--cert', cert)
    expect(other.code).toBe(1)
    expect(other.stderr).toContain('401 CERT_INVALID: AT is not a member state')
    expect(await revocations(node)).toEqual([])
  })
})

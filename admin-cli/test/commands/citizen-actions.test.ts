/**
 * The citizen and officer action commands (citizen enrol…status, case, alert, welfare) on one
 * real node HTTP app on loopback: what a person reads, what a script reads (--json), and the
 * command line checked before anything is sent. Failover between real node processes is in
 * test-network/test/cli-actions.test.ts.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devNode, errorLines, legation, type TestNode } from '../helpers.ts'

/** What `citizen enrol` needs to know of Ana (test data). */
const ANA = [
  '--nationality',
  'DVB',
  '--given',
  'Ana',
  '--family',
  'Novak',
  '--birth-date',
  '1990-04-12',
  '--document-number',
  'X1234567',
  '--document-expires',
  '2031-06-30',
]

describe('citizen and officer actions', () => {
  let node: TestNode
  let key: string
  let passphraseFile: string
  let citizen: string
  beforeAll(async () => {
    node = await devNode()
    key = join(node.dir, 'ana.key.json')
    passphraseFile = join(node.dir, 'ana.passphrase')
    writeFileSync(passphraseFile, 'correct horse battery\n', { mode: 0o600 })
    const r = await legation([
      'citizen',
      'enrol',
      '--node',
      node.url,
      '--key',
      key,
      '--passphrase-file',
      passphraseFile,
      ...ANA,
    ])
    expect(r.code, r.stderr).toBe(0)
    // The one key file format, sealed under the passphrase: no secret in the clear.
    const file = JSON.parse(readFileSync(key, 'utf8')) as Record<string, unknown>
    expect(file).toMatchObject({ v: 1, role: 'citizen' })
    expect(file.ciphertext).toBeTypeOf('string')
    expect(file.secretKey).toBeUndefined()
    expect(file.plaintext).toBeUndefined()
    expect(statSync(key).mode & 0o777).toBe(0o600)
    citizen = /^Enrolled {2}citizen ([0-9a-f]{32}) of DVB at /m.exec(r.stdout)![1]!
  })
  afterAll(() => node.close())

  const officer = () => ['--node', node.url, '--key', node.secrets]
  const mine = () => ['--node', node.url, '--key', key, '--passphrase-file', passphraseFile]

  it('a sealed citizen key opens only with its passphrase', async () => {
    const none = await legation(['citizen', 'status', '--node', node.url, '--key', key])
    expect(errorLines(none)[0]).toContain('[KEY_PASSPHRASE_REQUIRED]')
    const wrong = join(node.dir, 'wrong.passphrase')
    writeFileSync(wrong, 'not the passphrase\n')
    const locked = await legation([
      'citizen',
      'status',
      '--node',
      node.url,
      '--key',
      key,
      '--passphrase-file',
      wrong,
    ])
    expect(errorLines(locked)[0]).toContain('[KEY_FILE_LOCKED]')
    const env = await legation(['citizen', 'status', '--node', node.url, '--key', key], {
      LEGATION_KEY_PASSPHRASE: 'correct horse battery',
    })
    expect(env.code, env.stderr).toBe(0)
  })

  it('enrol says who the citizen is and where the key is, and prints no personal data', async () => {
    const r = await legation(['citizen', 'status', ...mine()])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Citizen   ${citizen} of DVB (as ${node.url} has it)`)
    expect(r.stdout).toContain('Presence  none')
    expect(r.stdout).not.toContain('Novak')
  })

  it('presence, an alert for the region, a check-in found from the presence, the welfare board', async () => {
    const p = await legation(['citizen', 'presence', ...mine(), '--country', 'KE', '--region', 'Nairobi'])
    expect(p.code, p.stderr).toBe(0)
    const a = await legation([
      'alert',
      'issue',
      ...officer(),
      '--country',
      'KE',
      '--region',
      'Nairobi',
      '--severity',
      'warning',
      '--title',
      'Floods',
      '--message',
      'Stay indoors.',
    ])
    expect(a.code, a.stderr).toBe(0)
    const alert = /^Alert {3}([0-9a-f]{64}) \(accepted\)$/m.exec(a.stdout)![1]!
    expect(a.stdout).toContain(`Issued  warning alert for KE, Nairobi at ${node.url}`)

    const list = await legation(['alert', 'list', '--node', node.url, '--country', 'KE', '--json'])
    expect(JSON.parse(list.stdout).alerts.map((x: { id: string }) => x.id)).toEqual([alert])

    const c = await legation(['citizen', 'checkin', ...mine(), '--status', 'safe'])
    expect(c.code, c.stderr).toBe(0)
    expect(c.stdout).toContain(`Checked in  as safe for alert ${alert} at ${node.url}`)

    const w = await legation(['welfare', ...officer(), '--json'])
    expect(w.code, w.stderr).toBe(0)
    const { boards } = JSON.parse(w.stdout)
    expect(boards).toHaveLength(1)
    expect(boards[0]).toMatchObject({ counts: { safe: 1, needsHelp: 0, notHeard: 0 }, safe: [citizen] })

    const s = await legation(['citizen', 'status', ...mine()])
    expect(s.stdout).toMatch(/^Presence {2}KE, Nairobi, from \d{4}-/m)
    expect(s.stdout).toContain(`  ${alert}  safe`)
  })

  it('apply, the queue, move and show; withdraw only what the state machine lets a citizen withdraw', async () => {
    const a = await legation(['citizen', 'apply', ...mine(), '--type', 'document-attestation', '--json'])
    expect(a.code, a.stderr).toBe(0)
    const { case: id } = JSON.parse(a.stdout) as { case: string }

    const q = await legation(['case', 'list', ...officer()])
    expect(q.stdout).toMatch(/^CASE\s+TYPE\s+STATE\s+CITIZEN\s+UPDATED$/m)
    expect(q.stdout).toMatch(new RegExp(`^${id}\\s+document-attestation\\s+submitted\\s+${citizen}\\s`, 'm'))

    // A guard that does not hold: the case is submitted, not in review.
    const guarded = await legation([
      'case',
      'move',
      id,
      '--from',
      'in-review',
      '--to',
      'approved',
      ...officer(),
    ])
    expect(errorLines(guarded)).toEqual([
      `error: case ${id} is submitted, not in-review [TRANSITION_NOT_ALLOWED]`,
    ])
    const m = await legation(['case', 'move', id, '--to', 'in-review', '--note', 'checking', ...officer()])
    expect(m.code, m.stderr).toBe(0)
    const show = await legation(['case', 'show', id, ...officer()])
    expect(show.stdout).toMatch(/^State\s+in-review$/m)
    expect(show.stdout).toMatch(/submitted → in-review\s+by DVA$/m)

    const w = await legation(['citizen', 'withdraw', ...mine(), '--case', id])
    expect(errorLines(w)).toEqual([
      'error: a citizen may not move a case from in-review to withdrawn (from in-review: none) [TRANSITION_NOT_ALLOWED]',
    ])
    await legation(['case', 'move', id, '--to', 'needs-info', ...officer()])
    const w2 = await legation(['citizen', 'withdraw', ...mine(), '--case', id])
    expect(w2.code, w2.stderr).toBe(0)
    expect(w2.stdout).toContain(`Withdrew case ${id} (was needs-info)`)
    const mineNow = await legation(['citizen', 'status', ...mine(), '--case', id, '--json'])
    expect(JSON.parse(mineNow.stdout)).toMatchObject({ id, state: 'withdrawn' })
  })

  it('a case move the node refuses keeps the node’s code', async () => {
    // A citizen's key file as an officer's: refused before any request.
    const r = await legation(['case', 'list', '--node', node.url, '--key', key])
    expect(errorLines(r)).toEqual([
      `error: ${key} holds no officer certificate (a citizen's key file?) [KEY_FILE_INVALID]`,
    ])
    // An unknown case at the node: its 404, passed on.
    const u = await legation(['case', 'show', 'a'.repeat(64), ...officer()])
    expect(u.code).toBe(1)
    expect(errorLines(u)).toEqual([
      `error: GET ${node.url}/v1/cases/${'a'.repeat(64)}?purpose=case-processing: 404 NOT_FOUND: no such case [NODE_REFUSED]`,
    ])
  })

  it('takes several nodes from --node and LEGATION_NODE_URL, and refuses a bad one before sending', async () => {
    const twice = await legation(['alert', 'list', '--node', 'http://127.0.0.1:9', '--node', node.url])
    expect(twice.code, twice.stderr).toBe(0)
    expect(twice.stderr).toMatch(
      /^note: http:\/\/127\.0\.0\.1:9 did not answer \(.+\); trying http:\/\/127\.0\.0\.1:\d+\n$/,
    )
    const env = await legation(['alert', 'list'], { LEGATION_NODE_URL: `http://127.0.0.1:9, ${node.url}` })
    expect(env.code, env.stderr).toBe(0)
    const bad = await legation(['alert', 'list', '--node', `${node.url},ftp://x`])
    expect(bad.code).toBe(2)
    expect(errorLines(bad)).toEqual([
      'error: a node URL is http:// or https://, not ftp:// [NODE_URL_INVALID]',
    ])
  })

  it('enrol --existing registers a key file an earlier enrol wrote, once', async () => {
    // A key file whose registration never reached a node (made here by keys generate).
    const file = join(node.dir, 'later.key.json')
    expect(
      (await legation(['keys', 'generate', '--role', 'citizen', '--insecure-plaintext', '--out', file])).code,
    ).toBe(0)
    const first = await legation([
      'citizen',
      'enrol',
      '--node',
      node.url,
      '--key',
      file,
      ...ANA,
      '--existing',
    ])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/^Record {4}[0-9a-f]{64} \(accepted\)$/m)
    // Again (as after an answer that was lost): already enrolled, nothing sent.
    const again = await legation([
      'citizen',
      'enrol',
      '--node',
      node.url,
      '--key',
      file,
      ...ANA,
      '--existing',
      '--json',
    ])
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ nationality: 'DVB', status: 'enrolled' })
  })

  it('a value the record schema refuses is a usage error naming the field, and writes no key file', async () => {
    const file = join(node.dir, 'typo.key.json')
    const r = await legation([
      'citizen',
      'enrol',
      '--node',
      node.url,
      '--key',
      file,
      '--insecure-plaintext',
      ...ANA,
      '--email',
      'ana-at-example.org',
    ])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(
      /^error: not a valid citizen\.registered record: \/contact\/email: .* \[USAGE\]$/m,
    )
    expect(r.stderr).not.toContain('ana-at-example.org')
    expect(existsSync(file)).toBe(false)
  })

  it('a write concern no other node can meet: the record is stored, the script is told (exit 1)', async () => {
    const r = await legation([
      'citizen',
      'presence',
      ...mine(),
      '--country',
      'TH',
      '--region',
      'Phuket',
      '--write-concern',
      '1',
      '--json',
    ])
    expect(r.code).toBe(1)
    const out = JSON.parse(r.stdout) as {
      record: string
      status: string
      writeConcernMet: boolean
      replicas: []
    }
    expect(out).toMatchObject({ status: 'accepted', writeConcern: 1, writeConcernMet: false, replicas: [] })
    expect(errorLines(r)).toEqual([
      `error: ${node.url} stored record ${out.record} durably, but fewer than 1 other node(s) confirmed it in time; it keeps replicating (send it again to collect their receipts) [WRITE_CONCERN_NOT_MET]`,
    ])
    const s = await legation(['citizen', 'status', ...mine()])
    expect(s.stdout).toMatch(/^Presence {2}TH, Phuket, from /m)
  })

  it('who read my data, my export, and my erasure — refused while a case of mine is open', async () => {
    const bea = join(node.dir, 'bea.key.json')
    const e = await legation([
      'citizen',
      'enrol',
      '--node',
      node.url,
      '--key',
      bea,
      '--insecure-plaintext',
      ...ANA,
      '--given',
      'Bea',
    ])
    expect(e.code, e.stderr).toBe(0)
    // Plaintext only with the loud development flag.
    expect(e.stderr).toContain('UNENCRYPTED (--insecure-plaintext)')
    const id = /^Enrolled {2}citizen ([0-9a-f]{32}) /m.exec(e.stdout)![1]!
    const hers = ['--node', node.url, '--key', bea]
    expect((await legation(['citizen', 'reads', ...hers])).stdout).toContain('No officer has read your data.')
    const read = await legation(['citizen', 'show', id, ...officer(), '--purpose', 'consular-assistance'])
    expect(read.code, read.stderr).toBe(0)
    const reads = await legation(['citizen', 'reads', ...hers])
    expect(reads.stdout).toMatch(/^WHEN\s+STATE\s+OFFICER\s+PURPOSE\s+SHOWN$/m)
    expect(reads.stdout).toMatch(/\sDVA\s+[0-9a-f]{16}\s+consular-assistance\s+file$/m)

    const out = join(node.dir, 'bea-export.json')
    const x = await legation(['citizen', 'export', ...hers, '--out', out, '--json'])
    expect(x.code, x.stderr).toBe(0)
    expect(JSON.parse(x.stdout)).toMatchObject({ out, records: 2, reads: 1 })
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(readFileSync(out, 'utf8')).toContain('Bea')
    expect(errorLines(await legation(['citizen', 'export', ...hers, '--out', out]))[0]).toContain(
      '[FILE_EXISTS]',
    )

    expect(errorLines(await legation(['citizen', 'erase', ...hers]))).toEqual([
      'error: erasing cannot be undone: add --yes [USAGE]',
    ])
    const applied = await legation(['citizen', 'apply', ...hers, '--type', 'document-attestation', '--json'])
    const { case: caseId } = JSON.parse(applied.stdout) as { case: string }
    const held = await legation(['citizen', 'erase', ...hers, '--yes'])
    expect(held.code).toBe(1)
    expect(held.stderr).toContain('RECORD_LEGAL_HOLD')
    expect((await legation(['citizen', 'withdraw', ...hers, '--case', caseId])).code).toBe(0)
    const erased = await legation(['citizen', 'erase', ...hers, '--yes', '--json'])
    expect(erased.code, erased.stderr).toBe(0)
    const file = await legation(['citizen', 'show', id, ...officer(), '--purpose', 'legal-obligation'])
    expect(JSON.parse(file.stdout)).toMatchObject({ erased: true, names: null, travelDocument: null })
  })

  it('checks the command line before anything is sent', async () => {
    const top = await legation(['--help'])
    for (const cmd of ['citizen', 'case', 'alert', 'welfare'])
      expect(top.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'))
    const r = await legation(['citizen', 'apply', ...mine(), '--type', 'visa'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Allowed choices are passport-renewal')
    const noKey = await legation(['citizen', 'status', '--node', node.url])
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain("required option '--key <file>' not specified")
    for (const cmd of [
      ['citizen', 'enrol'],
      ['citizen', 'checkin'],
      ['case', 'move'],
      ['alert', 'issue'],
      ['welfare'],
    ]) {
      const help = await legation([...cmd, '--help'])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain('--json')
      expect(help.stdout).toContain('--node <url>')
    }
  })
})

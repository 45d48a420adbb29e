/**
 * The citizen and officer commands of the `legation` CLI as a user drives them, against a bloc
 * of three real node processes: a citizen enrols and applies at node 1, an officer of another
 * state moves the case at node 2, the citizen sees the new state at node 3 — and still does
 * once node 1 is gone, through `--node` failover. A crisis alert, a check-in at one node, and
 * the welfare board at another.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeCanonical, toBase64url } from '@legation/protocol'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { legation } from '../src/admin.ts'
import { eventually } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'

let net: TestNetwork | undefined
let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-cli-actions-'))
})
afterEach(async () => {
  await net?.stop()
  net = undefined
  await rm(dir, { recursive: true, force: true })
})

/** An officer key file of `state`, in the format the CLI reads (as `npm run testnet` writes it). */
async function officerFile(n: TestNetwork, state: string, roles?: Array<'registrar' | 'consul' | 'crisis'>) {
  const officer = n.officer(state, roles)
  const file = join(dir, `officer-${state}.json`)
  await writeFile(
    file,
    JSON.stringify({
      bloc: n.bloc,
      officer: {
        state,
        secretKey: toBase64url(officer.keys.secretKey),
        cert: toBase64url(encodeCanonical(officer.cert)),
      },
    }),
    { mode: 0o600 },
  )
  return file
}

/** Runs the CLI; expects exit 0 and returns its --json output. */
async function json<T>(argv: string[]): Promise<T> {
  const r = await legation([...argv, '--json'])
  expect(r.code, `legation ${argv.join(' ')}\n${r.stderr}`).toBe(0)
  return JSON.parse(r.stdout) as T
}

/** Runs the CLI until it exits 0 (what it needs has replicated to that node). */
function until(what: string, argv: string[], timeoutMs = 30_000) {
  return eventually(
    what,
    async () => {
      const r = await legation(argv)
      return r.code === 0 ? r : undefined
    },
    timeoutMs,
  )
}

const enrolArgs = (node: string, key: string, nationality: string) => [
  'citizen',
  'enrol',
  '--insecure-plaintext',
  '--node',
  node,
  '--key',
  key,
  '--nationality',
  nationality,
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
  '--email',
  'ana@example.org',
]

it('a citizen enrols and applies at node 1, an officer of another state moves the case at node 2, the citizen sees it at node 3 and after node 1 is gone', {
  timeout: 180_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [n1, n2, n3] = net.nodes as [TestNode, TestNode, TestNode]
  expect([n1.state, n2.state, n3.state]).toEqual(['DVA', 'DVB', 'DVC'])
  const key = join(dir, 'ana.key.json')

  const enrolled = await json<{ citizen: string; status: string; node: string; keyFile: string }>(
    enrolArgs(n1.url, key, 'DVA'),
  )
  expect(enrolled).toMatchObject({ status: 'accepted', node: n1.url, keyFile: key })
  expect((await stat(key)).mode & 0o777).toBe(0o600)
  // Enrolling again into the same file is refused: it may be the only copy of a key.
  const again = await legation(enrolArgs(n1.url, key, 'DVA'))
  expect(again.code).toBe(1)
  expect(again.stderr).toMatch(/^error: .* \[FILE_EXISTS\]\n$/)

  const applied = await json<{ case: string; state: string }>([
    'citizen',
    'apply',
    '--node',
    n1.url,
    '--key',
    key,
    '--type',
    'emergency-travel-document',
    '--details',
    'passport stolen in Nairobi',
  ])
  expect(applied.state).toBe('submitted')
  const caseId = applied.case

  // An officer of DVB, at node 2: the queue, then two moves.
  const officer = await officerFile(net, 'DVB')
  const shown = await until('the case at node 2', [
    'case',
    'show',
    caseId,
    '--node',
    n2.url,
    '--key',
    officer,
  ])
  expect(shown.stdout).toMatch(/^State\s+submitted$/m)
  const queue = await json<{ cases: Array<{ id: string }> }>([
    'case',
    'list',
    '--node',
    n2.url,
    '--key',
    officer,
  ])
  expect(queue.cases.map((c) => c.id)).toContain(caseId)
  // Acknowledged only once both other nodes stored the move: their signed receipts come back.
  const review = await json<{
    from: string
    to: string
    status: string
    writeConcernMet: boolean
    replicas: Array<{ record: string; node: string }>
  }>([
    'case',
    'move',
    caseId,
    '--to',
    'in-review',
    '--node',
    n2.url,
    '--key',
    officer,
    '--write-concern',
    '2',
  ])
  expect(review).toMatchObject({
    from: 'submitted',
    to: 'in-review',
    status: 'accepted',
    writeConcernMet: true,
  })
  expect(new Set(review.replicas.map((r) => r.node))).toEqual(new Set([n1.nodeId, n3.nodeId]))
  // Not a move the state machine has: refused before anything is signed, one line, its code.
  const skip = await legation(['case', 'move', caseId, '--to', 'issued', '--node', n2.url, '--key', officer])
  expect(skip.code).toBe(1)
  expect(skip.stderr).toBe(
    'error: an officer may not move a case from in-review to issued (from in-review: needs-info, approved, rejected) [TRANSITION_NOT_ALLOWED]\n',
  )
  const approved = await legation([
    'case',
    'move',
    caseId,
    '--from',
    'in-review',
    '--to',
    'approved',
    '--node',
    n2.url,
    '--key',
    officer,
  ])
  expect(approved.code, approved.stderr).toBe(0)
  expect(approved.stdout).toContain(`Moved case ${caseId} from in-review to approved at ${n2.url}`)

  // The citizen, at node 3.
  const status = await eventually(
    'the approval at node 3',
    async () => {
      const r = await legation(['citizen', 'status', '--node', n3.url, '--key', key, '--case', caseId])
      return r.code === 0 && /^State\s+approved$/m.test(r.stdout) ? r : undefined
    },
    30_000,
  )
  expect(status.stdout).toMatch(/submitted → in-review\s+by DVB/)
  expect(status.stdout).toMatch(/in-review → approved\s+by DVB/)

  // Node 1, where the citizen enrolled, goes down: their list of nodes carries them on.
  await n1.kill()
  const file = await legation(['citizen', 'status', '--node', `${n1.url},${n3.url}`, '--key', key, '--json'])
  expect(file.code, file.stderr).toBe(0)
  expect(file.stderr).toContain(`note: ${n1.url} did not answer`)
  const mine = JSON.parse(file.stdout) as { id: string; cases: Array<{ id: string; state: string }> }
  expect(mine.id).toBe(enrolled.citizen)
  expect(mine.cases).toEqual([expect.objectContaining({ id: caseId, state: 'approved' })])
  // Writes too: the citizen withdraws nothing approved (the state machine says no) …
  const withdraw = await legation([
    'citizen',
    'withdraw',
    '--node',
    n1.url,
    '--node',
    n3.url,
    '--key',
    key,
    '--case',
    caseId,
  ])
  expect(withdraw.code).toBe(1)
  expect(withdraw.stderr).toMatch(
    /a citizen may not move a case from approved to withdrawn.*\[TRANSITION_NOT_ALLOWED\]\n$/,
  )
  // … but applies again through node 1 then 3, and withdraws that one.
  const second = await json<{ case: string; node: string }>([
    'citizen',
    'apply',
    '--node',
    `${n1.url},${n3.url}`,
    '--key',
    key,
    '--type',
    'passport-renewal',
  ])
  expect(second.node).toBe(n3.url)
  const withdrawn = await json<{ from: string; to: string }>([
    'citizen',
    'withdraw',
    '--node',
    `${n1.url},${n3.url}`,
    '--key',
    key,
    '--case',
    second.case,
  ])
  expect(withdrawn).toMatchObject({ from: 'submitted', to: 'withdrawn' })

  // Every node of the list down: one line, its code.
  await n3.kill()
  const none = await legation(['citizen', 'status', '--node', `${n1.url},${n3.url}`, '--key', key])
  expect(none.code).toBe(1)
  expect(none.stderr).toMatch(/^error: no node answered GET \/v1\/node: .* \[NODE_UNREACHABLE\]\n$/m)
})

it('an alert issued at node 1, a check-in at node 3, the welfare board at node 2', {
  timeout: 180_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [n1, n2, n3] = net.nodes as [TestNode, TestNode, TestNode]
  const crisis = await officerFile(net, 'DVA', ['crisis'])
  const consul = await officerFile(net, 'DVB', ['consul'])

  // Two citizens present in Mombasa, one elsewhere in Kenya.
  const citizens: Array<{ key: string; id: string }> = []
  for (const [i, region] of ['Mombasa', 'Mombasa', 'Nairobi'].entries()) {
    const key = join(dir, `c${i}.key.json`)
    const { citizen } = await json<{ citizen: string }>(enrolArgs(n1.url, key, 'DVC'))
    await json(['citizen', 'presence', '--node', n1.url, '--key', key, '--country', 'KE', '--region', region])
    citizens.push({ key, id: citizen })
  }

  const noRole = await legation([
    'alert',
    'issue',
    '--node',
    n1.url,
    '--key',
    consul,
    '--country',
    'KE',
    '--severity',
    'warning',
    '--title',
    'x',
    '--message',
    'y',
  ])
  expect(noRole.code).toBe(1)
  expect(noRole.stderr).toMatch(/do not include crisis.*\[KEY_FILE_INVALID\]\n$/)

  const issued = await json<{ alert: string; status: string }>([
    'alert',
    'issue',
    '--node',
    n1.url,
    '--key',
    crisis,
    '--country',
    'KE',
    '--region',
    'Mombasa',
    '--severity',
    'evacuation',
    '--title',
    'Cyclone',
    '--message',
    'Go to the nearest shelter and check in.',
  ])
  expect(issued.status).toBe('accepted')

  // The first citizen checks in at node 3, once the alert and their presence are there; the
  // alert is found from their presence.
  const checkin = await until('the alert at node 3', [
    'citizen',
    'checkin',
    '--node',
    n3.url,
    '--key',
    citizens[0]!.key,
    '--status',
    'needs-help',
    '--note',
    'no water',
    '--json',
  ])
  expect(JSON.parse(checkin.stdout)).toMatchObject({
    alert: issued.alert,
    welfare: 'needs-help',
    status: 'accepted',
  })
  // The Nairobi citizen has no alert for their region.
  const nairobi = await legation([
    'citizen',
    'checkin',
    '--node',
    n3.url,
    '--key',
    citizens[2]!.key,
    '--status',
    'safe',
  ])
  expect(nairobi.code).toBe(1)
  expect(nairobi.stderr).toBe('error: no crisis alert for KE, Nairobi: give --alert [ALERT_NOT_FOUND]\n')

  // At node 2: one needs help, one not heard from; the Nairobi citizen is not on this board.
  const board = await eventually(
    'the check-in on node 2’s welfare board',
    async () => {
      const out = await json<{
        boards: Array<{ alert: { id: string }; counts: object; needsHelp: string[]; notHeard: string[] }>
      }>(['welfare', '--node', n2.url, '--key', consul, '--alert', issued.alert])
      const b = out.boards[0]!
      return b.needsHelp.length === 1 && b.notHeard.length === 1 ? b : undefined
    },
    30_000,
  )
  expect(board.counts).toEqual({ safe: 0, needsHelp: 1, notHeard: 1 })
  expect(board.needsHelp).toEqual([citizens[0]!.id])
  expect(board.notHeard).toEqual([citizens[1]!.id])

  const table = await legation(['welfare', '--node', n2.url, '--key', consul, '--country', 'KE'])
  expect(table.code, table.stderr).toBe(0)
  expect(table.stdout).toMatch(/^COUNTRY\s+REGION\s+SAFE\s+NEEDS HELP\s+NOT HEARD\s+SEVERITY\s+ALERT$/m)
  expect(table.stdout).toMatch(
    new RegExp(`^KE\\s+Mombasa\\s+0\\s+1\\s+1\\s+evacuation\\s+${issued.alert}$`, 'm'),
  )
  // Nothing personal in what the officer's table shows.
  expect(table.stdout).not.toContain('Novak')
  expect(table.stdout).not.toContain('no water')
})

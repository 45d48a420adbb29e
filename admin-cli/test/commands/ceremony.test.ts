/**
 * `legation ceremony` and `legation charter`, in-process, each state in its own folder with its
 * own passphrase: every kind of amendment drafted, signed and combined offline (the chain file
 * checked by verify-charter), and the refusals of each step. The same commands with real node
 * processes: test-network/test/ceremony.test.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CharterVersionSummary } from '../../src/commands/verify-charter.ts'
import { errorLines, legation } from '../helpers.ts'

const STATES = ['AA', 'BB', 'CC'] as const
type State = (typeof STATES)[number] | 'DD'
const env = (s: State) => ({ LEGATION_KEY_PASSPHRASE: `passphrase of ${s}` })

let root: string
const dir = (s: State | 'sec') => join(root, s)

async function ok(args: string[], e: Record<string, string> = {}) {
  const r = await legation(args, e)
  if (r.code !== 0) throw new Error(`legation ${args.join(' ')} → ${r.code}: ${r.stderr}`)
  return r
}

/** keys and a descriptor of state `s` in its own folder. */
async function member(s: State, port: number) {
  const d = dir(s)
  await mkdir(d, { recursive: true })
  await ok(['keys', 'generate', '--role', 'state', '--state', s, '--out', join(d, 'state.key')], env(s))
  await ok(['keys', 'generate', '--role', 'node', '--state', s, '--out', join(d, 'node.key')], env(s))
  await ok(
    [
      'ceremony',
      'descriptor',
      '--state-key',
      join(d, 'state.key'),
      '--name',
      `State ${s}`,
      '--node-key',
      join(d, 'node.key'),
      '--addr',
      `/ip4/127.0.0.1/tcp/${port}`,
      '--out',
      join(d, `${s}.json`),
    ],
    env(s),
  )
}

async function chainSummary(file: string): Promise<CharterVersionSummary[]> {
  const r = await ok(['verify-charter', file, '--json'])
  return JSON.parse(r.stdout) as CharterVersionSummary[]
}

/** Every state in `signers` signs `draft` in its own folder; combine into `out`. */
async function amend(draft: string, signers: readonly State[], out: string) {
  const sigs = []
  for (const s of signers) {
    const sig = join(dir(s), `${out}.${s}.sig.json`)
    await ok(
      ['charter', 'sign', '--draft', draft, '--state-key', join(dir(s), 'state.key'), '--out', sig],
      env(s),
    )
    sigs.push(sig)
  }
  await ok(['charter', 'combine', '--draft', draft, '--sig', ...sigs, '--out', join(root, out)])
  return join(root, out)
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'legation-cli-ceremony-'))
  await mkdir(dir('sec'))
  for (const [i, s] of STATES.entries()) await member(s, 4101 + i)
  await ok([
    'keys',
    'generate',
    '--role',
    'auditor',
    '--insecure-plaintext',
    '--out',
    join(dir('sec'), 'auditor.key'),
  ])
})
afterAll(() => rm(root, { recursive: true, force: true }))

describe('legation ceremony', () => {
  it('descriptor → draft → sign → finalize gives a chain that verifies, signed by every founder', async () => {
    const draft = join(root, 'draft.json')
    const d = await ok([
      'ceremony',
      'draft',
      '--name',
      'CLI bloc',
      '--descriptor',
      ...STATES.map((s) => join(dir(s), `${s}.json`)),
      '--auditor-key',
      join(dir('sec'), 'auditor.key'),
      '--quorum',
      '2',
      '--out',
      draft,
    ])
    expect(d.stdout).toMatch(/^Hash {9}[0-9a-f]{64}$/m)
    const sigs = []
    for (const s of STATES) {
      const sig = join(dir(s), `${s}.sig.json`)
      const r = await ok(
        ['ceremony', 'sign', '--draft', draft, '--state-key', join(dir(s), 'state.key'), '--out', sig],
        env(s),
      )
      expect(r.stdout).toContain('(genesis: founds a new bloc)')
      expect(r.stdout).toContain(`Signed by    ${s}: ${sig}`)
      sigs.push(sig)
    }
    const fin = await ok([
      'ceremony',
      'finalize',
      '--draft',
      draft,
      '--sig',
      ...sigs,
      '--out',
      join(root, 'charter.cbor'),
    ])
    expect(fin.stdout).toMatch(/^Signed by {4}AA, BB, CC$/m)
    const [v1] = await chainSummary(join(root, 'charter.cbor'))
    expect(v1).toMatchObject({ version: 1, quorum: 2, signedBy: ['AA', 'BB', 'CC'] })
    expect(v1!.members.map((m) => [m.code, m.nodes.map((n) => n.addrs)])).toEqual([
      ['AA', [['/ip4/127.0.0.1/tcp/4101']]],
      ['BB', [['/ip4/127.0.0.1/tcp/4102']]],
      ['CC', [['/ip4/127.0.0.1/tcp/4103']]],
    ])
  })

  it('refuses, each in one line: a bad descriptor, a draft that would not verify, a foreign signature, a key the draft does not name', async () => {
    await writeFile(join(root, 'junk.json'), '{"type":"something else","v":1}')
    const junk = await legation([
      'ceremony',
      'draft',
      '--name',
      'x',
      '--descriptor',
      join(root, 'junk.json'),
      '--auditor-key',
      join(dir('sec'), 'auditor.key'),
      '--quorum',
      '1',
      '--out',
      join(root, 'x.json'),
    ])
    expect(errorLines(junk)).toEqual([
      `error: ${join(root, 'junk.json')} is not a member descriptor (its type is "something else") [DESCRIPTOR_INVALID]`,
    ])

    const twice = await legation([
      'ceremony',
      'draft',
      '--name',
      'x',
      '--descriptor',
      join(dir('AA'), 'AA.json'),
      join(dir('AA'), 'AA.json'),
      '--auditor-key',
      join(dir('sec'), 'auditor.key'),
      '--quorum',
      '1',
      '--out',
      join(root, 'x.json'),
    ])
    expect(errorLines(twice)).toEqual([
      'error: the draft would not verify: member AA listed twice (CHARTER_INVALID) [DRAFT_INVALID]',
    ])
    const quorum = await legation([
      'ceremony',
      'draft',
      '--name',
      'x',
      '--descriptor',
      join(dir('AA'), 'AA.json'),
      '--auditor-key',
      join(dir('sec'), 'auditor.key'),
      '--quorum',
      '2',
      '--out',
      join(root, 'x.json'),
    ])
    expect(errorLines(quorum)).toEqual([
      'error: the draft would not verify: quorum 2 exceeds 1 members (CHARTER_INVALID) [DRAFT_INVALID]',
    ])

    // A second draft (AA and BB only): CC's key is not in it, and AA's signature of it does
    // not count for the first draft.
    const other = join(root, 'other-draft.json')
    await ok([
      'ceremony',
      'draft',
      '--name',
      'x',
      '--descriptor',
      join(dir('AA'), 'AA.json'),
      join(dir('BB'), 'BB.json'),
      '--auditor-key',
      join(dir('sec'), 'auditor.key'),
      '--quorum',
      '1',
      '--out',
      other,
    ])
    const notFounder = await legation(
      [
        'ceremony',
        'sign',
        '--draft',
        other,
        '--state-key',
        join(dir('CC'), 'state.key'),
        '--out',
        join(dir('CC'), 'x.sig.json'),
      ],
      env('CC'),
    )
    expect(errorLines(notFounder)).toEqual([
      'error: CC is not a founder in this draft: it cannot sign it [STATE_KEY_NOT_FOUND]',
    ])
    const otherSig = join(dir('AA'), 'other.sig.json')
    await ok(
      ['ceremony', 'sign', '--draft', other, '--state-key', join(dir('AA'), 'state.key'), '--out', otherSig],
      env('AA'),
    )
    const mixed = await legation([
      'ceremony',
      'finalize',
      '--draft',
      join(root, 'draft.json'),
      '--sig',
      otherSig,
      '--out',
      join(root, 'x.cbor'),
    ])
    expect(errorLines(mixed)).toEqual([
      expect.stringMatching(
        /^error: .*other\.sig\.json signs charter [0-9a-f]{12}… \(version 1\), not this draft [0-9a-f]{12}… \[SIGNATURE_INVALID\]$/,
      ),
    ])
    // A signature file altered after signing.
    const forged = JSON.parse(await readFile(join(dir('BB'), 'BB.sig.json'), 'utf8'))
    forged.state = 'CC'
    await writeFile(join(root, 'forged.sig.json'), JSON.stringify(forged))
    const bad = await legation([
      'ceremony',
      'finalize',
      '--draft',
      join(root, 'draft.json'),
      '--sig',
      join(root, 'forged.sig.json'),
      '--out',
      join(root, 'x.cbor'),
    ])
    expect(errorLines(bad)).toEqual([
      `error: ${join(root, 'forged.sig.json')}: the signature of CC does not verify [SIGNATURE_INVALID]`,
    ])
    // Another state's key file given as one's own.
    const wrongKey = await legation(
      [
        'ceremony',
        'sign',
        '--draft',
        join(root, 'draft.json'),
        '--state-key',
        join(dir('BB'), 'state.key'),
        '--state',
        'AA',
        '--out',
        join(root, 'y.sig.json'),
      ],
      env('BB'),
    )
    expect(errorLines(wrongKey)).toEqual([
      `error: ${join(dir('BB'), 'state.key')} holds the key of BB, not of AA [STATE_KEY_NOT_FOUND]`,
    ])
    // A node key where a state key is asked for.
    const nodeKey = await legation(
      [
        'ceremony',
        'sign',
        '--draft',
        join(root, 'draft.json'),
        '--state-key',
        join(dir('AA'), 'node.key'),
        '--out',
        join(root, 'y.sig.json'),
      ],
      env('AA'),
    )
    expect(errorLines(nodeKey)).toEqual([
      `error: state key file ${join(dir('AA'), 'node.key')}: a node key, not a state key [KEY_FILE_INVALID]`,
    ])
  })
})

describe('legation charter amend, offline', () => {
  it('every kind of change, each signed by a quorum of the version in force', async () => {
    let chain = join(root, 'charter.cbor')
    const step = async (
      kind: string[],
      signers: readonly State[],
      name: string,
      e: Record<string, string> = {},
    ) => {
      const draft = join(root, `${name}.json`)
      await ok(['charter', 'amend', ...kind, '--charter', chain, '--out', draft], e)
      chain = await amend(draft, signers, `${name}.cbor`)
      return (await chainSummary(chain)).at(-1)!
    }
    // Admit DD from the descriptor DD made itself.
    await member('DD', 4104)
    const v2 = await step(['admit', '--descriptor', join(dir('DD'), 'DD.json')], ['AA', 'BB'], 'admit')
    expect(v2.members.map((m) => m.code)).toEqual(['AA', 'BB', 'CC', 'DD'])
    expect(v2.signedBy).toEqual(['AA', 'BB'])
    // Quorum 3, then only three signatures count.
    const v3 = await step(['quorum', '--set', '3'], ['BB', 'DD'], 'quorum')
    expect(v3.quorum).toBe(3)
    // BB adds a node; the amendment needs three signatures now.
    await ok(
      ['keys', 'generate', '--role', 'node', '--state', 'BB', '--out', join(dir('BB'), 'node2.key')],
      env('BB'),
    )
    const draft = join(root, 'add.json')
    await ok(
      [
        'charter',
        'amend',
        'add-node',
        '--charter',
        chain,
        '--state-key',
        join(dir('BB'), 'state.key'),
        '--node-key',
        join(dir('BB'), 'node2.key'),
        '--addr',
        '/ip4/127.0.0.1/tcp/4105',
        '--out',
        draft,
      ],
      env('BB'),
    )
    const sigs = []
    for (const s of ['AA', 'BB'] as const) {
      const sig = join(dir(s), `add.${s}.sig.json`)
      await ok(
        ['charter', 'sign', '--draft', draft, '--state-key', join(dir(s), 'state.key'), '--out', sig],
        env(s),
      )
      sigs.push(sig)
    }
    const short = await legation([
      'charter',
      'combine',
      '--draft',
      draft,
      '--sig',
      ...sigs,
      '--out',
      join(root, 'add.cbor'),
    ])
    expect(errorLines(short)).toEqual([
      'error: 2 member(s) signed (AA, BB); version 3 requires 3 (not yet signed: CC, DD) [QUORUM_NOT_MET]',
    ])
    chain = await amend(draft, ['AA', 'BB', 'CC'], 'add.cbor')
    const v4 = (await chainSummary(chain)).at(-1)!
    expect(v4.members.find((m) => m.code === 'BB')!.nodes.map((n) => n.name)).toEqual(['bb-1', 'bb-2'])
    // Remove that node again, by its key file.
    const v5 = await step(
      ['remove-node', '--node-key', join(dir('BB'), 'node2.key')],
      ['AA', 'BB', 'CC'],
      'remove',
    )
    expect(v5.members.find((m) => m.code === 'BB')!.nodes.map((n) => n.name)).toEqual(['bb-1'])
    // CC rotates its key: a new key, a new descriptor made with it; the old key signs it as a member.
    await ok(
      ['keys', 'generate', '--role', 'state', '--state', 'CC', '--out', join(dir('CC'), 'state2.key')],
      env('CC'),
    )
    await ok(
      [
        'ceremony',
        'descriptor',
        '--state-key',
        join(dir('CC'), 'state2.key'),
        '--name',
        'State CC',
        '--node-key',
        join(dir('CC'), 'node.key'),
        '--addr',
        '/ip4/127.0.0.1/tcp/4103',
        '--out',
        join(dir('CC'), 'CC2.json'),
      ],
      env('CC'),
    )
    const before = v5.members.find((m) => m.code === 'CC')!.stateKeyId
    const v6 = await step(
      ['rotate-key', '--descriptor', join(dir('CC'), 'CC2.json')],
      ['AA', 'BB', 'CC'],
      'rotate',
    )
    expect(v6.members.find((m) => m.code === 'CC')!.stateKeyId).not.toBe(before)
    // Expel DD: the new key of CC signs now; the old one is refused.
    const draftExpel = join(root, 'expel.json')
    await ok(['charter', 'amend', 'expel', '--state', 'DD', '--charter', chain, '--out', draftExpel])
    const old = await legation(
      [
        'charter',
        'sign',
        '--draft',
        draftExpel,
        '--state-key',
        join(dir('CC'), 'state.key'),
        '--out',
        join(root, 'old.sig.json'),
      ],
      env('CC'),
    )
    expect(errorLines(old)).toEqual([
      expect.stringMatching(
        /^error: .*state\.key is not the key of CC the charter in force names \(key [0-9a-f]{32}\) \[STATE_KEY_NOT_FOUND\]$/,
      ),
    ])
    const sigs2 = []
    for (const [s, key] of [
      ['AA', 'state.key'],
      ['BB', 'state.key'],
      ['CC', 'state2.key'],
    ] as const) {
      const sig = join(dir(s), `expel.${s}.sig.json`)
      await ok(
        ['charter', 'sign', '--draft', draftExpel, '--state-key', join(dir(s), key), '--out', sig],
        env(s),
      )
      sigs2.push(sig)
    }
    await ok([
      'charter',
      'combine',
      '--draft',
      draftExpel,
      '--sig',
      ...sigs2,
      '--out',
      join(root, 'expel.cbor'),
    ])
    const v7 = (await chainSummary(join(root, 'expel.cbor'))).at(-1)!
    expect(v7.members.map((m) => m.code)).toEqual(['AA', 'BB', 'CC'])
    expect(v7.version).toBe(7)
  })

  it('has --help for every command', async () => {
    for (const cmd of [
      ['keys', 'generate'],
      ['keys', 'encrypt'],
      ['keys', 'show'],
      ['ceremony', 'descriptor'],
      ['ceremony', 'draft'],
      ['ceremony', 'sign'],
      ['ceremony', 'finalize'],
      ['charter', 'amend', 'admit'],
      ['charter', 'amend', 'expel'],
      ['charter', 'amend', 'rotate-key'],
      ['charter', 'amend', 'add-node'],
      ['charter', 'amend', 'remove-node'],
      ['charter', 'amend', 'quorum'],
      ['charter', 'sign'],
      ['charter', 'combine'],
      ['charter', 'submit'],
    ]) {
      const r = await legation([...cmd, '--help'])
      expect(r.code, cmd.join(' ')).toBe(0)
      expect(r.stdout).toMatch(new RegExp(`^Usage: legation ${cmd.join(' ')}[ |]`, 'm'))
    }
  })
})

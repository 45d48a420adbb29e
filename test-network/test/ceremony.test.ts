/**
 * A bloc founded and amended as real partners would: three member states, each in its own
 * folder with its own passphrase, run `legation` (a real process) for every step, pass each
 * other only public files (descriptors, the draft, signature files, the chain), and start their
 * nodes from the result. No step reads another state's folder for a secret.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { decodeCanonical, encodeCanonical, fromBase64url, toBase64url } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually } from '../src/byzantine.ts'
import { FileNode } from '../src/file-node.ts'
import { freePort } from '../src/network.ts'

const CLI = resolve(import.meta.dirname, '../../admin-cli/src/cli.ts')
const STATES = ['AA', 'BB', 'CC'] as const
type State = (typeof STATES)[number]
/** Each state's own passphrase: none knows another's. */
const PASS: Record<State, string> = { AA: 'aa-passphrase-1', BB: 'bb-passphrase-2', CC: 'cc-passphrase-3' }

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** `legation …` as a process, in `cwd`, with only the given passphrase in its environment. */
async function legation(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const { LEGATION_KEY_PASSPHRASE: _p, LEGATION_KEY_PASSPHRASE_FILE: _f, ...base } = process.env
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d) => (stdout += d))
  proc.stderr.on('data', (d) => (stderr += d))
  const [code] = (await once(proc, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

async function ok(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const r = await legation(cwd, args, env)
  if (r.code !== 0) throw new Error(`legation ${args.join(' ')} → ${r.code}: ${r.stderr}`)
  return r
}

const as = (s: State) => ({ LEGATION_KEY_PASSPHRASE: PASS[s] })

/** Sends a public file from one state's folder to another's (e-mail, in real life). */
async function send(from: string, name: string, to: string): Promise<void> {
  await copyFile(join(from, name), join(to, name))
}

describe('founding ceremony and amendments with the CLI (real processes)', { timeout: 240_000 }, () => {
  let root: string
  const dir = {} as Record<State | 'secretariat', string>
  const p2p = {} as Record<State, number>
  const nodes: FileNode[] = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'legation-ceremony-'))
    for (const s of [...STATES, 'secretariat'] as const) {
      dir[s] = join(root, s)
      await mkdir(dir[s])
    }
    for (const s of STATES) p2p[s] = await freePort()
  })
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await rm(root, { recursive: true, force: true })
  })

  it('three states found a bloc without sharing a secret key, and their nodes form it', async () => {
    // 1. Each state, on its own machine: its keys (encrypted), then its descriptor.
    for (const s of STATES) {
      const d = dir[s]
      await ok(d, ['keys', 'generate', '--role', 'state', '--state', s, '--out', 'state.key'], as(s))
      await ok(d, ['keys', 'generate', '--role', 'node', '--state', s, '--out', 'node.key'], as(s))
      const r = await ok(
        d,
        [
          'ceremony',
          'descriptor',
          '--state-key',
          'state.key',
          '--name',
          `State ${s}`,
          '--node-key',
          'node.key',
          '--addr',
          `/ip4/127.0.0.1/tcp/${p2p[s]}`,
          '--out',
          `${s}.descriptor.json`,
        ],
        as(s),
      )
      expect(r.stdout).toContain(`Member       ${s}  State ${s}`)
      const key = JSON.parse(await readFile(join(d, 'state.key'), 'utf8'))
      expect(key.ciphertext).toBeTypeOf('string')
      expect(key.keys).toBeUndefined()
    }
    await ok(dir.secretariat, ['keys', 'generate', '--role', 'auditor', '--out', 'auditor.key'], {
      LEGATION_KEY_PASSPHRASE: 'secretariat-pass',
    })

    // 2. AA assembles the draft from every descriptor (and the auditor's public key).
    for (const s of ['BB', 'CC'] as const) await send(dir[s], `${s}.descriptor.json`, dir.AA)
    const drafted = await ok(dir.AA, [
      'ceremony',
      'draft',
      '--name',
      'Ceremony test bloc',
      '--descriptor',
      'AA.descriptor.json',
      'BB.descriptor.json',
      'CC.descriptor.json',
      '--auditor-key',
      join(dir.secretariat, 'auditor.key'),
      '--quorum',
      '2',
      '--out',
      'draft.json',
      '--json',
    ])
    const draft = JSON.parse(drafted.stdout) as { hash: string; version: number }
    expect(draft.version).toBe(1)

    // 3. Each state signs it with its own key, on its own machine.
    for (const s of STATES) {
      if (s !== 'AA') await send(dir.AA, 'draft.json', dir[s])
      const r = await ok(
        dir[s],
        ['ceremony', 'sign', '--draft', 'draft.json', '--state-key', 'state.key', '--out', `${s}.sig.json`],
        as(s),
      )
      // What the signer is shown, to compare with the others before signing.
      expect(r.stdout).toContain(`Hash         ${draft.hash}`)
      if (s !== 'AA') await send(dir[s], `${s}.sig.json`, dir.AA)
    }

    // Without every founder's signature there is no genesis.
    const short = await legation(dir.AA, [
      'ceremony',
      'finalize',
      '--draft',
      'draft.json',
      '--sig',
      'AA.sig.json',
      'BB.sig.json',
      '--out',
      'charter.cbor',
    ])
    expect(short.code).toBe(1)
    expect(short.stderr.trim()).toBe(
      'error: 2 of 3 founders signed; a genesis charter needs every founder (missing: CC) [QUORUM_NOT_MET]',
    )

    // 4. AA combines the signatures into the genesis charter; every state gets a copy.
    const fin = await ok(dir.AA, [
      'ceremony',
      'finalize',
      '--draft',
      'draft.json',
      '--sig',
      'AA.sig.json',
      'BB.sig.json',
      'CC.sig.json',
      '--out',
      'charter.cbor',
      '--json',
    ])
    const genesis = JSON.parse(fin.stdout) as { bloc: string; version: number; signedBy: string[] }
    expect(genesis).toMatchObject({ bloc: draft.hash, version: 1, signedBy: ['AA', 'BB', 'CC'] })
    for (const s of ['BB', 'CC'] as const) await send(dir.AA, 'charter.cbor', dir[s])

    // Each state starts its node from the charter and its own encrypted node key.
    for (const s of STATES) {
      nodes.push(
        await FileNode.start({
          dir: join(dir[s], 'data'),
          charterFile: join(dir[s], 'charter.cbor'),
          keyFile: join(dir[s], 'node.key'),
          p2pPort: p2p[s],
          env: as(s),
        }),
      )
    }
    for (const n of nodes) {
      const info = await n.info()
      expect(info.bloc).toBe(genesis.bloc)
      expect(info.charter.members).toEqual(['AA', 'BB', 'CC'])
    }
    // They find each other from the addresses in the charter: a bloc.
    const ids = await Promise.all(nodes.map(async (n) => (await n.info()).peerId))
    for (const n of nodes) {
      await eventually(
        'every other node connected',
        async () => {
          const peers = (await n.info()).peers
          return ids.filter((id) => peers.some((p) => p.peerId === id && p.connected)).length === 2
        },
        60_000,
      )
    }
  })

  it('an amendment with k−1 signatures is refused; with k it takes effect at every node', async () => {
    expect(nodes).toHaveLength(3)
    const [aa, , cc] = nodes as [FileNode, FileNode, FileNode]
    // CC adds a second node: its key, then the draft, from the charter a running node serves.
    const port = await freePort()
    await ok(dir.CC, ['keys', 'generate', '--role', 'node', '--state', 'CC', '--out', 'node2.key'], as('CC'))
    const drafted = await ok(
      dir.CC,
      [
        'charter',
        'amend',
        'add-node',
        '--node',
        cc.url,
        '--state-key',
        'state.key',
        '--node-key',
        'node2.key',
        '--addr',
        `/ip4/127.0.0.1/tcp/${port}`,
        '--out',
        'amend.json',
        '--json',
      ],
      as('CC'),
    )
    const draft = JSON.parse(drafted.stdout) as { hash: string; version: number; quorum: number }
    expect(draft).toMatchObject({ version: 2, quorum: 2 })

    // Each state signs on its own machine; CC collects the signature files.
    for (const s of STATES) {
      if (s !== 'CC') await send(dir.CC, 'amend.json', dir[s])
      await ok(
        dir[s],
        [
          'charter',
          'sign',
          '--draft',
          'amend.json',
          '--state-key',
          'state.key',
          '--out',
          `${s}.amend.sig.json`,
        ],
        as(s),
      )
      if (s !== 'CC') await send(dir[s], `${s}.amend.sig.json`, dir.CC)
    }

    // k−1 = 1 signature: refused by the CLI, clearly.
    const short = await legation(dir.CC, [
      'charter',
      'combine',
      '--draft',
      'amend.json',
      '--sig',
      'CC.amend.sig.json',
      '--out',
      'short.cbor',
    ])
    expect(short.code).toBe(1)
    expect(short.stderr.trim()).toBe(
      'error: 1 member(s) signed (CC); version 1 requires 2 (not yet signed: AA, BB) [QUORUM_NOT_MET]',
    )
    // …and by a node, should such a chain be made by hand and sent to it.
    const file = JSON.parse(await readFile(join(dir.CC, 'amend.json'), 'utf8')) as {
      charter: string
      chain: string
    }
    const sig = JSON.parse(await readFile(join(dir.CC, 'CC.amend.sig.json'), 'utf8')) as { sig: string }
    const handMade = [
      ...(decodeCanonical(fromBase64url(file.chain), 1 << 24) as unknown[]),
      {
        charter: decodeCanonical(fromBase64url(file.charter), 1 << 24),
        sigs: [{ state: 'CC', sig: fromBase64url(sig.sig) }],
      },
    ]
    await writeFile(join(dir.CC, 'short.cbor'), encodeCanonical(handMade))
    const refused = await legation(dir.CC, ['charter', 'submit', '--chain', 'short.cbor', '--node', aa.url])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(
      /^error: .*short\.cbor does not verify: .*signed by 1 members, quorum is 2 \(CHARTER_QUORUM_NOT_MET\) \[CHARTER_REJECTED\]$/m,
    )
    const direct = await fetch(`${aa.url}/v1/charter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chain: toBase64url(encodeCanonical(handMade)) }),
    })
    expect(direct.status).toBe(403)
    expect(((await direct.json()) as { code: string }).code).toBe('CHARTER_QUORUM_NOT_MET')
    for (const n of nodes) expect((await n.info()).charter.version).toBe(1)

    // k = 2 signatures: combined, submitted to one node, in force at every node.
    const combined = await ok(dir.CC, [
      'charter',
      'combine',
      '--draft',
      'amend.json',
      '--sig',
      'AA.amend.sig.json',
      'CC.amend.sig.json',
      '--out',
      'charter-v2.cbor',
      '--json',
    ])
    expect(JSON.parse(combined.stdout)).toMatchObject({
      version: 2,
      hash: draft.hash,
      signedBy: ['AA', 'CC'],
    })
    const submitted = await ok(dir.CC, ['charter', 'submit', '--chain', 'charter-v2.cbor', '--node', aa.url])
    expect(submitted.stdout).toContain(`Adopted      version 2 at ${aa.url}`)
    for (const n of nodes) {
      await eventually(
        'the amended charter at every node',
        async () => (await n.info()).charter.version === 2,
        30_000,
      )
    }

    // The node it admitted starts from the amended chain and joins the others.
    const added = await FileNode.start({
      dir: join(dir.CC, 'data2'),
      charterFile: join(dir.CC, 'charter-v2.cbor'),
      keyFile: join(dir.CC, 'node2.key'),
      p2pPort: port,
      env: as('CC'),
    })
    nodes.push(added)
    const addedId = (await added.info()).peerId
    await eventually(
      'the new node connected to the first',
      async () => (await aa.info()).peers.some((p) => p.peerId === addedId && p.connected),
      60_000,
    )
  })

  it('a wrong passphrase, a damaged key file and a charter of another bloc each give a clear error', async () => {
    const bb = dir.BB
    // Someone else's passphrase.
    const wrong = await legation(
      bb,
      ['charter', 'sign', '--draft', 'amend.json', '--state-key', 'state.key', '--out', 'x.sig.json'],
      as('AA'),
    )
    expect(wrong.code).toBe(1)
    expect(wrong.stderr.trim()).toBe(
      `error: wrong passphrase for key file ${join(bb, 'state.key')} [KEY_FILE_LOCKED]`,
    )
    const noPass = await legation(bb, [
      'charter',
      'sign',
      '--draft',
      'amend.json',
      '--state-key',
      'state.key',
      '--out',
      'x.sig.json',
    ])
    expect(noPass.code).toBe(1)
    expect(noPass.stderr).toMatch(
      /needs a passphrase: set LEGATION_KEY_PASSPHRASE.*\[KEY_PASSPHRASE_REQUIRED\]$/m,
    )
    // The node says the same of its own key file, and does not start.
    await expect(
      FileNode.start({
        dir: join(bb, 'data-x'),
        charterFile: join(bb, 'charter.cbor'),
        keyFile: join(bb, 'node.key'),
        p2pPort: await freePort(),
        env: as('AA'),
      }),
    ).rejects.toThrow(/KEYSTORE_LOCKED: wrong passphrase for key file/)

    // A damaged key file: one character of the sealed key changed.
    const key = JSON.parse(await readFile(join(bb, 'state.key'), 'utf8'))
    key.ciphertext = (key.ciphertext[0] === 'A' ? 'B' : 'A') + key.ciphertext.slice(1)
    await writeFile(join(bb, 'damaged.key'), JSON.stringify(key))
    const damaged = await legation(
      bb,
      ['charter', 'sign', '--draft', 'amend.json', '--state-key', 'damaged.key', '--out', 'x.sig.json'],
      as('BB'),
    )
    expect(damaged.code).toBe(1)
    expect(damaged.stderr.trim()).toBe(
      `error: state key file ${join(bb, 'damaged.key')}: fails its integrity check (damaged or altered: restore it from a backup) [KEY_FILE_INVALID]`,
    )
    await writeFile(join(bb, 'truncated.key'), (await readFile(join(bb, 'state.key'), 'utf8')).slice(0, 40))
    const truncated = await legation(
      bb,
      ['charter', 'sign', '--draft', 'amend.json', '--state-key', 'truncated.key', '--out', 'x.sig.json'],
      as('BB'),
    )
    expect(truncated.code).toBe(1)
    expect(truncated.stderr.trim()).toBe(
      `error: state key file ${join(bb, 'truncated.key')}: not JSON [KEY_FILE_INVALID]`,
    )

    // A charter of another bloc: a one-state bloc founded elsewhere, sent to this bloc's node.
    const other = join(root, 'other')
    await mkdir(other)
    const env = { LEGATION_KEY_PASSPHRASE: 'another-bloc-pass' }
    await ok(other, ['keys', 'generate', '--role', 'state', '--state', 'DD', '--out', 'state.key'], env)
    await ok(other, ['keys', 'generate', '--role', 'auditor', '--out', 'auditor.key'], env)
    await ok(
      other,
      ['ceremony', 'descriptor', '--state-key', 'state.key', '--name', 'State DD', '--out', 'DD.json'],
      env,
    )
    await ok(other, [
      'ceremony',
      'draft',
      '--name',
      'Another bloc',
      '--descriptor',
      'DD.json',
      '--auditor-key',
      'auditor.key',
      '--quorum',
      '1',
      '--out',
      'draft.json',
    ])
    await ok(
      other,
      ['ceremony', 'sign', '--draft', 'draft.json', '--state-key', 'state.key', '--out', 'DD.sig.json'],
      env,
    )
    await ok(other, [
      'ceremony',
      'finalize',
      '--draft',
      'draft.json',
      '--sig',
      'DD.sig.json',
      '--out',
      'charter.cbor',
    ])
    const foreign = await legation(other, [
      'charter',
      'submit',
      '--chain',
      'charter.cbor',
      '--node',
      nodes[0]!.url,
    ])
    expect(foreign.code).toBe(1)
    expect(foreign.stderr).toMatch(
      /^error: .*charter\.cbor is the charter of bloc [0-9a-f]{12}…, the node runs bloc [0-9a-f]{12}… \[BLOC_MISMATCH\]$/m,
    )
    // A node restarted on its data with the charter of another bloc (one BB founded alone,
    // certifying the same node key) refuses to start, naming the conflict.
    const alone = join(root, 'bb-alone')
    await mkdir(alone)
    const bbEnv = as('BB')
    await ok(
      alone,
      [
        'ceremony',
        'descriptor',
        '--state-key',
        join(bb, 'state.key'),
        '--name',
        'State BB',
        '--node-key',
        join(bb, 'node.key'),
        '--addr',
        `/ip4/127.0.0.1/tcp/${p2p.BB}`,
        '--out',
        'BB.json',
      ],
      bbEnv,
    )
    await ok(alone, [
      'ceremony',
      'draft',
      '--name',
      'BB alone',
      '--descriptor',
      'BB.json',
      '--auditor-key',
      join(dir.secretariat, 'auditor.key'),
      '--quorum',
      '1',
      '--out',
      'draft.json',
    ])
    await ok(
      alone,
      [
        'ceremony',
        'sign',
        '--draft',
        'draft.json',
        '--state-key',
        join(bb, 'state.key'),
        '--out',
        'BB.sig.json',
      ],
      bbEnv,
    )
    await ok(alone, [
      'ceremony',
      'finalize',
      '--draft',
      'draft.json',
      '--sig',
      'BB.sig.json',
      '--out',
      'charter.cbor',
    ])
    await nodes[1]!.stop()
    await expect(
      FileNode.start({
        dir: join(bb, 'data'),
        charterFile: join(alone, 'charter.cbor'),
        keyFile: join(bb, 'node.key'),
        p2pPort: p2p.BB,
        env: bbEnv,
      }),
    ).rejects.toThrow(
      /CHARTER_CHAIN_BROKEN: the data folder holds another charter chain than the one this node was given/,
    )

    // Signing a draft of this bloc with the other bloc's key of a state it does not know.
    await send(dir.CC, 'amend.json', other)
    const stranger = await legation(
      other,
      ['charter', 'sign', '--draft', 'amend.json', '--state-key', 'state.key', '--out', 'x.sig.json'],
      env,
    )
    expect(stranger.code).toBe(1)
    expect(stranger.stderr.trim()).toBe(
      'error: DD is not a member of version 1: it cannot sign it [STATE_KEY_NOT_FOUND]',
    )
  })
})

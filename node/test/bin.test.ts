/**
 * What a newcomer sees when the node binary cannot start: one line naming the file or port,
 * with a documented code (docs/errors.md), exit code 1, and nothing written before the check
 * (a busy port must not leave a development bloc behind). Real processes, through the launcher.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { encodeCanonical } from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { saveKeys } from '../src/keystore.ts'
import { testBloc } from './fixtures.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const LAUNCHER = join(ROOT, 'node/bin/legation-node.js')
const EXIT_WITHIN_MS = 20_000
/** A node that opens its store and starts its mesh on a loaded machine. */
const LISTEN_WITHIN_MS = 60_000

const dirs: string[] = []
const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'legation-bin-'))
  dirs.push(dir)
  return dir
}

/** Runs the node binary to its exit; a process still running after the bound is killed by PID. */
/** setpriv's arguments that take from root, for one command, the capabilities to read any file. */
const NO_FILE_OVERRIDE = [
  '--bounding-set',
  '-dac_override,-dac_read_search',
  '--inh-caps',
  '-dac_override,-dac_read_search',
]

function runNode(
  args: string[],
  cwd: string,
  as: { env?: Record<string, string>; wrap?: string[] } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const command = [...(as.wrap ?? []), process.execPath, LAUNCHER, '--log-level', 'warn', ...args]
    const child = spawn(command[0]!, command.slice(1), {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...as.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL')
      fail(
        new Error(`the node did not exit within ${EXIT_WITHIN_MS} ms; stdout: ${stdout} stderr: ${stderr}`),
      )
    }, EXIT_WITHIN_MS)
    child.on('error', fail)
    child.on('exit', (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })
}

function oneErrorLine(r: { code: number | null; stderr: string }): string {
  expect(r.code).toBe(1)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines, r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  return lines[0]!
}

async function holdPort(): Promise<number> {
  const server = createServer()
  servers.push(server)
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r))
  return (server.address() as { port: number }).port
}

describe('node binary start-up errors', () => {
  it('a missing charter file: CHARTER_FILE_MISSING naming the path', async () => {
    const dir = await tempDir()
    const r = await runNode(['--charter-file', 'nope.cbor', '--data-dir', 'data'], dir)
    expect(oneErrorLine(r)).toBe(
      `legation: CHARTER_FILE_MISSING: no charter file at ${join(dir, 'nope.cbor')}`,
    )
  })

  it('a file that is not a charter (package.json): CHARTER_FILE_INVALID naming the path', async () => {
    const dir = await tempDir()
    const file = join(ROOT, 'package.json')
    const r = await runNode(['--charter-file', file, '--data-dir', 'data'], dir)
    const line = oneErrorLine(r)
    expect(line).toMatch(/^legation: CHARTER_FILE_INVALID: /)
    expect(line).toContain(`${file} is not a charter chain`)
  })

  it('a charter that does not verify keeps its protocol code, with the path', async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    const first = bloc.chain[0]!
    const forged = [{ ...first, sigs: first.sigs.slice(0, 0) }]
    const file = join(dir, 'charter.cbor')
    await writeFile(file, encodeCanonical(forged))
    const line = oneErrorLine(await runNode(['--charter-file', file, '--data-dir', 'data'], dir))
    expect(line).toMatch(new RegExp(`^legation: CHARTER_[A-Z_]+: ${file}: `))
  })

  it('a missing key file: KEYSTORE_MISSING naming the path', async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(bloc.chain))
    const r = await runNode(['--charter-file', 'charter.cbor', '--key-file', 'missing-key.json'], dir)
    expect(oneErrorLine(r)).toBe(
      `legation: KEYSTORE_MISSING: no key file at ${join(dir, 'missing-key.json')}`,
    )
  })

  it('a key file that cannot be read (a directory): KEYSTORE_UNREADABLE naming the path', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(testBloc(1).chain))
    await mkdir(join(dir, 'node.key'))
    const r = await runNode(['--charter-file', 'charter.cbor', '--key-file', 'node.key'], dir)
    expect(oneErrorLine(r)).toMatch(
      new RegExp(
        `^legation: KEYSTORE_UNREADABLE: cannot read the key file ${join(dir, 'node.key')} \\(EISDIR\\): `,
      ),
    )
  })

  // A key file mounted into a container, owned by another user than the node's. As root (CI),
  // the node is started as `nobody`, who may read the charter but not the root-only key file;
  // as another user, the key file is the user's own with no read permission.
  it("a key file the node's user may not read: KEYSTORE_UNREADABLE naming the path and the uid", async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(testBloc(1).chain))
    await writeFile(join(dir, 'node.key'), '{}', { mode: 0o000 })
    // Root reads any file: as root the node runs without the capabilities that let it (util-linux's
    // setpriv drops them), so it meets the permission bits as any other user would, wherever the
    // repository lies (another uid could not even reach a clone in a private folder).
    const asRoot = process.getuid?.() === 0
    const r = await runNode(['--charter-file', 'charter.cbor', '--key-file', 'node.key'], dir, {
      ...(asRoot ? { wrap: ['setpriv', ...NO_FILE_OVERRIDE] } : {}),
    })
    expect(oneErrorLine(r)).toBe(
      `legation: KEYSTORE_UNREADABLE: cannot read the key file ${join(dir, 'node.key')} (EACCES): it must be a file readable by the node's user (uid ${process.getuid?.()}; in the Docker image, uid 1000)`,
    )
  })

  it('a missing passphrase file (LEGATION_KEY_PASSPHRASE_FILE): KEYSTORE_LOCKED naming it', async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(bloc.chain))
    await saveKeys(join(dir, 'node.key'), { node: bloc.nodes[0]!.keys.secretKey }, 'file-pass', {
      scryptN: 2 ** 10,
    })
    const r = await runNode(['--charter-file', 'charter.cbor', '--key-file', 'node.key'], dir, {
      env: { LEGATION_KEY_PASSPHRASE_FILE: 'no-such-pass' },
    })
    expect(oneErrorLine(r)).toBe(
      `legation: KEYSTORE_LOCKED: cannot read the passphrase file ${join(dir, 'no-such-pass')} (ENOENT)`,
    )
  })

  it('LEGATION_KEY_PASSPHRASE_FILE: its first line opens the encrypted key, and the node starts', {
    timeout: 120_000,
  }, async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(bloc.chain))
    await saveKeys(join(dir, 'node.key'), { node: bloc.nodes[0]!.keys.secretKey }, 'file-pass', {
      scryptN: 2 ** 10,
    })
    // A wrong first line is refused (so the file is what opens the key)…
    await writeFile(join(dir, 'wrong-pass'), 'not-it\nfile-pass\n')
    const wrong = await runNode(['--charter-file', 'charter.cbor', '--key-file', 'node.key'], dir, {
      env: { LEGATION_KEY_PASSPHRASE_FILE: 'wrong-pass' },
    })
    expect(oneErrorLine(wrong)).toMatch(/^legation: KEYSTORE_LOCKED: /)
    // …and the right one starts the node.
    await writeFile(join(dir, 'pass'), 'file-pass\n', { mode: 0o600 })
    const child = spawn(
      process.execPath,
      [
        LAUNCHER,
        '--log-level',
        'warn',
        '--charter-file',
        'charter.cbor',
        '--key-file',
        'node.key',
        '--http-port',
        '0',
        '--data-dir',
        'data',
      ],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', LEGATION_KEY_PASSPHRASE_FILE: 'pass' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    try {
      let out = ''
      let err = ''
      child.stderr.on('data', (d) => (err += d))
      const listening = new Promise<string>((done, fail) => {
        child.stdout.on('data', (d) => {
          out += d
          if (out.includes('Legation node listening on')) done(out)
        })
        child.on('exit', (code) => fail(new Error(`exited ${code}: ${err}`)))
      })
      const timeout = new Promise<never>((_, fail) =>
        setTimeout(
          () => fail(new Error(`not listening within ${LISTEN_WITHIN_MS} ms: ${err}`)),
          LISTEN_WITHIN_MS,
        ),
      )
      expect(await Promise.race([listening, timeout])).toMatch(
        /^Legation node listening on http:\/\/127\.0\.0\.1:\d+/,
      )
    } finally {
      if (child.exitCode === null && child.pid !== undefined) {
        const exited = once(child, 'exit')
        process.kill(child.pid, 'SIGTERM')
        await exited
      }
    }
  })

  it('a busy HTTP port: PORT_IN_USE naming it, before a development bloc is created', async () => {
    const dir = await tempDir()
    const port = await holdPort()
    const r = await runNode(['--data-dir', 'data', '--http-port', String(port)], dir)
    expect(oneErrorLine(r)).toBe(
      `legation: PORT_IN_USE: 127.0.0.1:${port} (http.port) is already in use, perhaps by another node: stop it or choose another port`,
    )
    expect(r.stdout).toBe('')
    // Nothing was generated: the data folder is absent or empty.
    const made = await readdir(join(dir, 'data')).catch(() => [])
    expect(made).toEqual([])
  })

  it('a busy libp2p port: PORT_IN_USE naming the listen address', async () => {
    const dir = await tempDir()
    const port = await holdPort()
    const r = await runNode(
      ['--data-dir', 'data', '--http-port', '0', '--p2p-listen', `/ip4/127.0.0.1/tcp/${port}`],
      dir,
    )
    expect(oneErrorLine(r)).toMatch(
      new RegExp(
        `^legation: PORT_IN_USE: 127\\.0\\.0\\.1:${port} \\(p2p\\.listen\\[0\\]\\) is already in use`,
      ),
    )
    expect(await readdir(join(dir, 'data')).catch(() => [])).toEqual([])
  })
})

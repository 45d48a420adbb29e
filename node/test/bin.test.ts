/**
 * What a newcomer sees when the node binary cannot start: one line naming the file or port,
 * with a documented code (docs/errors.md), exit code 1, and nothing written before the check
 * (a busy port must not leave a development bloc behind). Real processes, through the launcher.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { encodeCanonical } from '@legation/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { sealKeys } from '../src/keystore.ts'
import { testBloc } from './fixtures.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const LAUNCHER = join(ROOT, 'node/bin/legation-node.js')
const EXIT_WITHIN_MS = 20_000

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
function runNode(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [LAUNCHER, '--log-level', 'warn', ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
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

  it('reads the key passphrase from LEGATION_KEY_PASSPHRASE_FILE, and names that file when it cannot', async () => {
    const dir = await tempDir()
    const bloc = testBloc(1)
    await writeFile(join(dir, 'charter.cbor'), encodeCanonical(bloc.chain))
    // A node key the charter does not certify: once the file opens, the node stops at NODE_NOT_CERTIFIED.
    const text = await sealKeys({ node: new Uint8Array(32).fill(7) }, 'right passphrase', { scryptN: 1024 })
    await writeFile(join(dir, 'key.json'), text, { mode: 0o600 })
    await writeFile(join(dir, 'wrong'), 'wrong passphrase\n')
    await writeFile(join(dir, 'right'), 'right passphrase\nsecond line ignored\n')
    const args = ['--charter-file', 'charter.cbor', '--key-file', 'key.json', '--data-dir', 'data']
    const wrong = await runNode(args, dir, { LEGATION_KEY_PASSPHRASE_FILE: join(dir, 'wrong') })
    expect(oneErrorLine(wrong)).toMatch(/^legation: KEYSTORE_LOCKED: /)
    const right = await runNode(args, dir, { LEGATION_KEY_PASSPHRASE_FILE: join(dir, 'right') })
    expect(oneErrorLine(right)).toMatch(/^legation: NODE_NOT_CERTIFIED: /)
    const missing = await runNode(args, dir, { LEGATION_KEY_PASSPHRASE_FILE: 'no-such-file' })
    expect(oneErrorLine(missing)).toBe(
      `legation: CONFIG_INVALID: keyPassphraseFile: cannot read ${join(dir, 'no-such-file')} (ENOENT)`,
    )
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

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromBase64url, keyId } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLines, legation } from '../helpers.ts'

describe('legation keys generate', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legation-cli-keys-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('writes the key pair to a new 0600 file and prints only the public half', async () => {
    const out = join(dir, 'officer.key.json')
    const r = await legation(['keys', 'generate', '--out', out])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const file = JSON.parse(await readFile(out, 'utf8'))
    expect(file.type).toBe('ed25519')
    expect(file.keyId).toBe(keyId(fromBase64url(file.publicKey)))
    expect(fromBase64url(file.secretKey)).toHaveLength(32)
    expect(r.stdout).not.toContain(file.secretKey)
    expect(r.stdout).not.toContain(Buffer.from(fromBase64url(file.secretKey)).toString('hex'))
    expect(r.stdout.split('\n')).toEqual([
      `public key  ${file.publicKey}`,
      `key id      ${file.keyId}`,
      `secret key  written to ${out} (mode 0600)`,
      '',
    ])
  })

  it('never overwrites an existing file', async () => {
    const out = join(dir, 'once.key.json')
    expect((await legation(['keys', 'generate', '--out', out])).code).toBe(0)
    const before = await readFile(out, 'utf8')
    const r = await legation(['keys', 'generate', '--out', out])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: ${out} already exists; not overwriting it [FILE_EXISTS]`])
    expect(r.stdout).toBe('')
    expect(await readFile(out, 'utf8')).toBe(before)
  })
})

import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadKeys, saveKeys } from '@legation/node/keystore'
import { fromBase64url, generateKeyPair, keyId } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadKeyFile, loadStateKeyFile } from '../../src/key-file.ts'
import { ed, errorLines, legation } from '../helpers.ts'

const PASS = { LEGATION_KEY_PASSPHRASE: 'a passphrase for tests' }

describe('legation keys', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legation-cli-keys-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('generates an encrypted node key file (0600) that the node itself loads', async () => {
    const out = join(dir, 'node.key.json')
    const r = await legation(['keys', 'generate', '--role', 'node', '--state', 'AT', '--out', out], PASS)
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const file = JSON.parse(await readFile(out, 'utf8'))
    expect(file).toMatchObject({ v: 1, role: 'node', state: 'AT', cipher: 'aes-256-gcm' })
    expect(file.kdf.name).toBe('scrypt')
    expect(file.keys).toBeUndefined()
    expect(file.keyId).toBe(keyId(fromBase64url(file.publicKey)))
    expect(r.stdout).toContain(`public key  ${file.publicKey}`)
    expect(r.stdout).toContain('(mode 0600, encrypted)')
    // The node's own reader (node/src/bin.ts reads `keys.node`).
    const loaded = await loadKeys(out, PASS.LEGATION_KEY_PASSPHRASE)
    expect(loaded.encrypted).toBe(true)
    expect(loaded.keys.node).toHaveLength(32)
    await expect(loadKeys(out, 'wrong passphrase')).rejects.toMatchObject({ code: 'KEYSTORE_LOCKED' })
  })

  it('refuses to write a key without a passphrase unless told --insecure-plaintext, which warns', async () => {
    const out = join(dir, 'state.key.json')
    const refused = await legation(['keys', 'generate', '--role', 'state', '--state', 'AT', '--out', out])
    expect(refused.code).toBe(1)
    expect(errorLines(refused)).toHaveLength(1)
    expect(refused.stderr).toMatch(/LEGATION_KEY_PASSPHRASE.*\[KEY_PASSPHRASE_REQUIRED\]$/m)
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' })

    const r = await legation([
      'keys',
      'generate',
      '--role',
      'state',
      '--state',
      'AT',
      '--insecure-plaintext',
      '--out',
      out,
    ])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('UNENCRYPTED')
    const file = JSON.parse(await readFile(out, 'utf8'))
    expect(file).toMatchObject({ v: 1, role: 'state', plaintext: true })
    expect(r.stdout).not.toContain(file.keys.state)
    const key = loadStateKeyFile(ed, out, undefined)
    expect(key.state).toBe('AT')

    // keys encrypt seals it in place; the CLI and the node both open it with the passphrase.
    const enc = await legation(['keys', 'encrypt', out, '--json'], PASS)
    expect(enc.code).toBe(0)
    expect(JSON.parse(enc.stdout)).toMatchObject({ file: out, role: 'state', encrypted: true })
    const sealed = JSON.parse(await readFile(out, 'utf8'))
    expect(sealed.plaintext).toBeUndefined()
    expect(JSON.stringify(sealed)).not.toContain(file.keys.state)
    const again = loadStateKeyFile(ed, out, undefined, { env: PASS })
    expect(again.keys.publicKey).toEqual(key.keys.publicKey)
    const encAgain = await legation(['keys', 'encrypt', out], PASS)
    expect(encAgain.code).toBe(2)
    expect(encAgain.stderr).toContain('is encrypted already')
  })

  it('says clearly when the passphrase is wrong or missing, and when the file is damaged', async () => {
    const out = join(dir, 'officer.key.json')
    expect((await legation(['keys', 'generate', '--role', 'officer', '--out', out], PASS)).code).toBe(0)
    expect(() => loadKeyFile(ed, out, { env: { LEGATION_KEY_PASSPHRASE: 'not it' } })).toThrow(
      expect.objectContaining({ code: 'KEY_FILE_LOCKED', message: `wrong passphrase for key file ${out}` }),
    )
    expect(() => loadKeyFile(ed, out, { env: {} })).toThrow(
      expect.objectContaining({ code: 'KEY_FILE_LOCKED' }),
    )
    expect(loadKeyFile(ed, out, { env: PASS }).cert).toBeNull()

    // One flipped character of the ciphertext: the passphrase is right, the file is not.
    const file = JSON.parse(await readFile(out, 'utf8'))
    const c = file.ciphertext as string
    file.ciphertext = (c[0] === 'A' ? 'B' : 'A') + c.slice(1)
    const damaged = join(dir, 'damaged.key.json')
    await writeFile(damaged, JSON.stringify(file))
    expect(() => loadKeyFile(ed, damaged, { env: PASS })).toThrow(
      expect.objectContaining({
        code: 'KEY_FILE_INVALID',
        message: expect.stringContaining('integrity check'),
      }),
    )
    await expect(loadKeys(damaged, PASS.LEGATION_KEY_PASSPHRASE)).rejects.toMatchObject({
      code: 'KEYSTORE_CORRUPT',
    })
    // A key of another role is not taken for an officer's.
    const nodeKey = join(dir, 'node.key.json')
    expect(() => loadKeyFile(ed, nodeKey, { env: PASS })).toThrow(
      expect.objectContaining({
        code: 'KEY_FILE_INVALID',
        message: expect.stringContaining("a node key, not an officer's"),
      }),
    )
  })

  it('a state key names its state', async () => {
    const r = await legation(
      ['keys', 'generate', '--role', 'state', '--out', join(dir, 'nameless.key.json')],
      PASS,
    )
    expect(r.code).toBe(2)
    expect(errorLines(r)).toEqual(['error: a state key names its state: give --state <code> [USAGE]'])
  })

  it('never overwrites an existing file', async () => {
    const out = join(dir, 'once.key.json')
    expect((await legation(['keys', 'generate', '--role', 'citizen', '--out', out], PASS)).code).toBe(0)
    const before = await readFile(out, 'utf8')
    const r = await legation(['keys', 'generate', '--role', 'citizen', '--out', out], PASS)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: ${out} already exists; not overwriting it [FILE_EXISTS]`])
    expect(r.stdout).toBe('')
    expect(await readFile(out, 'utf8')).toBe(before)
  })

  it('shows the public part of a key file without its passphrase', async () => {
    const r = await legation(['keys', 'show', join(dir, 'node.key.json'), '--json'], {})
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ role: 'node', state: 'AT', encrypted: true })
    // A plaintext key file a node wrote itself (no public fields), as a development node does.
    const own = join(dir, 'node-own.json')
    const keys = generateKeyPair(ed)
    await saveKeys(own, { node: keys.secretKey }, null)
    const shown = await legation(['keys', 'show', own, '--json'], {})
    expect(JSON.parse(shown.stdout)).toMatchObject({
      role: 'node',
      keyId: keyId(keys.publicKey),
      encrypted: false,
    })
  })
})

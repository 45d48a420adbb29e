import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import type { NodeError } from '../../src/errors.ts'
import { DEFAULT_SCRYPT_N, loadKeys, saveKeys } from '../../src/keystore.ts'

/** Tests use a low scrypt cost; one test checks the default. */
const fast = { scryptN: 2 ** 10 }
const keys = () => ({ node: new Uint8Array(32).fill(7), other: Uint8Array.of(1, 2, 3) })

async function rejection(p: Promise<unknown>): Promise<NodeError> {
  try {
    await p
  } catch (err) {
    return err as NodeError
  }
  throw new Error('expected a rejection')
}

let dir: string
let file: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-keystore-'))
  file = join(dir, 'keys', 'node-key.json')
})

async function tamper(edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await readFile(file, 'utf8'))
  edit(json)
  await writeFile(file, JSON.stringify(json))
}

/** Flips one bit of a base64url field. */
function flip(text: string): string {
  const bytes = Buffer.from(text, 'base64url')
  bytes[0]! ^= 1
  return bytes.toString('base64url')
}

describe('keystore', () => {
  it('round-trips encrypted keys; the file is 0600 and holds no key in clear', async () => {
    await saveKeys(file, keys(), 'correct horse battery staple', fast)
    const loaded = await loadKeys(file, 'correct horse battery staple')
    expect(loaded.encrypted).toBe(true)
    expect(loaded.keys).toEqual(keys())
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const text = await readFile(file, 'utf8')
    const json = JSON.parse(text)
    expect(json).toMatchObject({ v: 1, kdf: { name: 'scrypt', N: 1024, r: 8, p: 1 }, cipher: 'aes-256-gcm' })
    expect(Buffer.from(json.kdf.salt, 'base64url')).toHaveLength(16)
    expect(Buffer.from(json.nonce, 'base64url')).toHaveLength(12)
    expect(text).not.toContain(Buffer.from(keys().node).toString('base64url'))
    expect(await readdir(join(dir, 'keys'))).toEqual(['node-key.json']) // no temp files left
  })

  it('uses scrypt N=2^15, r=8, p=1 by default and a fresh salt and nonce per save', async () => {
    await saveKeys(file, keys(), 'pw')
    const first = JSON.parse(await readFile(file, 'utf8'))
    expect(first.kdf).toMatchObject({ N: DEFAULT_SCRYPT_N, r: 8, p: 1 })
    expect(DEFAULT_SCRYPT_N).toBe(2 ** 15)
    expect((await loadKeys(file, 'pw')).keys).toEqual(keys())
    await saveKeys(file, keys(), 'pw', fast)
    const second = JSON.parse(await readFile(file, 'utf8'))
    expect(second.kdf.salt).not.toBe(first.kdf.salt)
    expect(second.nonce).not.toBe(first.nonce)
  })

  it('refuses a wrong or missing passphrase with KEYSTORE_LOCKED', async () => {
    await saveKeys(file, keys(), 'right', fast)
    expect((await rejection(loadKeys(file, 'wrong'))).code).toBe('KEYSTORE_LOCKED')
    const missing = await rejection(loadKeys(file, null))
    expect(missing.code).toBe('KEYSTORE_LOCKED')
    expect(missing.message).toContain('passphrase is needed')
  })

  it('detects a tampered ciphertext, tag or nonce with KEYSTORE_CORRUPT', async () => {
    for (const field of ['ciphertext', 'tag', 'nonce'] as const) {
      await saveKeys(file, keys(), 'pw', fast)
      await tamper((json) => {
        json[field] = flip(json[field] as string)
      })
      const err = await rejection(loadKeys(file, 'pw'))
      expect(err.code, field).toBe('KEYSTORE_CORRUPT')
    }
  })

  it('detects damaged files with KEYSTORE_CORRUPT', async () => {
    await saveKeys(file, keys(), 'pw', fast)
    const good = await readFile(file, 'utf8')
    await writeFile(file, good.slice(0, good.length / 2))
    expect((await rejection(loadKeys(file, 'pw'))).code).toBe('KEYSTORE_CORRUPT')
    await writeFile(file, good)
    await tamper((json) => {
      json.v = 2
    })
    expect((await rejection(loadKeys(file, 'pw'))).code).toBe('KEYSTORE_CORRUPT')
    await writeFile(file, good)
    await tamper((json) => {
      ;(json.kdf as { N: number }).N = 2 ** 30 // would make the node allocate 1 TiB
    })
    expect((await rejection(loadKeys(file, 'pw'))).code).toBe('KEYSTORE_CORRUPT')
    await writeFile(file, good)
    await tamper((json) => {
      json.tag = '!!'
    })
    expect((await rejection(loadKeys(file, 'pw'))).code).toBe('KEYSTORE_CORRUPT')
  })

  it('reports a missing key file', async () => {
    expect((await rejection(loadKeys(join(dir, 'nope.json'), 'pw'))).code).toBe('KEYSTORE_MISSING')
  })

  it('stores development keys in plaintext and says so', async () => {
    await saveKeys(file, keys(), null)
    const json = JSON.parse(await readFile(file, 'utf8'))
    expect(json).toEqual({
      v: 1,
      plaintext: true,
      keys: { node: Buffer.from(keys().node).toString('base64url'), other: 'AQID' },
    })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await loadKeys(file, null)).toEqual({ keys: keys(), encrypted: false })
    // A passphrase does not make a plaintext file look encrypted.
    expect((await loadKeys(file, 'pw')).encrypted).toBe(false)
    await tamper((json) => {
      ;(json.keys as Record<string, unknown>).node = 42
    })
    expect((await rejection(loadKeys(file, null))).code).toBe('KEYSTORE_CORRUPT')
  })

  it('replaces an existing file atomically', async () => {
    await saveKeys(file, { a: Uint8Array.of(1) }, null)
    await saveKeys(file, { b: Uint8Array.of(2) }, 'pw', fast)
    expect((await loadKeys(file, 'pw')).keys).toEqual({ b: Uint8Array.of(2) })
    expect(await readdir(join(dir, 'keys'))).toEqual(['node-key.json'])
  })
})

import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import {
  charterHash,
  decodeCanonical,
  encodeCanonical,
  keyId,
  toHex,
  verifyCertificateSignature,
  verifyCharterChain,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  createLocalBloc,
  DEFAULT_OFFICER_VALIDITY_MS,
  DEV_FILES,
  ensureDevBloc,
  NODE_KEY_NAME,
} from '../../src/dev-bloc.ts'
import { loadKeys, saveKeys } from '../../src/keystore.ts'
import { createLogger } from '../../src/logger.ts'

const ed = nativeEd25519
const NOW = Date.UTC(2030, 0, 1)
const DAY = 86_400_000

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-dev-bloc-'))
})

/** A deterministic byte source (xorshift), for "pure apart from randomness". */
function seeded(seed: number) {
  let x = seed >>> 0 || 1
  return (n: number) => {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) {
      x ^= x << 13
      x >>>= 0
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      out[i] = x & 0xff
    }
    return out
  }
}

describe('createLocalBloc', () => {
  it('spreads n nodes over the three development states and verifies', () => {
    const b = createLocalBloc({ nodes: 5, ed, now: NOW, addrs: (i) => [`/ip4/127.0.0.1/tcp/${4000 + i}`] })
    const [view] = verifyCharterChain(ed, b.chain)
    expect(view!.bloc).toBe(b.bloc)
    expect(b.charterHash).toBe(charterHash(b.chain[0]!.charter))
    expect([...view!.members.keys()]).toEqual(['DVA', 'DVB', 'DVC'])
    expect(view!.charter.quorum).toBe(2)
    expect(b.nodes.map((n) => n.state)).toEqual(['DVA', 'DVB', 'DVC', 'DVA', 'DVB'])
    expect(new Set(b.nodes.map((n) => n.clientId)).size).toBe(5)
    for (const n of b.nodes) {
      const certified = view!.nodes.get(keyId(n.keys.publicKey))
      expect(certified).toMatchObject({ state: n.state, clientId: n.clientId, name: n.name })
      expect(certified!.addrs).toEqual([`/ip4/127.0.0.1/tcp/${4000 + n.index}`])
      expect(n.clientId).toBeGreaterThanOrEqual(1)
      expect(n.clientId).toBeLessThanOrEqual(0xffff_ffff)
    }
    for (const [state, o] of Object.entries(b.officers)) {
      expect(o.cert.body).toMatchObject({ bloc: b.bloc, state, roles: ['registrar', 'consul', 'crisis'] })
      verifyCertificateSignature(ed, o.cert, view!.members.get(state)!.stateKey)
    }
    expect(b.officer).toBe(b.officers.DVA)
    expect(view!.charter.auditorKey).toEqual(b.auditor.publicKey)
  })

  it('is a pure function of time and randomness', () => {
    const a = createLocalBloc({ nodes: 3, ed, now: NOW, random: seeded(42) })
    const b = createLocalBloc({ nodes: 3, ed, now: NOW, random: seeded(42) })
    const c = createLocalBloc({ nodes: 3, ed, now: NOW, random: seeded(43) })
    expect(toHex(encodeCanonical(a.chain))).toBe(toHex(encodeCanonical(b.chain)))
    expect(a.charterHash).toBe(b.charterHash)
    expect(c.charterHash).not.toBe(a.charterHash)
  })

  it('refuses an empty bloc', () => {
    expect(() => createLocalBloc({ nodes: 0, ed, now: NOW })).toThrow(RangeError)
  })
})

describe('ensureDevBloc', () => {
  it('creates a development bloc on first run', async () => {
    const lines: string[] = []
    const log = createLogger(
      { log: { level: 'info' } },
      new Writable({
        write(c, _e, done) {
          lines.push(c.toString())
          done()
        },
      }),
    )
    const dev = await ensureDevBloc(dir, { ed, now: NOW, log, httpPort: 8080 })
    expect(dev.created).toBe(true)
    expect(dev.plaintextKeys).toBe(true)

    // The charter on disk is canonical CBOR of the chain, and verifies.
    const onDisk = decodeCanonical(new Uint8Array(await readFile(join(dir, DEV_FILES.charter))))
    expect(onDisk).toEqual(dev.chain)
    const [view] = verifyCharterChain(ed, dev.chain)
    expect(view!.hash).toBe(dev.charterHash)
    expect([...view!.members.values()].map((m) => [m.code, m.name])).toEqual([
      ['DVA', 'Development State A'],
      ['DVB', 'Development State B'],
      ['DVC', 'Development State C'],
    ])
    expect(view!.charter.quorum).toBe(2)
    expect(view!.nodes.size).toBe(1)
    expect(view!.nodes.get(keyId(dev.nodeKeys.publicKey))).toMatchObject({
      state: 'DVA',
      clientId: dev.clientId,
    })
    expect(dev.clientId).toBeGreaterThanOrEqual(1)
    expect(dev.clientId).toBeLessThanOrEqual(0xffff_ffff)

    // The officer of DVA, every role, valid for a year.
    expect(dev.officer.cert.body).toMatchObject({
      type: 'officer',
      bloc: view!.bloc,
      state: 'DVA',
      officerKey: dev.officer.keys.publicKey,
      roles: ['registrar', 'consul', 'crisis'],
    })
    expect(dev.officer.cert.body.notAfter).toBe(NOW + DEFAULT_OFFICER_VALIDITY_MS)
    expect(dev.officer.cert.body.notBefore).toBeLessThanOrEqual(NOW)
    verifyCertificateSignature(ed, dev.officer.cert, view!.members.get('DVA')!.stateKey)

    // Secrets are not world-readable; the node key file holds the node key.
    for (const f of [dev.files.nodeKeys, dev.files.secrets]) expect((await stat(f)).mode & 0o077).toBe(0)
    expect(dev.files.nodeKeys).toBe(join(dir, DEV_FILES.nodeKeys))
    const keys = await loadKeys(dev.files.nodeKeys, null)
    expect(keys).toEqual({ keys: { [NODE_KEY_NAME]: dev.nodeKeys.secretKey }, encrypted: false })
    const secrets = JSON.parse(await readFile(dev.files.secrets, 'utf8'))
    expect(secrets.warning).toMatch(/^DEVELOPMENT ONLY/)
    expect(Object.keys(secrets.states)).toEqual(['DVA', 'DVB', 'DVC'])

    const text = lines.join('')
    expect(text).toContain('DEVELOPMENT bloc')
    expect(text).toContain('http://127.0.0.1:8080/v1/node')
    expect(text).not.toContain(Buffer.from(dev.nodeKeys.secretKey).toString('base64url'))
  })

  it('loads the same bloc on later runs and never regenerates it', async () => {
    const first = await ensureDevBloc(dir, { ed, now: NOW })
    const second = await ensureDevBloc(dir, { ed, now: NOW + DAY })
    expect(second.created).toBe(false)
    expect(second.charterHash).toBe(first.charterHash)
    expect(second.bloc).toBe(first.bloc)
    expect(second.chain).toEqual(first.chain)
    expect(second.nodeKeys).toEqual(first.nodeKeys)
    expect(second.clientId).toBe(first.clientId)
    expect(second.officer).toEqual(first.officer)
    expect(second.stateKeys).toEqual(first.stateKeys)
    expect(second.auditor).toEqual(first.auditor)
  })

  it('re-issues an expiring officer certificate for the same officer key', async () => {
    const first = await ensureDevBloc(dir, { ed, now: NOW })
    const later = NOW + 400 * DAY
    const second = await ensureDevBloc(dir, { ed, now: later })
    expect(second.charterHash).toBe(first.charterHash)
    expect(second.officer.keys).toEqual(first.officer.keys)
    expect(second.officer.cert.body.notAfter).toBe(later + DEFAULT_OFFICER_VALIDITY_MS)
    const third = await ensureDevBloc(dir, { ed, now: later + DAY })
    expect(third.officer.cert).toEqual(second.officer.cert) // persisted
  })

  it('certifies an existing node key instead of overwriting it, and honours a passphrase', async () => {
    const keyFile = join(dir, 'elsewhere', 'my-key.json')
    const secret = new Uint8Array(32).fill(9)
    await saveKeys(keyFile, { [NODE_KEY_NAME]: secret }, 'pw', { scryptN: 1024 })
    const dev = await ensureDevBloc(join(dir, 'data'), { ed, now: NOW, keyFile, passphrase: 'pw' })
    expect(dev.nodeKeys.secretKey).toEqual(secret)
    expect(dev.plaintextKeys).toBe(false)
    expect((await loadKeys(keyFile, 'pw')).keys[NODE_KEY_NAME]).toEqual(secret)
    const again = await ensureDevBloc(join(dir, 'data'), { ed, now: NOW, keyFile, passphrase: 'pw' })
    expect(again.created).toBe(false)
    expect(again.charterHash).toBe(dev.charterHash)
  })

  it('refuses a damaged charter file clearly', async () => {
    await ensureDevBloc(dir, { ed, now: NOW })
    await writeFile(join(dir, DEV_FILES.charter), Uint8Array.of(0x81, 0x01))
    await expect(ensureDevBloc(dir, { ed, now: NOW })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('is damaged'),
    })
  })
})

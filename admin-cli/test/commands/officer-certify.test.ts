import { readFileSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { certificateId, keyId, type OfficerCertificate } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PLAINTEXT_WARNING } from '../../src/commands/keys.ts'
import { BACKDATE_MS, parseRoles } from '../../src/commands/officer-certify.ts'
import { loadKeyFile } from '../../src/key-file.ts'
import { devNode, ed, errorLines, legation, submitAsOfficer, type TestNode } from '../helpers.ts'

const DAY_MS = 86_400_000

const nodes: TestNode[] = []
afterAll(async () => {
  for (const n of nodes.splice(0)) await n.close()
})
async function start() {
  const n = await devNode()
  nodes.push(n)
  return n
}

function officerIn(path: string) {
  const key = loadKeyFile(ed, path)
  const cert = key.cert as OfficerCertificate
  return { ...key, cert, id: certificateId(cert) }
}

/** Every secret key in a dev-secrets.json, to check none is ever printed. */
function secretsIn(path: string): string[] {
  const file = JSON.parse(readFileSync(path, 'utf8'))
  return [...Object.values(file.states as Record<string, string>), file.auditor, file.officer.secretKey]
}

const certify = (node: TestNode, out: string, ...more: string[]) =>
  legation([
    'officer',
    'certify',
    '--insecure-plaintext',
    '--node',
    node.url,
    '--state-key',
    node.secrets,
    '--state',
    'DVA',
    '--roles',
    'registrar,consul,crisis',
    '--out',
    out,
    ...more,
  ])

describe('legation officer certify', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await start()
  })

  it('writes a key file of a new officer whose records and signed reads the node accepts', async () => {
    const out = join(node.dir, 'new-officer.key.json')
    const before = Date.now()
    const r = await certify(node, out)
    expect(errorLines(r)).toEqual([PLAINTEXT_WARNING])
    expect(r.code).toBe(0)

    const officer = officerIn(out)
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(officer.bloc).toBe(node.bloc)
    expect(officer.cert.body).toMatchObject({
      state: 'DVA',
      bloc: node.bloc,
      roles: ['registrar', 'consul', 'crisis'],
    })
    expect(officer.cert.body.notBefore).toBeLessThanOrEqual(before - BACKDATE_MS + 1000)
    expect(officer.cert.body.notAfter - officer.cert.body.notBefore).toBe(365 * DAY_MS + BACKDATE_MS)
    // A new key, not the development officer's.
    expect(keyId(officer.keys.publicKey)).not.toBe(keyId(loadKeyFile(ed, node.secrets).keys.publicKey))

    const iso = (ms: number) => new Date(ms).toISOString()
    expect(r.stdout.split('\n')).toEqual([
      `Certified    a new officer of DVA, bloc ${node.bloc.slice(0, 12)}…`,
      `Officer key  ${keyId(officer.keys.publicKey)}`,
      `Certificate  ${officer.id}`,
      'Roles        registrar, consul, crisis',
      `Valid        ${iso(officer.cert.body.notBefore)} to ${iso(officer.cert.body.notAfter)}`,
      `Key file     ${out} (mode 0600: the officer's secret key and certificate)`,
      '',
    ])
    for (const secret of [...secretsIn(node.secrets), JSON.parse(readFileSync(out, 'utf8')).secretKey]) {
      expect(r.stdout + r.stderr).not.toContain(secret)
    }

    expect(await submitAsOfficer(node, out)).toEqual({ status: 201 })
    const read = await legation(['cases', '--node', node.url, '--key', out, '--state', 'submitted'])
    expect(errorLines(read)).toEqual([])
    expect(read.code).toBe(0)
  })

  it('from a charter file, offline, with fewer roles and days; --json gives the id and validity', async () => {
    const out = join(node.dir, 'registrar.key.json')
    const r = await legation([
      'officer',
      'certify',
      '--insecure-plaintext',
      '--charter',
      node.charterFile,
      '--state-key',
      node.secrets,
      '--state',
      'DVB',
      '--roles',
      'crisis,registrar',
      '--valid-days',
      '30',
      '--out',
      out,
      '--json',
    ])
    expect(errorLines(r)).toEqual([PLAINTEXT_WARNING])
    expect(r.code).toBe(0)
    const officer = officerIn(out)
    const json = JSON.parse(r.stdout)
    expect(json).toEqual({
      certificate: officer.id,
      state: 'DVB',
      bloc: node.bloc,
      officerKey: keyId(officer.keys.publicKey),
      roles: ['registrar', 'crisis'],
      notBefore: officer.cert.body.notBefore,
      notAfter: officer.cert.body.notAfter,
      file: out,
    })
    expect(json.notAfter - json.notBefore).toBe(30 * DAY_MS + BACKDATE_MS)
    expect(await submitAsOfficer(node, out)).toEqual({ status: 201 })
  })

  it('revoking the new officer leaves the development officer working', async () => {
    const out = join(node.dir, 'to-revoke.key.json')
    expect((await certify(node, out)).code).toBe(0)
    expect(await submitAsOfficer(node, out)).toEqual({ status: 201 })
    const revoke = await legation([
      'officer',
      'revoke',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--officer-key',
      out,
    ])
    expect(errorLines(revoke)).toEqual([])
    expect(revoke.stdout).toContain(`Certificate  ${officerIn(out).id}\n`)
    expect(await submitAsOfficer(node, out)).toEqual({ status: 401, code: 'CERT_REVOKED' })
    expect(await submitAsOfficer(node)).toEqual({ status: 201 })
  })

  it('never overwrites a file', async () => {
    const out = join(node.dir, 'taken.key.json')
    await writeFile(out, 'the only copy of something\n')
    const r = await certify(node, out)
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: ${out} already exists; not overwriting it [FILE_EXISTS]`])
    expect(readFileSync(out, 'utf8')).toBe('the only copy of something\n')
  })
})

describe('legation officer certify: the wrong state or bloc', () => {
  let node: TestNode
  let other: TestNode
  let dev: { states: Record<string, string> }
  beforeAll(async () => {
    node = await start()
    other = await start()
    dev = JSON.parse(readFileSync(node.secrets, 'utf8'))
  })
  const out = () => join(node.dir, `never-${Math.random().toString(36).slice(2)}.key.json`)
  const certifyWith = (stateKey: string, ...more: string[]) =>
    legation([
      'officer',
      'certify',
      '--insecure-plaintext',
      '--node',
      node.url,
      '--state-key',
      stateKey,
      '--roles',
      'registrar',
      '--out',
      out(),
      ...more,
    ])

  it('a state key file of another state than --state', async () => {
    const dvb = join(node.dir, 'dvb.key.json')
    await writeFile(dvb, JSON.stringify({ type: 'ed25519', state: 'DVB', secretKey: dev.states.DVB }))
    const r = await certifyWith(dvb, '--state', 'DVA')
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([`error: ${dvb} holds the key of DVB, not of DVA [STATE_KEY_NOT_FOUND]`])
  })

  it('a key that is not the state’s current key in the charter', async () => {
    const unnamed = join(node.dir, 'unnamed.key.json')
    await writeFile(unnamed, JSON.stringify({ type: 'ed25519', secretKey: dev.states.DVB }))
    const r = await certifyWith(unnamed, '--state', 'DVA')
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: ${unnamed} does not hold the current key of DVA: the charter of ${node.url} \\(version 1\\) names key [0-9a-f]{32} \\[STATE_KEY_NOT_FOUND\\]$`,
        'm',
      ),
    )
    expect(r.stderr).not.toContain(dev.states.DVB)
  })

  it('a state that is not a member of the bloc', async () => {
    const key = join(node.dir, 'at.key.json')
    expect(
      (
        await legation([
          'keys',
          'generate',
          '--role',
          'state',
          '--state',
          'AT',
          '--insecure-plaintext',
          '--out',
          key,
        ])
      ).code,
    ).toBe(0)
    const r = await certifyWith(key, '--state', 'AT')
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: AT is not a member state in the charter of ${node.url} (version 1: DVA, DVB, DVC) [STATE_KEY_NOT_FOUND]`,
    ])
  })

  it('a development bloc’s state keys against another bloc’s node', async () => {
    const r = await legation([
      'officer',
      'certify',
      '--insecure-plaintext',
      '--node',
      other.url,
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--roles',
      'registrar',
      '--out',
      out(),
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: ${node.secrets} is for bloc ${node.bloc.slice(0, 12)}…, the charter of ${other.url} is of bloc ${other.bloc.slice(0, 12)}… [BLOC_MISMATCH]`,
    ])
  })

  it('an officer’s key file as the state key; bad roles; both --charter and --node', async () => {
    const officerFile = join(node.dir, 'officer.key.json')
    expect((await certifyWith(node.secrets, '--state', 'DVA', '--out', officerFile)).code).toBe(0)
    const asState = await certifyWith(officerFile, '--state', 'DVA')
    expect(asState.code).toBe(1)
    expect(errorLines(asState)).toEqual([
      `error: state key file ${officerFile}: an officer's key file (it has a certificate), not a state key [KEY_FILE_INVALID]`,
    ])
    const roles = await certifyWith(node.secrets, '--state', 'DVA', '--roles', 'registrar,mayor')
    expect(roles.code).toBe(2)
    expect(roles.stderr).toContain(
      'expected a comma-separated list of distinct roles of registrar, consul, crisis',
    )
    const both = await certifyWith(node.secrets, '--state', 'DVA', '--charter', node.charterFile)
    expect(both.code).toBe(2)
    expect(errorLines(both)).toEqual([
      "error: option '--node <url>' cannot be used with option '--charter <file>'",
    ])
  })
})

describe('legation officer certify: the key file', () => {
  it('is sealed under the passphrase, in the one key file format, and renewed under the same one', async () => {
    const node = await start()
    const env = { LEGATION_KEY_PASSPHRASE: 'officer passphrase' }
    const out = join(node.dir, 'sealed-officer.key.json')
    const r = await legation(
      [
        'officer',
        'certify',
        '--node',
        node.url,
        '--state-key',
        node.secrets,
        '--state',
        'DVA',
        '--roles',
        'consul',
        '--out',
        out,
      ],
      env,
    )
    expect(r.code).toBe(0)
    expect(errorLines(r)).toEqual([])
    const file = JSON.parse(readFileSync(out, 'utf8'))
    expect(file).toMatchObject({
      v: 1,
      role: 'officer',
      state: 'DVA',
      bloc: node.bloc,
      cipher: 'aes-256-gcm',
    })
    expect(file.secretKey).toBeUndefined()
    expect(() => loadKeyFile(ed, out, { env: {} })).toThrow(
      expect.objectContaining({ code: 'KEY_FILE_LOCKED' }),
    )
    const officer = loadKeyFile(ed, out, { env })
    expect(officer.cert?.body.roles).toEqual(['consul'])

    const renewed = join(node.dir, 'sealed-renewed.key.json')
    const again = await legation(
      [
        'officer',
        'renew',
        '--node',
        node.url,
        '--state-key',
        node.secrets,
        '--officer',
        out,
        '--out',
        renewed,
      ],
      env,
    )
    expect(again.code).toBe(0)
    expect(loadKeyFile(ed, renewed, { env }).keys.publicKey).toEqual(officer.keys.publicKey)

    // Revoking needs the certificate only: the sealed file is read without its passphrase.
    const revoke = await legation(
      [
        'officer',
        'revoke',
        '--node',
        node.url,
        '--state-key',
        node.secrets,
        '--state',
        'DVA',
        '--officer-key',
        renewed,
        '--json',
      ],
      {},
    )
    expect(errorLines(revoke)).toEqual([])
    expect(JSON.parse(revoke.stdout)).toMatchObject({
      new: true,
      state: 'DVA',
      cert: certificateId(loadKeyFile(ed, renewed, { env }).cert!),
    })
  })
})

describe('legation officer renew', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await start()
  })

  it('gives an expired officer a new certificate for the same key, which the node accepts', async () => {
    const expired = join(node.dir, 'expired.key.json')
    // Certified 40 days ago for 30 days: expired 10 days ago.
    const past = Date.now() - 40 * DAY_MS
    const made = await legation(
      [
        'officer',
        'certify',
        '--insecure-plaintext',
        '--node',
        node.url,
        '--state-key',
        node.secrets,
        '--state',
        'DVA',
        '--roles',
        'registrar,crisis',
        '--valid-days',
        '30',
        '--out',
        expired,
      ],
      {},
      { now: () => past },
    )
    expect(errorLines(made)).toEqual([PLAINTEXT_WARNING])
    const old = officerIn(expired)
    expect(await submitAsOfficer(node, expired)).toEqual({ status: 401, code: 'CERT_NOT_VALID_AT' })

    const renewed = join(node.dir, 'renewed.key.json')
    const r = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--state-key',
      node.secrets,
      '--officer',
      expired,
      '--out',
      renewed,
      '--valid-days',
      '90',
    ])
    expect(errorLines(r)).toEqual([PLAINTEXT_WARNING])
    expect(r.code).toBe(0)
    const fresh = officerIn(renewed)
    expect(fresh.id).not.toBe(old.id)
    expect(fresh.keys.secretKey).toEqual(old.keys.secretKey)
    expect(fresh.cert.body).toMatchObject({ state: 'DVA', bloc: node.bloc, roles: ['registrar', 'crisis'] })
    expect(fresh.cert.body.notAfter - fresh.cert.body.notBefore).toBe(90 * DAY_MS + BACKDATE_MS)
    const lines = r.stdout.split('\n')
    expect(lines[0]).toBe(`Renewed      the certificate of officer ${keyId(old.keys.publicKey)} of DVA`)
    expect(lines[1]).toBe(
      `Replaces     ${old.id} (valid until ${new Date(old.cert.body.notAfter).toISOString()})`,
    )
    expect(lines[2]).toBe(`Certificate  ${fresh.id}`)
    expect(r.stdout).not.toContain(JSON.parse(readFileSync(expired, 'utf8')).secretKey)

    expect(await submitAsOfficer(node, renewed)).toEqual({ status: 201 })
    // The old file is left as it was.
    expect(officerIn(expired).id).toBe(old.id)
  })

  it('refuses to renew a revoked certificate when it can ask a node, and says when it could not', async () => {
    const trial = join(node.dir, 'revoked.key.json')
    expect((await certify(node, trial)).code).toBe(0)
    const revoked = await legation([
      'officer',
      'revoke',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--state',
      'DVA',
      '--officer-key',
      trial,
      '--reason',
      'ceased',
    ])
    expect(revoked.code).toBe(0)
    const out = join(node.dir, 'not-renewed.key.json')
    const r = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--officer',
      trial,
      '--out',
      out,
    ])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^error: the certificate in ${trial} \\([0-9a-f]{12}…\\) was revoked by DVA from .+ \\(ceased\\): it is not renewed; certify a new officer key instead \\(officer certify\\) \\[CERT_REVOKED\\]$`,
        ),
      ),
    ])
    expect(() => statSync(out)).toThrow()
    // Offline the CLI cannot know: it renews, and says it did not check.
    const offline = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--state-key',
      node.secrets,
      '--officer',
      trial,
      '--out',
      out,
    ])
    expect(offline.code).toBe(0)
    expect(offline.stdout).toContain(
      'Revocations  not checked (offline): give --node to refuse a revoked certificate',
    )
  })

  it('the development officer, checked against the node’s charter, with --json', async () => {
    const out = join(node.dir, 'dev-renewed.key.json')
    const r = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--node',
      node.url,
      '--state-key',
      node.secrets,
      '--officer',
      node.secrets,
      '--out',
      out,
      '--json',
    ])
    expect(errorLines(r)).toEqual([PLAINTEXT_WARNING])
    const json = JSON.parse(r.stdout)
    expect(json).toMatchObject({
      certificate: officerIn(out).id,
      previous: officerIn(node.secrets).id,
      state: 'DVA',
      roles: ['registrar', 'consul', 'crisis'],
    })
    expect(await submitAsOfficer(node, out)).toEqual({ status: 201 })
  })

  it('refuses another state’s key, a key that did not sign the certificate, and an existing file', async () => {
    const out = join(node.dir, 'not-made.key.json')
    const renew = (...more: string[]) =>
      legation(['officer', 'renew', '--insecure-plaintext', '--officer', node.secrets, '--out', out, ...more])

    const dvb = await renew('--state-key', node.secrets, '--state', 'DVB')
    expect(dvb.code).toBe(1)
    expect(errorLines(dvb)).toEqual([
      `error: the certificate in ${node.secrets} was issued by DVA; DVB cannot renew it [STATE_MISMATCH]`,
    ])

    const stranger = join(node.dir, 'stranger.key.json')
    expect(
      (
        await legation([
          'keys',
          'generate',
          '--role',
          'state',
          '--state',
          'DVA',
          '--insecure-plaintext',
          '--out',
          stranger,
        ])
      ).code,
    ).toBe(0)
    const offline = await renew('--state-key', stranger)
    expect(offline.code).toBe(1)
    expect(errorLines(offline)).toEqual([
      `error: ${stranger} does not hold the key of DVA that signed ${node.secrets}'s certificate (if DVA's key has changed since, check it against the charter with --charter or --node) [STATE_KEY_NOT_FOUND]`,
    ])
    const online = await renew('--state-key', stranger, '--charter', node.charterFile)
    expect(online.code).toBe(1)
    expect(online.stderr).toContain(`${stranger} does not hold the current key of DVA: ${node.charterFile}`)

    const exists = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--officer',
      node.secrets,
      '--state-key',
      node.secrets,
      '--out',
      node.secrets,
    ])
    expect(exists.code).toBe(1)
    expect(errorLines(exists)).toEqual([
      `error: ${node.secrets} already exists; not overwriting it [FILE_EXISTS]`,
    ])

    const plain = await legation([
      'officer',
      'renew',
      '--insecure-plaintext',
      '--officer',
      stranger,
      '--state-key',
      node.secrets,
      '--out',
      out,
    ])
    expect(plain.code).toBe(1)
    expect(errorLines(plain)).toEqual([
      `error: key file ${stranger}: a state key, not an officer's or a citizen's [KEY_FILE_INVALID]`,
    ])
  })
})

describe('--roles', () => {
  it('takes known roles once each, in the protocol’s order', () => {
    expect(parseRoles('crisis,registrar')).toEqual(['registrar', 'crisis'])
    expect(parseRoles('consul')).toEqual(['consul'])
    for (const bad of ['', 'registrar,registrar', 'admin', 'registrar,,crisis']) {
      expect(() => parseRoles(bad), bad).toThrow(/distinct roles/)
    }
  })
})

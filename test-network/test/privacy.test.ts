/**
 * Citizens' data private by construction, across real node processes: sealed at rest (no seeded
 * personal value in any node's files or logs), every officer's read logged and shown to the
 * citizen at another node, and an erasure that reaches a node that was down and a node restored
 * from a backup taken before it, while every store still audits clean.
 */
import { randomBytes } from 'node:crypto'
import { cp, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { auditStore, LevelStore } from '@legation/node'
import { generateKeyPair, keyId, LegationClient, toSubmission } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { eventually } from '../src/byzantine.ts'
import { type TestNetwork as Net, TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration } from '../src/workload.ts'

let net: Net | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface CitizenFile {
  names: { given: string } | null
  travelDocument: { number: string } | null
  presence: { region: string } | null
  erased: boolean
}

/** Every byte of every file under `dir`: LevelDB's logs and tables, the key ring, node.log. */
async function allBytes(dir: string): Promise<Buffer> {
  const parts: Buffer[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) parts.push(await readFile(join(e.parentPath, e.name)))
  }
  return Buffer.concat(parts)
}

/** A signed GET: the status and the JSON body (or problem). */
async function read<T>(
  n: TestNode,
  path: string,
  signer: LegationClient,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${n.url}${path}`, {
    headers: signer.sign({ method: 'GET', path }),
    signal: AbortSignal.timeout(10_000),
  })
  return { status: res.status, body: (await res.json()) as T }
}

it('an expelled node receives no personal data written after its expulsion', {
  timeout: 120_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [n0, n1, n2] = net.nodes as [TestNode, TestNode, TestNode]
  // Node 2 is DVC's: expelled by the other two states.
  await net.expel('DVC', 0)
  for (const n of [n0, n1]) {
    await eventually(
      `node ${n.index} to adopt the expulsion`,
      async () => (await n.info()).charter.version === 2,
      30_000,
    )
  }
  const registrar = net.officer('DVA')
  const tag = randomBytes(5).toString('hex').toUpperCase()
  const reg = citizenRegistration(registrar, 'DVA')
  const presence = registrar.record(
    'presence.registered',
    reg.citizenId,
    { from: Date.now() - 1000, until: null },
    { salt: registrar.salt(), country: 'FJ', region: `Afterwards${tag}`, address: `1 Expulsion Lane ${tag}` },
  )
  for (const r of [reg, presence]) expect((await n0.post('/v1/records', toSubmission(r))).status).toBe(201)
  // Node 1 has it, payloads included; node 2, still running, has had every chance to get it.
  await eventually(
    'node 1 to hold the presence',
    async () => {
      const r = await read<CitizenFile>(
        n1,
        `/v1/citizens/${reg.citizenId}?purpose=consular-assistance`,
        registrar,
      )
      return r.body.presence?.region === `Afterwards${tag}`
    },
    30_000,
  )
  await new Promise((r) => setTimeout(r, 3_000))
  const at2 = await fetch(`${n2.url}/v1/records/${reg.id}`, {
    headers: registrar.sign({ method: 'GET', path: `/v1/records/${reg.id}` }),
  })
  expect(at2.status).not.toBe(200)
  await n2.stop()
  const bytes = await allBytes(n2.dir)
  expect([`Afterwards${tag}`, `1 Expulsion Lane ${tag}`].filter((v) => bytes.includes(v))).toEqual([])
  expect(bytes.includes(reg.citizenId)).toBe(false)
})

it('seals personal data on every node, logs officers’ reads for the citizen, and erases everywhere — a node down and a restored backup included', {
  timeout: 240_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3, logLevel: 'info' })
  const [n0, n1, n2] = net.nodes as [TestNode, TestNode, TestNode]
  const registrar = net.officer('DVA')
  const consul = net.officer('DVB')
  const tag = randomBytes(5).toString('hex').toUpperCase()
  const secrets = {
    given: `Zephyrine${tag}`,
    family: `Okonkwo${tag}`,
    place: `Quillabamba${tag}`,
    passport: `QX${tag}`,
    email: `z${tag.toLowerCase()}@mail.example`,
    region: `Highlands${tag}`,
    address: `7 Rue Calixte${tag}`,
    details: `Lost at the market ${tag}`,
  }
  const keys = generateKeyPair(ed)
  const citizenId = keyId(keys.publicKey)
  const citizen = new LegationClient({ ed, bloc: net.bloc, charter: net.charterHash, keys })
  const records = [
    registrar.record(
      'citizen.registered',
      citizenId,
      {
        citizenKey: keys.publicKey,
        nationality: 'DVA',
        consent: { purposes: ['consular-assistance'], version: 1 },
      },
      {
        salt: registrar.salt(),
        names: { given: secrets.given, family: secrets.family },
        birth: { date: '1979-11-23', place: secrets.place },
        travelDocument: { type: 'passport', number: secrets.passport, issuer: 'DVA', expires: '2032-02-02' },
        contact: { email: secrets.email },
      },
    ),
    registrar.record(
      'presence.registered',
      citizenId,
      { from: Date.now() - 1000, until: null },
      { salt: registrar.salt(), country: 'FJ', region: secrets.region, address: secrets.address },
    ),
  ]
  for (const r of records) expect((await n0.post('/v1/records', toSubmission(r))).status).toBe(201)
  const opened = registrar.record(
    'case.opened',
    citizenId,
    { caseType: 'emergency-travel-document' },
    { salt: registrar.salt(), details: secrets.details },
  )
  expect((await n0.post('/v1/records', toSubmission(opened))).status).toBe(201)
  const file = `/v1/citizens/${citizenId}`

  // 1. Any node serves the file once the payloads replicated — to an officer who states why.
  for (const n of [n1, n2]) {
    await eventually(
      `the file at node ${n.index}`,
      async () =>
        (await read<CitizenFile>(n, file, citizen)).body.travelDocument?.number === secrets.passport,
      30_000,
    )
  }
  expect((await read<{ code: string }>(n1, file, consul)).body.code).toBe('PURPOSE_REQUIRED')
  const seen = await read<CitizenFile>(n1, `${file}?purpose=consular-assistance`, consul)
  expect(seen.status).toBe(200)
  expect(seen.body.names?.given).toBe(secrets.given)

  // 2. The citizen sees that read at another node: the log replicated with the node's feed.
  const log = await eventually(
    'the read in the access log at node 2',
    async () => {
      const r = await read<{ reads: Array<{ state: string; purpose: string; shown: string; node: string }> }>(
        n2,
        `${file}/access-log`,
        citizen,
      )
      return r.body.reads?.length === 1 ? r.body.reads : undefined
    },
    30_000,
  )
  expect(log[0]).toMatchObject({
    state: 'DVB',
    purpose: 'consular-assistance',
    shown: 'file',
    node: n1.nodeId,
  })

  // The citizen's export, from any node, holds every value of theirs, with the signed records.
  const exported = await read<{ records: Array<{ kind: string; record: string }> }>(
    n2,
    `${file}/export`,
    citizen,
  )
  expect(exported.status).toBe(200)
  const text = JSON.stringify(exported.body)
  expect(Object.values(secrets).filter((v) => !text.includes(v))).toEqual([])
  expect(exported.body.records.map((r) => r.kind).sort()).toEqual([
    'access.logged',
    'case.opened',
    'citizen.registered',
    'presence.registered',
  ])

  // 3. No node's files or log hold any of the personal values.
  for (const n of net.nodes) {
    const bytes = await allBytes(n.dir)
    expect(
      Object.values(secrets).filter((v) => bytes.includes(v)),
      `node ${n.index}`,
    ).toEqual([])
  }

  // 4. A backup of node 1 (a cold copy of its folder), then node 2 goes down.
  await n1.stop()
  const backup = `${n1.dir}.backup`
  await cp(n1.dir, backup, { recursive: true })
  await n1.start()
  await n2.stop()

  // 5. The nationality state erases the citizen at node 0.
  const erase = registrar.record('citizen.erased', citizenId, { reason: 'court-order' })
  expect((await n0.post('/v1/records', toSubmission(erase))).status).toBe(201)
  const erased = async (n: TestNode) => {
    const r = await read<CitizenFile>(n, `${file}?purpose=legal-obligation`, registrar)
    return r.status === 200 && r.body.erased && r.body.names === null && r.body.travelDocument === null
  }
  expect(await erased(n0)).toBe(true)
  await eventually('the erasure at node 1', () => erased(n1), 30_000)

  // 6. Node 2 comes back; node 1 is restored from the backup taken before the erasure. Neither
  // shows the citizen's data at any time: until they caught up they serve no personal data.
  await n2.start()
  await n1.stop()
  await rm(n1.dir, { recursive: true })
  await cp(backup, n1.dir, { recursive: true })
  await n1.start()
  for (const n of [n1, n2]) {
    await eventually(
      `the erasure at node ${n.index}`,
      async () => {
        const r = await read<CitizenFile & { code?: string }>(
          n,
          `${file}?purpose=legal-obligation`,
          registrar,
        )
        if (r.status === 503) {
          expect(r.body.code).toBe('NOT_CAUGHT_UP')
          return false
        }
        expect(r.status).toBe(200)
        expect(r.body.names).toBeNull() // never the old data, even on the first answer
        return r.body.erased
      },
      60_000,
    )
  }
  // The erased data is gone from node 0's and node 2's files too (the values, not only hidden).
  await n0.stop()
  await n1.stop()
  await n2.stop()
  await rm(backup, { recursive: true })
  for (const n of net.nodes) {
    const store = await LevelStore.open(join(n.dir, 'db'))
    try {
      const report = await auditStore(store, ed)
      expect(report.problems, `node ${n.index}`).toEqual([])
      expect(report.ok).toBe(true)
    } finally {
      await store.close()
    }
  }
})

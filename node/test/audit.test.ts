/**
 * The offline audit of a store names what is wrong with it, where: a clean store has nothing to
 * report; a changed byte in a stored entry, a rewritten entry, a tree that does not match the
 * entries, and a record signed after its officer's revocation are each named, with the signed
 * material that shows it.
 */
import {
  certificateId,
  type EntryBody,
  encodeCanonical,
  encodeEntry,
  openEntry,
  signEntry,
  signRevocation,
  toHex,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import { auditStore } from '../src/audit.ts'
import { Engine } from '../src/engine/engine.ts'
import { deleteEntryRows, putEntryRows, readEntry } from '../src/engine/entry-rows.ts'
import { K, recordIdOf } from '../src/engine/keys.ts'
import { MemoryStore } from '../src/storage/memory-store.ts'
import { prefixRange, type Store } from '../src/storage/store.ts'
import { ed, registration, testBloc } from './fixtures.ts'

async function storeWith(records: number) {
  const bloc = testBloc(1)
  const store = new MemoryStore()
  const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
  const officer = bloc.officer('AAA')
  for (let i = 0; i < records; i++) expect((await engine.submit([registration(officer)]))[0]?.ok).toBe(true)
  await engine.stop()
  return { bloc, store, engine, officer, origin: engine.nodeId }
}

/** Stores other bytes as an entry, as one rewriting the store would. */
async function replaceEntry(store: Store, origin: string, seq: number, bytes: Uint8Array) {
  const ops = await deleteEntryRows(store, origin, seq)
  putEntryRows(ops, origin, seq, bytes)
  await store.write(ops)
}

const kinds = (r: Awaited<ReturnType<typeof auditStore>>) => r.findings.map((f) => [f.kind, f.feed, f.seq])

describe('auditStore', () => {
  it('finds nothing wrong with a clean store, and replays it to the same state root', async () => {
    const { store, origin, bloc } = await storeWith(5)
    const report = await auditStore(store, ed, { charter: bloc.chain })
    expect(report.findings).toEqual([])
    expect(report).toMatchObject({ ok: true, entries: 5, records: 5, feeds: { [origin]: 5 } })
    expect(report.trees[origin]!.stored).toBe(report.trees[origin]!.recomputed)
    expect(report.replayedRoot).toBe(report.storedRoot)
  })

  it('names a byte changed in a stored entry, with the entry as stored', async () => {
    const { store, origin } = await storeWith(4)
    const bytes = (await readEntry(store, origin, 2))!
    bytes[20]! ^= 0x01 // in the signature
    await replaceEntry(store, origin, 2, bytes)
    const report = await auditStore(store, ed)
    expect(report.ok).toBe(false)
    expect(kinds(report)[0]).toEqual(['entry-signature', origin, 2])
    expect(toHex(report.findings[0]!.material!.entries![0]!)).toBe(toHex(bytes))
  })

  it('names an entry its node rewrote: the chain breaks after it and the tree no longer matches', async () => {
    const { store, origin, bloc } = await storeWith(4)
    const old = openEntry((await readEntry(store, origin, 2))!).entry
    const body: EntryBody = { ...old.body, hlc: [old.body.hlc[0], old.body.hlc[1] + 1] }
    const rewritten = encodeEntry(signEntry(ed, body, bloc.nodes[0]!.keys.secretKey))
    await replaceEntry(store, origin, 2, rewritten)
    const report = await auditStore(store, ed)
    expect(kinds(report)).toEqual(
      expect.arrayContaining([
        ['chain-broken', origin, 3],
        ['root-mismatch', origin, null],
      ]),
    )
    // The proof of the broken chain: the rewritten entry and the one after it, both signed by the node.
    const chain = report.findings.find((f) => f.kind === 'chain-broken')!
    expect(chain.material!.entries!.map(toHex)).toEqual([
      toHex(rewritten),
      toHex((await readEntry(store, origin, 3))!),
    ])
  })

  it('names a stored tree whose root is not the root of the entries', async () => {
    const { store, origin } = await storeWith(3)
    await store.write([{ type: 'put', key: K.subtree(origin, 1, 0), value: new Uint8Array(32).fill(7) }])
    const report = await auditStore(store, ed)
    expect(kinds(report)).toEqual([['root-mismatch', origin, null]])
    expect(report.trees[origin]!.stored).not.toBe(report.trees[origin]!.recomputed)
  })

  it('names a record signed under a certificate its state had revoked by then, not one signed before', async () => {
    const { store, origin, bloc, officer } = await storeWith(3)
    const second = openEntry((await readEntry(store, origin, 2))!).entry
    const record = second.body.changes[0]!.records[0]!
    const certId = certificateId(officer.cert!)
    const revocation = signRevocation(
      ed,
      {
        type: 'revocation',
        bloc: bloc.bloc,
        state: 'AAA',
        cert: certId,
        at: record.header.at,
        reason: 'key-compromise',
      },
      bloc.stateKeys.AAA!.secretKey,
    )
    await store.write([{ type: 'put', key: K.revocation('AAA', certId), value: encodeCanonical(revocation) }])
    const report = await auditStore(store, ed)
    // Records signed at or after the revocation's time (2, 3 and any signed in the same ms).
    const at = async (seq: number) =>
      openEntry((await readEntry(store, origin, seq))!).entry.body.changes[0]!.records[0]!.header.at
    const after = []
    for (const seq of [1, 2, 3])
      if ((await at(seq)) >= record.header.at) after.push(['record-revoked', origin, seq])
    expect(after.length).toBeGreaterThanOrEqual(2)
    expect(kinds(report).filter(([k]) => k === 'record-revoked')).toEqual(after)
    expect(report.findings[0]!.material!.revocations).toEqual([revocation])
  })

  it('names a reads-logged list that is not the replay’s: a listed id that would hide a record, a read not listed', async () => {
    const bloc = testBloc(1)
    const store = new MemoryStore()
    const engine = await Engine.open({ store, ed, nodeKeys: bloc.nodes[0]!.keys, charter: bloc.chain })
    const reg = registration(bloc.officer('AAA'))
    expect((await engine.submit([reg]))[0]?.ok).toBe(true)
    const read = {
      officer: 'ab'.repeat(32),
      state: 'AAA',
      purpose: 'consular-assistance',
      shown: 'file',
    } as const
    await engine.logAccess([{ citizen: reg.citizenId, ...read }])
    await engine.stop()
    // A clean store with a logged read: the replay lists it as the store does.
    expect((await auditStore(store, ed)).findings).toEqual([])
    const listed: string[] = []
    for await (const [key] of store.range(prefixRange(K.accessLogOf(reg.citizenId)))) listed.push(key)
    expect(listed).toHaveLength(1)
    const readId = recordIdOf(K.records + listed[0]!.slice(K.accessLogOf(reg.citizenId).length))

    // The read unlisted, the registration listed in its place (as store damage or a bug would).
    await store.write([
      { type: 'del', key: listed[0]! },
      { type: 'put', key: K.accessLog(reg.citizenId, reg.id), value: new Uint8Array() },
    ])
    const report = await auditStore(store, ed)
    expect(report.ok).toBe(false)
    expect(report.findings.map((f) => [f.kind, f.record])).toEqual(
      expect.arrayContaining([
        ['derived-mismatch', reg.id],
        ['derived-mismatch', readId],
      ]),
    )
    expect(report.findings).toHaveLength(2)
    expect(report.findings.find((f) => f.record === reg.id)!.detail).toContain('would leave it out')
    expect(report.findings.find((f) => f.record === readId)!.detail).toContain('does not list')
    // Named by record: the citizen is not named in the report.
    expect(JSON.stringify(report.findings)).not.toContain(reg.citizenId)
    expect(report.accessLogsSkipped).toBeNull()
    // The state root covers neither list: it still matches.
    expect(report.replayedRoot).toBe(report.storedRoot)
    // Without a replay there is nothing to compare the list with.
    expect((await auditStore(store, ed, { replay: false })).findings).toEqual([])

    // A store not yet listing its reads (before data format 7, or a migration cut short) is not
    // held to the replay's list: a node lists them when it next starts.
    const format = (await store.get(K.format))!
    await store.write([{ type: 'put', key: K.format, value: new TextEncoder().encode('6') }])
    const old = await auditStore(store, ed)
    expect(old.findings).toEqual([])
    expect(old.accessLogsSkipped).toMatch(/data format 6/)
    await store.write([
      { type: 'put', key: K.format, value: format },
      { type: 'put', key: K.migrating, value: new TextEncoder().encode('6') },
    ])
    const migrating = await auditStore(store, ed)
    expect(migrating.findings).toEqual([])
    expect(migrating.accessLogsSkipped).toMatch(/migration cut short/)
  })

  it('refuses to audit a store of another bloc under the auditor’s charter', async () => {
    const { store } = await storeWith(1)
    await expect(auditStore(store, ed, { charter: testBloc(1).chain })).rejects.toMatchObject({
      code: 'BLOC_MISMATCH',
    })
  })
})

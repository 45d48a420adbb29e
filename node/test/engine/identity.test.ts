/**
 * The identity rule on a node and on its replicas: an officer of another state cannot register
 * a citizen again (refused where it is submitted), and should a node accept such a record anyway,
 * no replica takes its nationality or names.
 */
import {
  applyLocal,
  decodeCanonical,
  decodeEntry,
  type EntryBody,
  entryHash,
  loadDoc,
  sealEntry,
  toHex,
} from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { Engine } from '../../src/engine/engine.ts'
import { citizenView } from '../../src/engine/views.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { ed, registration, testBloc } from '../fixtures.ts'

function engineFor(bloc: ReturnType<typeof testBloc>, i: number) {
  return Engine.open({ store: new MemoryStore(), ed, nodeKeys: bloc.nodes[i]!.keys, charter: bloc.chain })
}

describe('identity and nationality', () => {
  it('a node refuses another state’s re-registration of a citizen', async () => {
    const bloc = testBloc(1)
    const engine = await engineFor(bloc, 0)
    const reg = registration(bloc.officer('AAA'), 'AAA')
    expect((await engine.submit([reg]))[0]?.ok).toBe(true)
    const hijack = registration(bloc.officer('BBB'), 'BBB', reg.citizenKeys)
    const [out] = await engine.submit([hijack])
    expect(!out?.ok && out?.error.code).toBe('RECORD_UNAUTHORIZED')
    expect((await engine.getSummary(reg.citizenId))?.nationality).toBe('AAA')
  })

  it('a replica ignores such a re-registration that a node accepted against the rule', async () => {
    const bloc = testBloc(2)
    const [a, b] = await Promise.all([engineFor(bloc, 0), engineFor(bloc, 1)])
    const sent: Array<{ bytes: Uint8Array; payloads: Map<string, Uint8Array> }> = []
    a.onEntry((_e, bytes, payloads) => sent.push({ bytes, payloads }))
    const reg = registration(bloc.officer('AAA'), 'AAA')
    expect((await a.submit([reg]))[0]?.ok).toBe(true)
    // Node 0 breaks the rule: it puts a BBB officer's re-registration (as BBB, new names and
    // passport) in its next entry, properly signed.
    const hijack = registration(bloc.officer('BBB'), 'BBB', reg.citizenKeys)
    const first = decodeEntry(sent[0]!.bytes)
    const doc = loadDoc(undefined, undefined, reg.citizenId)
    Y.applyUpdate(doc, first.body.changes[0]!.update)
    doc.clientID = bloc.nodes[0]!.clientId
    const update = applyLocal(doc, [{ id: hijack.id, header: hijack.record.header }], (id) =>
      id === reg.id ? reg.record.header : undefined,
    )
    const body: EntryBody = {
      ...first.body,
      seq: 2,
      prev: entryHash(first.body),
      hlc: [first.body.hlc[0] + 1, 0],
      changes: [{ doc: reg.citizenId, update, records: [hijack.record] }],
    }
    const forged = sealEntry(ed, body, bloc.nodes[0]!.keys.secretKey)
    const payloads = new Map([...sent[0]!.payloads, [toHex(hijack.record.header.payload!), hijack.payload!]])
    expect(await b.applyRemoteMany([sent[0]!.bytes, forged.bytes], payloads)).toEqual(['applied', 'applied'])
    // The record is in the citizen's history (history is not rewritten), and changes nothing.
    expect(await b.docRecords(reg.citizenId)).toContain(hijack.id)
    expect((await b.getSummary(reg.citizenId))?.nationality).toBe('AAA')
    const view = await citizenView(b, reg.citizenId)
    expect(view?.nationality).toBe('AAA')
    const names = (p: Uint8Array | null) => (decodeCanonical(p!) as { names: unknown }).names
    expect(view?.names).toEqual(names(reg.payload))
    expect(view?.names).not.toEqual(names(hijack.payload))
    expect(view?.travelDocument).toMatchObject({ issuer: 'AAA' })
  })
})

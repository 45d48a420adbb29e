import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeSyncMessage,
  encodeCanonical,
  encodeSyncMessage,
  keyId,
  PROTOCOL_ERRORS,
  ProtocolError,
  type SyncMessage,
  signNodeUrl,
  signReceipt,
  syncProtocol,
  verifyNodeUrl,
  verifyReceipt,
} from '../src/index.ts'
import { expectCode, makeBloc } from './fixtures.ts'

const bloc = makeBloc()
const node = bloc.founders[0]!.nodes[0]!
const NODE = keyId(node.keys.publicKey)

describe('sync messages', () => {
  it('round-trip', () => {
    const messages: SyncMessage[] = [
      { t: 'hello', bloc: bloc.view.bloc, charter: { hash: bloc.view.hash, version: 1 }, vv: { [NODE]: 3 } },
      { t: 'status', vv: {} },
      { t: 'want', origin: NODE, from: 4, limit: 100 },
      { t: 'wantPayload', digests: [new Uint8Array(32)] },
    ]
    for (const m of messages) expect(decodeSyncMessage(encodeSyncMessage(m))).toEqual(m)
  })

  it('a version vector keyed by anything but node ids is refused', () => {
    const bad = encodeCanonical({ t: 'status', vv: { 'not-a-node': 1 } })
    expectCode(() => decodeSyncMessage(bad), 'SCHEMA_INVALID')
  })

  it('a message that names one thing twice is malformed: each item costs its receiver work', () => {
    const digest = new Uint8Array(32).fill(7)
    const receipt = signReceipt(
      bloc.ed,
      { node: NODE, origin: NODE, seq: 1, entry: digest },
      node.keys.secretKey,
    )
    const repeated: SyncMessage[] = [
      {
        t: 'wantReceipts',
        entries: [
          { origin: NODE, seq: 3 },
          { origin: NODE, seq: 3 },
        ],
      },
      { t: 'wantPayload', digests: [digest, digest.slice()] },
      {
        t: 'entries',
        entries: [],
        payloads: [
          { d: digest, p: new Uint8Array(1) },
          { d: digest, p: new Uint8Array(2) },
        ],
      },
      { t: 'stored', receipts: [receipt, receipt] },
      {
        t: 'dutyDone',
        done: [
          { id: 'ab'.repeat(32), node: NODE, at: 1 },
          { id: 'ab'.repeat(32), node: NODE, at: 2 },
        ],
      },
    ]
    for (const m of repeated) expectCode(() => decodeSyncMessage(encodeSyncMessage(m)), 'SCHEMA_INVALID')
    // The same items once each are fine.
    const once: SyncMessage[] = [
      {
        t: 'wantReceipts',
        entries: [
          { origin: NODE, seq: 3 },
          { origin: NODE, seq: 4 },
        ],
      },
      { t: 'wantPayload', digests: [digest, new Uint8Array(32)] },
    ]
    for (const m of once) expect(decodeSyncMessage(encodeSyncMessage(m))).toEqual(m)
  })

  it('a node address announcement round-trips, verifies under its node key only, and names a node once', () => {
    const a = signNodeUrl(bloc.ed, { node: NODE, url: 'https://node-a.example', at: 5 }, node.keys.secretKey)
    const m: SyncMessage = { t: 'nodeUrls', list: [a] }
    expect(decodeSyncMessage(encodeSyncMessage(m))).toEqual(m)
    expect(verifyNodeUrl(bloc.ed, a, node.keys.publicKey)).toBe(true)
    expect(
      verifyNodeUrl(bloc.ed, { ...a, body: { ...a.body, url: 'https://evil.example' } }, node.keys.publicKey),
    ).toBe(false)
    expect(verifyNodeUrl(bloc.ed, a, bloc.founders[1]!.nodes[0]!.keys.publicKey)).toBe(false)
    const b = signNodeUrl(bloc.ed, { node: NODE, url: 'https://node-b.example', at: 6 }, node.keys.secretKey)
    expectCode(() => decodeSyncMessage(encodeSyncMessage({ t: 'nodeUrls', list: [a, b] })), 'SCHEMA_INVALID')
    // Only http(s) addresses.
    const js = encodeCanonical({
      t: 'nodeUrls',
      list: [{ ...a, body: { ...a.body, url: 'javascript:alert(1)' } }],
    })
    expectCode(() => decodeSyncMessage(js), 'SCHEMA_INVALID')
  })

  it('the protocol id is versioned and bloc-specific', () => {
    expect(syncProtocol(bloc.view.bloc)).toBe(`/legation/${bloc.view.bloc.slice(0, 16)}/sync/1.0.0`)
  })

  it('a receipt verifies under the signing node key only', () => {
    const body = { node: NODE, origin: NODE, seq: 1, entry: new Uint8Array(32) }
    const r = signReceipt(bloc.ed, body, node.keys.secretKey)
    expect(verifyReceipt(bloc.ed, r, node.keys.publicKey)).toBe(true)
    expect(verifyReceipt(bloc.ed, { ...r, body: { ...body, seq: 2 } }, node.keys.publicKey)).toBe(false)
    expect(verifyReceipt(bloc.ed, r, bloc.founders[1]!.nodes[0]!.keys.publicKey)).toBe(false)
  })

  it('fuzz: a frame decodes or throws a ProtocolError', () => {
    const valid = encodeSyncMessage({ t: 'status', vv: { [NODE]: 3 } })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(fc.nat(valid.length - 1), fc.nat(255)).map(([at, v]) => {
            const b = Uint8Array.from(valid)
            b[at] = v
            return b
          }),
        ),
        (frame) => {
          try {
            decodeSyncMessage(frame)
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError)
            expect(Object.keys(PROTOCOL_ERRORS)).toContain((err as ProtocolError).code)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyLocal,
  checkChain,
  createDoc,
  decodeCanonical,
  decodeEntry,
  depsSatisfied,
  type EntryBody,
  encodeCanonical,
  encodeEntry,
  entryHash,
  entryPayloadDigests,
  isEquivocation,
  type KnownEncodings,
  keyId,
  MAX_ENTRY_BYTES,
  recordEncodings,
  removeNode,
  type SignedEntry,
  signAmendment,
  signEntry,
  submittedEncodings,
  toHex,
  type VerifyContext,
  verifyAmendment,
  verifyEntrySignature,
  verifyRecord,
} from '../src/index.ts'
import { DAY, expectCode, makeBloc, registration, registrationPayload, T0, testKeyPair } from './fixtures.ts'

const bloc = makeBloc()
const ed = bloc.ed
const BLOC = bloc.view.bloc
const atNode = bloc.founders[0]!.nodes[0]!
const beNode = bloc.founders[1]!.nodes[0]!
const AT = keyId(atNode.keys.publicKey)
const BE = keyId(beNode.keys.publicKey)
const officer = bloc.officer('AT', ['consul'], 200)
const citizen = bloc.citizen(300)
const reg = officer.client.record(
  'citizen.registered',
  citizen.id,
  registration(citizen.keys.publicKey, 'BE'),
  registrationPayload(1),
)
const update = applyLocal(
  createDoc(atNode.clientId),
  [{ id: reg.id, header: reg.record.header }],
  () => undefined,
)

function body(seq: number, prev: Uint8Array | null, extra: Partial<EntryBody> = {}): EntryBody {
  return {
    v: 1,
    bloc: BLOC,
    origin: AT,
    seq,
    prev,
    hlc: [T0 + seq, 0],
    deps: {},
    changes: [{ doc: citizen.id, update, records: [reg.record] }],
    ...extra,
  }
}
const sign = (b: EntryBody, secret = atNode.keys.secretKey): SignedEntry => signEntry(ed, b, secret)

/** The citizen registering themself: a record signed without a certificate. */
const own = citizen.record(
  'citizen.registered',
  citizen.id,
  registration(citizen.keys.publicKey, 'BE'),
  registrationPayload(2),
)
/** A record about no citizen, whose record names no payload. */
const alert = officer.client.record('alert.issued', null, {
  country: 'KE',
  region: null,
  severity: 'advisory',
  title: 'Elections',
  message: 'Avoid crowds.',
})

const e1 = sign(body(1, null))
const e2 = sign(body(2, entryHash(e1.body)))

describe('feed entries', () => {
  it('encode and decode to the same entry, and verify as the origin node', () => {
    const back = decodeEntry(encodeEntry(e2))
    expect(toHex(encodeEntry(back))).toBe(toHex(encodeEntry(e2)))
    const node = verifyEntrySignature(ed, back, BLOC, [bloc.view])
    expect(node.nodeId).toBe(AT)
    expect(node.state).toBe('AT')
    expect(node.clientId).toBe(atNode.clientId)
  })

  it('names the payload digests of its records, read off its bytes, as its decoded form does', () => {
    const bytes = encodeEntry(
      sign(
        body(1, null, {
          changes: [
            { doc: citizen.id, update, records: [reg.record] },
            { doc: 'alerts', update, records: [alert.record, reg.record] },
          ],
        }),
      ),
    )
    const decoded = decodeEntry(bytes).body.changes.flatMap((c) =>
      c.records.flatMap((r) => r.header.payload ?? []),
    )
    expect(decoded).toHaveLength(2) // the alert names no payload
    expect(entryPayloadDigests(bytes)).toEqual(decoded)
  })

  it('reads each record’s header and certificate bytes off the entry it was decoded from, as their encodings', () => {
    const bytes = encodeEntry(
      sign(
        body(1, null, {
          changes: [
            { doc: citizen.id, update, records: [reg.record, own.record] },
            { doc: 'alerts', update, records: [alert.record] },
          ],
        }),
      ),
    )
    const entry = decodeEntry(bytes)
    const known: KnownEncodings = new WeakMap()
    recordEncodings(entry, bytes, known)
    const records = entry.body.changes.flatMap((c) => c.records)
    expect(records.map((r) => r.cert === null)).toEqual([false, true, false])
    for (const r of records) {
      expect(known.get(r.header)).toEqual(encodeCanonical(r.header))
      if (r.cert) expect(known.get(r.cert)).toEqual(encodeCanonical(r.cert))
      // The same verdict, id and authority (or error) as when encoded again.
      const verdict = (ctx: VerifyContext) => {
        try {
          return verifyRecord(ctx, r, BLOC)
        } catch (err) {
          return (err as { code: string }).code
        }
      }
      expect(verdict({ ...bloc.ctx, known })).toEqual(verdict(bloc.ctx))
    }
    // Bytes of another entry, of another count of records, give nothing to misread.
    const none: KnownEncodings = new WeakMap()
    recordEncodings(entry, encodeEntry(e1), none)
    expect(records.map((r) => none.has(r.header))).toEqual([false, false, false])
    // Any bytes decodeEntry accepts (here: the entry with bytes changed) read the same way.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.nat(255)), { minLength: 1, maxLength: 3 }),
        (edits) => {
          const changed = bytes.slice()
          for (const [at, v] of edits) changed[at] = v
          let decoded: SignedEntry
          try {
            decoded = decodeEntry(changed)
          } catch {
            return
          }
          const k: KnownEncodings = new WeakMap()
          recordEncodings(decoded, changed, k)
          for (const r of decoded.body.changes.flatMap((c) => c.records)) {
            expect(k.get(r.header)).toEqual(encodeCanonical(r.header))
            if (r.cert) expect(k.get(r.cert)).toEqual(encodeCanonical(r.cert))
          }
        },
      ),
      { numRuns: 2_000 },
    )
  })

  it('reads a submitted record’s header and certificate bytes off the bytes it was decoded from, whatever its shape', () => {
    const subs = [reg.record, own.record, 7, { header: 'text', cert: null }, { sig: 1 }].map((r) => {
      const bytes = encodeCanonical(r)
      return { record: decodeCanonical(bytes) as Record<string, unknown>, bytes }
    })
    const known = submittedEncodings([...subs, { record: reg.record }])
    const [officers, citizens] = subs as unknown as Array<{ record: { header: object; cert: object | null } }>
    expect(known.get(officers!.record.header)).toEqual(encodeCanonical(reg.record.header))
    expect(known.get(officers!.record.cert!)).toEqual(encodeCanonical(reg.record.cert))
    expect(known.get(citizens!.record.header)).toEqual(encodeCanonical(own.record.header))
    // Without its bytes, a record is encoded as before.
    expect(known.get(reg.record.header)).toBeUndefined()
    expect(verifyRecord({ ...bloc.ctx, known }, officers!.record, BLOC)).toEqual(
      verifyRecord(bloc.ctx, reg.record, BLOC),
    )
  })

  it('chain: seq 1 first, then each entry names the hash of the previous one', () => {
    checkChain(undefined, e1.body)
    checkChain(e1.body, e2.body)
  })

  it('chain: a sequence gap is refused with ENTRY_CHAIN_BROKEN', () => {
    expectCode(() => checkChain(e1.body, body(3, entryHash(e1.body))), 'ENTRY_CHAIN_BROKEN')
    expectCode(() => checkChain(e2.body, body(2, entryHash(e2.body))), 'ENTRY_CHAIN_BROKEN')
    expectCode(() => checkChain(undefined, e2.body), 'ENTRY_CHAIN_BROKEN')
  })

  it('chain: a wrong or missing prev is refused with ENTRY_CHAIN_BROKEN', () => {
    expectCode(() => checkChain(e1.body, body(2, new Uint8Array(32))), 'ENTRY_CHAIN_BROKEN')
    expectCode(() => checkChain(e1.body, body(2, null)), 'ENTRY_CHAIN_BROKEN')
    expectCode(() => checkChain(undefined, body(1, entryHash(e1.body))), 'ENTRY_CHAIN_BROKEN')
    // The hash covers the whole body: the same seq with other changes is another entry.
    const other = body(1, null, { hlc: [T0 + 99, 0] })
    expectCode(() => checkChain(other, e2.body), 'ENTRY_CHAIN_BROKEN')
  })

  it('chain: an entry of another origin does not continue this feed', () => {
    expectCode(() => checkChain(e1.body, { ...e2.body, origin: BE }), 'ENTRY_CHAIN_BROKEN')
  })

  it('an entry signed by a key no charter certifies is refused', () => {
    const rogue = testKeyPair(ed, 400)
    const own = sign(body(1, null, { origin: keyId(rogue.publicKey) }), rogue.secretKey)
    expectCode(() => verifyEntrySignature(ed, own, BLOC, [bloc.view]), 'ENTRY_INVALID')
    // Claiming to be the AT node does not help: the signature is checked with AT's certified key.
    const impostor = sign(body(1, null), rogue.secretKey)
    expectCode(() => verifyEntrySignature(ed, impostor, BLOC, [bloc.view]), 'SIGNATURE_INVALID')
    // Nor does another certified node signing in AT's name.
    const byBe = sign(body(1, null), beNode.keys.secretKey)
    expectCode(() => verifyEntrySignature(ed, byBe, BLOC, [bloc.view]), 'SIGNATURE_INVALID')
  })

  it('an entry altered after signing is refused with SIGNATURE_INVALID', () => {
    const altered = { ...e1, body: { ...e1.body, hlc: [T0 + 5, 0] as [number, number] } }
    expectCode(() => verifyEntrySignature(ed, altered, BLOC, [bloc.view]), 'SIGNATURE_INVALID')
  })

  it('an entry of another bloc is refused with BLOC_MISMATCH', () => {
    const other = sign(body(1, null, { bloc: 'ee'.repeat(32) }))
    expectCode(() => verifyEntrySignature(ed, other, BLOC, [bloc.view]), 'BLOC_MISMATCH')
  })

  it('an entry may not depend on its own origin', () => {
    const self = sign(body(2, entryHash(e1.body), { deps: { [AT]: 1 } }))
    expectCode(() => verifyEntrySignature(ed, self, BLOC, [bloc.view]), 'ENTRY_INVALID')
  })

  it("a removed node's earlier entries still verify against the versions that certified it", () => {
    const draft = removeNode(bloc.view, AT, { issuedAt: T0 + DAY })
    const v2 = verifyAmendment(
      ed,
      bloc.view,
      signAmendment(ed, draft, [
        { code: 'BE', secretKey: bloc.stateSecret('BE') },
        { code: 'CZ', secretKey: bloc.stateSecret('CZ') },
      ]),
    )
    expect(verifyEntrySignature(ed, e1, BLOC, [bloc.view, v2]).nodeId).toBe(AT)
    expectCode(() => verifyEntrySignature(ed, e1, BLOC, [v2]), 'ENTRY_INVALID')
  })

  it('decoding refuses malformed entries', () => {
    // deps keys must be node ids.
    const badDeps = { ...e1, body: { ...e1.body, deps: { 'not-a-node': 1 } } }
    expectCode(() => decodeEntry(encodeCanonical(badDeps)), 'SCHEMA_INVALID')
    const zeroDep = { ...e1, body: { ...e1.body, deps: { [BE]: 0 } } }
    expectCode(() => decodeEntry(encodeCanonical(zeroDep)), 'SCHEMA_INVALID')
    const noChanges = { ...e1, body: { ...e1.body, changes: [] } }
    expectCode(() => decodeEntry(encodeCanonical(noChanges)), 'SCHEMA_INVALID')
    const seq0 = { ...e1, body: { ...e1.body, seq: 0 } }
    expectCode(() => decodeEntry(encodeCanonical(seq0)), 'SCHEMA_INVALID')
    expectCode(() => decodeEntry(encodeCanonical({ ...e1, extra: true })), 'SCHEMA_INVALID')
    const huge = encodeCanonical({ ...e1, pad: new Uint8Array(MAX_ENTRY_BYTES) })
    expectCode(() => decodeEntry(huge), 'ENCODING_TOO_LARGE')
    expectCode(() => decodeEntry(encodeEntry(e1).subarray(1)), 'ENCODING_MALFORMED')
  })

  it('equivocation: two different entries for one (origin, seq) are detected', () => {
    const fork = sign(body(2, entryHash(e1.body), { hlc: [T0 + 7, 3] }))
    expect(isEquivocation(e2, fork)).toBe(true)
    expect(isEquivocation(fork, e2)).toBe(true)
    // Both are validly signed: together they are proof against the origin.
    expect(verifyEntrySignature(ed, fork, BLOC, [bloc.view]).nodeId).toBe(AT)
    expect(isEquivocation(e2, decodeEntry(encodeEntry(e2)))).toBe(false)
    expect(isEquivocation(e1, e2)).toBe(false)
    const beEntry = sign(body(2, null, { origin: BE }), beNode.keys.secretKey)
    expect(isEquivocation(e2, beEntry)).toBe(false)
  })

  it('deps are satisfied once the version vector covers them', () => {
    expect(depsSatisfied({}, {})).toBe(true)
    expect(depsSatisfied({ [BE]: 2 }, { [BE]: 1 })).toBe(false)
    expect(depsSatisfied({ [BE]: 2 }, { [BE]: 2, [AT]: 9 })).toBe(true)
    expect(depsSatisfied({ [BE]: 1 }, { [AT]: 9 })).toBe(false)
  })
})

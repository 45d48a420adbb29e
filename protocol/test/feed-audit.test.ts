/**
 * The audit's checks of a feed name each fault where it is: a clean feed has none, and a
 * changed byte, a broken chain, a record after its officer's revocation, a forged revocation,
 * a rewritten entry are each named, at the right entry, and the recomputed roots are RFC 6962's.
 */
import { describe, expect, it } from 'vitest'
import {
  applyLocal,
  BoundedSet,
  checkEntry,
  createDoc,
  type EntryBody,
  encodeEntry,
  entryHash,
  type FeedAuditContext,
  FeedChain,
  keyId,
  leafHash,
  revocationIndex,
  rootOf,
  type SignedEntry,
  signEntry,
  signRevocation,
  toHex,
} from '../src/index.ts'
import { DAY, makeBloc, registration, registrationPayload, T0 } from './fixtures.ts'

const bloc = makeBloc()
const ed = bloc.ed
const BLOC = bloc.view.bloc
const node = bloc.founders[0]!.nodes[0]!
const ORIGIN = keyId(node.keys.publicKey)
const officer = bloc.officer('AT', ['registrar'], 210)

/** A feed of `n` entries of `ORIGIN`, each registering one citizen (records signed at T0 + DAY). */
function feed(n: number, sign = (b: EntryBody) => signEntry(ed, b, node.keys.secretKey)): SignedEntry[] {
  const out: SignedEntry[] = []
  for (let seq = 1; seq <= n; seq++) {
    const citizen = bloc.citizen(400 + seq)
    const reg = officer.client.record(
      'citizen.registered',
      citizen.id,
      registration(citizen.keys.publicKey, 'AT'),
      registrationPayload(seq),
    )
    const update = applyLocal(
      createDoc(node.clientId),
      [{ id: reg.id, header: reg.record.header }],
      () => undefined,
    )
    const prev = out.length ? entryHash(out[out.length - 1]!.body) : null
    out.push(
      sign({
        v: 1,
        bloc: BLOC,
        origin: ORIGIN,
        seq,
        prev,
        hlc: [T0 + DAY + seq, 0],
        deps: {},
        changes: [{ doc: citizen.id, update, records: [reg.record] }],
      }),
    )
  }
  return out
}

const ctx = (revocation: FeedAuditContext['revocation'] = () => undefined): FeedAuditContext => ({
  ed,
  bloc: BLOC,
  charters: [bloc.view],
  revocation,
  verifiedCerts: new BoundedSet(),
})

function audit(entries: Uint8Array[], c = ctx(), rootsAt: number[] = []) {
  const chain = new FeedChain(ORIGIN, c.charters, rootsAt)
  const faults: Array<{ seq: number; kind: string; detail: string }> = []
  for (const [i, bytes] of entries.entries()) {
    const checked = checkEntry(c, bytes)
    for (const f of [...checked.faults, ...chain.next(checked)]) faults.push({ seq: i + 1, ...f })
  }
  return { chain, faults }
}

describe('feed audit', () => {
  it('finds nothing in a clean feed, and recomputes its RFC 6962 roots', () => {
    const entries = feed(5)
    const { chain, faults } = audit(entries.map(encodeEntry), ctx(), [3])
    expect(faults).toEqual([])
    const leaves = entries.map((e) => leafHash(entryHash(e.body)))
    expect(toHex(chain.rootAt(5)!)).toBe(toHex(rootOf(leaves)))
    expect(toHex(chain.rootAt(3)!)).toBe(toHex(rootOf(leaves.slice(0, 3))))
    expect(chain.rootAt(2)).toBeUndefined()
  })

  it('names a changed byte at its entry, and the chain broken after it', () => {
    const bytes = feed(4).map(encodeEntry)
    // A byte of entry 2's signature: still decodes, no longer verifies.
    bytes[1] = bytes[1]!.slice()
    bytes[1][10]! ^= 0x01
    expect(audit(bytes).faults.map((f) => [f.seq, f.kind])).toEqual([[2, 'entry-signature']])
    // A byte near the end of entry 3 (inside its body): the body hashes otherwise, so entry 4's prev is wrong.
    const body = feed(4).map(encodeEntry)
    body[2] = body[2]!.slice()
    body[2][body[2].length - 3]! ^= 0x01
    const kinds = audit(body).faults.map((f) => [f.seq, f.kind])
    expect(kinds[0]).toEqual([3, expect.stringMatching(/^entry-(signature|undecodable)$/)])
  })

  it('names an entry that does not name its predecessor, and one out of place', () => {
    const entries = feed(3)
    const forged = signEntry(ed, { ...entries[2]!.body, prev: new Uint8Array(32) }, node.keys.secretKey)
    const { faults } = audit([entries[0]!, entries[1]!, forged].map(encodeEntry))
    expect(faults.map((f) => [f.seq, f.kind])).toEqual([[3, 'chain-broken']])
    const skipped = audit([entries[0]!, entries[2]!].map(encodeEntry)).faults
    expect(skipped.map((f) => f.kind)).toEqual(['entry-out-of-place', 'chain-broken'])
  })

  it('names a record signed after its officer’s certificate was revoked, not one signed before', () => {
    const bytes = feed(3).map(encodeEntry)
    // Records are signed at T0 + DAY; a revocation from then on catches all three.
    const at = (when: number) =>
      revocationIndex(
        ed,
        BLOC,
        [bloc.view],
        [
          signRevocation(
            ed,
            {
              type: 'revocation',
              bloc: BLOC,
              state: 'AT',
              cert: officer.certId,
              at: when,
              reason: 'key-compromise',
            },
            bloc.stateSecret('AT'),
          ),
        ],
      )
    const revoked = audit(bytes, ctx(at(T0 + DAY).revocation)).faults
    expect(revoked.map((f) => [f.seq, f.kind])).toEqual([
      [1, 'record-revoked'],
      [2, 'record-revoked'],
      [3, 'record-revoked'],
    ])
    expect(revoked[0]!.detail).toContain(officer.certId)
    expect(audit(bytes, ctx(at(T0 + DAY + 1).revocation)).faults).toEqual([])
  })

  it('counts only revocations signed by their state, the earliest first', () => {
    const body = {
      type: 'revocation' as const,
      bloc: BLOC,
      state: 'AT',
      cert: officer.certId,
      reason: 'ceased' as const,
    }
    const late = signRevocation(ed, { ...body, at: T0 + 2 * DAY }, bloc.stateSecret('AT'))
    const early = signRevocation(ed, { ...body, at: T0 + DAY }, bloc.stateSecret('AT'))
    // Signed by BE's key in AT's name: not AT's revocation.
    const forged = signRevocation(ed, { ...body, at: T0 }, bloc.stateSecret('BE'))
    const index = revocationIndex(ed, BLOC, [bloc.view], [late, forged, early])
    expect(index.revocation(officer.certId, 'AT')?.body.at).toBe(T0 + DAY)
    expect(index.invalid.map((i) => i.revocation)).toEqual([forged])
    expect(index.revocation(officer.certId, 'BE')).toBeUndefined()
  })

  it('sees a rewritten entry: the origin’s own re-signed entry changes the root, and breaks the chain after it', () => {
    const entries = feed(4)
    const original = audit(entries.map(encodeEntry), ctx(), [4]).chain.rootAt(4)!
    const rewritten = signEntry(ed, { ...entries[1]!.body, hlc: [T0 + DAY + 2, 1] }, node.keys.secretKey)
    const { chain, faults } = audit([entries[0]!, rewritten, entries[2]!, entries[3]!].map(encodeEntry))
    expect(faults.map((f) => [f.seq, f.kind])).toEqual([[3, 'chain-broken']])
    expect(toHex(chain.rootAt(4)!)).not.toBe(toHex(original))
  })

  it('names entries whose bytes do not decode, and stops vouching for the tree after them', () => {
    const bytes = feed(3).map(encodeEntry)
    const { chain, faults } = audit([bytes[0]!, Uint8Array.of(0xa2, 0x00), bytes[2]!])
    expect(faults.map((f) => [f.seq, f.kind])).toEqual([[2, 'entry-undecodable']])
    expect(chain.rootAt(3)).toBeUndefined()
  })
})

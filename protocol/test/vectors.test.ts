/**
 * Golden test vectors (docs/test-vectors.json).
 *
 * 1. Rebuilt from the seeds with each Ed25519 implementation, they equal the frozen file
 *    byte for byte: any change to an encoding, a hash, a signing input or a derivation fails here.
 * 2. The frozen bytes keep decoding and verifying with both implementations, checked with the
 *    public API only (not the generator), as a node or an auditor in another language would.
 */
import { readFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  buildVectors,
  fromJsonValue,
  frozenJson,
  type JsonValue,
  VECTORS_PATH,
  type Vectors,
  vectorsJson,
} from '../scripts/make-vectors.ts'
import {
  accumulate,
  type CharterView,
  certificateId,
  checkChain,
  concatBytes,
  contentId,
  createDoc,
  DOMAINS,
  type Domain,
  decodeCanonical,
  decodeEntry,
  docHash,
  docView,
  domainHash,
  type Ed25519,
  EMPTY_ACCUMULATOR,
  encodeCanonical,
  entryHash,
  fromHex,
  keyId,
  nobleEd25519,
  openPayload,
  parseOfficerCertificate,
  parseRevocation,
  parseSignedCharter,
  payloadDigest,
  peerIdOf,
  signingInput,
  stateRoot,
  toHex,
  utf8ToBytes,
  validateRemoteUpdate,
  verifyAmendment,
  verifyCertificateSignature,
  verifyEntrySignature,
  verifyGenesis,
  verifyRecord,
  verifyRequest,
  verifyRevocation,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'

const frozenText = readFileSync(VECTORS_PATH, 'utf8')
const frozen = JSON.parse(frozenText) as Vectors
const IMPLS: Ed25519[] = [nobleEd25519, nativeEd25519]
const bytes = fromHex
const key = (label: string) => {
  const k = frozen.keys.find((x) => x.label === label)
  if (!k) throw new Error(`no key ${label}`)
  return k
}

describe.each(IMPLS)('test vectors rebuilt with $name', (ed) => {
  it('equal the frozen vectors', () => {
    expect(JSON.parse(JSON.stringify(buildVectors(ed)))).toEqual(frozen)
  })

  it('equal docs/test-vectors.json byte for byte (as JSON: same keys, same order, same strings)', () => {
    expect(vectorsJson(ed) === frozenJson(), 'run: node protocol/scripts/make-vectors.ts').toBe(true)
  })
})

describe('frozen keys', () => {
  it('secret keys are SHA-256 of the seed text; public keys, key ids and peer ids follow', () => {
    expect(frozen.keys).toHaveLength(11)
    for (const k of frozen.keys) {
      expect(toHex(sha256(utf8ToBytes(k.seed)))).toBe(k.secretKey)
      for (const ed of IMPLS) expect(toHex(ed.publicKey(bytes(k.secretKey)))).toBe(k.publicKey)
      expect(keyId(bytes(k.publicKey))).toBe(k.keyId)
      expect(k.keyId).toBe(
        toHex(sha256(concatBytes(utf8ToBytes('legation/v1/hash/key\u0000'), bytes(k.publicKey)))).slice(
          0,
          32,
        ),
      )
      expect(peerIdOf(bytes(k.publicKey))).toBe(k.peerId)
    }
  })
})

describe('frozen canonical encodings', () => {
  it('encode to the frozen bytes and decode back to the value', () => {
    expect(frozen.cbor.length).toBeGreaterThan(20)
    for (const c of frozen.cbor) {
      const value = fromJsonValue(c.value as JsonValue)
      expect(toHex(encodeCanonical(value)), c.name).toBe(c.hex)
      const back = decodeCanonical(bytes(c.hex))
      expect(back, c.name).toEqual(value)
      expect(toHex(encodeCanonical(back)), c.name).toBe(c.hex)
    }
  })

  it('sort map keys by encoded bytes', () => {
    const sorted = frozen.cbor.find((c) => c.name.startsWith('map keys sorted'))!
    expect(Object.keys(decodeCanonical(bytes(sorted.hex)) as object)).toEqual(['A', 'a', 'b', 'z', 'aa', 'é'])
  })
})

describe('frozen domain hashes and signatures', () => {
  it('hash = SHA-256("legation/v1/hash/" domain 0x00 input)', () => {
    expect(frozen.domainHashes.map((d) => d.domain)).toEqual(Object.values(DOMAINS))
    for (const d of frozen.domainHashes) {
      const prefix = utf8ToBytes(`legation/v1/hash/${d.domain}\u0000`)
      expect(toHex(prefix)).toBe(d.prefixHex)
      expect(toHex(sha256(concatBytes(prefix, bytes(d.inputHex))))).toBe(d.hash)
      expect(toHex(domainHash(d.domain as Domain, bytes(d.inputHex)))).toBe(d.hash)
    }
    expect(new Set(frozen.domainHashes.map((d) => d.hash)).size).toBe(frozen.domainHashes.length)
  })

  it('signatures cover "legation/v1/sig/" domain 0x00 body, verify with both implementations, and only in their domain', () => {
    const signer = key('AT state')
    for (const s of frozen.signatures) {
      const input = concatBytes(utf8ToBytes(`legation/v1/sig/${s.domain}\u0000`), bytes(s.bodyHex))
      expect(toHex(input)).toBe(s.signingInputHex)
      expect(toHex(signingInput(s.domain as Domain, bytes(s.bodyHex)))).toBe(s.signingInputHex)
      for (const ed of IMPLS) {
        expect(toHex(ed.sign(input, bytes(signer.secretKey)))).toBe(s.sig)
        for (const other of frozen.signatures) {
          const ok = ed.verify(bytes(s.sig), bytes(other.signingInputHex), bytes(signer.publicKey))
          expect(ok, `${s.domain} signature checked as ${other.domain}`).toBe(other.domain === s.domain)
        }
      }
    }
  })
})

/** The frozen charter chain, decoded and verified with `ed`. */
function charterViews(ed: Ed25519): [CharterView, CharterView] {
  const g = parseSignedCharter.parse(decodeCanonical(bytes(frozen.charter.genesis.signedHex)))
  const a = parseSignedCharter.parse(decodeCanonical(bytes(frozen.charter.amendment.signedHex)))
  const v1 = verifyGenesis(ed, g)
  return [v1, verifyAmendment(ed, v1, a)]
}

describe.each(IMPLS)('frozen bloc objects verify with $name', (ed) => {
  it('the genesis charter and its amendment (admit DK, signed by 2 of 3)', () => {
    const [v1, v2] = charterViews(ed)
    const { genesis, amendment } = frozen.charter
    expect(v1.hash).toBe(genesis.hash)
    expect(v1.bloc).toBe(frozen.bloc)
    expect(toHex(encodeCanonical(v1.charter))).toBe(genesis.bodyHex)
    expect(toHex(signingInput(DOMAINS.charter, bytes(genesis.bodyHex)))).toBe(genesis.signingInputHex)
    expect(
      toHex(sha256(concatBytes(utf8ToBytes('legation/v1/hash/charter\u0000'), bytes(genesis.bodyHex)))),
    ).toBe(genesis.hash)
    for (const s of genesis.sigs) {
      const stateKey = bytes(key(`${s.state} state`).publicKey)
      expect(ed.verify(bytes(s.sig), bytes(genesis.signingInputHex), stateKey)).toBe(true)
    }
    expect(v2.hash).toBe(amendment.hash)
    expect(v2.charter.prev).toBe(genesis.hash)
    expect(amendment.sigs.map((s) => s.state)).toEqual(['BE', 'AT'])
    expect([...v2.members.keys()]).toEqual(amendment.members)
    expect([...v2.nodes.values()].map((n) => n.peerId)).toEqual(amendment.nodes.map((n) => n.peerId))
    // One signature short of the quorum, the same amendment is refused.
    const a = parseSignedCharter.parse(decodeCanonical(bytes(amendment.signedHex)))
    expect(() => verifyAmendment(ed, v1, { ...a, sigs: a.sigs.slice(0, 1) })).toThrow(/signed by 1 members/)
  })

  it('node and officer certificates, and a revocation', () => {
    for (const c of frozen.nodeCertificates) {
      const body = decodeCanonical(bytes(c.bodyHex))
      const input = signingInput(DOMAINS.certificate, bytes(c.bodyHex))
      expect(ed.verify(bytes(c.sig), input, bytes(key(`${c.state} state`).publicKey))).toBe(true)
      expect(contentId(DOMAINS.certificate, { body, sig: bytes(c.sig) } as never)).toBe(c.id)
    }
    const oc = frozen.officerCertificate
    const cert = parseOfficerCertificate.parse(decodeCanonical(bytes(oc.certHex)))
    verifyCertificateSignature(ed, cert, bytes(key('AT state').publicKey))
    expect(certificateId(cert)).toBe(oc.id)
    expect(toHex(encodeCanonical(cert.body))).toBe(oc.bodyHex)
    expect(cert.body.officerKey).toEqual(bytes(key('AT officer').publicKey))
    const rev = parseRevocation.parse(decodeCanonical(bytes(frozen.revocation.revocationHex)))
    verifyRevocation(ed, rev, bytes(key('AT state').publicKey))
    expect(rev.body.cert).toBe(oc.id)
  })

  it('records: id, signature, payload bytes and digest', () => {
    const [v1, v2] = charterViews(ed)
    const views = new Map([v1, v2].map((v) => [v.hash, v]))
    for (const r of frozen.records) {
      const v = verifyRecord(
        { ed, charter: (h) => views.get(h) },
        decodeCanonical(bytes(r.recordHex)),
        frozen.bloc,
      )
      expect(v.id).toBe(r.id)
      expect(toHex(encodeCanonical(v.record.header))).toBe(r.headerHex)
      expect(
        toHex(sha256(concatBytes(utf8ToBytes('legation/v1/hash/record\u0000'), bytes(r.headerHex)))),
      ).toBe(r.id)
      expect(toHex(signingInput(DOMAINS.record, bytes(r.headerHex)))).toBe(r.signingInputHex)
      expect(toHex(payloadDigest(bytes(r.payloadHex!)))).toBe(r.payloadDigest)
      expect(openPayload(v.record.header, bytes(r.payloadHex!)).salt).toBeInstanceOf(Uint8Array)
    }
    expect(frozen.records.map((r) => r.kind)).toEqual(['citizen.registered', 'presence.registered'])
  })

  it('feed entries, their Yjs updates, the doc hash and the state root', () => {
    const [v1, v2] = charterViews(ed)
    const entries = frozen.entries.map((e) => decodeEntry(bytes(e.entryHex)))
    let prev: (typeof entries)[number] | undefined
    let doc = createDoc(2)
    for (const [i, entry] of entries.entries()) {
      const f = frozen.entries[i]!
      const node = verifyEntrySignature(ed, entry, frozen.bloc, [v1, v2])
      expect(node.state).toBe('AT')
      expect(toHex(entryHash(entry.body))).toBe(f.hash)
      expect(toHex(encodeCanonical(entry.body))).toBe(f.bodyHex)
      checkChain(prev?.body, entry.body)
      prev = entry
      const change = entry.body.changes[0]!
      expect(toHex(change.update)).toBe(f.updateHex)
      expect(Y.decodeUpdate(change.update).structs.every((s) => s.id.client === node.clientId)).toBe(true)
      const known = new Map(
        entries
          .flatMap((e) => e.body.changes[0]!.records)
          .map((r) => [contentId(DOMAINS.record, r.header), r.header]),
      )
      doc = validateRemoteUpdate(doc, change.doc, change.update, node.clientId, (id) => {
        const h = known.get(id)
        return h && { subject: h.subject, header: h }
      })
    }
    expect(docView(doc)).toEqual(frozen.doc.view)
    const dh = docHash(frozen.doc.id, doc)
    expect(toHex(dh)).toBe(frozen.doc.docHash)
    const acc = accumulate(EMPTY_ACCUMULATOR, frozen.doc.id, undefined, dh)
    expect(toHex(acc)).toBe(frozen.doc.accumulator)
    expect(stateRoot(acc)).toBe(frozen.doc.stateRoot)
  })

  it('a signed request', () => {
    const q = frozen.request
    const signer = verifyRequest(
      ed,
      { method: q.method, path: q.path, body: bytes(q.bodyHex) },
      { authorization: q.authorization, certificate: q.certificate },
      q.at,
    )
    expect(toHex(signer!.key)).toBe(key('AT officer').publicKey)
    expect(certificateId(signer!.cert!)).toBe(frozen.officerCertificate.id)
  })
})

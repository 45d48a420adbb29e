/**
 * Trust: the one component that says who holds authority — the charter chain (its versions,
 * the member states and their keys, the certified nodes) and the officer revocations. Records
 * and entries are verified against it, and the HTTP authentication asks it about an officer's
 * certificate, so reads and writes get the same answer.
 *
 * It keeps the chain and the revocations in the store, and reads them back on start.
 */
import {
  assertValidAt,
  BoundedSet,
  CertificateError,
  type CertifiedNode,
  type CharterView,
  certificateId,
  certifiedNode,
  charterHash,
  decodeCanonical,
  type Ed25519,
  encodeCanonical,
  equalBytes,
  type OfficerCertificate,
  ProtocolError,
  parseRevocation,
  parseSignedCharter,
  type Revocation,
  recordUnderEntry,
  type SignedCharter,
  type SignedRecord,
  toHex,
  verifyAmendment,
  verifyCertificateSignature,
  verifyCharterChain,
  verifyRevocation,
} from '@legation/protocol'
import { Mutex } from 'async-mutex'
import { NodeError } from '../errors.ts'
import type { Store } from '../storage/store.ts'
import { prefixRange } from '../storage/store.ts'
import { K } from './keys.ts'

/** Largest stored charter chain read back. */
const MAX_CHARTER_CHAIN_BYTES = 16 * 1024 * 1024

/** Officer certificates remembered as verified (an officer signs many records with one). */
export const DEFAULT_VERIFIED_CERTS = 10_000

export interface TrustComponents {
  store: Store
  ed: Ed25519
}

export class Trust {
  readonly #store: Store
  readonly #ed: Ed25519
  #chain: SignedCharter[]
  #views: CharterView[]
  /** Revocations by `<state>/<certId>` (the earliest one, where a state revoked twice). */
  readonly #revocations = new Map<string, Revocation>()
  readonly #mutex = new Mutex()
  /**
   * Officer certificates found signed by a state key, by `<certId>/<state key hex>` (records'
   * checks and requests' share it: an officer signs every request and record with one).
   */
  readonly verifiedCerts = new BoundedSet(DEFAULT_VERIFIED_CERTS)

  /** `given`: the charter chain this node was started with, genesis first. */
  constructor(components: TrustComponents, given: readonly SignedCharter[]) {
    this.#store = components.store
    this.#ed = components.ed
    this.#chain = [...given]
    this.#views = []
  }

  /**
   * Verifies the chain — the one given, or a longer one stored earlier that extends it (an
   * amendment received from a peer wins over an older file) — and reads the revocations back.
   * `self`, a node's id, must be certified in some version of it (an expelled node still
   * starts; one never certified does not) before anything is stored. Throws a ProtocolError if
   * the chain does not verify or the stored one is another bloc's, NODE_NOT_CERTIFIED if `self`
   * is in no version.
   */
  async load(self?: string): Promise<void> {
    const given = this.#chain
    const givenViews = verifyCharterChain(this.#ed, given)
    const stored = await this.#store.get(K.charter)
    let views = givenViews
    if (stored) {
      const have = decodeCanonical(stored, MAX_CHARTER_CHAIN_BYTES) as SignedCharter[]
      const haveViews = verifyCharterChain(this.#ed, have)
      const common = Math.min(have.length, given.length)
      for (let i = 0; i < common; i++) {
        if (haveViews[i]!.hash !== givenViews[i]!.hash) {
          throw new ProtocolError(
            'CHARTER_CHAIN_BROKEN',
            'the data folder holds another charter chain than the one this node was given',
          )
        }
      }
      if (have.length > given.length) {
        this.#chain = have
        views = haveViews
      }
    }
    if (self !== undefined && !views.some((v) => v.nodes.has(self))) {
      throw new NodeError('NODE_NOT_CERTIFIED', 'this node is certified in no version of the charter')
    }
    this.#views = views
    if (!stored || this.#chain.length !== given.length) {
      await this.#store.write([{ type: 'put', key: K.charter, value: encodeCanonical(this.#chain) }])
    }
    for await (const [, value] of this.#store.range(prefixRange(K.revocations))) {
      const rev = decodeCanonical(value) as Revocation
      this.#revocations.set(`${rev.body.state}/${rev.body.cert}`, rev)
    }
  }

  /** Resolves once no revocation is being stored. */
  idle(): Promise<void> {
    return this.#mutex.waitForUnlock()
  }

  get bloc(): string {
    return this.#views[0]!.bloc
  }

  /** The charter version in force (the latest). */
  get charter(): CharterView {
    return this.#views[this.#views.length - 1]!
  }

  /** Every version, genesis first. */
  get versions(): readonly CharterView[] {
    return this.#views
  }

  get chain(): readonly SignedCharter[] {
    return this.#chain
  }

  charterByHash(hash: string): CharterView | undefined {
    return this.#views.find((c) => c.hash === hash)
  }

  /** A node as the latest charter version that certifies it has it (an expelled node included). */
  certifiedNode(nodeId: string): CertifiedNode | undefined {
    return certifiedNode(this.#views, nodeId)
  }

  /**
   * Whether the charter version in force certifies `nodeId` at time `at` (its certificate's
   * window): what this node's own entries must meet, since they name that version.
   */
  nodeValidAt(nodeId: string, at: number): boolean {
    const n = this.charter.nodes.get(nodeId)
    return n !== undefined && n.notBefore <= at && at <= n.notAfter
  }

  /** The place of the version with this hash in the chain (genesis 0), or -1 if not known here. */
  versionIndex(hash: string): number {
    return this.#views.findIndex((c) => c.hash === hash)
  }

  /**
   * Checks, on every replica, a record carried by an entry that names charter version
   * `entryIndex`: the record names no later version than its entry (the origin could not have
   * verified it), and an officer's state is a member of the entry's version under the same key
   * that signed the officer's certificate — a key an amendment rotated out, or an expelled
   * state, authorizes nothing in an entry written after the node adopted the amendment.
   */
  checkRecordUnder(record: Pick<SignedRecord, 'header' | 'cert'>, entryIndex: number): void {
    const err = recordUnderEntry(this.#views, record, entryIndex)
    if (err) throw err
  }

  /** When `state` revoked certificate `certId`, if it did. */
  revokedAt(certId: string, state: string): number | undefined {
    return this.#revocations.get(`${state}/${certId}`)?.body.at
  }

  /** The revocations known here, the earliest per certificate. */
  revocations(): Revocation[] {
    return [...this.#revocations.values()]
  }

  /**
   * Checks an officer certificate presented with a signed request: issued by a member state
   * of this bloc under its current key, valid at `now`, certifying `key`, and not revoked by
   * its state at or before `now` — a revoked officer reads nothing, as it writes nothing.
   * Answers the certificate's id. Throws a ProtocolError: REQUEST_AUTH_INVALID, or CERT_REVOKED.
   */
  checkOfficer(cert: OfficerCertificate, key: Uint8Array, now: number): string {
    const body = cert.body
    if (!this.charter.members.has(body.state) || body.bloc !== this.bloc) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'officer certificate is not of a member of this bloc')
    }
    let id: string
    try {
      id = this.#signedInForce(cert)
      assertValidAt(body, now)
    } catch (cause) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'officer certificate is not valid', { cause })
    }
    if (!equalBytes(body.officerKey, key)) {
      throw new ProtocolError('REQUEST_AUTH_INVALID', 'request not signed by the certified key')
    }
    const revoked = this.revokedAt(id, body.state)
    if (revoked !== undefined && revoked <= now) {
      throw new ProtocolError('CERT_REVOKED', 'this officer certificate was revoked by its state')
    }
    return id
  }

  /**
   * Checks, where a record is first accepted, that its officer acts under the charter in force:
   * their state is still a member, and their certificate is signed by that state's key in force
   * — not by a key an amendment rotated out, whatever charter version the record names. Throws
   * CERT_INVALID otherwise.
   */
  assertOfficerInForce(cert: OfficerCertificate): void {
    this.#signedInForce(cert)
  }

  /**
   * Checks that `cert` is signed by its state's key in the charter in force, and answers its id.
   * Once per certificate and key (`verifiedCerts`): the check cost as much as the request's own.
   * Throws CERT_INVALID.
   */
  #signedInForce(cert: OfficerCertificate): string {
    const id = certificateId(cert)
    const member = this.charter.members.get(cert.body.state)
    if (!member) {
      throw new CertificateError(
        'CERT_INVALID',
        `${cert.body.state} is not a member state in the charter in force`,
      )
    }
    const key = `${id}/${toHex(member.stateKey)}`
    if (this.verifiedCerts.has(key)) return id
    try {
      verifyCertificateSignature(this.#ed, cert, member.stateKey)
    } catch (cause) {
      throw new CertificateError(
        'CERT_INVALID',
        `the officer certificate is not signed by ${cert.body.state}’s key in force`,
        { cause },
      )
    }
    this.verifiedCerts.add(key)
    return id
  }

  /**
   * Adds a revocation of an officer certificate. It must be signed by the current key of the
   * member state it names (a rotated-out key revokes nothing), and counts only against that
   * state's certificates. Answers the revocation in force for that certificate and whether
   * this one changed what the node refuses (new, or earlier than the one known). Throws a
   * ProtocolError if it is not valid.
   */
  async addRevocation(value: unknown): Promise<{ added: boolean; revocation: Revocation }> {
    const rev = parseRevocation.parse(value, 'revocation') as Revocation
    if (rev.body.bloc !== this.bloc) throw new CertificateError('BLOC_MISMATCH', 'revocation of another bloc')
    const key = `${rev.body.state}/${rev.body.cert}`
    // One in force from the same time or earlier makes this one moot, whatever key signed it
    // (a peer resends revocations made before a state rotated its key).
    const known = this.#revocations.get(key)
    if (known && known.body.at <= rev.body.at) return { added: false, revocation: known }
    const member = this.charter.members.get(rev.body.state)
    if (!member) throw new CertificateError('CERT_INVALID', `${rev.body.state} is not a member state`)
    verifyRevocation(this.#ed, rev, member.stateKey)
    return this.#mutex.runExclusive(async () => {
      const known = this.#revocations.get(key)
      if (known && known.body.at <= rev.body.at) return { added: false, revocation: known }
      await this.#store.write([
        { type: 'put', key: K.revocation(rev.body.state, rev.body.cert), value: encodeCanonical(rev) },
      ])
      this.#revocations.set(key, rev)
      return { added: true, revocation: rev }
    })
  }

  /**
   * Adopts a longer, valid charter chain that extends this one (an amendment from anyone).
   * Cheap checks first: the versions this node holds must be the very ones in `chain` (compared
   * by hash, no signature checked), and only the new amendments are verified — each its quorum
   * of signatures before the certificates it lists. A self-made chain of another bloc costs a
   * hash, not thousands of signature checks.
   */
  async adoptCharter(chain: readonly SignedCharter[]): Promise<boolean> {
    const held = this.#views.length
    if (chain.length <= held) return false
    for (let i = 0; i < held; i++) {
      const theirs = charterHash(parseSignedCharter.parse(chain[i], 'charter').charter)
      if (theirs !== this.#views[i]!.hash) {
        if (i === 0) throw new ProtocolError('BLOC_MISMATCH', 'a charter chain of another bloc')
        throw new ProtocolError('CHARTER_CHAIN_BROKEN', 'chain does not extend ours')
      }
    }
    const views = [...this.#views]
    for (let i = held; i < chain.length; i++) views.push(verifyAmendment(this.#ed, views.at(-1)!, chain[i]!))
    const adopted = await this.#mutex.runExclusive(async () => {
      // Another adoption came first: check again against what is held now.
      if (this.#views.length !== held) return undefined
      // Our own copies of the versions held (theirs were compared by hash, not verified), and
      // the amendments just verified.
      const next = [...this.#chain, ...chain.slice(held)]
      await this.#store.write([{ type: 'put', key: K.charter, value: encodeCanonical(next) }])
      this.#chain = next
      this.#views = views
      return true
    })
    return adopted ?? this.adoptCharter(chain)
  }
}

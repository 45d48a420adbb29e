/**
 * The bloc charter: members (state keys, certified nodes, addresses), the secretariat's
 * auditor key and the quorum policy. Version 1 (genesis) is signed by every founding member;
 * its hash is the bloc id. Version n+1 names the hash of version n and is signed by at least
 * `quorum` members of version n, with the keys version n gives them. Validating a chain is pure.
 */
import { type Static, Type } from '@sinclair/typebox'
import {
  type NodeCertificate,
  NodeCertificate as NodeCertificateSchema,
  verifyCertificateSignature,
} from './certificates.ts'
import type { Ed25519 } from './crypto.ts'
import { contentId, DOMAINS, encodeCanonical, signingInput } from './encoding.ts'
import { CharterError } from './errors.ts'
import { keyId } from './keys.ts'
import { Id, Millis, PublicKey, parser, Signature, StateCode, Text } from './schema.ts'

export const MAX_MEMBERS = 64
export const MAX_NODES_PER_MEMBER = 16

export const CharterNode = Type.Object(
  {
    cert: NodeCertificateSchema,
    /** Where the node listens (multiaddrs); the DHT finds current ones when these go stale. */
    addrs: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 8 }),
  },
  { additionalProperties: false },
)
export type CharterNode = Static<typeof CharterNode>

export const Member = Type.Object(
  {
    code: StateCode,
    name: Text(128),
    stateKey: PublicKey,
    nodes: Type.Array(CharterNode, { maxItems: MAX_NODES_PER_MEMBER }),
  },
  { additionalProperties: false },
)
export type Member = Static<typeof Member>

export const CharterBody = Type.Object(
  {
    v: Type.Literal(1),
    name: Text(128),
    version: Type.Integer({ minimum: 1 }),
    /** Hash of the previous version; null in the genesis charter. */
    prev: Type.Union([Id, Type.Null()]),
    /** The bloc id (hash of the genesis charter); null in the genesis charter itself. */
    bloc: Type.Union([Id, Type.Null()]),
    issuedAt: Millis,
    members: Type.Array(Member, { minItems: 1, maxItems: MAX_MEMBERS }),
    auditorKey: PublicKey,
    /** How many members of this version must sign the next one. */
    quorum: Type.Integer({ minimum: 1, maximum: MAX_MEMBERS }),
  },
  { additionalProperties: false },
)
export type CharterBody = Static<typeof CharterBody>

export const SignedCharter = Type.Object(
  {
    charter: CharterBody,
    sigs: Type.Array(Type.Object({ state: StateCode, sig: Signature }, { additionalProperties: false }), {
      maxItems: MAX_MEMBERS,
    }),
  },
  { additionalProperties: false },
)
export type SignedCharter = Static<typeof SignedCharter>
export const parseSignedCharter = parser(SignedCharter)

export function charterHash(charter: CharterBody): string {
  return contentId(DOMAINS.charter, charter)
}

export function signCharter(ed: Ed25519, charter: CharterBody, state: string, stateSecretKey: Uint8Array) {
  return { state, sig: ed.sign(signingInput(DOMAINS.charter, encodeCanonical(charter)), stateSecretKey) }
}

/** A certified node as the rest of the code needs it. */
export interface CertifiedNode {
  readonly state: string
  readonly name: string
  readonly nodeId: string
  readonly peerId: string
  readonly nodeKey: Uint8Array
  readonly clientId: number
  readonly addrs: readonly string[]
  readonly notBefore: number
  readonly notAfter: number
}

/** A validated charter version with the look-ups the node and auditor need. */
export interface CharterView {
  readonly bloc: string
  readonly hash: string
  readonly version: number
  readonly charter: CharterBody
  readonly members: ReadonlyMap<string, Member>
  /** Nodes by node id (key id of the node key). */
  readonly nodes: ReadonlyMap<string, CertifiedNode>
  readonly nodesByPeerId: ReadonlyMap<string, CertifiedNode>
}

function checkStructure(ed: Ed25519, charter: CharterBody): Omit<CharterView, 'bloc' | 'hash'> {
  const members = new Map<string, Member>()
  const nodes = new Map<string, CertifiedNode>()
  const nodesByPeerId = new Map<string, CertifiedNode>()
  const clientIds = new Set<number>()
  for (const m of charter.members) {
    if (members.has(m.code)) throw new CharterError('CHARTER_INVALID', `member ${m.code} listed twice`)
    members.set(m.code, m)
    for (const n of m.nodes) {
      const b = n.cert.body
      if (b.state !== m.code)
        throw new CharterError('CHARTER_INVALID', `node ${b.name} certified by another state`)
      try {
        verifyCertificateSignature(ed, n.cert, m.stateKey)
      } catch (cause) {
        throw new CharterError('CHARTER_INVALID', `node ${b.name} of ${m.code} has an invalid certificate`, {
          cause,
        })
      }
      const node: CertifiedNode = {
        state: m.code,
        name: b.name,
        nodeId: keyId(b.nodeKey),
        peerId: b.peerId,
        nodeKey: b.nodeKey,
        clientId: b.clientId,
        addrs: n.addrs,
        notBefore: b.notBefore,
        notAfter: b.notAfter,
      }
      if (nodes.has(node.nodeId))
        throw new CharterError('CHARTER_INVALID', `node key of ${b.name} used twice`)
      if (clientIds.has(node.clientId))
        throw new CharterError('CHARTER_INVALID', `client id of ${b.name} used twice`)
      clientIds.add(node.clientId)
      nodes.set(node.nodeId, node)
      nodesByPeerId.set(node.peerId, node)
    }
  }
  if (charter.quorum > members.size) {
    throw new CharterError('CHARTER_INVALID', `quorum ${charter.quorum} exceeds ${members.size} members`)
  }
  return { version: charter.version, charter, members, nodes, nodesByPeerId }
}

/** Distinct members of `signers` whose signature over `charter` verifies. */
function validSigners(ed: Ed25519, signed: SignedCharter, signers: ReadonlyMap<string, Member>): Set<string> {
  const message = signingInput(DOMAINS.charter, encodeCanonical(signed.charter))
  const ok = new Set<string>()
  for (const { state, sig } of signed.sigs) {
    const m = signers.get(state)
    if (m && !ok.has(state) && ed.verify(sig, message, m.stateKey)) ok.add(state)
  }
  return ok
}

/** Validates a genesis charter: well-formed and signed by every founding member. */
export function verifyGenesis(ed: Ed25519, signed: SignedCharter): CharterView {
  const c = parseSignedCharter.parse(signed, 'charter').charter
  if (c.version !== 1 || c.prev !== null || c.bloc !== null) {
    throw new CharterError('CHARTER_CHAIN_BROKEN', 'a genesis charter has version 1 and no predecessor')
  }
  const view = checkStructure(ed, c)
  const ok = validSigners(ed, signed, view.members)
  if (ok.size < view.members.size) {
    throw new CharterError(
      'CHARTER_QUORUM_NOT_MET',
      `genesis signed by ${ok.size} of ${view.members.size} founders`,
    )
  }
  const hash = charterHash(c)
  return { ...view, bloc: hash, hash }
}

/** Validates version n+1 against the validated version n. */
export function verifyAmendment(ed: Ed25519, prev: CharterView, signed: SignedCharter): CharterView {
  const c = parseSignedCharter.parse(signed, 'charter').charter
  if (c.bloc !== prev.bloc) throw new CharterError('BLOC_MISMATCH', 'amendment names another bloc')
  if (c.version !== prev.version + 1 || c.prev !== prev.hash) {
    throw new CharterError('CHARTER_CHAIN_BROKEN', `amendment v${c.version} does not follow v${prev.version}`)
  }
  // The quorum first: a few signatures by keys already trusted. Only an amendment the members
  // really signed is worth checking every node certificate it lists (anyone may submit one).
  const ok = validSigners(ed, signed, prev.members)
  const k = prev.charter.quorum
  if (ok.size < k) {
    throw new CharterError('CHARTER_QUORUM_NOT_MET', `amendment signed by ${ok.size} members, quorum is ${k}`)
  }
  const view = checkStructure(ed, c)
  return { ...view, bloc: prev.bloc, hash: charterHash(c) }
}

/** Validates a whole chain, genesis first; returns every version's view. */
export function verifyCharterChain(ed: Ed25519, chain: readonly SignedCharter[]): CharterView[] {
  if (chain.length === 0) throw new CharterError('CHARTER_INVALID', 'empty charter chain')
  const views = [verifyGenesis(ed, chain[0]!)]
  for (let i = 1; i < chain.length; i++) views.push(verifyAmendment(ed, views[i - 1]!, chain[i]!))
  return views
}

// ---- Amendments: pure helpers that turn version n into an unsigned draft of n+1. ----

export interface AmendOptions {
  issuedAt: number
}

function draft(
  prev: CharterView,
  members: Member[],
  opts: AmendOptions,
  quorum = prev.charter.quorum,
): CharterBody {
  const next: CharterBody = {
    ...prev.charter,
    version: prev.version + 1,
    prev: prev.hash,
    bloc: prev.bloc,
    issuedAt: opts.issuedAt,
    members,
    quorum,
  }
  if (next.quorum > next.members.length) {
    throw new CharterError('CHARTER_INVALID', `quorum ${next.quorum} exceeds ${next.members.length} members`)
  }
  return next
}

function requireMember(prev: CharterView, code: string): Member {
  const m = prev.members.get(code)
  if (!m) throw new CharterError('CHARTER_INVALID', `no member ${code}`)
  return m
}

export function admitMember(prev: CharterView, member: Member, opts: AmendOptions): CharterBody {
  if (prev.members.has(member.code))
    throw new CharterError('CHARTER_INVALID', `${member.code} is already a member`)
  return draft(prev, [...prev.charter.members, member], opts)
}

/** Expels a member; the quorum shrinks if it would exceed the remaining members. */
export function expelMember(prev: CharterView, code: string, opts: AmendOptions): CharterBody {
  requireMember(prev, code)
  const members = prev.charter.members.filter((m) => m.code !== code)
  return draft(prev, members, opts, Math.min(prev.charter.quorum, members.length))
}

/** Replaces a member's state key; its node certificates must be re-signed with the new key. */
export function rotateStateKey(
  prev: CharterView,
  code: string,
  stateKey: Uint8Array,
  nodes: CharterNode[],
  opts: AmendOptions,
): CharterBody {
  requireMember(prev, code)
  return draft(
    prev,
    prev.charter.members.map((m) => (m.code === code ? { ...m, stateKey, nodes } : m)),
    opts,
  )
}

export function addNode(prev: CharterView, code: string, node: CharterNode, opts: AmendOptions): CharterBody {
  requireMember(prev, code)
  return draft(
    prev,
    prev.charter.members.map((m) => (m.code === code ? { ...m, nodes: [...m.nodes, node] } : m)),
    opts,
  )
}

export function removeNode(prev: CharterView, nodeId: string, opts: AmendOptions): CharterBody {
  const node = prev.nodes.get(nodeId)
  if (!node) throw new CharterError('CHARTER_INVALID', 'no such node')
  return draft(
    prev,
    prev.charter.members.map((m) =>
      m.code === node.state
        ? { ...m, nodes: m.nodes.filter((n) => keyId(n.cert.body.nodeKey) !== nodeId) }
        : m,
    ),
    opts,
  )
}

export function setQuorum(prev: CharterView, quorum: number, opts: AmendOptions): CharterBody {
  return draft(prev, [...prev.charter.members], opts, quorum)
}

export type { NodeCertificate }

// ---- The founding ceremony and amendments with detached signatures. ----
// Each member signs the draft on its own machine; whoever combines the signatures needs
// only the draft and public keys, never a secret key. `createGenesis` (sdk.ts) does all of it
// in one process, for development blocs and tests.

/** One member's signature over a charter draft, made apart from the others'. */
export interface CharterSignature {
  readonly state: string
  readonly sig: Uint8Array
}

export interface GenesisDraftOptions {
  name: string
  members: Member[]
  auditorKey: Uint8Array
  quorum: number
  issuedAt: number
}

/**
 * The unsigned genesis charter of the founders' members (each with its nodes already
 * certified by its own state key), checked as `verifyGenesis` will check it: members listed
 * once, node certificates signed by their state, node keys and client ids distinct, quorum
 * within the members.
 */
export function draftGenesis(ed: Ed25519, opts: GenesisDraftOptions): CharterBody {
  const charter: CharterBody = {
    v: 1,
    name: opts.name,
    version: 1,
    prev: null,
    bloc: null,
    issuedAt: opts.issuedAt,
    members: [...opts.members].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)),
    auditorKey: opts.auditorKey,
    quorum: opts.quorum,
  }
  checkStructure(ed, parseSignedCharter.parse({ charter, sigs: [] }, 'charter draft').charter)
  return charter
}

/** True if `sig` is `stateKey`'s signature over `charter`. */
export function verifyCharterSignature(
  ed: Ed25519,
  charter: CharterBody,
  sig: Uint8Array,
  stateKey: Uint8Array,
): boolean {
  return ed.verify(sig, signingInput(DOMAINS.charter, encodeCanonical(charter)), stateKey)
}

/** The signatures of distinct `signers` that verify, in state-code order. */
function keepValid(
  ed: Ed25519,
  charter: CharterBody,
  sigs: readonly CharterSignature[],
  signers: ReadonlyMap<string, Member>,
): { state: string; sig: Uint8Array }[] {
  const kept = new Map<string, Uint8Array>()
  for (const { state, sig } of sigs) {
    const m = signers.get(state)
    if (m && !kept.has(state) && verifyCharterSignature(ed, charter, sig, m.stateKey)) kept.set(state, sig)
  }
  return [...kept.keys()].sort().map((state) => ({ state, sig: kept.get(state)! }))
}

/**
 * The genesis charter from its draft and the founders' detached signatures. Signatures that do
 * not verify, or of states that are not founders, are left out; fewer than every founder's is
 * CHARTER_QUORUM_NOT_MET (as `verifyGenesis`).
 */
export function genesisFromSignatures(
  ed: Ed25519,
  charter: CharterBody,
  sigs: readonly CharterSignature[],
): { signed: SignedCharter; view: CharterView } {
  const members = new Map(charter.members.map((m) => [m.code, m]))
  const signed: SignedCharter = { charter, sigs: keepValid(ed, charter, sigs, members) }
  return { signed, view: verifyGenesis(ed, signed) }
}

/**
 * Version n+1 from its draft and detached signatures of members of version n (`prev`), with
 * the keys version n gives them. Fewer valid signatures than version n's quorum is
 * CHARTER_QUORUM_NOT_MET (as `verifyAmendment`).
 */
export function amendmentFromSignatures(
  ed: Ed25519,
  prev: CharterView,
  charter: CharterBody,
  sigs: readonly CharterSignature[],
): { signed: SignedCharter; view: CharterView } {
  const signed: SignedCharter = { charter, sigs: keepValid(ed, charter, sigs, prev.members) }
  return { signed, view: verifyAmendment(ed, prev, signed) }
}

/**
 * The files member states pass each other during the founding ceremony and for amendments
 * (by e-mail, on a stick: none holds a secret), and how each is read and checked. JSON, so a
 * person can see what they are asked to sign; binary values are canonical CBOR in base64url,
 * the bytes that are signed.
 *
 *   member descriptor  { type: 'legation/member-descriptor', v: 1, state, name, stateKeyId,
 *                        nodes: [{ name, nodeId, peerId, addrs }], member: <CBOR of Member> }
 *   charter draft      { type: 'legation/charter-draft', v: 1, version, hash, bloc, summary,
 *                        charter: <CBOR of CharterBody>, chain?: <CBOR of the chain it amends> }
 *   signature          { type: 'legation/charter-signature', v: 1, state, version, hash, sig }
 *
 * A descriptor's member carries its nodes' certificates, signed by its own state key: the
 * state certifies its own nodes, nobody else needs that key. A draft of version 1 founds a
 * bloc; a draft of version n+1 carries the chain it amends, so that every signer and whoever
 * combines checks it offline.
 */
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import {
  type CharterBody,
  CharterBody as CharterBodySchema,
  type CharterView,
  charterHash,
  decodeCanonical,
  type Ed25519,
  encodeCanonical,
  fromBase64url,
  isProtocolError,
  keyId,
  type Member,
  Member as MemberSchema,
  parser,
  type SignedCharter,
  toBase64url,
  verifyCharterChain,
} from '@legation/protocol'
import { CliError, type CliErrorCode } from '../errors.ts'
import { readFileOrFail } from '../key-file.ts'

export const DESCRIPTOR_TYPE = 'legation/member-descriptor'
export const DRAFT_TYPE = 'legation/charter-draft'
export const SIGNATURE_TYPE = 'legation/charter-signature'
/** A chain of many versions of a large bloc stays well below this (as the node's charter file). */
const MAX_CBOR_BYTES = 64 * 1024 * 1024

const parseMember = parser(MemberSchema)
const parseCharterBody = parser(CharterBodySchema)

/**
 * A node's Yjs client id, derived from its key so that no two states need to agree on one:
 * 32 bits of SHA-256, never 0. Two nodes of the bloc drawing the same one (about one chance in
 * 2^32 / n²) would make the draft refuse with CHARTER_INVALID; making a new node key solves it.
 */
export function clientIdOf(nodeKey: Uint8Array): number {
  const h = createHash('sha256').update('legation/client-id/v1').update(nodeKey).digest()
  return h.readUInt32BE(0) || 1
}

function readJson(path: string, what: string, code: CliErrorCode, type: string): Record<string, unknown> {
  const text = readFileOrFail(path, what).toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new CliError(code, `${path} is not a ${what} (not JSON)`, { cause })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CliError(code, `${path} is not a ${what} (not a JSON object)`)
  }
  const obj = json as Record<string, unknown>
  if (obj.type !== type || obj.v !== 1) {
    throw new CliError(code, `${path} is not a ${what} (its type is ${JSON.stringify(obj.type)})`)
  }
  return obj
}

function cbor(value: unknown, path: string, field: string, code: CliErrorCode): unknown {
  try {
    if (typeof value !== 'string') throw new TypeError('not a string')
    return decodeCanonical(fromBase64url(value), MAX_CBOR_BYTES)
  } catch (cause) {
    throw new CliError(code, `${path}: ${field} is not canonical CBOR in base64url`, { cause })
  }
}

function protocolReason(cause: unknown): string {
  if (!isProtocolError(cause)) return cause instanceof Error ? cause.message : String(cause)
  const details = cause.details.length > 0 ? `: ${cause.details.join('; ')}` : ''
  return `${cause.message}${details} (${cause.code})`
}

/** Writes a file the ceremony passes around: public, but never overwriting one. */
export function writePublicFile(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data, { flag: 'wx', mode: 0o644 })
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code === 'EEXIST') throw new CliError('FILE_EXISTS', `${path} already exists; not overwriting it`)
    throw new CliError('FILE_UNREADABLE', `cannot create ${path}: ${code ?? 'error'}`, { cause })
  }
}

export function writeJsonFile(path: string, value: unknown): void {
  writePublicFile(path, `${JSON.stringify(value, null, 2)}\n`)
}

// ---- member descriptors ----

export function descriptorOf(member: Member): Record<string, unknown> {
  return {
    type: DESCRIPTOR_TYPE,
    v: 1,
    state: member.code,
    name: member.name,
    stateKeyId: keyId(member.stateKey),
    nodes: member.nodes.map((n) => ({
      name: n.cert.body.name,
      nodeId: keyId(n.cert.body.nodeKey),
      peerId: n.cert.body.peerId,
      addrs: n.addrs,
    })),
    member: toBase64url(encodeCanonical(member)),
  }
}

/** A member descriptor's member; its readable fields must agree with it. */
export function readDescriptor(path: string): Member {
  const obj = readJson(path, 'member descriptor', 'DESCRIPTOR_INVALID', DESCRIPTOR_TYPE)
  let member: Member
  try {
    member = parseMember.parse(cbor(obj.member, path, 'member', 'DESCRIPTOR_INVALID'), 'member')
  } catch (cause) {
    if (cause instanceof CliError) throw cause
    throw new CliError('DESCRIPTOR_INVALID', `${path}: ${protocolReason(cause)}`, { cause })
  }
  if (obj.state !== member.code || obj.stateKeyId !== keyId(member.stateKey)) {
    throw new CliError('DESCRIPTOR_INVALID', `${path}: its readable fields do not match its member entry`)
  }
  return member
}

// ---- drafts ----

export interface Draft {
  charter: CharterBody
  hash: string
  /** The chain a draft of version n+1 amends, verified; empty for a genesis draft. */
  chain: SignedCharter[]
  views: CharterView[]
  summary: string
}

export function draftFile(
  charter: CharterBody,
  summary: string,
  chain: readonly SignedCharter[] = [],
): Record<string, unknown> {
  return {
    type: DRAFT_TYPE,
    v: 1,
    version: charter.version,
    hash: charterHash(charter),
    bloc: charter.bloc,
    summary,
    charter: toBase64url(encodeCanonical(charter)),
    ...(chain.length > 0 ? { chain: toBase64url(encodeCanonical(chain)) } : {}),
  }
}

/** Reads a draft; a draft of an amendment must carry a chain it follows (checked here). */
export function readDraft(ed: Ed25519, path: string): Draft {
  const obj = readJson(path, 'charter draft', 'DRAFT_INVALID', DRAFT_TYPE)
  let charter: CharterBody
  try {
    charter = parseCharterBody.parse(cbor(obj.charter, path, 'charter', 'DRAFT_INVALID'), 'charter')
  } catch (cause) {
    if (cause instanceof CliError) throw cause
    throw new CliError('DRAFT_INVALID', `${path}: ${protocolReason(cause)}`, { cause })
  }
  const hash = charterHash(charter)
  if (obj.hash !== hash) throw new CliError('DRAFT_INVALID', `${path}: its hash is not that of its charter`)
  let chain: SignedCharter[] = []
  let views: CharterView[] = []
  if (charter.version > 1) {
    const value = cbor(obj.chain, path, 'chain', 'DRAFT_INVALID')
    if (!Array.isArray(value)) throw new CliError('DRAFT_INVALID', `${path}: chain is not a list`)
    try {
      views = verifyCharterChain(ed, value as SignedCharter[])
    } catch (cause) {
      throw new CliError(
        'DRAFT_INVALID',
        `${path}: the chain it amends does not verify: ${protocolReason(cause)}`,
        {
          cause,
        },
      )
    }
    chain = value as SignedCharter[]
    const prev = views.at(-1)!
    if (charter.version !== prev.version + 1 || charter.prev !== prev.hash || charter.bloc !== prev.bloc) {
      throw new CliError(
        'DRAFT_INVALID',
        `${path}: version ${charter.version} does not follow version ${prev.version} of the chain it carries`,
      )
    }
  } else if (charter.prev !== null || charter.bloc !== null) {
    throw new CliError('DRAFT_INVALID', `${path}: a version 1 draft names no predecessor and no bloc`)
  }
  const summary = typeof obj.summary === 'string' ? obj.summary : ''
  return { charter, hash, chain, views, summary }
}

/** What a signer is shown before signing: enough to compare with what their partners see. */
export function describeDraft(d: Draft): string[] {
  const c = d.charter
  const lines = [
    `Charter      ${c.name}, version ${c.version}${c.bloc ? ` of bloc ${c.bloc}` : ' (genesis: founds a new bloc)'}`,
    `Hash         ${d.hash}`,
  ]
  if (d.summary) lines.push(`Change       ${d.summary}`)
  lines.push(`Quorum       ${c.quorum} of ${c.members.length}`)
  lines.push(`Auditor key  ${keyId(c.auditorKey)}`)
  for (const m of c.members) {
    const nodes = m.nodes.map((n) => n.cert.body.name).join(', ') || 'no nodes'
    lines.push(`Member       ${m.code}  ${m.name}  state key ${keyId(m.stateKey)}  (${nodes})`)
  }
  return lines
}

// ---- signatures ----

export interface SignatureFile {
  state: string
  hash: string
  version: number
  sig: Uint8Array
}

export function signatureFile(state: string, d: Draft, sig: Uint8Array): Record<string, unknown> {
  return {
    type: SIGNATURE_TYPE,
    v: 1,
    state,
    version: d.charter.version,
    hash: d.hash,
    sig: toBase64url(sig),
  }
}

export function readSignature(path: string): SignatureFile {
  const obj = readJson(path, 'charter signature', 'SIGNATURE_INVALID', SIGNATURE_TYPE)
  const ok =
    typeof obj.state === 'string' &&
    /^[A-Z]{2,3}$/.test(obj.state) &&
    typeof obj.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(obj.hash) &&
    Number.isSafeInteger(obj.version) &&
    typeof obj.sig === 'string' &&
    /^[A-Za-z0-9_-]{86}$/.test(obj.sig)
  if (!ok)
    throw new CliError(
      'SIGNATURE_INVALID',
      `${path} is not a charter signature (fields missing or malformed)`,
    )
  return {
    state: obj.state as string,
    hash: obj.hash as string,
    version: obj.version as number,
    sig: fromBase64url(obj.sig as string),
  }
}

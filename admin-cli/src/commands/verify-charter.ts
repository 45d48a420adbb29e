/** `legation verify-charter FILE`: checks a charter chain offline, signature by signature. */
import { resolve } from 'node:path'
import {
  type CharterView,
  DOMAINS,
  decodeCanonical,
  encodeCanonical,
  isProtocolError,
  keyId,
  type SignedCharter,
  signingInput,
  verifyCharterChain,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Command } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { readFileOrFail } from '../key-file.ts'

/** A chain of 64 versions of 64 members with 16 nodes each stays well below this. */
export const MAX_CHARTER_FILE_BYTES = 64 * 1024 * 1024

export interface CharterVersionSummary {
  version: number
  hash: string
  prev: string | null
  bloc: string
  name: string
  issuedAt: string
  quorum: number
  signedBy: string[]
  members: Array<{
    code: string
    name: string
    stateKeyId: string
    nodes: Array<{ name: string; nodeId: string; peerId: string; addrs: string[] }>
  }>
}

export function registerVerifyCharter(program: Command, io: CliIo): void {
  program
    .command('verify-charter')
    .description('verify a charter chain file (canonical CBOR of SignedCharter[]) offline')
    .argument('<file>', 'charter chain, e.g. <dataDir>/charter.cbor')
    .option('--json', 'print the verified versions as JSON')
    .action((file: string, opts: { json?: boolean }) => {
      const path = resolve(file)
      const { chain, views } = verifyCharterFile(path)
      const summary = views.map((v, i) => summarize(v, chain[i]!, views[i - 1]))
      if (opts.json) {
        println(io.stdout, JSON.stringify(summary, null, 2))
        return
      }
      println(io.stdout, `${path}: valid charter chain, ${views.length} version(s)`)
      println(io.stdout, `Bloc  ${views[0]!.bloc}`)
      for (const v of summary) {
        println(io.stdout, '')
        println(io.stdout, `Version ${v.version}  ${v.hash}`)
        println(io.stdout, `  name      ${v.name}`)
        println(io.stdout, `  issued    ${v.issuedAt}`)
        println(io.stdout, `  quorum    ${v.quorum} of ${v.members.length}`)
        println(io.stdout, `  signed by ${v.signedBy.join(', ')}`)
        println(io.stdout, '  members')
        for (const m of v.members) {
          const nodes = m.nodes.map((n) => n.name).join(', ') || 'no nodes'
          println(io.stdout, `    ${m.code}  ${m.name}  (state key ${m.stateKeyId}; ${nodes})`)
        }
      }
    })
}

/** Reads and verifies a chain file; every failure is a `CliError`. */
export function verifyCharterFile(path: string): { chain: SignedCharter[]; views: CharterView[] } {
  const bytes = readFileOrFail(path, 'charter file')
  let chain: unknown
  try {
    chain = decodeCanonical(new Uint8Array(bytes), MAX_CHARTER_FILE_BYTES)
  } catch (cause) {
    const code = isProtocolError(cause) ? ` (${cause.code})` : ''
    throw new CliError('CHARTER_FILE_INVALID', `${path} is not canonical CBOR${code}`, { cause })
  }
  return verifyCharterValue(chain, path)
}

/**
 * Verifies a decoded charter chain (`what` names where it came from in errors): not an array is
 * `CHARTER_FILE_INVALID`, a chain that does not verify `CHARTER_REJECTED`.
 */
export function verifyCharterValue(
  chain: unknown,
  what: string,
): { chain: SignedCharter[]; views: CharterView[] } {
  if (!Array.isArray(chain)) {
    throw new CliError(
      'CHARTER_FILE_INVALID',
      `${what} is not a charter chain (expected an array of versions)`,
    )
  }
  try {
    const views = verifyCharterChain(nativeEd25519, chain as SignedCharter[])
    return { chain: chain as SignedCharter[], views }
  } catch (cause) {
    if (!isProtocolError(cause)) throw cause
    const details = cause.details.length > 0 ? `: ${cause.details.join('; ')}` : ''
    throw new CliError(
      'CHARTER_REJECTED',
      `${what} does not verify: ${cause.message}${details} (${cause.code})`,
      { cause, remoteCode: cause.code },
    )
  }
}

function summarize(
  view: CharterView,
  signed: SignedCharter,
  prev: CharterView | undefined,
): CharterVersionSummary {
  const c = view.charter
  return {
    version: view.version,
    hash: view.hash,
    prev: c.prev,
    bloc: view.bloc,
    name: c.name,
    issuedAt: new Date(c.issuedAt).toISOString(),
    quorum: c.quorum,
    // Genesis is signed by its founders, an amendment by members of the version before it.
    signedBy: validSigners(signed, (prev ?? view).members),
    members: c.members.map((m) => ({
      code: m.code,
      name: m.name,
      stateKeyId: keyId(m.stateKey),
      nodes: m.nodes.map((n) => ({
        name: n.cert.body.name,
        nodeId: keyId(n.cert.body.nodeKey),
        peerId: n.cert.body.peerId,
        addrs: [...n.addrs],
      })),
    })),
  }
}

/** The members (of the signing version) whose signature over this version verifies. */
function validSigners(signed: SignedCharter, signers: CharterView['members']): string[] {
  const message = signingInput(DOMAINS.charter, encodeCanonical(signed.charter))
  const ok = new Set<string>()
  for (const { state, sig } of signed.sigs) {
    const m = signers.get(state)
    if (m && nativeEd25519.verify(sig, message, m.stateKey)) ok.add(state)
  }
  return [...ok].sort()
}

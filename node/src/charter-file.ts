/**
 * Reading a charter chain file (`charterFile`, or a development bloc's `charter.cbor`) at
 * start-up. Every failure names the file: a missing file is `CHARTER_FILE_MISSING`, a file that
 * is not a charter chain at all (unreadable, not canonical CBOR, not `SignedCharter[]` — a JSON
 * file given by mistake) is `CHARTER_FILE_INVALID`, and a well-formed chain that does not verify
 * keeps its protocol code (`CHARTER_QUORUM_NOT_MET`, …) with the path in front of its message.
 *
 * @example
 * const chain = await readCharterChain(nativeEd25519, '/etc/legation/charter.cbor')
 */
import { readFile } from 'node:fs/promises'
import {
  decodeCanonical,
  type Ed25519,
  isProtocolError,
  ProtocolError,
  parseSignedCharter,
  type SignedCharter,
  verifyCharterChain,
} from '@legation/protocol'
import { NodeError } from './errors.ts'

/** A chain of many versions of a large bloc (64 members × 16 nodes) stays well below this. */
export const MAX_CHARTER_FILE_BYTES = 64 * 1024 * 1024

function reason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message
  }
  return String(err)
}

/** Reads a charter chain file: canonical CBOR of `SignedCharter[]`, parsed and verified. */
export async function readCharterChain(ed: Ed25519, path: string): Promise<SignedCharter[]> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await readFile(path))
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NodeError('CHARTER_FILE_MISSING', `no charter file at ${path}`, { cause })
    }
    throw new NodeError('CHARTER_FILE_INVALID', `cannot read the charter file ${path}: ${reason(cause)}`, {
      cause,
    })
  }
  const invalid = (why: string, cause?: unknown) =>
    new NodeError(
      'CHARTER_FILE_INVALID',
      `${path} is not a charter chain (canonical CBOR of SignedCharter[]): ${why}`,
      { cause },
    )
  let value: unknown
  try {
    value = decodeCanonical(bytes, MAX_CHARTER_FILE_BYTES)
  } catch (cause) {
    throw invalid(reason(cause), cause)
  }
  if (!Array.isArray(value)) throw invalid('its top level is not a list')
  let chain: SignedCharter[]
  try {
    chain = value.map((c, i) => parseSignedCharter.parse(c, `charter version ${i + 1}`))
  } catch (cause) {
    throw invalid(reason(cause), cause)
  }
  try {
    verifyCharterChain(ed, chain)
  } catch (cause) {
    if (isProtocolError(cause)) throw new ProtocolError(cause.code, `${path}: ${cause.message}`, { cause })
    throw cause
  }
  return chain
}

/**
 * Checkpoints as the bloc's witnesses keep them (docs/protocol.md § Witnesses): a node's
 * checkpoint of its own feed, signed with its node key, and the cosignatures of the other nodes
 * of the charter in force, each under its witness name. One reading of them for the node's
 * witness, citizens' receipts and the secretariat's audit.
 */
import type { CertifiedNode, CharterView } from './charter.ts'
import type { Ed25519 } from './crypto.ts'
import { ProtocolError } from './errors.ts'
import { joinNote, noteParts, openCosignedNote, parseCheckpoint } from './note.ts'

/** The cosigner name of a node as witness. */
export function witnessName(bloc: string, nodeId: string): string {
  return `legation/${bloc}/witness/${nodeId}`
}

/** A node as the latest charter version that certifies it has it (an expelled node included). */
export function certifiedNode(charters: readonly CharterView[], nodeId: string): CertifiedNode | undefined {
  for (let i = charters.length - 1; i >= 0; i--) {
    const n = charters[i]!.nodes.get(nodeId)
    if (n) return n
  }
  return undefined
}

export interface OpenedWitnessed {
  /** The origin's node id, and its feed's tree size and root. */
  readonly origin: string
  readonly size: number
  readonly root: Uint8Array
  /** The note with the origin's signature and the cosignatures that verify, nothing else. */
  readonly note: string
  /** The witnesses whose cosignatures verify (node ids), and their member states. */
  readonly cosigners: readonly string[]
  readonly states: readonly string[]
  /** Cosigned by nodes of at least the quorum of member states of the latest charter version. */
  readonly final: boolean
}

/**
 * Opens a checkpoint note of a node of this bloc (`origin`: its node id, or undefined to take it
 * from the note's origin line): the origin's signature with its node key, each cosignature by
 * another node of the latest charter version under its witness name. Throws a ProtocolError if
 * it does not open, names no node of this bloc, or (with `origin`) is another node's.
 */
export function openWitnessedCheckpoint(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  note: string,
  origin?: string,
): OpenedWitnessed {
  const { text } = noteParts(note)
  const cp = parseCheckpoint(text)
  const prefix = `legation/${bloc}/`
  const nodeId = origin ?? (cp.origin.startsWith(prefix) ? cp.origin.slice(prefix.length) : '')
  if (cp.origin !== `${prefix}${nodeId}`) {
    throw new ProtocolError('SCHEMA_INVALID', `the checkpoint is of ${cp.origin}, not ${prefix}${nodeId}`)
  }
  const node = certifiedNode(charters, nodeId)
  if (!node) throw new ProtocolError('SCHEMA_INVALID', `node ${nodeId} is certified in no charter version`)
  const latest = charters.at(-1)!
  const witnesses = [...latest.nodes.values()]
    .filter((n) => n.nodeId !== nodeId)
    .map((n) => ({ name: witnessName(bloc, n.nodeId), publicKey: n.nodeKey, node: n }))
  const opened = openCosignedNote(ed, note, { name: cp.origin, publicKey: node.nodeKey }, witnesses)
  const cosigners = witnesses.filter((w) => opened.cosignatures.has(w.name))
  const states = [...new Set(cosigners.map((w) => w.node.state))].sort()
  return {
    origin: nodeId,
    size: cp.size,
    root: cp.root,
    note: joinNote({
      text,
      lines: [opened.signerLine, ...cosigners.map((w) => opened.cosignatures.get(w.name)!.line)],
    }),
    cosigners: cosigners.map((w) => w.node.nodeId),
    states,
    final: states.length >= latest.charter.quorum,
  }
}

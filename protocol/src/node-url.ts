/**
 * A node's public HTTP address, announced by the node itself: signed with its node key (the key
 * the charter certifies), so any node may relay it and anyone holding the charter — a page
 * included — can check it. The newest announcement of a node (by `at`) stands.
 *
 *   nodeUrl := { body: { node: keyid, url, at: ms }, sig: Ed25519(nodeKey, signingInput("node-url", body)) }
 *
 * @example
 * const a = signNodeUrl(ed, { node: nodeId, url: 'https://node-a.example', at: Date.now() }, secretKey)
 * verifyNodeUrl(ed, a, charterNode.nodeKey) // true
 */
import { type Static, Type } from '@sinclair/typebox'
import type { Ed25519 } from './crypto.ts'
import { DOMAINS, encodeCanonical, signingInput } from './encoding.ts'
import { KeyIdString, Signature } from './schema.ts'

const strict = { additionalProperties: false } as const

/** An http(s) origin with an optional path: where browsers reach the node's API and portal. */
export const PublicHttpUrl = Type.String({
  minLength: 8,
  maxLength: 256,
  pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
})

export const NodeUrlBody = Type.Object(
  { node: KeyIdString, url: PublicHttpUrl, at: Type.Integer({ minimum: 0 }) },
  strict,
)
export const NodeUrl = Type.Object({ body: NodeUrlBody, sig: Signature }, strict)
export type NodeUrlBody = Static<typeof NodeUrlBody>
export type NodeUrl = Static<typeof NodeUrl>

export function signNodeUrl(ed: Ed25519, body: NodeUrlBody, nodeSecretKey: Uint8Array): NodeUrl {
  return { body, sig: ed.sign(signingInput(DOMAINS.nodeUrl, encodeCanonical(body)), nodeSecretKey) }
}

/** Whether `a` was signed by the node whose key the charter certifies as `nodeKey`. */
export function verifyNodeUrl(ed: Ed25519, a: NodeUrl, nodeKey: Uint8Array): boolean {
  return ed.verify(a.sig, signingInput(DOMAINS.nodeUrl, encodeCanonical(a.body)), nodeKey)
}

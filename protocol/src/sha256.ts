/**
 * SHA-256 of the concatenated parts, in pure JavaScript (`@noble/hashes`): what browsers and
 * any runtime without the `node` condition use. In Node, `#sha256` resolves to
 * sha256-native.ts instead (package.json "imports"), OpenSSL's, ≈ 10× faster on an entry's
 * bytes; both give the same digest (protocol/test/keys.test.ts compares them).
 */
import { sha256 as noble } from '@noble/hashes/sha2.js'

export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const h = noble.create()
  for (const p of parts) h.update(p)
  return h.digest()
}

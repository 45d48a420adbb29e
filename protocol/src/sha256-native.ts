/**
 * SHA-256 of the concatenated parts with Node's OpenSSL: what `#sha256` resolves to in Node
 * (package.json "imports", condition "node"). Like native-crypto.ts, it imports node:crypto
 * for computation only. Same digests as sha256.ts, which browsers use.
 */
import { createHash } from 'node:crypto'

export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  const d = h.digest()
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

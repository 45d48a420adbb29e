/**
 * Two byte strings joined, for a signature made or checked at once: what `#joined` resolves to
 * in Node (package.json "imports", condition "node"); joined.ts is the browsers'.
 *
 * A fresh Uint8Array of more than 64 bytes gets an array buffer of its own outside the heap,
 * and allocating, accounting and later sweeping it costs ~5 µs of CPU here (for the ~1.1 KB a
 * record's signature covers), against ~0.7 µs for a slice of Buffer's shared pool. A record
 * takes two such inputs on its way into a node (its own signature and its entry's). Each call
 * gets bytes of its own, but a slice of the pool keeps the pool's 8 KiB alive while it lives:
 * the result is signed or verified (a batch's checks wait for the verifier a moment), never
 * stored, changed or transferred.
 */
import { Buffer } from 'node:buffer'

export function joinedForOnce(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

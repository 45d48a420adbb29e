/**
 * SHA-256 of the concatenated parts with Node's OpenSSL: what `#sha256` resolves to in Node
 * (package.json "imports", condition "node"). Like native-crypto.ts, it imports node:crypto
 * for computation only. Same digests as sha256.ts, which browsers use.
 *
 * A record's way through a node takes ~15 digests of small inputs (ids, doc hashes, the
 * accumulator). `crypto.hash` makes one without a `Hash` object: ~0.7 µs less per digest than
 * `createHash` here, and one object fewer for the collector. Small parts are copied into one
 * input for it; large ones are streamed.
 */
import { createHash, hash } from 'node:crypto'

/** Parts up to this many bytes in all are copied into one input for the one-shot digest. */
const COPY_UP_TO = 4096
/**
 * Where they are copied: one buffer, reused, since `hash` is synchronous. A new one per digest
 * came from Node's buffer pool, which makes a new 8 KiB array buffer every few records: ~2 % of
 * a catching-up node's main thread, and more array buffers for the collector to sweep.
 */
const scratch = Buffer.allocUnsafeSlow(COPY_UP_TO)

export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  let d: string
  if (parts.length === 1) {
    d = hash('sha256', parts[0]!, 'binary')
  } else {
    let n = 0
    for (const p of parts) n += p.length
    if (n <= COPY_UP_TO) {
      let at = 0
      for (const p of parts) {
        scratch.set(p, at)
        at += p.length
      }
      d = hash('sha256', scratch.subarray(0, n), 'binary')
    } else {
      const h = createHash('sha256')
      for (const p of parts) h.update(p)
      d = h.digest('binary')
    }
  }
  return bytesOfBinaryDigest(d)
}

/**
 * The digest as a Uint8Array of its own, from its `binary` (latin1) spelling: one character per
 * byte. Asked for as a Buffer, each digest got an array buffer of its own outside the heap: ~1.6 µs
 * of CPU more per digest here (1.96 against 0.33 µs for 100 bytes), most of it in allocating,
 * accounting and later sweeping that buffer. 32 bytes fit in the heap, where they cost what
 * any small object does.
 */
function bytesOfBinaryDigest(d: string): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = d.charCodeAt(i)
  return out
}

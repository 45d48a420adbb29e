/**
 * The limit the node is measured against: native Ed25519 verification (OpenSSL through
 * `node:crypto`) on one core, and on every core with one worker thread each.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { generateKeyPair, signingInput } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'

/** Verifications per second of one signature over a record-sized message, `n` times. */
export function verifyLoop(n: number): number {
  const keys = generateKeyPair(nativeEd25519)
  const msg = signingInput('record', new Uint8Array(600).fill(7))
  const sig = nativeEd25519.sign(msg, keys.secretKey)
  const t = performance.now()
  for (let i = 0; i < n; i++) nativeEd25519.verify(sig, msg, keys.publicKey)
  return n / ((performance.now() - t) / 1000)
}

export async function verifyRates(
  n: number,
): Promise<{ oneCore: number; allCores: number; threads: number }> {
  verifyLoop(Math.min(n, 2000)) // warm-up
  const oneCore = Math.round(verifyLoop(n))
  const threads = availableParallelism()
  // Each worker times its own loop, all at once; their rates add up.
  const rates = await Promise.all(
    Array.from({ length: threads }, () => {
      const w = new Worker(new URL('./verify-worker.ts', import.meta.url), { workerData: n })
      return new Promise<number>((res, rej) => {
        w.once('message', res)
        w.once('error', rej)
      }).finally(() => w.terminate())
    }),
  )
  const allCores = Math.round(rates.reduce((a, b) => a + b, 0))
  return { oneCore, allCores, threads }
}

/**
 * A verification worker that dies on any batch of exactly 13 checks, and otherwise is the real
 * one: lets a test kill a worker at a moment it chooses and watch the verifier replace it.
 */
import { parentPort } from 'node:worker_threads'

parentPort!.on('message', (msg: { count: number }) => {
  if (msg.count === 13) process.exit(3)
})
await import('../../src/crypto/verify-worker.ts')

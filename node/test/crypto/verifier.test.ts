import { generateKeyPair, signingInput } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { type SigCheck, Verifier } from '../../src/crypto/verifier.ts'

const keys = [generateKeyPair(ed), generateKeyPair(ed)]
function check(i: number, valid: boolean): SigCheck {
  const message = signingInput('record', new Uint8Array([i & 0xff, i >> 8, 7]))
  const sig = ed.sign(message, keys[i % 2]!.secretKey)
  if (!valid) sig[i % 64] = sig[i % 64]! ^ 1
  return { sig, message, key: keys[i % 2]!.publicKey }
}

let verifier: Verifier | undefined
afterEach(async () => {
  await verifier?.close()
  verifier = undefined
})

describe('verifier', () => {
  for (const workers of [0, 2]) {
    it(`answers each of many concurrent callers for its own checks, in order (${workers} workers)`, async () => {
      verifier = new Verifier({ ed, workers })
      const v = verifier
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(fc.boolean(), { maxLength: 70 }), { minLength: 1, maxLength: 12 }),
          async (callers) => {
            let n = 0
            const asked = callers.map((valids) => valids.map((valid) => ({ c: check(n++, valid), valid })))
            const answers = await Promise.all(asked.map((list) => v.verify(list.map((x) => x.c))))
            expect(answers).toEqual(asked.map((list) => list.map((x) => x.valid)))
          },
        ),
        { numRuns: 40 },
      )
    })
  }

  it('answers one large caller in order, its checks split over messages and workers', async () => {
    verifier = new Verifier({ ed, workers: 2 })
    const bad = new Set([0, 511, 512, 1500, 2999])
    const checks = Array.from({ length: 3000 }, (_, i) => check(i, !bad.has(i)))
    const out = await verifier.verify(checks)
    expect(out.flatMap((ok, i) => (ok ? [] : [i]))).toEqual([...bad])
  })

  it('refuses a signature or key of the wrong size without failing the rest of the batch', async () => {
    verifier = new Verifier({ ed, workers: 1 })
    const good = check(1, true)
    const out = await verifier.verify([
      good,
      { ...good, sig: good.sig.subarray(0, 63) },
      { ...good, key: new Uint8Array(33) },
      good,
    ])
    expect(out).toEqual([true, false, false, true])
  })

  it('answers or fails everything when closed, never leaving a caller waiting', async () => {
    verifier = new Verifier({ ed, workers: 1 })
    const queued = verifier.verify([check(1, true)])
    const sent = new Promise<boolean[]>((resolve, reject) => {
      setImmediate(() => {
        // By now the first batch went to the worker; this one is still queued.
        verifier!.verify(Array.from({ length: 2000 }, (_, i) => check(i, true))).then(resolve, reject)
      })
    })
    await new Promise((r) => setImmediate(r))
    await verifier.close()
    verifier = undefined
    const settled = await Promise.allSettled([queued, sent])
    for (const s of settled) {
      if (s.status === 'fulfilled') expect(s.value.every(Boolean)).toBe(true)
      else expect(String(s.reason)).toMatch(/closed|exited/)
    }
  })
})

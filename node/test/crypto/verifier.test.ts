import { generateKeyPair, signingInput } from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { verifier as makeVerifier, type SigCheck, type Verifier } from '../../src/crypto/verifier.ts'

const keys = [generateKeyPair(ed), generateKeyPair(ed)]
function check(i: number, valid: boolean): SigCheck {
  const message = signingInput('record', new Uint8Array([i & 0xff, i >> 8, 7]))
  const sig = ed.sign(message, keys[i % 2]!.secretKey)
  if (!valid) sig[i % 64] = sig[i % 64]! ^ 1
  return { sig, message, key: keys[i % 2]!.publicKey }
}

let verifier: Verifier | undefined
async function started(init: Parameters<typeof makeVerifier>[0]): Promise<Verifier> {
  const v = makeVerifier(init)({ ed })
  await v.start()
  return v
}
afterEach(async () => {
  await verifier?.close()
  verifier = undefined
})

describe('verifier', () => {
  for (const workers of [0, 2]) {
    it(`answers each of many concurrent callers for its own checks, in order (${workers} workers)`, async () => {
      verifier = await started({ workers })
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
    verifier = await started({ workers: 2 })
    const bad = new Set([0, 511, 512, 1500, 2999])
    const checks = Array.from({ length: 3000 }, (_, i) => check(i, !bad.has(i)))
    const out = await verifier.verify(checks)
    expect(out.flatMap((ok, i) => (ok ? [] : [i]))).toEqual([...bad])
  })

  it('refuses a signature or key of the wrong size without failing the rest of the batch', async () => {
    verifier = await started({ workers: 1 })
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
    verifier = await started({ workers: 1 })
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

  it('replaces a worker that dies: its batch fails, the next is verified by the new worker', async () => {
    verifier = await started({ workers: 1, workerUrl: new URL('./crash-on-13-worker.ts', import.meta.url) })
    expect(verifier.stats()).toEqual({ workers: 1, replaced: 0 })
    const doomed = Array.from({ length: 13 }, (_, i) => check(i, true))
    await expect(verifier.verify(doomed)).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(verifier.stats()).toEqual({ workers: 1, replaced: 1 })
    const out = await verifier.verify([check(1, true), check(2, false), check(3, true)])
    expect(out).toEqual([true, false, true])
  })

  it('verifies a turn of at most `inlineChecks` checks on the calling thread, more on a worker', async () => {
    // The worker dies on 13 checks: 13 asked with inlineChecks 13 never reach it, 13 with 12 do.
    const workerUrl = new URL('./crash-on-13-worker.ts', import.meta.url)
    verifier = await started({ workers: 1, inlineChecks: 13, workerUrl })
    const thirteen = Array.from({ length: 13 }, (_, i) => check(i, i !== 5))
    expect(await verifier.verify(thirteen)).toEqual(thirteen.map((_, i) => i !== 5))
    // Two callers in one turn count together: 7 + 6 go to the worker.
    await verifier.close()
    verifier = await started({ workers: 1, inlineChecks: 12, workerUrl })
    const both = Promise.all([verifier.verify(thirteen.slice(0, 7)), verifier.verify(thirteen.slice(7))])
    await expect(both).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(verifier.stats().replaced).toBe(1)
  })

  it('stops replacing workers that keep dying, and verifies on the calling thread instead', async () => {
    verifier = await started({
      workers: 1,
      maxReplacementsPerMinute: 2,
      workerUrl: new URL('./crash-on-13-worker.ts', import.meta.url),
    })
    const doomed = Array.from({ length: 13 }, (_, i) => check(i, true))
    for (let i = 0; i < 3; i++)
      await expect(verifier.verify(doomed)).rejects.toMatchObject({ code: 'INTERNAL' })
    expect(verifier.stats()).toEqual({ workers: 0, replaced: 2 })
    expect(await verifier.verify(doomed)).toEqual(doomed.map(() => true))
  })
})

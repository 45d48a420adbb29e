/**
 * Batch verification: every Ed25519 check of many records (or a whole sync frame) in one
 * batch, on worker threads when there is a `Verifier`.
 *
 * The protocol's verifiers are pure and synchronous. Each record is first checked with a
 * *deferring* Ed25519 that notes every (signature, message, key) it is asked about and answers
 * "valid"; the noted checks then run for real, together, and a record stands only if all its
 * checks pass. Pure rules, batched I/O. Certificates the pure check would have cached as
 * verified are cached only once their signatures really verified.
 */
import { BoundedSet, type Ed25519, ProtocolError, SignatureError, verifyRecord } from '@legation/protocol'
import type { SigCheck, Verifier } from '../crypto/verifier.ts'
import type { Trust } from './trust.ts'
import { asProtocolError, type Verification } from './types.ts'

/** Officer certificates remembered as verified (an officer signs many records with one). */
export const DEFAULT_VERIFIED_CERTS = 10_000

export interface BatchVerifierComponents {
  ed: Ed25519
  trust: Trust
  /** Worker threads for large batches; inline on this thread when omitted. */
  verifier?: Verifier | undefined
}

export class BatchVerifier {
  readonly #ed: Ed25519
  readonly #trust: Trust
  readonly #verifiedCerts = new BoundedSet(DEFAULT_VERIFIED_CERTS)
  /** Runs signature checks for real: on the workers, or inline. */
  readonly check: (checks: readonly SigCheck[]) => Promise<boolean[]>

  constructor(components: BatchVerifierComponents) {
    this.#ed = components.ed
    this.#trust = components.trust
    const verifier = components.verifier
    this.check = verifier
      ? (checks) => verifier.verify(checks)
      : async (checks) => checks.map((c) => this.#ed.verify(c.sig, c.message, c.key))
  }

  /** An Ed25519 that notes each verification asked of it into `checks` and answers "valid" for now. */
  deferred(checks: SigCheck[]): Ed25519 {
    return {
      name: 'deferred',
      publicKey: (k) => this.#ed.publicKey(k),
      sign: (m, k) => this.#ed.sign(m, k),
      verify: (sig, message, key) => {
        checks.push({ sig, message, key })
        return true
      },
    }
  }

  /** Verifies many records (decoded values, not yet parsed) with one batch of signature checks. */
  async records(values: readonly unknown[]): Promise<Verification[]> {
    const bloc = this.#trust.bloc
    const charter = (h: string) => this.#trust.charterByHash(h)
    const real = this.#verifiedCerts
    const pending: Array<{ result: Verification; checks: SigCheck[]; certs: string[] }> = []
    for (const value of values) {
      const checks: SigCheck[] = []
      const certs: string[] = []
      const staged = { has: (k: string) => real.has(k), add: (k: string) => void certs.push(k) } as BoundedSet
      let result: Verification
      try {
        result = {
          ok: true,
          ...verifyRecord({ ed: this.deferred(checks), charter, verifiedCerts: staged }, value, bloc),
        }
      } catch (err) {
        result = { ok: false, error: asProtocolError(err) }
      }
      pending.push({ result, checks, certs })
    }
    const outcomes = await this.check(pending.flatMap((p) => (p.result.ok ? p.checks : [])))
    let k = 0
    return pending.map((p) => {
      if (!p.result.ok) return p.result
      const mine = outcomes.slice(k, k + p.checks.length)
      k += p.checks.length
      // The record's own signature is checked first, then its certificate's.
      const failed = mine.indexOf(false)
      if (failed === 0) {
        return {
          ok: false,
          error: new SignatureError('SIGNATURE_INVALID', 'record signature does not verify'),
        }
      }
      if (failed > 0) {
        return {
          ok: false,
          error: new ProtocolError('CERT_INVALID', 'certificate is not signed by its state key'),
        }
      }
      for (const c of p.certs) real.add(c)
      return p.result
    })
  }
}

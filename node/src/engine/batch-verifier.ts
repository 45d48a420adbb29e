/**
 * Batch verification: every Ed25519 check of many records (or a whole sync frame) in one
 * batch, on worker threads when there is a `Verifier`.
 *
 * The protocol's verifiers are pure and synchronous. Each record is first checked with a
 * *deferring* Ed25519 that notes every (signature, message, key) it is asked about and answers
 * "valid"; the noted checks then run for real, together, and a record stands only if all its
 * checks pass (and, for a certificate an earlier record of the batch carried, that record's
 * check of it). Pure rules, batched I/O. Certificates the pure check would have cached as
 * verified are cached only once their signatures really verified.
 */
import {
  type BoundedSet,
  type Ed25519,
  type KnownEncodings,
  ProtocolError,
  SignatureError,
  verifyRecord,
} from '@legation/protocol'
import type { SigCheck, Verifier } from '../crypto/verifier.ts'
import type { Trust } from './trust.ts'
import { asProtocolError, type Verification } from './types.ts'

export interface BatchVerifierComponents {
  ed: Ed25519
  trust: Trust
  /** Worker threads for large batches; inline on this thread when omitted. */
  verifier?: Verifier | undefined
}

export class BatchVerifier {
  readonly #ed: Ed25519
  readonly #trust: Trust
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

  /**
   * An Ed25519 that notes each verification asked of it into `checks` and answers "valid" for
   * now; `skip`, a signature this process made (those very bytes), is not noted.
   */
  deferred(checks: SigCheck[], skip?: Uint8Array): Ed25519 {
    return {
      name: 'deferred',
      publicKey: (k) => this.#ed.publicKey(k),
      sign: (m, k) => this.#ed.sign(m, k),
      verify: (sig, message, key) => {
        if (sig !== skip) checks.push({ sig, message, key })
        return true
      },
    }
  }

  /**
   * Verifies many records (decoded values, not yet parsed) with one batch of signature checks.
   * `signedHere`: signatures this node has just made itself (the reads it logs), known by their
   * byte arrays, not their contents: their records are checked like any other, but a record's
   * own signature, if it is one of those, is not verified. A record that merely names this node
   * as its author, or carries a copy of such a signature, is verified.
   */
  async records(
    values: readonly unknown[],
    signedHere?: ReadonlySet<Uint8Array>,
    known?: KnownEncodings,
  ): Promise<Verification[]> {
    const bloc = this.#trust.bloc
    const charter = (h: string) => this.#trust.charterByHash(h)
    const real = this.#trust.verifiedCerts
    // A certificate first met in this batch is checked once, by its first record; the others
    // stand or fall with that check.
    const firstIn = new Map<string, SigCheck>()
    const pending: Array<{
      result: Verification
      checks: SigCheck[]
      certs: string[]
      deps: SigCheck[]
      own: boolean
    }> = []
    for (const value of values) {
      // The record's own signature, first of its checks, is one of those made here.
      const sig = (value as { sig?: Uint8Array } | null)?.sig
      const own = sig !== undefined && (signedHere?.has(sig) ?? false)
      const checks: SigCheck[] = []
      const certs: string[] = []
      const deps: SigCheck[] = []
      const staged = {
        has: (k: string) => {
          if (real.has(k)) return true
          const first = firstIn.get(k)
          if (first) deps.push(first)
          return first !== undefined
        },
        // Called right after the certificate's check was noted.
        add: (k: string) => {
          certs.push(k)
          firstIn.set(k, checks.at(-1)!)
        },
      } as BoundedSet
      let result: Verification
      try {
        result = {
          ok: true,
          ...verifyRecord(
            { ed: this.deferred(checks, own ? sig : undefined), charter, verifiedCerts: staged, known },
            value,
            bloc,
          ),
        }
      } catch (err) {
        result = { ok: false, error: asProtocolError(err) }
        // A refused record's checks are not run: no later record may lean on them.
        for (const k of certs) firstIn.delete(k)
      }
      pending.push({ result, checks, certs, deps, own })
    }
    const run = pending.flatMap((p) => (p.result.ok ? p.checks : []))
    const outcomes = await this.check(run)
    const passed = new Map(run.map((c, i) => [c, outcomes[i]!]))
    return pending.map((p) => {
      if (!p.result.ok) return p.result
      // The record's own signature is checked first (unless made here), then its certificate's.
      const failed = p.checks.findIndex((c) => !passed.get(c))
      if (failed === 0 && !p.own) {
        return {
          ok: false,
          error: new SignatureError('SIGNATURE_INVALID', 'record signature does not verify'),
        }
      }
      if (failed >= 0 || p.deps.some((c) => !passed.get(c))) {
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

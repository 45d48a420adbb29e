/**
 * A deterministic test bloc: the founders AT, BE and CZ of docs/test-vectors.json (quorum 2,
 * one certified node each), officers and citizens made from fixed seeds, and an in-memory
 * RecordContext. Shared by the behaviour tests.
 */
import { expect } from 'vitest'
import { DAY, memberSpec, T0, testKeyPair, testSalt, VALIDITY } from '../scripts/make-vectors.ts'
import {
  type CaseState,
  type CaseType,
  type CharterView,
  certificateId,
  certifyOfficer,
  createGenesis,
  type Ed25519,
  keyId,
  LegationClient,
  type MemberSpec,
  type OfficerCertificate,
  type OfficerRole,
  OPEN_CASE_STATES,
  PROTOCOL_ERRORS,
  ProtocolError,
  type ProtocolErrorCode,
  type RecordBody,
  type RecordContext,
  type SignedCharter,
  type SignedRecord,
  type VerifyContext,
  verifyGenesis,
} from '../src/index.ts'
import { nativeEd25519 } from '../src/native-crypto.ts'

export { DAY, T0, testKeyPair, testSalt, VALIDITY }

export interface TestBloc {
  readonly ed: Ed25519
  readonly founders: MemberSpec[]
  readonly genesis: SignedCharter
  readonly view: CharterView
  readonly ctx: VerifyContext
  /** Charter views by hash, for VerifyContext; add amendments with `addView`. */
  readonly views: Map<string, CharterView>
  addView(view: CharterView): void
  stateSecret(code: string): Uint8Array
  /** An officer of `state` with test key `n`, signing against the latest charter version. */
  officer(
    state: string,
    roles: OfficerRole[],
    n: number,
    validity?: { notBefore: number; notAfter: number },
  ): Officer
  /** A citizen with test key `n` (use n >= 100 to stay clear of the vectors' keys). */
  citizen(n: number): LegationClient
}

export interface Officer {
  readonly client: LegationClient
  readonly cert: OfficerCertificate
  readonly certId: string
}

export function makeBloc(ed: Ed25519 = nativeEd25519): TestBloc {
  const founders = [0, 1, 2].map((i) => memberSpec(ed, i))
  const genesis = createGenesis(ed, {
    name: 'Legation Test Bloc',
    members: founders,
    auditorKey: testKeyPair(ed, 9).publicKey,
    quorum: 2,
    issuedAt: T0,
    validity: VALIDITY,
  })
  const view = verifyGenesis(ed, genesis)
  const views = new Map([[view.hash, view]])
  let latest = view
  const secrets = new Map(founders.map((f) => [f.code, f.stateKeys.secretKey]))
  return {
    ed,
    founders,
    genesis,
    view,
    views,
    ctx: { ed, charter: (h) => views.get(h) },
    addView(v) {
      views.set(v.hash, v)
      latest = v
    },
    stateSecret(code) {
      const s = secrets.get(code)
      if (!s) throw new Error(`no test state ${code}`)
      return s
    },
    officer(state, roles, n, validity = VALIDITY) {
      const keys = testKeyPair(ed, n)
      const secret = secrets.get(state) ?? testKeyPair(ed, n + 1000).secretKey
      const cert = certifyOfficer(ed, view.bloc, state, secret, keys.publicKey, roles, validity)
      const client = new LegationClient({
        ed,
        bloc: view.bloc,
        charter: latest.hash,
        keys,
        cert,
        clock: () => T0 + DAY,
        random: (len) => testSalt(n).slice(0, len),
      })
      return { client, cert, certId: certificateId(cert) }
    },
    citizen(n) {
      return new LegationClient({
        ed,
        bloc: view.bloc,
        charter: latest.hash,
        keys: testKeyPair(ed, n),
        clock: () => T0 + DAY,
        random: (len) => testSalt(n).slice(0, len),
      })
    },
  }
}

/** A registration body for a citizen key. */
export function registration(citizenKey: Uint8Array, nationality: string): RecordBody<'citizen.registered'> {
  return { citizenKey, nationality, consent: { purposes: ['consular-assistance'], version: 1 } }
}

export function registrationPayload(n: number) {
  return {
    salt: testSalt(n),
    names: { given: 'Ana', family: 'Peeters' },
    birth: { date: '1990-01-02' },
    travelDocument: { type: 'passport' as const, number: 'EH123456', issuer: 'BE', expires: '2030-01-01' },
    contact: { email: 'ana@example.org' },
  }
}

/** An in-memory RecordContext, filled by the test. */
export class MemoryContext implements RecordContext {
  readonly citizens = new Map<string, string>()
  readonly cases = new Map<string, { type: CaseType; subject: string; state: CaseState }>()
  readonly alerts = new Set<string>()
  readonly revoked = new Map<string, number>()
  nationality(citizen: string) {
    return this.citizens.get(citizen)
  }
  caseOf(caseId: string) {
    return this.cases.get(caseId)
  }
  hasAlert(alertId: string) {
    return this.alerts.has(alertId)
  }
  openCases(citizen: string) {
    return [...this.cases.values()].filter((c) => c.subject === citizen && OPEN_CASE_STATES.has(c.state))
      .length
  }
  revokedAt(certId: string, state: string) {
    return this.revoked.get(`${state}/${certId}`)
  }
}

/** Runs `fn` and asserts it throws a ProtocolError with `code`; returns the error. */
export function expectCode(fn: () => unknown, code: ProtocolErrorCode): ProtocolError {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(ProtocolError)
  const err = thrown as ProtocolError
  expect(err.code).toBe(code)
  expect(err.statusCode).toBe(PROTOCOL_ERRORS[code].status)
  return err
}

export const citizenIdOf = (client: LegationClient): string => keyId(client.keys.publicKey)

export type { SignedRecord }

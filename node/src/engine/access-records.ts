/**
 * Officers' reads of citizens' personal data as records: one `access.logged` record per citizen
 * shown, signed by the node that served the read (the one record kind a node signs itself;
 * docs/privacy.md § Read transparency). Engine.logAccess submits them like any local record.
 */
import {
  type AccessPurpose,
  type AccessShown,
  type Ed25519,
  type KeyPair,
  type RecordHeader,
  signRecord,
} from '@legation/protocol'
import type { Submission } from './types.ts'

/** An officer's read of one citizen's personal data, as `logAccess` records it. */
export interface AccessRead {
  citizen: string
  /** The officer's certificate id and state. */
  officer: string
  state: string
  purpose: AccessPurpose
  shown: AccessShown
  case?: string | null
}

/** The records of these reads, signed by `node` under the charter version in force, dated `at`. */
export function accessRecords(
  ed: Ed25519,
  node: KeyPair,
  bloc: { bloc: string; charter: string },
  at: number,
  reads: readonly AccessRead[],
): Submission[] {
  return reads.map((r) => {
    const header: RecordHeader<'access.logged'> = {
      v: 1,
      bloc: bloc.bloc,
      charter: bloc.charter,
      kind: 'access.logged',
      subject: r.citizen,
      at,
      author: node.publicKey,
      body: { officer: r.officer, state: r.state, purpose: r.purpose, shown: r.shown, case: r.case ?? null },
      payload: null,
    }
    return { record: signRecord(ed, header, node.secretKey, null), payload: null }
  })
}

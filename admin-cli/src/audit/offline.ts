/**
 * The offline audit: `legation audit --data-dir DIR` over a stopped node's store (or a copy of
 * one, a backup), by `auditStore` of @legation/node — the same checks of entries, records and
 * chains as the live audit, plus the stored trees against their entries and a replay to the
 * state root. Nothing is sent anywhere; the store is opened, read and closed.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { auditStore } from '@legation/node/audit'
import { LevelStore } from '@legation/node/level-store'
import { type Ed25519, isProtocolError, type SignedCharter } from '@legation/protocol'
import { CliError } from '../errors.ts'
import { type AuditReport, checkResults, type FoundWithMaterial } from './report.ts'

export interface OfflineAuditOptions {
  readonly dataDir: string
  readonly charter: readonly SignedCharter[]
  readonly ed: Ed25519
  readonly now: () => number
  /** @default true */
  readonly replay?: boolean
  readonly onProgress?: (done: number, total: number) => void
}

export async function auditDataDir(
  opts: OfflineAuditOptions,
): Promise<{ report: AuditReport; found: FoundWithMaterial[] }> {
  const dir = resolve(opts.dataDir)
  const db = join(dir, 'db')
  if (!existsSync(join(db, 'CURRENT')))
    throw new CliError('FILE_NOT_FOUND', `no node store in ${dir} (no ${db})`)
  let store: LevelStore
  try {
    store = await LevelStore.open(db)
  } catch (cause) {
    throw new CliError('FILE_UNREADABLE', `cannot open the store in ${db}: is its node still running?`, {
      cause,
    })
  }
  let r: Awaited<ReturnType<typeof auditStore>>
  try {
    r = await auditStore(store, opts.ed, {
      charter: opts.charter,
      ...(opts.replay === false ? { replay: false } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    })
  } catch (cause) {
    if (isProtocolError(cause) && cause.code === 'BLOC_MISMATCH') {
      throw new CliError('BLOC_MISMATCH', `the store in ${dir} is of another bloc than the charter`, {
        cause,
      })
    }
    throw cause
  } finally {
    await store.close()
  }
  const found: FoundWithMaterial[] = r.findings.map((f) => ({
    finding: {
      kind: f.kind,
      node: dir,
      source: dir,
      nodes: [dir],
      feed: f.feed,
      seq: f.seq,
      ...(f.record ? { record: f.record } : {}),
      detail: f.detail,
    },
    material: f.material && {
      ...(f.material.entries ? { entries: f.material.entries } : {}),
      ...(f.material.revocations ? { revocations: f.material.revocations } : {}),
      ...(f.material.checkpoints ? { checkpoints: f.material.checkpoints } : {}),
      ...(f.material.feed ? { feedEntries: f.material.feed } : {}),
    },
  }))
  const findings = found.map((f) => f.finding)
  const notices: string[] = []
  if (r.voidEntries > 0) {
    notices.push(
      `${r.voidEntries} entries are void: dated after an amendment removed their node (not a fault)`,
    )
  }
  if (r.evidence > 0) notices.push(`the store keeps ${r.evidence} piece(s) of evidence`)
  if (r.witnessed === 0)
    notices.push('the store keeps no witnessed checkpoint: its stored trees were checked')
  if (r.accessLogsSkipped !== null && opts.replay !== false)
    notices.push(`the reads-logged lists were not compared with the replay's: ${r.accessLogsSkipped}`)
  return {
    found,
    report: {
      v: 1,
      mode: 'offline',
      at: new Date(opts.now()).toISOString(),
      bloc: r.bloc,
      charter: { version: r.charterVersion, hash: r.charterHash },
      nodes: [{ source: dir, nodeId: null, name: null, state: null, checkpoint: null, feeds: r.feeds }],
      totals: { nodes: 1, feeds: Object.keys(r.feeds).length, entries: r.entries, records: r.records },
      checks: checkResults(findings, {
        'checkpoint-consistency': 'live only (--node, with --state)',
        'node-agreement': 'live only: one store holds one node’s copy',
        ...(opts.replay === false ? { 'state-root': 'skipped (--no-replay)' } : {}),
      }),
      findings,
      notices,
    },
  }
}

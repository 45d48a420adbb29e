/**
 * `legation audit`: the treaty secretariat's audit of running nodes (`--node URL`, repeatable,
 * signed with the auditor key) or of a stopped node's data dir (`--data-dir DIR`), under the
 * auditor's own charter (docs/audit.md § legation audit). A readable summary or a JSON report;
 * exit status 3 on any finding. `--follow` audits again every interval and stops (and alerts a
 * webhook) at the first finding. `audit export --out FILE` writes an evidence bundle;
 * `audit verify-bundle FILE` checks one offline with nothing but the charter.
 */
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { KeyPair, SignedCharter } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { buildBundle, parseBundle, type Verdict, verifyBundle } from '../audit/bundle.ts'
import { auditLive, type LiveAuditResult } from '../audit/live.ts'
import { auditDataDir } from '../audit/offline.ts'
import { type AuditReport, type FoundWithMaterial, formatReport } from '../audit/report.ts'
import { DEFAULT_AUDIT_PAGE } from '../audit/sources.ts'
import { type AuditState, loadState, saveState } from '../audit/state.ts'
import { CliError } from '../errors.ts'
import { type CliIo, println, progressBar } from '../io.ts'
import { defaultDevSecretsPath, loadAuditorKeyFile, readFileOrFail } from '../key-file.ts'
import { parseNodeUrl } from '../node-client.ts'
import { intInRange } from '../options.ts'
import { verifyCharterFile } from './verify-charter.ts'

/** Seconds between two rounds of `--follow`. */
export const DEFAULT_FOLLOW_INTERVAL_S = 60
/** How long a webhook may take to take an alert. */
const WEBHOOK_TIMEOUT_MS = 10_000

interface AuditOptions {
  node?: string[]
  dataDir?: string
  charter?: string
  key?: string
  state?: string
  json?: boolean
  replay: boolean
  pageSize: number
  follow?: boolean
  interval: number
  maxRounds?: number
  webhook?: string
}

const collectUrl = (value: string, previous: string[] = []): string[] => {
  try {
    parseNodeUrl(value)
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err))
  }
  return [...previous, value]
}

/** The options of an audit run, shared by `audit` and `audit export`. */
function auditOptions(cmd: Command): Command {
  return (
    cmd
      .addOption(
        new Option('--node <url>', 'a running node to audit (repeat for several)').argParser(collectUrl),
      )
      .addOption(new Option('--data-dir <dir>', 'audit a stopped node’s data dir (or a backup) instead'))
      // Checked in the action: commander asks a parent's mandatory options of its subcommands too.
      .addOption(new Option('--charter <file>', 'the auditor’s charter chain (canonical CBOR), required'))
      .addOption(
        new Option('--key <file>', 'the auditor key file (default: <LEGATION_DATA_DIR>/dev-secrets.json)'),
      )
      .addOption(
        new Option('--state <file>', 'remember checkpoints here and check the next ones extend them'),
      )
      .addOption(
        new Option('--page-size <n>', 'entries asked per request')
          .argParser(intInRange(1, DEFAULT_AUDIT_PAGE))
          .default(DEFAULT_AUDIT_PAGE),
      )
      .option('--no-replay', 'offline: skip the replay that checks the state root')
      .option('--json', 'print the report as JSON')
  )
}

export function registerAudit(program: Command, io: CliIo): void {
  const audit = auditOptions(
    program
      .command('audit')
      .description(
        'audit running nodes (--node) or a stopped node’s data dir (--data-dir); exit 3 on any finding',
      )
      // `audit export --charter …`: options after a subcommand are the subcommand's.
      .enablePositionalOptions(),
  )
    .option('--follow', 'audit again every --interval seconds; stop at the first finding')
    .addOption(
      new Option('--interval <s>', 'seconds between rounds of --follow')
        .argParser(intInRange(1, 86_400))
        .default(DEFAULT_FOLLOW_INTERVAL_S),
    )
    .addOption(
      new Option('--max-rounds <n>', 'stop --follow after this many rounds').argParser(
        intInRange(1, 1_000_000),
      ),
    )
    .addOption(
      new Option('--webhook <url>', 'POST the report (JSON) here at the first finding').argParser(checkedUrl),
    )
    .action(async (opts: AuditOptions) => {
      if (opts.follow) return follow(io, opts)
      if (opts.webhook || opts.maxRounds !== undefined)
        throw new CliError('USAGE', '--webhook and --max-rounds go with --follow')
      const { report } = await runAudit(io, opts)
      output(io, opts, report)
      failOnFindings(report)
    })

  auditOptions(
    audit
      .command('export')
      .description(
        'audit, and write what was found with the signed material that proves it (an evidence bundle)',
      )
      .addOption(
        new Option('--out <file>', 'the bundle to write (JSON; not overwritten)').makeOptionMandatory(),
      ),
  ).action(async (opts: AuditOptions & { out: string }) => {
    const { report, found, charter, nodes } = await runAudit(io, opts)
    const bundle = await buildBundle(report, found, charter, nodes ?? new Map(), io.now)
    const out = resolve(opts.out)
    try {
      writeFileSync(out, `${JSON.stringify(bundle, null, 2)}\n`, { flag: 'wx' })
    } catch (cause) {
      if ((cause as { code?: string }).code === 'EEXIST')
        throw new CliError('FILE_EXISTS', `${out} already exists; not overwriting it`)
      throw new CliError('FILE_UNREADABLE', `cannot write ${out}`, { cause })
    }
    output(io, opts, report)
    println(io.stderr, `evidence bundle: ${out} (${bundle.findings.length} finding(s))`)
    failOnFindings(report)
  })

  audit
    .command('verify-bundle')
    .description('check an evidence bundle offline, with nothing but the charter')
    .argument('<bundle>', 'the bundle file `audit export` wrote')
    .addOption(
      new Option('--charter <file>', 'the bloc’s charter chain (canonical CBOR)').makeOptionMandatory(),
    )
    .option('--json', 'print each finding’s verdict as JSON')
    .action((file: string, opts: { charter: string; json?: boolean }) => {
      const path = resolve(file)
      const bundle = parseBundle(readFileOrFail(path, 'bundle').toString('utf8'), path)
      const { chain } = verifyCharterFile(resolve(opts.charter))
      const checked = verifyBundle(nativeEd25519, chain, bundle)
      if (opts.json) {
        println(
          io.stdout,
          JSON.stringify(
            checked.map((c) => ({ ...c.finding, verdict: c.verdict, why: c.why })),
            null,
            2,
          ),
        )
      } else {
        println(
          io.stdout,
          `${path}: ${checked.length} finding(s), bloc ${bundle.bloc}, made ${bundle.createdAt}`,
        )
        for (const c of checked) {
          const where = [
            c.finding.feed && `feed ${c.finding.feed}`,
            c.finding.seq !== null && `entry ${c.finding.seq}`,
          ]
            .filter(Boolean)
            .join(', ')
          println(
            io.stdout,
            `  ${c.verdict.padEnd(8)} ${c.finding.kind} at node ${c.finding.node}${where ? `, ${where}` : ''}: ${c.why}`,
          )
        }
      }
      const tally = (v: Verdict) => checked.filter((c) => c.verdict === v).length
      if (tally('unproven') > 0) {
        throw new CliError(
          'BUNDLE_UNPROVEN',
          `${tally('unproven')} finding(s) are not what the bundle's material shows`,
        )
      }
    })
}

interface Ran {
  report: AuditReport
  found: FoundWithMaterial[]
  charter: readonly SignedCharter[]
  nodes?: LiveAuditResult['nodes']
  state?: AuditState
}

async function runAudit(io: CliIo, opts: AuditOptions, previous?: AuditState, quiet = false): Promise<Ran> {
  if (opts.charter === undefined)
    throw new CliError('USAGE', 'give the auditor’s charter chain with --charter FILE')
  const live = (opts.node?.length ?? 0) > 0
  if (live === (opts.dataDir !== undefined))
    throw new CliError('USAGE', 'give --node (one or more) or --data-dir, not both')
  const { chain, views } = verifyCharterFile(resolve(opts.charter))
  const progress = quiet ? { update() {}, stop() {} } : auditProgress(io)
  try {
    if (!live) {
      const r = await auditDataDir({
        dataDir: opts.dataDir!,
        charter: chain,
        ed: nativeEd25519,
        now: io.now,
        replay: opts.replay,
        onProgress: progress.update,
      })
      return { ...r, charter: chain }
    }
    const auditor = auditorKey(io, opts)
    const bloc = views[0]!.bloc
    const before = previous ?? (opts.state ? loadState(resolve(opts.state), bloc) : undefined)
    const r = await auditLive({
      urls: opts.node!,
      charter: chain,
      auditor,
      ed: nativeEd25519,
      fetch: io.fetch,
      now: io.now,
      previous: before,
      pageSize: opts.pageSize,
      onProgress: progress.update,
    })
    if (opts.state) saveState(resolve(opts.state), r.state)
    return { report: r.report, found: r.found, charter: chain, nodes: r.nodes, state: r.state }
  } finally {
    progress.stop()
  }
}

function auditorKey(io: CliIo, opts: AuditOptions): KeyPair {
  return loadAuditorKeyFile(nativeEd25519, opts.key ? resolve(opts.key) : defaultDevSecretsPath(io.env))
}

function output(io: CliIo, opts: { json?: boolean }, report: AuditReport): void {
  if (opts.json) println(io.stdout, JSON.stringify(report, null, 2))
  else for (const line of formatReport(report)) println(io.stdout, line)
}

function failOnFindings(report: AuditReport): void {
  if (report.findings.length > 0) {
    throw new CliError(
      'AUDIT_FINDINGS',
      `${report.findings.length} finding(s): ${[...new Set(report.findings.map((f) => f.kind))].join(', ')}`,
    )
  }
}

/**
 * `--follow`: a live audit every `--interval` seconds, each round's checkpoints checked against
 * the previous round's. The first finding ends it: the report is printed, POSTed to `--webhook`,
 * and the exit status is 3. A round that cannot reach a node is said and tried again next round.
 */
async function follow(io: CliIo, opts: AuditOptions): Promise<void> {
  if (opts.dataDir !== undefined)
    throw new CliError('USAGE', '--follow audits running nodes (--node), not a data dir')
  let state: AuditState | undefined
  for (let round = 1; ; round++) {
    let ran: Ran | undefined
    try {
      ran = await runAudit(io, opts, state, round > 1)
    } catch (err) {
      if (!(err instanceof CliError) || (err.code !== 'NODE_UNREACHABLE' && err.code !== 'NODE_REFUSED'))
        throw err
      println(io.stderr, `round ${round}: ${err.message} [${err.code}]; trying again next round`)
    }
    if (ran) {
      state = ran.state
      const { report } = ran
      const sizes = report.nodes.map((n) => `${n.name ?? n.source} ${n.checkpoint?.size ?? '—'}`).join(', ')
      println(
        io.stderr,
        `round ${round} at ${report.at}: ${report.findings.length} finding(s); checkpoints ${sizes}`,
      )
      if (report.findings.length > 0) {
        output(io, opts, report)
        if (opts.webhook) await alert(io, opts.webhook, report)
        failOnFindings(report)
      }
    }
    if (opts.maxRounds !== undefined && round >= opts.maxRounds) {
      if (!ran)
        throw new CliError('NODE_UNREACHABLE', `the last of ${round} round(s) could not reach every node`)
      output(io, opts, ran.report)
      return
    }
    await new Promise((r) => setTimeout(r, opts.interval * 1000))
  }
}

/** POSTs the report to the webhook; a failure is said, not fatal (the exit status alerts too). */
async function alert(io: CliIo, url: string, report: AuditReport): Promise<void> {
  try {
    const res = await io.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'legation.audit.finding', report }),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    })
    if (!res.ok) println(io.stderr, `webhook ${url} answered ${res.status}`)
  } catch (err) {
    println(io.stderr, `webhook ${url} not reached: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function checkedUrl(value: string): string {
  try {
    parseNodeUrl(value)
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err))
  }
  return value
}

/** A progress bar on stderr when a person watches it; nothing otherwise. */
function auditProgress(io: CliIo) {
  if (!io.stderr.isTTY) return { update() {}, stop() {} }
  return progressBar(io, 'auditing [{bar}] {percentage}% | {value}/{total} entries | {eta_formatted} left')
}

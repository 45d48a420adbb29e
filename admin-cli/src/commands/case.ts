/**
 * `legation case list|show|move`: an officer's work on consular cases from the command line —
 * the queue of cases in one state, one case with its history, and moving a case through the
 * case state machine (docs/protocol.md § The case state machine) with a signed
 * `case.transition` record. Every request fails over between the `--node` URLs.
 */
import { CASE_STATES, CASE_TRANSITIONS, type CaseState, type LegationClient } from '@legation/protocol'
import { type Command, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import {
  dataDirOption,
  intInRange,
  keyFileOption,
  keyFilePath,
  parseCaseId,
  parseStateCode as stateCode,
} from '../options.ts'
import {
  type Bloc,
  build,
  type CaseView,
  connect,
  iso,
  loadOfficerKey,
  nodeInfo,
  nodesOption,
  printJson,
  reportWrite,
  type Stored,
  signerFor,
  submitRecord,
  table,
  writeConcernOption,
} from '../pool.ts'

/** The states a case in `from` may be moved to by an officer, or by its citizen. */
export function nextStates(from: string, by: 'officer' | 'citizen'): CaseState[] {
  return CASE_STATES.filter((to) => CASE_TRANSITIONS[`${from}>${to}`]?.[by])
}

/** The case as the signer may see it (officers: any; a citizen: their own). */
export function getCase(bloc: Bloc, id: string, signer: LegationClient): Promise<CaseView> {
  return bloc.call(() => bloc.pool.get<CaseView>(`/v1/cases/${id}`, signer))
}

/**
 * Moves a case from the state it is in now to `to`, if the state machine lets `by` do it; with
 * `expected`, only if the case is in that state (a script's guard against a concurrent move).
 */
export async function moveCase(
  bloc: Bloc,
  signer: LegationClient,
  c: CaseView,
  to: CaseState,
  by: 'officer' | 'citizen',
  opts: { expected?: CaseState | undefined; note?: string | undefined; writeConcern?: number } = {},
): Promise<Stored & { from: CaseState; to: CaseState }> {
  if (opts.expected !== undefined && opts.expected !== c.state) {
    throw new CliError('TRANSITION_NOT_ALLOWED', `case ${c.id} is ${c.state}, not ${opts.expected}`)
  }
  if (!CASE_TRANSITIONS[`${c.state}>${to}`]?.[by]) {
    const allowed = nextStates(c.state, by)
    throw new CliError(
      'TRANSITION_NOT_ALLOWED',
      `${by === 'officer' ? 'an officer' : 'a citizen'} may not move a case from ${c.state} to ${to}` +
        ` (from ${c.state}: ${allowed.length > 0 ? allowed.join(', ') : 'none'})`,
    )
  }
  // The machine has an arrow from it, so the node's state is one of CASE_STATES.
  const from = c.state as CaseState
  const built = build('case.transition', () =>
    signer.record(
      'case.transition',
      c.citizen,
      { case: c.id, from, to },
      opts.note === undefined ? null : { salt: signer.salt(), note: opts.note },
    ),
  )
  return { ...(await submitRecord(bloc, built, signer, opts.writeConcern)), from, to }
}

/** One case, for a person: its facts, then its history one line per move. */
export function formatCase(c: CaseView): string[] {
  const lines = table([
    ['Case', c.id],
    ['Citizen', c.citizen],
    ['Type', c.type],
    ['State', c.state],
    ['Opened', iso(c.opened)],
    ['Updated', iso(c.updated)],
  ])
  if (c.history.length > 0) {
    lines.push('History')
    for (const line of table(c.history.map((h) => [`  ${iso(h.at)}`, `${h.from} → ${h.to}`, `by ${h.by}`]))) {
      lines.push(line)
    }
  }
  return lines
}

interface OfficerOptions {
  node: string[]
  key?: string
  dataDir?: string
  json?: boolean
}

export function registerCase(program: Command, io: CliIo): void {
  const officerCommand = (cmd: Command) =>
    cmd
      .addOption(nodesOption(io))
      .addOption(keyFileOption('key', "the officer's key file (with certificate)"))
      .addOption(dataDirOption())
      .option('--json', 'print JSON')

  /** The pool, the node's identity and the officer signing. */
  const open = async (opts: OfficerOptions) => {
    const path = keyFilePath(io, opts.key, opts.dataDir)
    const key = loadOfficerKey(path)
    const bloc = connect(io, opts.node)
    const info = await nodeInfo(bloc)
    return { bloc, officer: signerFor(key, path, info, io.now) }
  }

  const cases = program
    .command('case')
    .description("consular cases, an officer's work: the queue, one case, moving it through its states")

  officerCommand(
    cases
      .command('list')
      .description('the cases in one state, oldest id first (a work queue)')
      .addOption(new Option('--state <state>', 'case state').choices(CASE_STATES).default('submitted'))
      .addOption(
        new Option('--nationality <code>', "only cases of this state's citizens").argParser(stateCode),
      )
      .addOption(new Option('--limit <n>', 'at most this many').argParser(intInRange(1, 200)).default(50))
      .addOption(
        new Option('--after <id>', 'continue after this case id (the last page’s next)').argParser(
          parseCaseId,
        ),
      ),
  ).action(
    async (opts: OfficerOptions & { state: string; nationality?: string; limit: number; after?: string }) => {
      const { bloc, officer } = await open(opts)
      const q = new URLSearchParams({ state: opts.state })
      if (opts.nationality) q.set('nationality', opts.nationality)
      q.set('limit', String(opts.limit))
      if (opts.after) q.set('after', opts.after)
      const page = await bloc.call(() =>
        bloc.pool.get<{ cases: CaseView[]; next: string | null }>(`/v1/cases?${q}`, officer),
      )
      if (opts.json) return printJson(io, page)
      println(io.stdout, `${page.cases.length} ${opts.state} case(s) at ${bloc.pool.current}`)
      if (page.cases.length > 0) {
        println(io.stdout)
        const rows = page.cases.map((c) => [c.id, c.type, c.state, c.citizen, iso(c.updated)])
        for (const line of table([['CASE', 'TYPE', 'STATE', 'CITIZEN', 'UPDATED'], ...rows]))
          println(io.stdout, line)
      }
      if (page.next) println(io.stdout, `More: --after ${page.next}`)
    },
  )

  officerCommand(
    cases.command('show').description('one case with its history').argument('<id>', 'case id', parseCaseId),
  ).action(async (id: string, opts: OfficerOptions) => {
    const { bloc, officer } = await open(opts)
    const c = await getCase(bloc, id, officer)
    if (opts.json) return printJson(io, c)
    for (const line of formatCase(c)) println(io.stdout, line)
  })

  officerCommand(
    cases
      .command('move')
      .description('move a case to another state, signed by the officer (case.transition)')
      .argument('<id>', 'case id', parseCaseId)
      .addOption(new Option('--to <state>', 'the new state').choices(CASE_STATES).makeOptionMandatory())
      .addOption(
        new Option(
          '--from <state>',
          'only if the case is in this state now (default: whatever it is)',
        ).choices(CASE_STATES),
      )
      .option(
        '--note <text>',
        'a note for the case file (personal data: kept in the payload, not the header)',
      )
      .addOption(writeConcernOption()),
  ).action(
    async (
      id: string,
      opts: OfficerOptions & { to: CaseState; from?: CaseState; note?: string; writeConcern: number },
    ) => {
      const { bloc, officer } = await open(opts)
      const c = await getCase(bloc, id, officer)
      const moved = await moveCase(bloc, officer, c, opts.to, 'officer', {
        expected: opts.from,
        note: opts.note,
        writeConcern: opts.writeConcern,
      })
      reportWrite(io, opts.json, moved, { case: id, from: moved.from, to: moved.to }, [
        `Moved case ${id} from ${moved.from} to ${moved.to} at ${moved.node}`,
        `Record  ${moved.id} (${moved.status})`,
      ])
    },
  )
}

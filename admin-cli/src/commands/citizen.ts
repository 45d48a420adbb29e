/**
 * `legation citizen enrol|presence|checkin|apply|withdraw|status`: what a citizen does, from the
 * command line, signed with their own key (a citizen key file `enrol` makes). Added to the
 * `citizen` command next to the officers' `citizen show` and `citizen find`. Every request fails
 * over between the `--node` URLs; personal data goes only into record payloads, never to stderr.
 */
import {
  CASE_TYPES,
  type CaseType,
  CONSENT_PURPOSES,
  generateKeyPair,
  type LegationClient,
} from '@legation/protocol'
import { isSdkError } from '@legation/protocol/http'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { refuseExisting, writeKeyFile, writeSecretFile } from '../key-file.ts'
import {
  parseAlertId as alertId,
  parseCountryCode as countryCode,
  parseDate as date,
  parseDocumentNumber as documentNumber,
  parseCaseId,
  parseStateCode as stateCode,
} from '../options.ts'
import { askPassphrase, passphraseFileOption, unlockFor } from '../passphrase.ts'
import {
  type Bloc,
  build,
  type CaseView,
  connect,
  fromSdkError,
  iso,
  loadCitizenKey,
  nodeInfo,
  nodesOption,
  printJson,
  reportWrite,
  signerFor,
  submitRecord,
  table,
  writeConcernOption,
} from '../pool.ts'
import type { AlertView } from './alert.ts'
import { formatCase, getCase, moveCase } from './case.ts'
import { PLAINTEXT_WARNING } from './keys.ts'
import { parseTime } from './officer.ts'

/** What GET /v1/citizens/{id} answers, as far as these commands read it. */
interface CitizenFile {
  id: string
  nationality: string | null
  presence: { country: string; region: string; from: number; until: number | null } | null
  cases: CaseView[]
  welfare: Array<{ alert: string; status: string }>
}

function consent(value: string): Array<(typeof CONSENT_PURPOSES)[number]> {
  const purposes = value.split(',').map((s) => s.trim())
  for (const p of purposes) {
    if (!(CONSENT_PURPOSES as readonly string[]).includes(p)) {
      throw new InvalidArgumentError(`expected purposes among ${CONSENT_PURPOSES.join(', ')}`)
    }
  }
  return [...new Set(purposes)] as Array<(typeof CONSENT_PURPOSES)[number]>
}

interface CitizenOptions {
  node: string[]
  key: string
  passphraseFile?: string
  json?: boolean
  writeConcern: number
}

/** The `citizen` command (made by `citizen show`/`find` if they are registered first). */
function citizenCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'citizen') ??
    program.command('citizen').description("citizens' own actions and files")
  )
}

export function registerCitizen(program: Command, io: CliIo): void {
  const citizen = citizenCommand(program).description(
    "citizens: their own actions (enrol, presence, checkin, apply, withdraw, status) and officers' reads of their files (show, find)",
  )
  const cmd = (name: string, description: string) =>
    citizen
      .command(name)
      .description(description)
      .addOption(nodesOption(io))
      .addOption(
        new Option('--key <file>', "the citizen's key file (made by citizen enrol)").makeOptionMandatory(),
      )
      .addOption(passphraseFileOption())
      .option('--json', 'print JSON')
  /** A command that writes a record. */
  const write = (name: string, description: string) => cmd(name, description).addOption(writeConcernOption())

  /** The pool, and the citizen signing with their key file. */
  const open = async (opts: CitizenOptions) => {
    const key = loadCitizenKey(opts.key, await unlockFor(io, opts.key, opts.passphraseFile))
    const bloc = connect(io, opts.node)
    const info = await nodeInfo(bloc)
    return { bloc, citizen: signerFor(key, opts.key, info, io.now) }
  }
  const ownFile = (bloc: Bloc, c: LegationClient) =>
    bloc.call(() => bloc.pool.get<CitizenFile>(`/v1/citizens/${c.id}`, c))

  write('enrol', 'make a citizen key file and register with it (self-registration, signed with the new key)')
    .addOption(
      new Option('--nationality <code>', 'your member state').argParser(stateCode).makeOptionMandatory(),
    )
    .addOption(new Option('--given <name>', 'given names').makeOptionMandatory())
    .addOption(new Option('--family <name>', 'family name').makeOptionMandatory())
    .addOption(new Option('--birth-date <date>', 'YYYY-MM-DD').argParser(date).makeOptionMandatory())
    .option('--birth-place <place>', 'place of birth')
    .addOption(
      new Option('--document-number <n>', 'travel document number')
        .argParser(documentNumber)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--document-type <type>', 'travel document type')
        .choices(['passport', 'id-card', 'emergency-travel-document'])
        .default('passport'),
    )
    .addOption(
      new Option('--document-issuer <code>', 'issuing state (default: --nationality)').argParser(stateCode),
    )
    .addOption(new Option('--document-expires <date>', 'YYYY-MM-DD').argParser(date).makeOptionMandatory())
    .option('--email <address>', 'e-mail address')
    .option('--phone <number>', 'telephone number')
    .addOption(
      new Option('--consent <purposes>', `comma-separated: ${CONSENT_PURPOSES.join(', ')}`)
        .argParser(consent)
        .default(['consular-assistance', 'crisis-contact']),
    )
    .option('--existing', 'use the key in --key (a file an earlier enrol wrote) instead of making one')
    .option('--insecure-plaintext', 'DEVELOPMENT ONLY: write the new secret key unencrypted')
    .action(
      async (
        opts: CitizenOptions & {
          nationality: string
          given: string
          family: string
          birthDate: string
          birthPlace?: string
          documentNumber: string
          documentType: 'passport' | 'id-card' | 'emergency-travel-document'
          documentIssuer?: string
          documentExpires: string
          email?: string
          phone?: string
          consent: Array<(typeof CONSENT_PURPOSES)[number]>
          existing?: boolean
          insecurePlaintext?: boolean
        },
      ) => {
        if (opts.insecurePlaintext && (opts.existing || opts.passphraseFile !== undefined)) {
          throw new CliError(
            'USAGE',
            '--insecure-plaintext makes a new key file: not with --existing or --passphrase-file',
          )
        }
        if (!opts.existing) refuseExisting(opts.key)
        // Asked first: nothing is sent anywhere before the key file can be written (or opened).
        const unlock = opts.existing ? await unlockFor(io, opts.key, opts.passphraseFile) : undefined
        const passphrase =
          opts.existing || opts.insecurePlaintext
            ? null
            : await askPassphrase(io, { file: opts.passphraseFile, what: opts.key, confirm: true })
        const bloc = connect(io, opts.node)
        const info = await nodeInfo(bloc)
        if (!info.charter.members.includes(opts.nationality)) {
          throw new CliError(
            'USAGE',
            `${opts.nationality} is not a member of the bloc (${info.charter.members.join(', ')})`,
          )
        }
        const key = unlock ? loadCitizenKey(opts.key, unlock) : undefined
        const keys = key?.keys ?? generateKeyPair(nativeEd25519)
        const c = signerFor(
          key ?? { keys, cert: null, bloc: undefined, charter: undefined },
          opts.key,
          info,
          io.now,
        )
        if (key) {
          // A retry after a failure that may have reached a node: a second self-registration
          // would be refused (only the citizen's state registers them again), so ask first.
          const known = await registeredNationality(bloc, c)
          if (known !== undefined) {
            if (opts.json) {
              return printJson(io, {
                citizen: c.id,
                nationality: known,
                keyFile: opts.key,
                status: 'enrolled',
              })
            }
            println(
              io.stdout,
              `Enrolled  citizen ${c.id} of ${known} already (as ${bloc.pool.current} has it)`,
            )
            return
          }
        }
        const contact = {
          ...(opts.email ? { email: opts.email } : {}),
          ...(opts.phone ? { phone: opts.phone } : {}),
        }
        // Built (and checked) before the key file is written: a typo makes no orphan key file.
        const built = build('citizen.registered', () =>
          c.record(
            'citizen.registered',
            c.id,
            {
              citizenKey: c.keys.publicKey,
              nationality: opts.nationality,
              consent: { purposes: opts.consent, version: 1 },
            },
            {
              salt: c.salt(),
              names: { given: opts.given, family: opts.family },
              birth: { date: opts.birthDate, ...(opts.birthPlace ? { place: opts.birthPlace } : {}) },
              travelDocument: {
                type: opts.documentType,
                number: opts.documentNumber,
                issuer: opts.documentIssuer ?? opts.nationality,
                expires: opts.documentExpires,
              },
              contact,
            },
          ),
        )
        if (!key) {
          // The key file before the registration: once the bloc knows the key, losing it would
          // lock the citizen out.
          // The one key file format (keys generate): sealed under the passphrase, or plaintext
          // only with the loud development flag.
          await writeKeyFile(opts.key, { role: 'citizen', keys, passphrase, header: { bloc: info.bloc } })
          if (passphrase === null) println(io.stderr, PLAINTEXT_WARNING)
        }
        let stored: Awaited<ReturnType<typeof submitRecord>>
        try {
          stored = await submitRecord(bloc, built, c, opts.writeConcern)
        } catch (err) {
          if (err instanceof CliError && !opts.existing) {
            throw new CliError(
              err.code,
              `${err.message} (the key file ${opts.key} was written: retry with --existing)`,
              {
                cause: err,
                remoteCode: err.remoteCode,
                status: err.status,
              },
            )
          }
          throw err
        }
        reportWrite(
          io,
          opts.json,
          stored,
          { citizen: c.id, nationality: opts.nationality, keyFile: opts.key },
          [
            `Enrolled  citizen ${c.id} of ${opts.nationality} at ${stored.node}`,
            `Key file  ${opts.key} (the only way to act as this citizen: keep it safe)`,
            `Record    ${stored.id} (${stored.status})`,
          ],
        )
      },
    )

  write('presence', 'register where you are abroad (presence.registered)')
    .addOption(
      new Option('--country <code>', 'country you are in').argParser(countryCode).makeOptionMandatory(),
    )
    .addOption(new Option('--region <name>', 'region or city').makeOptionMandatory())
    .option('--address <text>', 'where you stay')
    .option('--note <text>', 'anything the consulate should know')
    .addOption(new Option('--from <time>', 'since when (ms or ISO 8601; default now)').argParser(parseTime))
    .addOption(new Option('--until <time>', 'until when (default: open-ended)').argParser(parseTime))
    .action(
      async (
        opts: CitizenOptions & {
          country: string
          region: string
          address?: string
          note?: string
          from?: number
          until?: number
        },
      ) => {
        if (opts.region.length < 1 || opts.region.length > 64)
          throw new CliError('USAGE', '--region is 1–64 characters')
        const { bloc, citizen: c } = await open(opts)
        const from = opts.from ?? io.now()
        const built = build('presence.registered', () =>
          c.record(
            'presence.registered',
            c.id,
            { from, until: opts.until ?? null },
            {
              salt: c.salt(),
              country: opts.country,
              region: opts.region,
              ...(opts.address ? { address: opts.address } : {}),
              ...(opts.note ? { note: opts.note } : {}),
            },
          ),
        )
        const stored = await submitRecord(bloc, built, c, opts.writeConcern)
        reportWrite(io, opts.json, stored, { citizen: c.id, from, until: opts.until ?? null }, [
          `Presence  registered for citizen ${c.id} at ${stored.node}, from ${iso(from)}`,
          `Record    ${stored.id} (${stored.status})`,
        ])
      },
    )

  write('checkin', 'check in for a crisis alert: safe, or needing help (welfare.checkin)')
    .addOption(
      new Option('--status <status>', 'how you are').choices(['safe', 'needs-help']).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--alert <id>',
        'the alert (default: the newest for the country and region of your presence)',
      ).argParser(alertId),
    )
    .option('--location <text>', 'where you are now')
    .option('--note <text>', 'what you need')
    .action(
      async (
        opts: CitizenOptions & {
          status: 'safe' | 'needs-help'
          alert?: string
          location?: string
          note?: string
        },
      ) => {
        const { bloc, citizen: c } = await open(opts)
        const alert = opts.alert ?? (await alertFor(bloc, await ownFile(bloc, c)))
        const payload =
          opts.location || opts.note
            ? {
                salt: c.salt(),
                ...(opts.location ? { location: opts.location } : {}),
                ...(opts.note ? { note: opts.note } : {}),
              }
            : null
        const built = build('welfare.checkin', () =>
          c.record('welfare.checkin', c.id, { alert, status: opts.status }, payload),
        )
        const stored = await submitRecord(bloc, built, c, opts.writeConcern)
        reportWrite(io, opts.json, stored, { citizen: c.id, alert, welfare: opts.status }, [
          `Checked in  as ${opts.status} for alert ${alert} at ${stored.node}`,
          `Record      ${stored.id} (${stored.status})`,
        ])
      },
    )

  write('apply', 'apply for a consular service: opens a case (case.opened)')
    .addOption(new Option('--type <type>', 'the service').choices(CASE_TYPES).makeOptionMandatory())
    .option('--details <text>', 'what you need, for the officer')
    .action(async (opts: CitizenOptions & { type: CaseType; details?: string }) => {
      const { bloc, citizen: c } = await open(opts)
      const built = build('case.opened', () =>
        c.record(
          'case.opened',
          c.id,
          { caseType: opts.type },
          opts.details ? { salt: c.salt(), details: opts.details } : null,
        ),
      )
      const stored = await submitRecord(bloc, built, c, opts.writeConcern)
      reportWrite(
        io,
        opts.json,
        stored,
        { citizen: c.id, case: stored.id, type: opts.type, state: 'submitted' },
        [
          `Applied  for ${opts.type} at ${stored.node}: case ${stored.id} (submitted)`,
          `Follow   legation citizen status --key ${opts.key} --case ${stored.id}`,
        ],
      )
    })

  write('withdraw', 'withdraw an application (a submitted case, or one that needs information)')
    .addOption(new Option('--case <id>', 'the case').argParser(parseCaseId).makeOptionMandatory())
    .action(async (opts: CitizenOptions & { case: string }) => {
      const { bloc, citizen: c } = await open(opts)
      const current = await getCase(bloc, opts.case, c)
      const moved = await moveCase(bloc, c, current, 'withdrawn', 'citizen', {
        writeConcern: opts.writeConcern,
      })
      reportWrite(io, opts.json, moved, { case: opts.case, from: moved.from, to: moved.to }, [
        `Withdrew case ${opts.case} (was ${moved.from}) at ${moved.node}`,
      ])
    })

  cmd('reads', 'who read your personal data: each officer, their state, when, why and what it showed').action(
    async (opts: CitizenOptions) => {
      const { bloc, citizen: c } = await open(opts)
      const log = await bloc.call(() =>
        bloc.pool.get<{ reads: AccessRead[] }>(`/v1/citizens/${c.id}/access-log`, c),
      )
      if (opts.json) return printJson(io, log)
      if (log.reads.length === 0) return println(io.stdout, 'No officer has read your data.')
      const rows = log.reads.map((r) => [iso(r.at), r.state, r.officer.slice(0, 16), r.purpose, r.shown])
      for (const line of table([['WHEN', 'STATE', 'OFFICER', 'PURPOSE', 'SHOWN'], ...rows]))
        println(io.stdout, line)
    },
  )

  cmd('export', 'download everything the bloc holds about you, with the signed records that prove it')
    .addOption(
      new Option(
        '--out <file>',
        'where to write it (made with mode 0600, never overwritten)',
      ).makeOptionMandatory(),
    )
    .action(async (opts: CitizenOptions & { out: string }) => {
      refuseExisting(opts.out)
      const { bloc, citizen: c } = await open(opts)
      const data = await bloc.call(() =>
        bloc.pool.get<{ records: unknown[]; accessLog: unknown[] }>(`/v1/citizens/${c.id}/export`, c),
      )
      writeSecretFile(opts.out, `${JSON.stringify(data, null, 1)}\n`)
      const summary = {
        out: opts.out,
        node: bloc.pool.current,
        records: data.records.length,
        reads: data.accessLog.length,
      }
      if (opts.json) return printJson(io, summary)
      println(
        io.stdout,
        `Exported  ${summary.records} signed records and ${summary.reads} logged reads to ${opts.out}`,
      )
      println(io.stdout, `From      ${summary.node}`)
    })

  write(
    'erase',
    'erase your personal data on every node (citizen.erased; refused while a case of yours is open)',
  )
    .option('--yes', 'yes: erase it (it cannot be undone)')
    .action(async (opts: CitizenOptions & { yes?: boolean }) => {
      if (!opts.yes) throw new CliError('USAGE', 'erasing cannot be undone: add --yes')
      const { bloc, citizen: c } = await open(opts)
      const built = build('citizen.erased', () =>
        c.record('citizen.erased', c.id, { reason: 'citizen-request' }),
      )
      const stored = await submitRecord(bloc, built, c, opts.writeConcern)
      reportWrite(io, opts.json, stored, { citizen: c.id }, [
        `Erased    the personal data of citizen ${c.id}, from ${stored.node} to every node`,
        `Record    ${stored.id} (${stored.status})`,
      ])
    })

  cmd('status', 'your cases, presence and check-ins as the bloc has them (or one case with --case)')
    .addOption(new Option('--case <id>', 'one case, with its history').argParser(parseCaseId))
    .action(async (opts: CitizenOptions & { case?: string }) => {
      const { bloc, citizen: c } = await open(opts)
      if (opts.case) {
        const one = await getCase(bloc, opts.case, c)
        if (opts.json) return printJson(io, one)
        for (const line of formatCase(one)) println(io.stdout, line)
        return
      }
      const file = await ownFile(bloc, c)
      if (opts.json) return printJson(io, file)
      for (const line of formatStatus(file, bloc.pool.current)) println(io.stdout, line)
    })
}

/** One officer's read of the citizen's data, as GET /v1/citizens/{id}/access-log has it. */
interface AccessRead {
  at: number
  officer: string
  state: string
  purpose: string
  shown: string
}

/** The citizen's nationality if the node answering has their registration, else undefined. */
async function registeredNationality(bloc: Bloc, c: LegationClient): Promise<string | undefined> {
  try {
    const file = await bloc.pool.get<CitizenFile>(`/v1/citizens/${c.id}`, c)
    return file.nationality ?? undefined
  } catch (err) {
    if (isSdkError(err) && err.remoteCode === 'NOT_FOUND') return undefined
    throw isSdkError(err) ? fromSdkError(err) : err
  }
}

/** The newest alert for the country (and region, if the alert names one) of the citizen's presence. */
async function alertFor(bloc: Bloc, file: CitizenFile): Promise<string> {
  const where = file.presence
  if (!where) {
    throw new CliError(
      'ALERT_NOT_FOUND',
      'no presence abroad registered: give --alert, or register one with citizen presence',
    )
  }
  const { alerts } = await bloc.call(() => bloc.pool.get<{ alerts: AlertView[] }>('/v1/alerts'))
  const match = alerts.find(
    (a) => a.country === where.country && (a.region === null || a.region === where.region),
  )
  if (!match)
    throw new CliError(
      'ALERT_NOT_FOUND',
      `no crisis alert for ${where.country}, ${where.region}: give --alert`,
    )
  return match.id
}

function formatStatus(file: CitizenFile, node: string): string[] {
  const lines = [
    `Citizen   ${file.id}${file.nationality ? ` of ${file.nationality}` : ''} (as ${node} has it)`,
  ]
  const p = file.presence
  lines.push(
    `Presence  ${p ? `${p.country}, ${p.region}, from ${iso(p.from)}${p.until === null ? '' : ` until ${iso(p.until)}`}` : 'none'}`,
  )
  lines.push(`Cases     ${file.cases.length}`)
  if (file.cases.length > 0) {
    const rows = file.cases.map((c) => [`  ${c.id}`, c.type, c.state, iso(c.updated)])
    for (const line of table([['  CASE', 'TYPE', 'STATE', 'UPDATED'], ...rows])) lines.push(line)
  }
  lines.push(`Check-ins ${file.welfare.length}`)
  for (const w of file.welfare) lines.push(`  ${w.alert}  ${w.status}`)
  return lines
}

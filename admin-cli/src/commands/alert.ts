/**
 * `legation alert issue|list`: crisis alerts from the command line. `issue` signs an
 * `alert.issued` record as an officer with the `crisis` role; `list` reads the public list.
 * Every request fails over between the `--node` URLs.
 */
import type { Alert } from '@legation/node/http/schemas'
import { ALERT_SEVERITIES } from '@legation/protocol'
import type { Static } from '@sinclair/typebox'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { parseCountryCode as countryCode, dataDirOption, keyFileOption, keyFilePath } from '../options.ts'
import {
  build,
  connect,
  iso,
  loadOfficerKey,
  nodeInfo,
  nodesOption,
  printJson,
  reportWrite,
  signerFor,
  submitRecord,
  table,
  writeConcernOption,
} from '../pool.ts'

/** What GET /v1/alerts lists: the node's own response schema. */
export type AlertView = Static<typeof Alert>

function textOf(max: number) {
  return (value: string): string => {
    if (value.length < 1 || value.length > max)
      throw new InvalidArgumentError(`expected 1 to ${max} characters`)
    return value
  }
}

export function registerAlert(program: Command, io: CliIo): void {
  const alert = program
    .command('alert')
    .description('crisis alerts: issue one for a region (officers), list them')

  alert
    .command('issue')
    .description('issue a crisis alert for a country or one of its regions (an officer with the crisis role)')
    .addOption(nodesOption(io))
    .addOption(keyFileOption('key', "the officer's key file (with certificate, crisis role)"))
    .addOption(dataDirOption())
    .addOption(new Option('--country <code>', 'the country').argParser(countryCode).makeOptionMandatory())
    .addOption(new Option('--region <name>', 'the region (default: the whole country)').argParser(textOf(64)))
    .addOption(new Option('--severity <level>', 'how grave').choices(ALERT_SEVERITIES).makeOptionMandatory())
    .addOption(new Option('--title <text>', 'a short title').argParser(textOf(200)).makeOptionMandatory())
    .addOption(
      new Option('--message <text>', 'what citizens should do').argParser(textOf(4000)).makeOptionMandatory(),
    )
    .option('--json', 'print JSON')
    .addOption(writeConcernOption())
    .action(
      async (opts: {
        node: string[]
        key?: string
        dataDir?: string
        country: string
        region?: string
        severity: (typeof ALERT_SEVERITIES)[number]
        title: string
        message: string
        json?: boolean
        writeConcern: number
      }) => {
        const path = keyFilePath(io, opts.key, opts.dataDir)
        const key = loadOfficerKey(path)
        if (!key.cert.body.roles.includes('crisis')) {
          throw new CliError(
            'KEY_FILE_INVALID',
            `${path}: the officer's roles (${key.cert.body.roles.join(', ')}) do not include crisis, which issues alerts`,
          )
        }
        const bloc = connect(io, opts.node)
        const officer = signerFor(key, path, await nodeInfo(bloc), io.now)
        const built = build('alert.issued', () =>
          officer.record('alert.issued', null, {
            country: opts.country,
            region: opts.region ?? null,
            severity: opts.severity,
            title: opts.title,
            message: opts.message,
          }),
        )
        const stored = await submitRecord(bloc, built, officer, opts.writeConcern)
        const where = opts.region ? `${opts.country}, ${opts.region}` : `all of ${opts.country}`
        reportWrite(
          io,
          opts.json,
          stored,
          { alert: stored.id, country: opts.country, region: opts.region ?? null, severity: opts.severity },
          [
            `Issued  ${opts.severity} alert for ${where} at ${stored.node}`,
            `Alert   ${stored.id} (${stored.status})`,
          ],
        )
      },
    )

  alert
    .command('list')
    .description('the crisis alerts, newest first (public)')
    .addOption(nodesOption(io))
    .addOption(new Option('--country <code>', 'only alerts for this country').argParser(countryCode))
    .option('--json', 'print JSON')
    .action(async (opts: { node: string[]; country?: string; json?: boolean }) => {
      const bloc = connect(io, opts.node)
      const { alerts } = await bloc.call(() => bloc.pool.get<{ alerts: AlertView[] }>('/v1/alerts'))
      const shown = alerts.filter((a) => !opts.country || a.country === opts.country)
      if (opts.json) return printJson(io, { alerts: shown })
      println(io.stdout, `${shown.length} alert(s) at ${bloc.pool.current}`)
      if (shown.length === 0) return
      println(io.stdout)
      const rows = shown.map((a) => [
        a.id,
        iso(a.issuedAt),
        a.severity,
        a.country,
        a.region ?? '(all)',
        a.title,
      ])
      for (const line of table([['ALERT', 'ISSUED', 'SEVERITY', 'COUNTRY', 'REGION', 'TITLE'], ...rows])) {
        println(io.stdout, line)
      }
    })
}

/**
 * `legation welfare`: the crisis dashboard from the command line. For each crisis alert (one
 * with `--alert`, those of a country with `--country`, else all), the region it covers and how
 * many citizens present there are safe, need help, or have not been heard from, from
 * GET /v1/alerts/{id}/welfare (officers). `--json` has the citizen ids too. Fails over between
 * the `--node` URLs.
 */
import { type Command, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import {
  parseAlertId as alertId,
  parseCountryCode as countryCode,
  dataDirOption,
  keyFileOption,
  keyFilePath,
} from '../options.ts'
import { connect, loadOfficerKey, nodeInfo, nodesOption, printJson, signerFor, table } from '../pool.ts'
import type { AlertView } from './alert.ts'

/** What GET /v1/alerts/{id}/welfare answers. */
export interface WelfareBoard {
  alert: AlertView
  counts: { safe: number; needsHelp: number; notHeard: number }
  safe: string[]
  needsHelp: string[]
  notHeard: string[]
}

export function registerWelfare(program: Command, io: CliIo): void {
  program
    .command('welfare')
    .description('per crisis alert and region: citizens safe, needing help, not heard from (officers)')
    .addOption(nodesOption(io))
    .addOption(keyFileOption('key', "the officer's key file (with certificate)"))
    .addOption(dataDirOption())
    .addOption(new Option('--alert <id>', 'only this alert').argParser(alertId))
    .addOption(new Option('--country <code>', 'only alerts for this country').argParser(countryCode))
    .option('--json', 'print JSON, with the citizen ids of each group')
    .action(
      async (opts: {
        node: string[]
        key?: string
        dataDir?: string
        alert?: string
        country?: string
        json?: boolean
      }) => {
        const path = keyFilePath(io, opts.key, opts.dataDir)
        const key = loadOfficerKey(path)
        const bloc = connect(io, opts.node)
        const officer = signerFor(key, path, await nodeInfo(bloc), io.now)
        let ids: string[]
        if (opts.alert) ids = [opts.alert]
        else {
          const { alerts } = await bloc.call(() => bloc.pool.get<{ alerts: AlertView[] }>('/v1/alerts'))
          ids = alerts.filter((a) => !opts.country || a.country === opts.country).map((a) => a.id)
        }
        const boards: WelfareBoard[] = []
        for (const id of ids) {
          boards.push(await bloc.call(() => bloc.pool.get<WelfareBoard>(`/v1/alerts/${id}/welfare`, officer)))
        }
        if (opts.json) return printJson(io, { node: bloc.pool.current, boards })
        if (boards.length === 0) {
          throw new CliError(
            'ALERT_NOT_FOUND',
            `no crisis alert${opts.country ? ` for ${opts.country}` : ''} at ${bloc.pool.current}`,
          )
        }
        println(io.stdout, `Welfare at ${bloc.pool.current}, ${boards.length} alert(s)`)
        println(io.stdout)
        const rows = boards.map((b) => [
          b.alert.country,
          b.alert.region ?? '(all)',
          String(b.counts.safe),
          String(b.counts.needsHelp),
          String(b.counts.notHeard),
          b.alert.severity,
          b.alert.id,
        ])
        for (const line of table([
          ['COUNTRY', 'REGION', 'SAFE', 'NEEDS HELP', 'NOT HEARD', 'SEVERITY', 'ALERT'],
          ...rows,
        ])) {
          println(io.stdout, line)
        }
      },
    )
}

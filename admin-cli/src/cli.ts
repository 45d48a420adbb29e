/**
 * The `legation` command. `buildProgram(io)` builds it (tests run commands in-process with
 * their own `io`); `run(argv, io)` runs one command line and returns its exit code; `main()`
 * only wires the process's streams.
 *
 * @example
 * const code = await run(['status', '--node', 'http://127.0.0.1:8080'], io)
 */
import { Command, CommanderError } from 'commander'
import pkg from '../package.json' with { type: 'json' }
import { registerAlert } from './commands/alert.ts'
import { registerAudit } from './commands/audit.ts'
import { registerBackup } from './commands/backup.ts'
import { registerCase } from './commands/case.ts'
import { registerCeremony } from './commands/ceremony.ts'
import { registerCharter } from './commands/charter.ts'
import { registerCitizen } from './commands/citizen.ts'
import { registerDevReset } from './commands/dev-reset.ts'
import { registerDevSeed } from './commands/dev-seed.ts'
import { registerKeys } from './commands/keys.ts'
import { registerOfficer } from './commands/officer.ts'
import { registerOfficerReads } from './commands/officer-reads.ts'
import { registerReceipt } from './commands/receipt.ts'
import { registerStatus } from './commands/status.ts'
import { registerVerifyCharter } from './commands/verify-charter.ts'
import { registerWelfare } from './commands/welfare.ts'
import { CliError, EXIT_USAGE, isCliError } from './errors.ts'
import { type CliIo, println, processIo } from './io.ts'

/** This package's version, as its package.json says. */
export const VERSION: string = pkg.version

export function buildProgram(io: CliIo): Command {
  const program = new Command('legation')
  // Set before any subcommand exists: commander copies them into each one it creates.
  program
    .description(
      'Legation admin CLI: node status, backup and restore, keys, the founding ceremony, charter amendments, officers, development data and audit',
    )
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showSuggestionAfterError(true)
    // A subcommand's options are its own, even where its parent has one of the same name
    // (`audit --charter` and `audit export --charter`).
    .enablePositionalOptions()
  registerStatus(program, io)
  registerBackup(program, io)
  registerDevReset(registerDevSeed(program, io), io)
  registerVerifyCharter(program, io)
  registerKeys(program, io)
  registerCeremony(program, io)
  registerCharter(program, io)
  registerOfficerReads(program, io)
  registerOfficer(program, io)
  registerAudit(program, io)
  registerReceipt(program, io)
  // Citizens' and officers' actions for scripts (after registerOfficerReads: `citizen` is shared).
  registerCitizen(program, io)
  registerCase(program, io)
  registerAlert(program, io)
  registerWelfare(program, io)
  return program
}

/** Runs one command line (without the `node legation` prefix); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (err) {
    return report(err, io)
  }
}

function report(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its one-line message (or the help, or the version).
    return err.exitCode === 0 ? 0 : EXIT_USAGE
  }
  if (isCliError(err)) {
    println(io.stderr, `error: ${err.message} [${err.code}]`)
    return err.exitCode
  }
  // A bug, not a user's mistake: still one line, with the stack only on request.
  const e = new CliError(
    'INTERNAL',
    `unexpected failure: ${err instanceof Error ? err.message : String(err)}`,
  )
  println(io.stderr, `error: ${e.message} [${e.code}]`)
  if (io.env.LEGATION_DEBUG && err instanceof Error && err.stack) println(io.stderr, err.stack)
  else println(io.stderr, 'set LEGATION_DEBUG=1 to see where it happened')
  return e.exitCode
}

export async function main(): Promise<void> {
  process.exitCode = await run(process.argv.slice(2), processIo())
}

if (import.meta.main) await main()

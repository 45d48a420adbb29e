/**
 * @legation/admin-cli — the `legation` command, usable in-process.
 *
 * @example
 * import { run } from '@legation/admin-cli'
 * const exitCode = await run(['status', '--node', 'http://127.0.0.1:8080'], {
 *   stdout: process.stdout, stderr: process.stderr, fetch, env: process.env, now: Date.now,
 * })
 */
export { buildProgram, main, run, VERSION } from './cli.ts'
export { DEV_STATE_CODE, isDevelopmentBloc, type SeedResult, seedNode } from './commands/dev-seed.ts'
export { CLI_ERRORS, CliError, type CliErrorCode, isCliError } from './errors.ts'
export type { CliIo, Output } from './io.ts'
export { loadKeyFile, loadStateKeyFile } from './key-file.ts'
export { NodeClient, type NodeInfo } from './node-client.ts'
export { planSeed, SeededRandom } from './seed-data.ts'

/** Options and argument parsers shared by several commands. */
import { resolve } from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import type { CliIo } from './io.ts'
import { defaultDevSecretsPath } from './key-file.ts'
import { DEFAULT_NODE_URL } from './node-client.ts'

/** `--node URL`, defaulting to LEGATION_NODE_URL or the node's default address. */
export function nodeOption(io: CliIo): Option {
  return new Option('--node <url>', 'node HTTP address (env LEGATION_NODE_URL)').default(
    io.env.LEGATION_NODE_URL || DEFAULT_NODE_URL,
  )
}

/** `--<flag> FILE` naming an officer's key file, defaulting to a dev node's dev-secrets.json. */
export function keyFileOption(flag: string, what: string): Option {
  return new Option(`--${flag} <file>`, `${what} (default: <dataDir>/dev-secrets.json)`)
}

/** The key file to use: the given one, or `<dataDir>/dev-secrets.json`. */
export function keyFilePath(io: CliIo, given: string | undefined, dataDir: string | undefined): string {
  if (given) return resolve(given)
  return dataDir ? resolve(dataDir, 'dev-secrets.json') : defaultDevSecretsPath(io.env)
}

export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', "the dev node's data folder (env LEGATION_DATA_DIR)")
}

/** A parser for an integer option within [min, max]. */
export function intInRange(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`)
    const n = Number(value)
    if (n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`)
    return n
  }
}

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

/** A parser for an option or argument that must match `re`; `what` says what was expected. */
export function matching(re: RegExp, what: string) {
  return (value: string): string => {
    if (!re.test(value)) throw new InvalidArgumentError(`expected ${what}`)
    return value
  }
}

export const parseStateCode = matching(/^[A-Z]{2,3}$/, 'a state code such as DVA')
export const parseCountryCode = matching(/^[A-Z]{2}$/, 'an ISO 3166 country code such as KE')
export const parseDate = matching(/^\d{4}-\d{2}-\d{2}$/, 'a date, YYYY-MM-DD')
export const parseDocumentNumber = matching(/^[A-Z0-9]{3,32}$/, 'a document number (3–32 of A-Z, 0-9)')
/** A case id: the id of its `case.opened` record. */
export const parseCaseId = matching(/^[0-9a-f]{64}$/, 'a case id (64 lower-case hex characters)')
/** An alert id: the id of its `alert.issued` record. */
export const parseAlertId = matching(/^[0-9a-f]{64}$/, 'an alert id (64 lower-case hex characters)')

/**
 * Where a key file's passphrase comes from. Never from the command line: a flag's value is
 * visible to every user of the machine in `ps` and stays in the shell's history. In order:
 *
 * 1. `--passphrase-file FILE` (the commands that take it): the file's first line;
 * 2. `LEGATION_KEY_PASSPHRASE`: the variable the node reads too;
 * 3. `LEGATION_KEY_PASSPHRASE_FILE`: the first line of that file (a secret mounted by Docker or
 *    systemd's `LoadCredential=`);
 * 4. a prompt at the terminal, without echo, when stdin is one (twice for a new passphrase).
 *
 * The environment is read here and nowhere else in the CLI.
 *
 * @example
 * const passphrase = await askPassphrase(io, { file: opts.passphraseFile, what: path })
 */
import { Option } from 'commander'
import { CliError } from './errors.ts'
import type { CliIo } from './io.ts'
import { isSealedKeyFile, readFileOrFail, type Unlock } from './key-file.ts'

type Env = Readonly<Record<string, string | undefined>>

/** A passphrase shorter than this is refused for a new key file. */
export const MIN_PASSPHRASE_LENGTH = 8

export function passphraseFileOption(): Option {
  return new Option(
    '--passphrase-file <file>',
    'read the key passphrase from the first line of this file (else LEGATION_KEY_PASSPHRASE, LEGATION_KEY_PASSPHRASE_FILE, or a prompt)',
  )
}

function firstLine(path: string): string {
  const line = readFileOrFail(path, 'passphrase file').toString('utf8').split(/\r?\n/, 1)[0] ?? ''
  if (line === '') throw new CliError('KEY_PASSPHRASE_REQUIRED', `the passphrase file ${path} is empty`)
  return line
}

/** The passphrase given without asking anyone: a file, or the environment; null if none. */
export function givenPassphrase(env: Env, file?: string | undefined): string | null {
  if (file !== undefined) return firstLine(file)
  if (env.LEGATION_KEY_PASSPHRASE) return env.LEGATION_KEY_PASSPHRASE
  if (env.LEGATION_KEY_PASSPHRASE_FILE) return firstLine(env.LEGATION_KEY_PASSPHRASE_FILE)
  return null
}

/** Reads one line at the terminal without echoing it. */
async function prompt(io: CliIo, question: string): Promise<string> {
  const { createInterface } = await import('node:readline')
  const stdin = process.stdin
  const rl = createInterface({ input: stdin, output: process.stderr, terminal: true })
  // readline echoes what it reads through _writeToOutput: silence it after the question.
  let muted = false
  const internal = rl as unknown as { _writeToOutput: (s: string) => void }
  const write = internal._writeToOutput.bind(rl)
  internal._writeToOutput = (s: string) => {
    if (!muted) write(s)
  }
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.on('SIGINT', () => reject(new CliError('KEY_PASSPHRASE_REQUIRED', 'no passphrase given')))
      rl.question(question, (answer) => resolve(answer))
      muted = true
    })
  } finally {
    rl.close()
    io.stderr.write('\n')
  }
}

export interface AskOptions {
  /** `--passphrase-file`, if given. */
  file?: string | undefined
  /** The key file, named in the prompt and in the error. */
  what: string
  /** A new passphrase: asked twice, and at least MIN_PASSPHRASE_LENGTH characters. */
  confirm?: boolean
}

/** The passphrase from a file, the environment, or the terminal; KEY_PASSPHRASE_REQUIRED if none. */
export async function askPassphrase(io: CliIo, opts: AskOptions): Promise<string> {
  let passphrase = givenPassphrase(io.env, opts.file)
  if (passphrase === null) {
    if (!process.stdin.isTTY || !io.stderr.isTTY) {
      throw new CliError(
        'KEY_PASSPHRASE_REQUIRED',
        `${opts.what} needs a passphrase: set LEGATION_KEY_PASSPHRASE or LEGATION_KEY_PASSPHRASE_FILE, or give --passphrase-file`,
      )
    }
    passphrase = await prompt(io, `Passphrase for ${opts.what}: `)
    if (opts.confirm && (await prompt(io, 'Same passphrase again: ')) !== passphrase) {
      throw new CliError('KEY_PASSPHRASE_REQUIRED', 'the two passphrases differ')
    }
  }
  if (opts.confirm && passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new CliError(
      'KEY_PASSPHRASE_REQUIRED',
      `a new key file's passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`,
    )
  }
  return passphrase
}

/** How to open the key file at `path`: asks for a passphrase only if the file is sealed. */
export async function unlockFor(io: CliIo, path: string, file?: string | undefined): Promise<Unlock> {
  if (!isSealedKeyFile(path)) return { env: io.env }
  return { passphrase: await askPassphrase(io, { file, what: path }), env: io.env }
}

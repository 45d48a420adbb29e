/**
 * Signed reads as an officer (or as a citizen, with a citizen's key file):
 * `legation citizen show`, `legation citizen find` and `legation cases`.
 */
import {
  ACCESS_PURPOSES,
  CASE_STATES,
  type Ed25519,
  type RequestToSign,
  signRequest,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { type LoadedKey, loadKeyFile } from '../key-file.ts'
import { NodeClient, type RequestSigner } from '../node-client.ts'
import { dataDirOption, intInRange, keyFileOption, keyFilePath, nodeOption } from '../options.ts'

interface ReadOptions {
  node: string
  key?: string
  dataDir?: string
  purpose?: string
}

/** Officers state why they read personal data; the node logs it and the citizen sees it. */
const purposeOption = () =>
  new Option('--purpose <purpose>', 'why you read this (required for officers; logged)').choices(
    ACCESS_PURPOSES,
  )

/** `path` with the purpose added to its query, when one was given. */
function withPurpose(path: string, purpose: string | undefined): string {
  if (purpose === undefined) return path
  return `${path}${path.includes('?') ? '&' : '?'}purpose=${purpose}`
}

/** Signs each request with the key file's key (and certificate), at the CLI's clock. */
export function keySigner(ed: Ed25519, key: LoadedKey, now: () => number): RequestSigner {
  return {
    sign: (req: RequestToSign) => signRequest(ed, req, key.keys, now(), key.cert ?? undefined),
  }
}

function pattern(re: RegExp, what: string) {
  return (value: string): string => {
    if (!re.test(value)) throw new InvalidArgumentError(`expected ${what}`)
    return value
  }
}
const citizenId = pattern(/^[0-9a-f]{32}$/, 'a citizen id (32 lower-case hex characters)')
const caseId = pattern(/^[0-9a-f]{64}$/, 'a case id (64 lower-case hex characters)')
const stateCode = pattern(/^[A-Z]{2,3}$/, 'a state code such as AT')
const countryCode = pattern(/^[A-Z]{2}$/, 'an ISO 3166 country code such as KE')
const documentNumber = pattern(/^[A-Z0-9]{3,32}$/, 'a document number (A-Z, 0-9)')

export function registerOfficerReads(program: Command, io: CliIo): void {
  const signedRead = (cmd: Command) =>
    cmd
      .addOption(nodeOption(io))
      .addOption(keyFileOption('key', "officer's (or citizen's) key file"))
      .addOption(dataDirOption())

  const run = async (opts: ReadOptions, path: string) => {
    const node = new NodeClient({ url: opts.node, fetch: io.fetch })
    const key = loadKeyFile(nativeEd25519, keyFilePath(io, opts.key, opts.dataDir))
    if (key.cert && opts.purpose === undefined && !path.startsWith('/v1/cases?')) {
      throw new CliError(
        'USAGE',
        `officers state why they read personal data: --purpose ${ACCESS_PURPOSES.join('|')}`,
      )
    }
    const body = await node.get<unknown>(
      withPurpose(path, opts.purpose),
      keySigner(nativeEd25519, key, io.now),
    )
    println(io.stdout, JSON.stringify(body, null, 2))
  }

  const citizen = program.command('citizen').description("citizens' files (signed requests)")
  signedRead(
    citizen
      .command('show')
      .description("print a citizen's file: profile, presence, cases, welfare and timeline")
      .argument('<id>', 'citizen id (key id of their key)', citizenId)
      .addOption(purposeOption()),
  ).action((id: string, opts: ReadOptions) => run(opts, `/v1/citizens/${id}`))

  signedRead(
    citizen
      .command('find')
      .description('search citizens by nationality, country of presence or travel document (officers)')
      .addOption(new Option('--nationality <code>', 'nationality state code').argParser(stateCode))
      .addOption(new Option('--country <code>', 'country of presence').argParser(countryCode))
      .addOption(new Option('--travel-document <number>', 'travel document number').argParser(documentNumber))
      .addOption(new Option('--limit <n>', 'at most this many').argParser(intInRange(1, 200)).default(50))
      .addOption(new Option('--after <id>', 'continue after this citizen id').argParser(citizenId))
      .addOption(purposeOption()),
  ).action(
    (
      opts: ReadOptions & {
        nationality?: string
        country?: string
        travelDocument?: string
        limit: number
        after?: string
      },
    ) => {
      const given = [opts.nationality, opts.country, opts.travelDocument].filter((x) => x !== undefined)
      if (given.length !== 1) {
        throw new CliError('USAGE', 'give exactly one of --nationality, --country, --travel-document')
      }
      const q = new URLSearchParams()
      if (opts.nationality) q.set('nationality', opts.nationality)
      if (opts.country) q.set('country', opts.country)
      if (opts.travelDocument) q.set('travelDocument', opts.travelDocument)
      q.set('limit', String(opts.limit))
      if (opts.after) q.set('after', opts.after)
      return run(opts, `/v1/citizens?${q}`)
    },
  )

  signedRead(
    program
      .command('cases')
      .description('list the cases in one state, a work queue (officers)')
      .addOption(new Option('--state <state>', 'case state').choices(CASE_STATES).default('submitted'))
      .addOption(new Option('--nationality <code>', 'only citizens of this state').argParser(stateCode))
      .addOption(new Option('--limit <n>', 'at most this many').argParser(intInRange(1, 200)).default(50))
      .addOption(new Option('--after <id>', 'continue after this case id').argParser(caseId)),
  ).action((opts: ReadOptions & { state: string; nationality?: string; limit: number; after?: string }) => {
    const q = new URLSearchParams({ state: opts.state })
    if (opts.nationality) q.set('nationality', opts.nationality)
    q.set('limit', String(opts.limit))
    if (opts.after) q.set('after', opts.after)
    return run(opts, `/v1/cases?${q}`)
  })
}

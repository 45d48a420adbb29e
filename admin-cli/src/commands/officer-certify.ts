/**
 * `legation officer certify` and `legation officer renew`: a member state certifies an officer,
 * with the state's key, on the machine that holds it; the node is never sent a secret.
 *
 * `certify` makes a new officer key pair and certificate; `renew` gives an officer's existing
 * key a new certificate (same state, bloc and roles, a new validity window). Both write the
 * officer key file every command that signs as an officer reads (`loadKeyFile`: the key pair and
 * `cert`), so `revoke` can be tried on an officer made for the purpose instead of the
 * development officer. The charter (a file, or the chain a node serves) gives the bloc id and the
 * state's current key: a key the charter does not name would make a certificate every node
 * refuses, so the CLI refuses it first.
 */
import { resolve } from 'node:path'
import type { RevocationList } from '@legation/node/http/schemas'
import {
  type CharterView,
  certificateId,
  certifyOfficer,
  decodeCanonical,
  encodeCanonical,
  equalBytes,
  fromBase64url,
  generateKeyPair,
  isProtocolError,
  type KeyPair,
  keyId,
  OFFICER_ROLES,
  type OfficerCertificate,
  type OfficerRole,
  toBase64url,
  verifyCertificateSignature,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import {
  type LoadedStateKey,
  loadKeyFile,
  loadStateKeyFile,
  refuseExisting,
  writeKeyFile,
} from '../key-file.ts'
import { NodeClient } from '../node-client.ts'
import { intInRange, nodeOption } from '../options.ts'
import { askPassphrase, unlockFor } from '../passphrase.ts'
import { PLAINTEXT_WARNING } from './keys.ts'
import { MAX_CHARTER_FILE_BYTES, verifyCharterFile, verifyCharterValue } from './verify-charter.ts'

const DAY_MS = 86_400_000
/** A year, as the development officer's certificate (node/src/dev-bloc.ts). */
export const DEFAULT_VALID_DAYS = 365
/** Ten years, as a development bloc's node certificates: longer is a key that never retires. */
export const MAX_VALID_DAYS = 3650
/**
 * A certificate starts this far in the past, so that a node whose clock lags behind still
 * accepts it (the development bloc's `CLOCK_SKEW_MS`).
 */
export const BACKDATE_MS = 60 * 60 * 1000

const ed = nativeEd25519
const iso = (ms: number) => new Date(ms).toISOString()

/** `--roles registrar,consul`: known roles, each once, in the protocol's order. */
export function parseRoles(value: string): OfficerRole[] {
  const given = value.split(',').map((r) => r.trim())
  const known = new Set<string>(OFFICER_ROLES)
  const roles = OFFICER_ROLES.filter((r) => given.includes(r))
  if (given.some((r) => !known.has(r)) || roles.length !== given.length) {
    throw new InvalidArgumentError(
      `expected a comma-separated list of distinct roles of ${OFFICER_ROLES.join(', ')}`,
    )
  }
  return roles
}

function stateCode(value: string): string {
  if (!/^[A-Z]{2,3}$/.test(value)) throw new InvalidArgumentError('expected a state code such as AT')
  return value
}

/** The latest version of the charter chain in `--charter FILE`, or the one `--node` serves. */
async function charterOf(
  from: { charter?: string | undefined; node?: string | undefined },
  io: CliIo,
): Promise<{ view: CharterView; where: string }> {
  if (from.charter !== undefined) {
    const path = resolve(from.charter)
    return { view: verifyCharterFile(path).views.at(-1)!, where: path }
  }
  const client = new NodeClient({ url: from.node!, fetch: io.fetch })
  const { chain } = await client.get<{ chain?: unknown }>('/v1/charter')
  let value: unknown
  try {
    if (typeof chain !== 'string') throw new TypeError('chain is not a string')
    value = decodeCanonical(fromBase64url(chain), MAX_CHARTER_FILE_BYTES)
  } catch (cause) {
    const code = isProtocolError(cause) ? ` (${cause.code})` : ''
    throw new CliError(
      'NODE_RESPONSE_INVALID',
      `${client.origin}: its charter chain does not decode${code}`,
      {
        cause,
      },
    )
  }
  const where = `the charter of ${client.origin}`
  return { view: verifyCharterValue(value, where).views.at(-1)!, where }
}

/** Refuses a state key the charter does not name as that state's current key, in its bloc. */
function checkStateKey(view: CharterView, where: string, key: LoadedStateKey, path: string): void {
  const short = (bloc: string) => `${bloc.slice(0, 12)}…`
  if (key.bloc !== undefined && key.bloc !== view.bloc) {
    throw new CliError(
      'BLOC_MISMATCH',
      `${path} is for bloc ${short(key.bloc)}, ${where} is of bloc ${short(view.bloc)}`,
    )
  }
  const member = view.members.get(key.state)
  if (!member) {
    throw new CliError(
      'STATE_KEY_NOT_FOUND',
      `${key.state} is not a member state in ${where} (version ${view.version}: ${[...view.members.keys()].join(', ')})`,
    )
  }
  if (!equalBytes(member.stateKey, key.keys.publicKey)) {
    throw new CliError(
      'STATE_KEY_NOT_FOUND',
      `${path} does not hold the current key of ${key.state}: ${where} (version ${view.version}) names key ${keyId(member.stateKey)}`,
    )
  }
}

/** Signs the certificate: valid from a little before now (clock skew) for `days` days. */
function issue(
  key: LoadedStateKey,
  bloc: string,
  officerKey: Uint8Array,
  roles: OfficerRole[],
  now: number,
  days: number,
): OfficerCertificate {
  try {
    return certifyOfficer(ed, bloc, key.state, key.keys.secretKey, officerKey, roles, {
      notBefore: now - BACKDATE_MS,
      notAfter: now + days * DAY_MS,
    })
  } finally {
    key.keys.secretKey.fill(0)
  }
}

/**
 * The officer's key file, in the one key file format (`keys generate --role officer`, what
 * `loadKeyFile` reads): the key sealed under `passphrase` (null: plaintext, development only),
 * the certificate and fields a person reading it may want in the clear.
 */
async function writeOfficerKeyFile(
  path: string,
  keys: KeyPair,
  cert: OfficerCertificate,
  passphrase: string | null,
): Promise<void> {
  await writeKeyFile(path, {
    role: 'officer',
    keys,
    passphrase,
    header: {
      state: cert.body.state,
      bloc: cert.body.bloc,
      roles: cert.body.roles,
      certificate: certificateId(cert),
      notAfter: iso(cert.body.notAfter),
      cert: toBase64url(encodeCanonical(cert)),
    },
  })
}

function report(
  io: CliIo,
  json: boolean | undefined,
  cert: OfficerCertificate,
  path: string,
  previous?: OfficerCertificate,
): void {
  const b = cert.body
  const id = certificateId(cert)
  if (json) {
    const out = {
      certificate: id,
      ...(previous ? { previous: certificateId(previous) } : {}),
      state: b.state,
      bloc: b.bloc,
      officerKey: keyId(b.officerKey),
      roles: b.roles,
      notBefore: b.notBefore,
      notAfter: b.notAfter,
      file: path,
    }
    println(io.stdout, JSON.stringify(out, null, 2))
    return
  }
  if (previous) {
    println(io.stdout, `Renewed      the certificate of officer ${keyId(b.officerKey)} of ${b.state}`)
    println(io.stdout, `Replaces     ${certificateId(previous)} (valid until ${iso(previous.body.notAfter)})`)
  } else {
    println(io.stdout, `Certified    a new officer of ${b.state}, bloc ${b.bloc.slice(0, 12)}…`)
    println(io.stdout, `Officer key  ${keyId(b.officerKey)}`)
  }
  println(io.stdout, `Certificate  ${id}`)
  println(io.stdout, `Roles        ${b.roles.join(', ')}`)
  println(io.stdout, `Valid        ${iso(b.notBefore)} to ${iso(b.notAfter)}`)
  println(io.stdout, `Key file     ${path} (mode 0600: the officer's secret key and certificate)`)
}

interface KeyFileOptions {
  /** The state key file's passphrase. */
  passphraseFile?: string
  /** The officer key file's passphrase. */
  officerPassphraseFile?: string
  insecurePlaintext?: boolean
}

interface CertifyOptions extends KeyFileOptions {
  stateKey: string
  state?: string
  roles: OfficerRole[]
  validDays: number
  out: string
  charter?: string
  node: string
  json?: boolean
}

interface RenewOptions extends KeyFileOptions {
  stateKey: string
  state?: string
  officer: string
  validDays: number
  out: string
  charter?: string
  node?: string
  json?: boolean
}

/**
 * Refuses to renew a certificate the node knows to be revoked: a revocation says the key must
 * not sign any more (stolen, or the officer left), and a new certificate for the same key would
 * undo it. A new officer key is certified instead.
 */
async function refuseRevoked(io: CliIo, url: string, cert: OfficerCertificate, path: string): Promise<void> {
  const client = new NodeClient({ url, fetch: io.fetch })
  const list = await client.get<Static<typeof RevocationList>>('/v1/revocations')
  if (!Array.isArray(list.revocations)) {
    throw new CliError('NODE_RESPONSE_INVALID', 'GET /v1/revocations answered without a list')
  }
  const id = certificateId(cert)
  const r = list.revocations.find((x) => x.cert === id && x.state === cert.body.state)
  if (r) {
    throw new CliError(
      'CERT_REVOKED',
      `the certificate in ${path} (${id.slice(0, 12)}…) was revoked by ${r.state} from ${iso(r.at)} (${r.reason}): it is not renewed; certify a new officer key instead (officer certify)`,
    )
  }
}

/** Adds `certify` and `renew` to the `officer` command. */
export function registerOfficerCertify(officer: Command, io: CliIo): void {
  const stateKeyOption = () =>
    new Option(
      '--state-key <file>',
      "the certifying state's secret key: a state key file, or a development bloc's dev-secrets.json",
    ).makeOptionMandatory()
  const validDays = () =>
    new Option('--valid-days <n>', `days the certificate is valid (≤ ${MAX_VALID_DAYS})`)
      .argParser(intInRange(1, MAX_VALID_DAYS))
      .default(DEFAULT_VALID_DAYS)
  const out = () =>
    new Option(
      '--out <file>',
      "where to write the officer's key file (never overwritten)",
    ).makeOptionMandatory()
  const charter = () =>
    new Option(
      '--charter <file>',
      'the charter chain file (e.g. <dataDir>/charter.cbor) instead of asking a node',
    )

  officer
    .command('certify')
    .description("certify a new officer: a new key pair, its certificate signed with the state's key")
    .addOption(stateKeyOption())
    .addOption(
      new Option(
        '--state <code>',
        'the member state certifying (needed when the file holds several)',
      ).argParser(stateCode),
    )
    .addOption(
      new Option('--roles <roles>', `comma-separated: ${OFFICER_ROLES.join(', ')}`)
        .argParser(parseRoles)
        .makeOptionMandatory(),
    )
    .addOption(validDays())
    .addOption(out())
    .addOption(
      new Option(
        '--passphrase-file <file>',
        "the state key file's passphrase, first line (else LEGATION_KEY_PASSPHRASE(_FILE) or a prompt)",
      ),
    )
    .addOption(
      new Option(
        '--officer-passphrase-file <file>',
        "the officer key file's passphrase, first line (else LEGATION_KEY_PASSPHRASE(_FILE) or a prompt)",
      ),
    )
    .option('--insecure-plaintext', "DEVELOPMENT ONLY: write the officer's secret key unencrypted")
    .addOption(charter())
    .addOption(nodeOption(io).conflicts('charter'))
    .option('--json', 'print the certificate id and validity as JSON')
    .action(async (opts: CertifyOptions) => {
      // Everything local first: a mistake in a file is found before a node is asked.
      const path = resolve(opts.out)
      refuseExisting(path)
      const stateKeyPath = resolve(opts.stateKey)
      const stateKey = loadStateKeyFile(
        ed,
        stateKeyPath,
        opts.state,
        await unlockFor(io, stateKeyPath, opts.passphraseFile),
      )
      const { view, where } = await charterOf(opts, io)
      checkStateKey(view, where, stateKey, stateKeyPath)
      const passphrase = opts.insecurePlaintext
        ? null
        : await askPassphrase(io, { file: opts.officerPassphraseFile, what: path, confirm: true })
      const keys = generateKeyPair(ed)
      const cert = issue(stateKey, view.bloc, keys.publicKey, opts.roles, io.now(), opts.validDays)
      await writeOfficerKeyFile(path, keys, cert, passphrase)
      keys.secretKey.fill(0)
      if (passphrase === null) println(io.stderr, PLAINTEXT_WARNING)
      report(io, opts.json, cert, path)
    })

  officer
    .command('renew')
    .description("a new certificate for an officer's key: same state and roles, a new validity window")
    .addOption(stateKeyOption())
    .addOption(
      new Option('--state <code>', "the member state renewing (default: the certificate's)").argParser(
        stateCode,
      ),
    )
    .addOption(
      new Option(
        '--officer <file>',
        "the officer's key file (with its current certificate)",
      ).makeOptionMandatory(),
    )
    .addOption(validDays())
    .addOption(out())
    .addOption(
      new Option(
        '--passphrase-file <file>',
        "the state key file's passphrase, first line (else LEGATION_KEY_PASSPHRASE(_FILE) or a prompt)",
      ),
    )
    .addOption(
      new Option(
        '--officer-passphrase-file <file>',
        "the officer key file's passphrase, first line (else LEGATION_KEY_PASSPHRASE(_FILE) or a prompt)",
      ),
    )
    .option('--insecure-plaintext', "DEVELOPMENT ONLY: write the officer's secret key unencrypted")
    .addOption(charter())
    .addOption(
      new Option(
        '--node <url>',
        "check the state's key against the charter this node serves, and that the certificate is not revoked",
      ).conflicts('charter'),
    )
    .option('--json', 'print the new certificate id and validity as JSON')
    .action(async (opts: RenewOptions) => {
      const path = resolve(opts.out)
      refuseExisting(path)
      const officerPath = resolve(opts.officer)
      const officerUnlock = await unlockFor(io, officerPath, opts.officerPassphraseFile)
      const officerKey = loadKeyFile(ed, officerPath, officerUnlock)
      const old = officerKey.cert
      if (!old) throw new CliError('KEY_FILE_INVALID', `${officerPath} holds no officer certificate`)
      const { state, bloc } = old.body
      if (opts.state !== undefined && opts.state !== state) {
        throw new CliError(
          'STATE_MISMATCH',
          `the certificate in ${officerPath} was issued by ${state}; ${opts.state} cannot renew it`,
        )
      }
      const stateKeyPath = resolve(opts.stateKey)
      const stateKey = loadStateKeyFile(
        ed,
        stateKeyPath,
        state,
        await unlockFor(io, stateKeyPath, opts.passphraseFile),
      )
      if (stateKey.bloc !== undefined && stateKey.bloc !== bloc) {
        throw new CliError(
          'BLOC_MISMATCH',
          `${stateKeyPath} is for bloc ${stateKey.bloc.slice(0, 12)}…, the certificate for ${bloc.slice(0, 12)}…`,
        )
      }
      if (opts.charter !== undefined || opts.node !== undefined) {
        const { view, where } = await charterOf(opts, io)
        if (view.bloc !== bloc) {
          throw new CliError(
            'BLOC_MISMATCH',
            `the certificate in ${officerPath} is for bloc ${bloc.slice(0, 12)}…, ${where} is of bloc ${view.bloc.slice(0, 12)}…`,
          )
        }
        checkStateKey(view, where, stateKey, stateKeyPath)
      } else {
        // Offline, the key that signed the certificate is the one to renew it.
        try {
          verifyCertificateSignature(ed, old, stateKey.keys.publicKey)
        } catch (cause) {
          throw new CliError(
            'STATE_KEY_NOT_FOUND',
            `${stateKeyPath} does not hold the key of ${state} that signed ${officerPath}'s certificate (if ${state}'s key has changed since, check it against the charter with --charter or --node)`,
            { cause },
          )
        }
      }
      if (opts.node !== undefined) await refuseRevoked(io, opts.node, old, officerPath)
      const cert = issue(
        stateKey,
        bloc,
        officerKey.keys.publicKey,
        [...old.body.roles],
        io.now(),
        opts.validDays,
      )
      // The renewed file keeps the passphrase of the one it renews.
      const passphrase =
        officerUnlock.passphrase ??
        (opts.insecurePlaintext
          ? null
          : await askPassphrase(io, { file: opts.officerPassphraseFile, what: path, confirm: true }))
      await writeOfficerKeyFile(path, officerKey.keys, cert, passphrase)
      officerKey.keys.secretKey.fill(0)
      if (passphrase === null) println(io.stderr, PLAINTEXT_WARNING)
      report(io, opts.json, cert, path, old)
      if (opts.node === undefined && !opts.json) {
        println(io.stdout, 'Revocations  not checked (offline): give --node to refuse a revoked certificate')
      }
    })
}

/**
 * `legation officer revoke` and `legation officer revocations`: revoking an officer's
 * certificate with the issuing state's key (POST /v1/revocations), and listing the
 * revocations a node knows (GET /v1/revocations).
 *
 * A revocation is signed here, by the CLI, with the member state's secret key; the node only
 * checks that signature against the state's current key in its charter and passes the
 * revocation to every peer. It counts only against the certificates of the state that signed
 * it, so the CLI refuses to revoke a certificate it can see was issued by another state.
 */
import { resolve } from 'node:path'
import type { RevocationList, RevocationView as RevocationViewSchema } from '@legation/node/http/schemas'
import {
  certificateId,
  encodeCanonical,
  type Revocation,
  signRevocation,
  toBase64url,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError, isCliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { loadOfficerCert, loadStateKeyFile } from '../key-file.ts'
import { NodeClient, type NodeInfo } from '../node-client.ts'
import { nodeOption } from '../options.ts'
import { passphraseFileOption, unlockFor } from '../passphrase.ts'
import { registerOfficerCertify } from './officer-certify.ts'

type Reason = Revocation['body']['reason']
export const REVOCATION_REASONS = [
  'key-compromise',
  'superseded',
  'ceased',
] as const satisfies readonly Reason[]
// Fails to compile if the protocol gains a reason this list lacks.
const _everyReason: Reason extends (typeof REVOCATION_REASONS)[number] ? true : never = true
export const DEFAULT_REASON: Reason = 'key-compromise'

/** Latest time the protocol accepts (`ms` in docs/protocol.md). */
const MAX_MS = 8.64e15

/** What GET /v1/revocations lists, and POST answers. */
export type RevocationView = Static<typeof RevocationViewSchema>

function certId(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) {
    throw new InvalidArgumentError('expected a certificate id (64 lower-case hex characters)')
  }
  return value
}

function stateCode(value: string): string {
  if (!/^[A-Z]{2,3}$/.test(value)) throw new InvalidArgumentError('expected a state code such as AT')
  return value
}

/**
 * A time: milliseconds since the epoch, or ISO 8601 — a date (midnight UTC) or a date and time
 * with `Z` or an offset. A time without a zone is refused: it would be read in the CLI's own
 * time zone, and a revocation that starts hours late lets a stolen key sign meanwhile.
 */
export function parseTime(value: string): number {
  const ms = /^\d{1,16}$/.test(value)
    ? Number(value)
    : /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(value)
      ? Date.parse(value)
      : Number.NaN
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_MS) {
    throw new InvalidArgumentError(
      'expected milliseconds since the epoch, or an ISO 8601 time with Z or an offset (2026-12-01T09:00:00Z)',
    )
  }
  return ms
}

const iso = (ms: number) => new Date(ms).toISOString()

interface RevokeOptions {
  node: string
  stateKey: string
  state?: string
  cert?: string
  officerKey?: string
  reason: Reason
  at?: number
  passphraseFile?: string
  json?: boolean
}

/** Adds `officer` and its subcommands, in the order of an officer's life: certify, renew, revoke. */
export function registerOfficer(program: Command, io: CliIo): void {
  const officer = program
    .command('officer')
    .description("officers' certificates: certify, renew, revoke, list revocations")
  registerOfficerCertify(officer, io)

  // Required: a revocation should name the node it goes to (LEGATION_NODE_URL counts).
  const node = new Option('--node <url>', 'node HTTP address (env LEGATION_NODE_URL)').makeOptionMandatory()
  if (io.env.LEGATION_NODE_URL) node.default(io.env.LEGATION_NODE_URL)

  officer
    .command('revoke')
    .description(
      "revoke an officer's certificate: signed with the issuing state's key, sent to a node, passed to every node",
    )
    .addOption(node)
    .addOption(
      new Option(
        '--state-key <file>',
        "the revoking state's secret key: a state key file, or a development bloc's dev-secrets.json",
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--state <code>',
        'the member state revoking (needed when the file holds several)',
      ).argParser(stateCode),
    )
    .addOption(new Option('--cert <id>', 'id of the certificate to revoke (64 hex)').argParser(certId))
    .addOption(new Option('--officer-key <file>', "the officer's key file: revoke its certificate"))
    .addOption(new Option('--reason <reason>', 'why').choices(REVOCATION_REASONS).default(DEFAULT_REASON))
    .addOption(
      new Option(
        '--at <time>',
        'refuse its signatures from this time on: ISO 8601 or ms (default: now)',
      ).argParser(parseTime),
    )
    .addOption(passphraseFileOption())
    .option('--json', 'print the revocation in force as JSON')
    .action(async (opts: RevokeOptions) => {
      if ((opts.cert === undefined) === (opts.officerKey === undefined)) {
        throw new CliError('USAGE', 'give exactly one of --cert, --officer-key')
      }
      // Files first: a mistake in them is found before anything is sent.
      const stateKeyPath = resolve(opts.stateKey)
      const stateKey = loadStateKeyFile(
        nativeEd25519,
        stateKeyPath,
        opts.state,
        await unlockFor(io, stateKeyPath, opts.passphraseFile),
      )
      const { state } = stateKey
      let cert = opts.cert
      let certBloc: string | undefined
      if (opts.officerKey !== undefined) {
        const path = resolve(opts.officerKey)
        // Only its certificate is needed: no passphrase is asked for a sealed officer key.
        const key = loadOfficerCert(path)
        if (!key.cert) throw new CliError('KEY_FILE_INVALID', `${path} holds no officer certificate`)
        if (key.cert.body.state !== state) {
          throw new CliError(
            'STATE_MISMATCH',
            `the certificate in ${path} was issued by ${key.cert.body.state}; a revocation by ${state} would not count against it`,
          )
        }
        cert = certificateId(key.cert)
        certBloc = key.cert.body.bloc
      }

      const client = new NodeClient({ url: opts.node, fetch: io.fetch })
      const info = await client.get<NodeInfo>('/v1/node')
      for (const [what, bloc] of [
        [stateKeyPath, stateKey.bloc],
        ['the certificate', certBloc],
      ] as const) {
        if (bloc !== undefined && bloc !== info.bloc) {
          throw new CliError(
            'BLOC_MISMATCH',
            `${what} is for bloc ${bloc.slice(0, 12)}…, the node runs ${info.bloc.slice(0, 12)}…`,
          )
        }
      }

      const body = {
        type: 'revocation' as const,
        bloc: info.bloc,
        state,
        cert: cert!,
        at: opts.at ?? io.now(),
        reason: opts.reason,
      }
      const revocation = signRevocation(nativeEd25519, body, stateKey.keys.secretKey)
      stateKey.keys.secretKey.fill(0)
      const sent = toBase64url(encodeCanonical(revocation))
      let answer: { status: number; body: RevocationView }
      try {
        answer = await client.exchange<RevocationView>('POST', '/v1/revocations', { revocation: sent })
      } catch (err) {
        if (isCliError(err) && err.remoteCode === 'CERT_INVALID') {
          throw new CliError(
            'NODE_REFUSED',
            `${err.message} (is ${stateKeyPath} the current key of ${state}, a member of the node's bloc?)`,
            { cause: err, remoteCode: err.remoteCode, status: err.status },
          )
        }
        throw err
      }
      const inForce = answer.body
      if (inForce?.cert !== body.cert || inForce.state !== state || typeof inForce.at !== 'number') {
        throw new CliError(
          'NODE_RESPONSE_INVALID',
          'the node answered with another revocation than the one sent',
        )
      }
      const added = answer.status === 201
      if (opts.json) {
        println(io.stdout, JSON.stringify({ node: client.origin, new: added, ...inForce }, null, 2))
        return
      }
      let outcome: string
      if (added) outcome = 'new: the node stored it and passes it to every node of the bloc'
      else if (inForce.revocation === sent) outcome = 'not new: the node already had this revocation'
      else
        outcome =
          'not new: a revocation of this certificate from the same or an earlier time is in force, and stays so'
      println(io.stdout, `Revoked      certificate of ${state} at ${client.origin}`)
      println(io.stdout, `Certificate  ${inForce.cert}`)
      println(io.stdout, `State        ${inForce.state}`)
      println(io.stdout, `From         ${iso(inForce.at)} (${inForce.at})`)
      println(io.stdout, `Reason       ${inForce.reason}`)
      println(io.stdout, `Status       ${outcome}`)
      if (opts.cert !== undefined) {
        // From an id alone neither the CLI nor the node can tell who issued the certificate.
        println(
          io.stdout,
          `Counts only  if ${state} issued this certificate: another state's revocation is ignored`,
        )
      }
    })

  officer
    .command('revocations')
    .description('list the revoked officer certificates a node knows')
    .addOption(nodeOption(io))
    .option('--json', 'print the raw JSON of GET /v1/revocations')
    .action(async (opts: { node: string; json?: boolean }) => {
      const client = new NodeClient({ url: opts.node, fetch: io.fetch })
      const res = await client.get<Static<typeof RevocationList>>('/v1/revocations')
      if (!Array.isArray(res.revocations)) {
        throw new CliError('NODE_RESPONSE_INVALID', 'GET /v1/revocations answered without a list')
      }
      if (opts.json) {
        println(io.stdout, JSON.stringify(res, null, 2))
        return
      }
      for (const line of formatRevocations(client.origin, res.revocations)) println(io.stdout, line)
    })
}

/** One line per revocation, oldest first. */
export function formatRevocations(url: string, list: readonly RevocationView[]): string[] {
  if (list.length === 0) return [`No revoked officer certificates known to ${url}`]
  const sorted = [...list].sort(
    (a, b) => a.at - b.at || a.state.localeCompare(b.state) || a.cert.localeCompare(b.cert),
  )
  const lines = [`${list.length} revoked officer certificate(s) known to ${url}`, '']
  lines.push(`${'STATE'.padEnd(5)}  ${'CERTIFICATE'.padEnd(64)}  ${'FROM'.padEnd(24)}  REASON`)
  for (const r of sorted) {
    lines.push(`${r.state.padEnd(5)}  ${r.cert.padEnd(64)}  ${iso(r.at).padEnd(24)}  ${r.reason}`)
  }
  return lines
}

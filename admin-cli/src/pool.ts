/**
 * What the citizen and officer action commands (`citizen enrol…`, `case`, `alert`, `welfare`)
 * share: `--node` taking several URLs, the SDK's `NodePool` to reach them with failover, its
 * errors as the CLI's (same codes, one line), and signing as the key file's owner.
 *
 * @example
 * const bloc = await connect(io, opts.node)
 * const file = await bloc.call(() => bloc.pool.get(`/v1/citizens/${id}`, signer))
 */
import type { Case } from '@legation/node/http/schemas'
import {
  type BuiltRecord,
  isProtocolError,
  LegationClient,
  type OfficerCertificate,
} from '@legation/protocol'
import { type ItemResult, isSdkError, NodePool, type Receipt, type SdkError } from '@legation/protocol/http'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import { Option } from 'commander'
import { CliError } from './errors.ts'
import { type CliIo, println } from './io.ts'
import { type LoadedKey, loadKeyFile, loadOfficerCert, type Unlock } from './key-file.ts'
import { DEFAULT_NODE_URL, DEFAULT_TIMEOUT_MS, type NodeInfo } from './node-client.ts'
import { intInRange } from './options.ts'

/**
 * `--node URL`, repeatable and comma-separated (`--node http://a:8080,http://b:8080`): the nodes
 * to try, in order. Defaults to LEGATION_NODE_URL (which may list several) or the node's default.
 */
export function nodesOption(io: CliIo): Option {
  const fallback = splitUrls(io.env.LEGATION_NODE_URL || DEFAULT_NODE_URL)
  return (
    new Option(
      '--node <url>',
      'node HTTP address; repeat it or separate with commas to fail over between nodes (env LEGATION_NODE_URL)',
    )
      // Commander hands the default in as `previous` the first time: a given --node replaces it.
      .argParser((value: string, previous: string[]) => [
        ...(previous === fallback ? [] : previous),
        ...splitUrls(value),
      ])
      .default(fallback, fallback.join(','))
  )
}

function splitUrls(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** The SDK's errors under the CLI's codes (the same names), keeping the node's problem code. */
export function fromSdkError(err: SdkError): CliError {
  const options = { cause: err, remoteCode: err.remoteCode, status: err.status }
  switch (err.code) {
    case 'NODES_INVALID':
      return new CliError('NODE_URL_INVALID', err.message, options)
    case 'NODE_UNREACHABLE':
      return new CliError('NODE_UNREACHABLE', err.message, options)
    case 'NODE_REFUSED':
      return new CliError('NODE_REFUSED', err.message, options)
    case 'NODE_RESPONSE_INVALID':
      return new CliError('NODE_RESPONSE_INVALID', err.message, options)
  }
}

export interface Bloc {
  pool: NodePool
  /** Runs a request through the pool; SDK errors become CLI errors. */
  call<T>(request: () => Promise<T>): Promise<T>
}

/** A pool over the `--node` URLs; each node left for the next is said on stderr. */
export function connect(io: CliIo, urls: readonly string[]): Bloc {
  let pool: NodePool
  try {
    pool = new NodePool({
      nodes: urls,
      fetch: io.fetch,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      onFailover: ({ from, to, reason }) =>
        println(io.stderr, `note: ${from} did not answer (${reason}); trying ${to}`),
    })
  } catch (err) {
    throw isSdkError(err) ? fromSdkError(err) : err
  }
  return {
    pool,
    async call<T>(request: () => Promise<T>): Promise<T> {
      try {
        return await request()
      } catch (err) {
        throw isSdkError(err) ? fromSdkError(err) : err
      }
    },
  }
}

/** GET /v1/node at whichever node answers. */
export function nodeInfo(bloc: Bloc): Promise<NodeInfo> {
  return bloc.call(() => bloc.pool.get<NodeInfo>('/v1/node'))
}

/**
 * A signer for the key file's owner (officer with certificate, or citizen), for the node's bloc
 * and current charter. A key file that names another bloc is refused (BLOC_MISMATCH).
 */
export function signerFor(key: LoadedKey, path: string, info: NodeInfo, now: () => number): LegationClient {
  if (key.bloc && key.bloc !== info.bloc) {
    throw new CliError(
      'BLOC_MISMATCH',
      `${path} is for bloc ${key.bloc.slice(0, 12)}…, the node runs ${info.bloc.slice(0, 12)}…`,
    )
  }
  return new LegationClient({
    ed: nativeEd25519,
    bloc: info.bloc,
    charter: info.charter.hash,
    keys: key.keys,
    cert: key.cert,
    clock: now,
  })
}

/** An officer's key file: one with a certificate. */
export function loadOfficerKey(path: string): LoadedKey & { cert: OfficerCertificate } {
  // Read from the file's clear fields first: a citizen's sealed key file is refused as such,
  // before any passphrase is asked for.
  if (!loadOfficerCert(path).cert) {
    throw new CliError('KEY_FILE_INVALID', `${path} holds no officer certificate (a citizen's key file?)`)
  }
  const key = loadKeyFile(nativeEd25519, path)
  if (!key.cert) {
    throw new CliError('KEY_FILE_INVALID', `${path} holds no officer certificate (a citizen's key file?)`)
  }
  return key as LoadedKey & { cert: OfficerCertificate }
}

/** A citizen's key file: one without a certificate. */
export function loadCitizenKey(path: string, unlock: Unlock = {}): LoadedKey {
  const key = loadKeyFile(nativeEd25519, path, unlock)
  if (key.cert) throw new CliError('KEY_FILE_INVALID', `${path} is an officer's key file, not a citizen's`)
  return key
}

/**
 * Builds a record; one whose body or payload does not match its kind's schema (an e-mail without
 * `@`, a note over its length) is a usage error naming the fields, never their values.
 */
export function build<T extends BuiltRecord>(kind: string, make: () => T): T {
  try {
    return make()
  } catch (err) {
    if (isProtocolError(err) && err.code === 'SCHEMA_INVALID') {
      const fields = err.details.length > 0 ? `: ${err.details.join('; ')}` : ''
      throw new CliError('USAGE', `not a valid ${kind} record${fields}`, { cause: err })
    }
    throw err
  }
}

export interface Stored {
  id: string
  status: 'accepted' | 'duplicate'
  node: string
  result: ItemResult
  /** The `k` asked for with --write-concern (0: none). */
  writeConcern: number
  writeConcernMet: boolean
  /** Other nodes' receipts of the record (k of them once the write concern is met). */
  replicas: Receipt[]
}

/** `--write-concern <k>`: answer only once k other nodes stored the record. */
export function writeConcernOption(): Option {
  return new Option(
    '--write-concern <k>',
    'answer only once k other nodes stored the record, with their signed receipts',
  )
    .argParser(intInRange(0, 16))
    .default(0)
}

/**
 * Submits one record (signed request too), failing over between nodes; a record the node
 * refuses is `NODE_REFUSED` with the record's code.
 */
export async function submitRecord(
  bloc: Bloc,
  built: BuiltRecord,
  signer: LegationClient,
  writeConcern = 0,
): Promise<Stored> {
  const out = await bloc.call(() => bloc.pool.submit([built], { signer, writeConcern }))
  const result = out.results[0]!
  if (result.status === 'refused') {
    throw new CliError(
      'NODE_REFUSED',
      `${out.node} refused the ${built.record.header.kind} record: ${result.code ?? 'UNKNOWN'}: ${result.detail ?? ''}`.trim(),
      { remoteCode: result.code },
    )
  }
  return {
    id: built.id,
    status: result.status,
    node: out.node,
    result,
    writeConcern,
    writeConcernMet: out.writeConcernMet,
    replicas: out.replicas,
  }
}

/**
 * Prints what a write did — for a script (`json`) the command's `fields` with the record, its
 * receipt and, with a write concern, the other nodes' receipts; for a person `lines` — then
 * fails (WRITE_CONCERN_NOT_MET) if fewer other nodes confirmed it than asked.
 */
export function reportWrite(
  io: CliIo,
  json: boolean | undefined,
  stored: Stored,
  fields: Record<string, unknown>,
  lines: readonly string[],
): void {
  const k = stored.writeConcern
  if (json) {
    printJson(io, {
      ...fields,
      record: stored.id,
      status: stored.status,
      node: stored.node,
      receipt: stored.result.receipt,
      ...(k > 0
        ? { writeConcern: k, writeConcernMet: stored.writeConcernMet, replicas: stored.replicas }
        : {}),
    })
  } else {
    for (const line of lines) println(io.stdout, line)
    if (k > 0 && stored.writeConcernMet) {
      const nodes = [...new Set(stored.replicas.map((r) => r.node))]
      println(io.stdout, `Replicas  stored by ${nodes.length} other node(s): ${nodes.join(', ')}`)
    }
  }
  if (k > 0 && !stored.writeConcernMet) {
    throw new CliError(
      'WRITE_CONCERN_NOT_MET',
      `${stored.node} stored record ${stored.id} durably, but fewer than ${k} other node(s) confirmed it in time; it keeps replicating (send it again to collect their receipts)`,
    )
  }
}

/** What GET /v1/cases/{id} answers: the node's own response schema. */
export type CaseView = Static<typeof Case>

/** Prints JSON, two-space indented. */
export function printJson(io: CliIo, value: unknown): void {
  println(io.stdout, JSON.stringify(value, null, 2))
}

/** Lines of a table: columns padded to their widest cell (the last one not padded). */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length)
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  )
}

export const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * `legation ceremony`: founding a bloc, each member state on its own machine, no step needing
 * another state's secret key.
 *
 *   1. each state:   keys generate (state key, node keys), then `ceremony descriptor`
 *                    → <STATE>.descriptor.json, sent to the others
 *   2. any one:      `ceremony draft` from every descriptor → draft.json, sent to all
 *   3. each state:   `ceremony sign` (after checking the hash with the others) → <STATE>.sig.json
 *   4. any one:      `ceremony finalize` from every signature → charter.cbor, which every node
 *                    starts from (`--charter-file`)
 *
 * The file formats are in charter-files.ts; signing and combining in charter-sign.ts.
 */
import { resolve } from 'node:path'
import {
  type CharterBody,
  type CharterNode,
  certifyNode,
  draftGenesis,
  fromBase64url,
  isProtocolError,
  type Member,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { type LoadedStateKey, loadStateKeyFile, readKeyFileHeader, refuseExisting } from '../key-file.ts'
import { intInRange } from '../options.ts'
import { passphraseFileOption, unlockFor } from '../passphrase.ts'
import { clientIdOf, descriptorOf, draftFile, readDescriptor, writeJsonFile } from './charter-files.ts'
import { registerCombine, registerSign } from './charter-sign.ts'

const ed = nativeEd25519
const DAY_MS = 86_400_000
/** Node certificates last five years by default: a bloc renews them by amendment. */
export const DEFAULT_NODE_VALID_DAYS = 1825
export const MAX_NODE_VALID_DAYS = 3650
/** Certificates start an hour back, so that a node whose clock lags still accepts them. */
const BACKDATE_MS = 60 * 60 * 1000

const collect = (value: string, previous: string[] = []) => [...previous, value]

function stateCode(value: string): string {
  if (!/^[A-Z]{2,3}$/.test(value)) throw new InvalidArgumentError('expected a state code such as AT')
  return value
}

/** A 32-byte public key in base64url, or a key file whose public part is read. */
export function publicKeyFrom(value: string): Uint8Array {
  if (/^[A-Za-z0-9_-]{43}$/.test(value)) return fromBase64url(value)
  return readKeyFileHeader(resolve(value)).publicKey
}

export interface NodeArgs {
  nodeKey: string[]
  addr: string[]
  nodeName: string[]
  validDays: number
}

/** The state's nodes, certified with its key: `--node-key` files paired with `--addr` in order. */
export function certifyNodes(key: LoadedStateKey, opts: NodeArgs, now: number): CharterNode[] {
  if (opts.addr.length !== opts.nodeKey.length) {
    throw new CliError(
      'USAGE',
      `give one --addr for each --node-key (${opts.nodeKey.length} node(s), ${opts.addr.length} address(es))`,
    )
  }
  if (opts.nodeName.length > opts.nodeKey.length)
    throw new CliError('USAGE', 'more --node-name than --node-key')
  const validity = { notBefore: now - BACKDATE_MS, notAfter: now + opts.validDays * DAY_MS }
  return opts.nodeKey.map((file, i) => {
    const path = resolve(file)
    const header = readKeyFileHeader(path)
    if (header.role !== undefined && header.role !== 'node') {
      throw new CliError('KEY_FILE_INVALID', `key file ${path}: a ${header.role} key, not a node's`)
    }
    if (header.state !== undefined && header.state !== key.state) {
      throw new CliError('STATE_MISMATCH', `${path} is a node key of ${header.state}, not of ${key.state}`)
    }
    const addrs = opts.addr[i]!.split(',').filter((a) => a !== '')
    if (addrs.length === 0 || addrs.some((a) => !a.startsWith('/'))) {
      throw new CliError(
        'USAGE',
        `--addr ${opts.addr[i]}: expected multiaddrs such as /ip4/203.0.113.5/tcp/4001`,
      )
    }
    const spec = {
      name: opts.nodeName[i] ?? `${key.state.toLowerCase()}-${i + 1}`,
      // Only the public key is certified: the node's secret key stays in its file.
      keys: { publicKey: header.publicKey, secretKey: new Uint8Array(32) },
      clientId: clientIdOf(header.publicKey),
      addrs,
    }
    return certifyNode(ed, key.state, key.keys.secretKey, spec, validity)
  })
}

/** Loads a state key file, asking for its passphrase if it is sealed. */
export async function stateKeyOf(
  io: CliIo,
  file: string,
  state: string | undefined,
  passphraseFile: string | undefined,
): Promise<LoadedStateKey> {
  const path = resolve(file)
  return loadStateKeyFile(ed, path, state, await unlockFor(io, path, passphraseFile))
}

interface DescriptorOptions extends NodeArgs {
  stateKey: string
  state?: string
  name: string
  out: string
  passphraseFile?: string
  json?: boolean
}

interface DraftOptions {
  name: string
  descriptor: string[]
  auditorKey: string
  quorum: number
  out: string
  json?: boolean
}

export function nodeOptions(cmd: Command): Command {
  return cmd
    .option(
      '--node-key <file>',
      "a node's key file (its public key is read; repeat for each node)",
      collect,
      [],
    )
    .option(
      '--addr <multiaddrs>',
      'where that node listens, comma-separated (one --addr per --node-key)',
      collect,
      [],
    )
    .option('--node-name <name>', 'a name for that node (default: <state>-<n>)', collect, [])
    .addOption(
      new Option('--valid-days <n>', `days the node certificates are valid (≤ ${MAX_NODE_VALID_DAYS})`)
        .argParser(intInRange(1, MAX_NODE_VALID_DAYS))
        .default(DEFAULT_NODE_VALID_DAYS),
    )
}

export function registerCeremony(program: Command, io: CliIo): void {
  const ceremony = program
    .command('ceremony')
    .description(
      'found a bloc, each state on its own machine: descriptor → draft → sign → finalize (docs/operations.md)',
    )

  nodeOptions(
    ceremony
      .command('descriptor')
      .description(
        "export this state's member descriptor: its state key, its nodes certified by it, their addresses",
      )
      .addOption(new Option('--state-key <file>', "this state's key file").makeOptionMandatory())
      .addOption(
        new Option('--state <code>', 'the state (when the key file does not say)').argParser(stateCode),
      )
      .addOption(new Option('--name <name>', "the state's name in the charter").makeOptionMandatory())
      .addOption(new Option('--out <file>', 'the descriptor file to write').makeOptionMandatory())
      .addOption(passphraseFileOption())
      .option('--json', 'print the descriptor as JSON'),
  ).action(async (opts: DescriptorOptions) => {
    const out = resolve(opts.out)
    refuseExisting(out)
    const key = await stateKeyOf(io, opts.stateKey, opts.state, opts.passphraseFile)
    let member: Member
    try {
      member = {
        code: key.state,
        name: opts.name,
        stateKey: key.keys.publicKey,
        nodes: certifyNodes(key, opts, io.now()),
      }
    } finally {
      key.keys.secretKey.fill(0)
    }
    const file = descriptorOf(member)
    writeJsonFile(out, file)
    if (opts.json) {
      println(io.stdout, JSON.stringify({ ...file, file: out }, null, 2))
      return
    }
    println(io.stdout, `Member       ${member.code}  ${member.name}  state key ${file.stateKeyId as string}`)
    for (const n of file.nodes as { name: string; nodeId: string; addrs: string[] }[]) {
      println(io.stdout, `Node         ${n.name}  ${n.nodeId}  ${n.addrs.join(', ')}`)
    }
    println(io.stdout, `Descriptor   ${out}: send it to the other founding states`)
  })

  ceremony
    .command('draft')
    .description("assemble the draft genesis charter from every founding state's descriptor")
    .addOption(new Option('--name <name>', "the bloc's name").makeOptionMandatory())
    .addOption(
      new Option('--descriptor <files...>', "every founding state's descriptor").makeOptionMandatory(),
    )
    .addOption(
      new Option(
        '--auditor-key <key>',
        "the secretariat's auditor public key: its key file (public part) or base64url",
      ).makeOptionMandatory(),
    )
    .addOption(
      new Option('--quorum <k>', 'signatures of members needed to amend the charter')
        .argParser(intInRange(1, 64))
        .makeOptionMandatory(),
    )
    .addOption(new Option('--out <file>', 'the draft file to write').makeOptionMandatory())
    .option('--json', 'print the draft summary as JSON')
    .action((opts: DraftOptions) => {
      const out = resolve(opts.out)
      refuseExisting(out)
      const members = opts.descriptor.map((p) => readDescriptor(resolve(p)))
      const auditorKey = publicKeyFrom(opts.auditorKey)
      let charter: CharterBody
      try {
        charter = draftGenesis(ed, {
          name: opts.name,
          members,
          auditorKey,
          quorum: opts.quorum,
          issuedAt: io.now(),
        })
      } catch (cause) {
        if (!isProtocolError(cause)) throw cause
        const details = cause.details.length > 0 ? `: ${cause.details.join('; ')}` : ''
        throw new CliError(
          'DRAFT_INVALID',
          `the draft would not verify: ${cause.message}${details} (${cause.code})`,
          {
            cause,
          },
        )
      }
      const summary = `found the bloc ${opts.name}: ${charter.members.map((m) => m.code).join(', ')}, quorum ${opts.quorum}`
      const file = draftFile(charter, summary)
      writeJsonFile(out, file)
      if (opts.json) {
        const { charter: _bytes, ...rest } = file
        println(io.stdout, JSON.stringify({ ...rest, file: out }, null, 2))
        return
      }
      println(io.stdout, `Draft        ${out}`)
      println(io.stdout, `Hash         ${file.hash as string}`)
      println(
        io.stdout,
        `Members      ${charter.members.map((m) => m.code).join(', ')} (quorum ${charter.quorum})`,
      )
      println(
        io.stdout,
        'Next         send it to every founder; each checks the hash with the others, then signs it',
      )
    })

  registerSign(ceremony, io, 'the draft genesis charter')
  registerCombine(
    ceremony,
    io,
    'finalize',
    "combine every founder's signature file into the genesis charter file the nodes start from",
  ).alias('combine')
}

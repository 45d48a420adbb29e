/**
 * `legation charter`: amending the charter of a running bloc, each state signing offline.
 *
 *   1. any member:  `charter amend <change>` from the charter in force (a node's, or a chain
 *                   file) → draft.json (it carries the chain it amends, so signers check offline)
 *   2. each state:  `charter sign` → <STATE>.sig.json
 *   3. any one:     `charter combine` → the amended chain file; fewer than the quorum of the
 *                   version in force is QUORUM_NOT_MET
 *   4. any one:     `charter submit` to any node (POST /v1/charter); it spreads to every node
 *
 * Changes: admit a state (its descriptor, as in the ceremony), expel one, rotate a state's key
 * (a new descriptor: new key, its nodes certified again with it), add or remove a node, set
 * the quorum. They are the protocol's draft helpers (protocol/src/charter.ts).
 */
import { resolve } from 'node:path'
import type { CharterAdoption } from '@legation/node/http/schemas'
import {
  addNode,
  admitMember,
  type CharterBody,
  type CharterView,
  decodeCanonical,
  encodeCanonical,
  equalBytes,
  expelMember,
  fromBase64url,
  isProtocolError,
  keyId,
  removeNode,
  rotateStateKey,
  type SignedCharter,
  setQuorum,
  toBase64url,
} from '@legation/protocol'
import type { Static } from '@sinclair/typebox'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { readKeyFileHeader, refuseExisting } from '../key-file.ts'
import { NodeClient } from '../node-client.ts'
import { intInRange } from '../options.ts'
import { passphraseFileOption } from '../passphrase.ts'
import { certifyNodes, type NodeArgs, nodeOptions, stateKeyOf } from './ceremony.ts'
import { draftFile, readDescriptor, writeJsonFile } from './charter-files.ts'
import { registerCombine, registerSign } from './charter-sign.ts'
import { MAX_CHARTER_FILE_BYTES, verifyCharterFile, verifyCharterValue } from './verify-charter.ts'

function stateCode(value: string): string {
  if (!/^[A-Z]{2,3}$/.test(value)) throw new InvalidArgumentError('expected a state code such as AT')
  return value
}

interface Source {
  charter?: string
  node?: string
}

/** The chain in force: a chain file, or the one a node serves; verified either way. */
async function chainOf(from: Source, io: CliIo): Promise<{ chain: SignedCharter[]; views: CharterView[] }> {
  if (from.charter !== undefined) return verifyCharterFile(resolve(from.charter))
  const url = from.node ?? io.env.LEGATION_NODE_URL
  if (url === undefined || url === '') {
    throw new CliError('USAGE', 'give --charter <file> or --node <url> (or set LEGATION_NODE_URL)')
  }
  const client = new NodeClient({ url, fetch: io.fetch })
  const { chain } = await client.get<{ chain?: unknown }>('/v1/charter')
  let value: unknown
  try {
    if (typeof chain !== 'string') throw new TypeError('chain is not a string')
    value = decodeCanonical(fromBase64url(chain), MAX_CHARTER_FILE_BYTES)
  } catch (cause) {
    throw new CliError('NODE_RESPONSE_INVALID', `${client.origin}: its charter chain does not decode`, {
      cause,
    })
  }
  return verifyCharterValue(value, `the charter of ${client.origin}`)
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--charter <file>', 'the charter chain in force (a chain file)'))
    .addOption(
      new Option(
        '--node <url>',
        'ask this node for the charter chain in force (env LEGATION_NODE_URL)',
      ).conflicts('charter'),
    )
    .addOption(new Option('--out <file>', 'the draft file to write').makeOptionMandatory())
    .option('--json', 'print the draft summary as JSON')
}

/** Writes the draft of `change` and says what it is. */
function writeDraft(
  io: CliIo,
  opts: { out: string; json?: boolean },
  chain: SignedCharter[],
  make: () => CharterBody,
  summary: string,
): void {
  const out = resolve(opts.out)
  refuseExisting(out)
  let charter: CharterBody
  try {
    charter = make()
  } catch (cause) {
    if (!isProtocolError(cause)) throw cause
    throw new CliError('DRAFT_INVALID', `cannot draft that change: ${cause.message} (${cause.code})`, {
      cause,
    })
  }
  const file = draftFile(charter, summary, chain)
  writeJsonFile(out, file)
  if (opts.json) {
    const { charter: _c, chain: _ch, ...rest } = file
    println(io.stdout, JSON.stringify({ ...rest, quorum: chain.at(-1)!.charter.quorum, file: out }, null, 2))
    return
  }
  println(io.stdout, `Draft        ${out}: version ${charter.version}, ${summary}`)
  println(io.stdout, `Hash         ${file.hash as string}`)
  println(
    io.stdout,
    `Needs        ${chain.at(-1)!.charter.quorum} signature(s) of: ${chain
      .at(-1)!
      .charter.members.map((m) => m.code)
      .join(', ')}`,
  )
}

export function registerCharter(program: Command, io: CliIo): void {
  const charter = program
    .command('charter')
    .description('amend the charter of a running bloc: amend → sign (each state) → combine → submit')

  const amend = charter
    .command('amend')
    .description('draft an amendment of the charter in force (one change per amendment)')

  sourceOptions(
    amend
      .command('admit')
      .description('admit a new member state from its descriptor (`ceremony descriptor`, made by that state)')
      .addOption(new Option('--descriptor <file>', "the new state's descriptor").makeOptionMandatory()),
  ).action(async (opts: Source & { descriptor: string; out: string; json?: boolean }) => {
    const { chain, views } = await chainOf(opts, io)
    const member = readDescriptor(resolve(opts.descriptor))
    const now = io.now()
    writeDraft(
      io,
      opts,
      chain,
      () => admitMember(views.at(-1)!, member, { issuedAt: now }),
      `admit ${member.code}`,
    )
  })

  sourceOptions(
    amend
      .command('expel')
      .description('expel a member state (its nodes leave with it; the quorum shrinks if it must)')
      .addOption(
        new Option('--state <code>', 'the state to expel').argParser(stateCode).makeOptionMandatory(),
      ),
  ).action(async (opts: Source & { state: string; out: string; json?: boolean }) => {
    const { chain, views } = await chainOf(opts, io)
    const now = io.now()
    writeDraft(
      io,
      opts,
      chain,
      () => expelMember(views.at(-1)!, opts.state, { issuedAt: now }),
      `expel ${opts.state}`,
    )
  })

  sourceOptions(
    amend
      .command('rotate-key')
      .description(
        "replace a member's state key: a descriptor made with the new key, its nodes certified again",
      )
      .addOption(
        new Option('--descriptor <file>', 'the descriptor made with the new state key').makeOptionMandatory(),
      ),
  ).action(async (opts: Source & { descriptor: string; out: string; json?: boolean }) => {
    const { chain, views } = await chainOf(opts, io)
    const m = readDescriptor(resolve(opts.descriptor))
    const prev = views.at(-1)!
    const old = prev.members.get(m.code)
    if (old && equalBytes(old.stateKey, m.stateKey)) {
      throw new CliError(
        'DRAFT_INVALID',
        `the descriptor of ${m.code} has the key in force already: nothing to rotate`,
      )
    }
    const now = io.now()
    writeDraft(
      io,
      opts,
      chain,
      () => rotateStateKey(prev, m.code, m.stateKey, m.nodes, { issuedAt: now }),
      `rotate the state key of ${m.code} to ${keyId(m.stateKey)}`,
    )
  })

  sourceOptions(
    nodeOptions(
      amend
        .command('add-node')
        .description('add a node of this state, certified with its key (the key in force)')
        .addOption(new Option('--state-key <file>', "this state's key file").makeOptionMandatory())
        .addOption(
          new Option('--state <code>', 'the state (when the key file does not say)').argParser(stateCode),
        )
        .addOption(passphraseFileOption()),
    ),
  ).action(
    async (
      opts: Source &
        NodeArgs & { stateKey: string; state?: string; passphraseFile?: string; out: string; json?: boolean },
    ) => {
      if (opts.nodeKey.length !== 1) {
        throw new CliError('USAGE', 'give one --node-key and its --addr (one node per amendment)')
      }
      const { chain, views } = await chainOf(opts, io)
      const prev = views.at(-1)!
      const key = await stateKeyOf(io, opts.stateKey, opts.state, opts.passphraseFile)
      let nodes: ReturnType<typeof certifyNodes>
      try {
        const member = prev.members.get(key.state)
        if (!member) throw new CliError('STATE_KEY_NOT_FOUND', `${key.state} is not a member of the bloc`)
        if (!equalBytes(member.stateKey, key.keys.publicKey)) {
          throw new CliError(
            'STATE_KEY_NOT_FOUND',
            `${opts.stateKey} is not the key in force of ${key.state}`,
          )
        }
        // Names continue after the state's existing nodes.
        const names = opts.nodeKey.map(
          (_, i) => opts.nodeName[i] ?? `${key.state.toLowerCase()}-${member.nodes.length + i + 1}`,
        )
        nodes = certifyNodes(key, { ...opts, nodeName: names }, io.now())
      } finally {
        key.keys.secretKey.fill(0)
      }
      const now = io.now()
      writeDraft(
        io,
        opts,
        chain,
        () => addNode(prev, key.state, nodes[0]!, { issuedAt: now }),
        `add node ${nodes[0]!.cert.body.name} of ${key.state}`,
      )
    },
  )

  sourceOptions(
    amend
      .command('remove-node')
      .description('remove a node from the charter (its certificate no longer counts)')
      .addOption(
        new Option('--node-id <id>', 'the node id (32 hex), or --node-key with its key file').conflicts(
          'nodeKey',
        ),
      )
      .addOption(new Option('--node-key <file>', "the node's key file (its public part is read)")),
  ).action(async (opts: Source & { nodeId?: string; nodeKey?: string; out: string; json?: boolean }) => {
    const nodeId =
      opts.nodeId ??
      (opts.nodeKey !== undefined ? keyId(readKeyFileHeader(resolve(opts.nodeKey)).publicKey) : undefined)
    if (nodeId === undefined) throw new CliError('USAGE', 'give --node-id or --node-key')
    const { chain, views } = await chainOf(opts, io)
    const node = views.at(-1)!.nodes.get(nodeId)
    const now = io.now()
    writeDraft(
      io,
      opts,
      chain,
      () => removeNode(views.at(-1)!, nodeId, { issuedAt: now }),
      `remove node ${node ? `${node.name} of ${node.state}` : nodeId}`,
    )
  })

  sourceOptions(
    amend
      .command('quorum')
      .description('change how many members must sign the next amendment')
      .addOption(
        new Option('--set <k>', 'the new quorum').argParser(intInRange(1, 64)).makeOptionMandatory(),
      ),
  ).action(async (opts: Source & { set: number; out: string; json?: boolean }) => {
    const { chain, views } = await chainOf(opts, io)
    const now = io.now()
    writeDraft(
      io,
      opts,
      chain,
      () => setQuorum(views.at(-1)!, opts.set, { issuedAt: now }),
      `set the quorum to ${opts.set}`,
    )
  })

  registerSign(charter, io, 'a draft amendment')
  registerCombine(
    charter,
    io,
    'combine',
    'combine the signature files into the amended charter chain file (refused below the quorum)',
  )

  charter
    .command('submit')
    .description('submit an amended charter chain file to a node; it spreads to every node')
    .addOption(new Option('--chain <file>', 'the chain file `charter combine` wrote').makeOptionMandatory())
    .addOption(
      new Option('--node <url>', 'node HTTP address (env LEGATION_NODE_URL)')
        .default(io.env.LEGATION_NODE_URL)
        .makeOptionMandatory(),
    )
    .option('--json', "print the node's answer as JSON")
    .action(async (opts: { chain: string; node: string; json?: boolean }) => {
      const path = resolve(opts.chain)
      const { chain, views } = verifyCharterFile(path)
      const client = new NodeClient({ url: opts.node, fetch: io.fetch })
      const info = await client.get<{ bloc: string }>('/v1/node')
      const last = views.at(-1)!
      if (info.bloc !== last.bloc) {
        throw new CliError(
          'BLOC_MISMATCH',
          `${path} is the charter of bloc ${last.bloc.slice(0, 12)}…, the node runs bloc ${info.bloc.slice(0, 12)}…`,
        )
      }
      const answer = await client.request<Static<typeof CharterAdoption>>('POST', '/v1/charter', {
        chain: toBase64url(encodeCanonical(chain)),
      })
      if (opts.json) {
        println(io.stdout, JSON.stringify({ node: client.origin, ...answer }, null, 2))
        return
      }
      println(
        io.stdout,
        answer.adopted
          ? `Adopted      version ${answer.version} at ${client.origin}; it passes it to every node`
          : `Not new      ${client.origin} is at version ${answer.version} already (${answer.hash.slice(0, 12)}…)`,
      )
    })
}

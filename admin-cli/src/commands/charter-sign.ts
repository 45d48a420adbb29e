/**
 * Signing a charter draft with one state's key, and combining the signature files into a
 * charter chain file: the same two steps found a bloc (`ceremony sign`, `ceremony finalize`)
 * and amend its charter (`charter sign`, `charter combine`). The signer signs on the machine
 * that holds its key; whoever combines needs only the draft and the signature files.
 */
import { resolve } from 'node:path'
import {
  amendmentFromSignatures,
  type CharterView,
  encodeCanonical,
  equalBytes,
  genesisFromSignatures,
  isProtocolError,
  keyId,
  type Member,
  type SignedCharter,
  signCharter,
  verifyCharterSignature,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { loadStateKeyFile, refuseExisting } from '../key-file.ts'
import { passphraseFileOption, unlockFor } from '../passphrase.ts'
import {
  type Draft,
  describeDraft,
  readDraft,
  readSignature,
  signatureFile,
  writeJsonFile,
  writePublicFile,
} from './charter-files.ts'

const ed = nativeEd25519

/** Who may sign a draft, with which key: the founders (genesis), or version n's members. */
function signers(d: Draft): ReadonlyMap<string, Member> {
  if (d.views.length === 0) return new Map(d.charter.members.map((m) => [m.code, m]))
  return (d.views.at(-1) as CharterView).members
}

interface SignOptions {
  draft: string
  stateKey: string
  state?: string
  out: string
  passphraseFile?: string
  json?: boolean
}

/** Adds `sign` to `parent` (`ceremony` or `charter`). */
export function registerSign(parent: Command, io: CliIo, what: string): void {
  parent
    .command('sign')
    .description(`sign ${what} with this state's key: writes a signature file to send to the others`)
    .addOption(new Option('--draft <file>', 'the draft file').makeOptionMandatory())
    .addOption(new Option('--state-key <file>', "this state's key file").makeOptionMandatory())
    .option('--state <code>', 'the state signing (when the key file does not say)')
    .addOption(new Option('--out <file>', 'the signature file to write').makeOptionMandatory())
    .addOption(passphraseFileOption())
    .option('--json', 'print the signature file as JSON')
    .action(async (opts: SignOptions) => {
      const out = resolve(opts.out)
      refuseExisting(out)
      const d = readDraft(ed, resolve(opts.draft))
      const keyPath = resolve(opts.stateKey)
      const key = loadStateKeyFile(ed, keyPath, opts.state, await unlockFor(io, keyPath, opts.passphraseFile))
      const member = signers(d).get(key.state)
      if (!member) {
        const who =
          d.views.length === 0 ? 'a founder in this draft' : `a member of version ${d.charter.version - 1}`
        throw new CliError('STATE_KEY_NOT_FOUND', `${key.state} is not ${who}: it cannot sign it`)
      }
      if (!equalBytes(member.stateKey, key.keys.publicKey)) {
        key.keys.secretKey.fill(0)
        throw new CliError(
          'STATE_KEY_NOT_FOUND',
          `${keyPath} is not the key of ${key.state} the ${d.views.length === 0 ? 'draft' : 'charter in force'} names (key ${keyId(member.stateKey)})`,
        )
      }
      const { sig } = signCharter(ed, d.charter, key.state, key.keys.secretKey)
      key.keys.secretKey.fill(0)
      const file = signatureFile(key.state, d, sig)
      writeJsonFile(out, file)
      if (opts.json) {
        println(io.stdout, JSON.stringify({ ...file, file: out }, null, 2))
        return
      }
      for (const line of describeDraft(d)) println(io.stdout, line)
      println(io.stdout, `Signed by    ${key.state}: ${out}`)
    })
}

interface CombineOptions {
  draft: string
  sig: string[]
  out: string
  json?: boolean
}

/**
 * Adds the command that combines signature files into a chain file (`finalize` of the
 * ceremony, `combine` of an amendment). Each signature must be for this draft and verify;
 * too few is QUORUM_NOT_MET, naming who has not signed.
 */
export function registerCombine(parent: Command, io: CliIo, name: string, what: string): Command {
  return parent
    .command(name)
    .description(what)
    .addOption(new Option('--draft <file>', 'the draft file').makeOptionMandatory())
    .addOption(new Option('--sig <files...>', 'the signature files').makeOptionMandatory())
    .addOption(
      new Option('--out <file>', 'the charter chain file to write (canonical CBOR)').makeOptionMandatory(),
    )
    .option('--json', 'print the result as JSON')
    .action((opts: CombineOptions) => {
      const out = resolve(opts.out)
      refuseExisting(out)
      const d = readDraft(ed, resolve(opts.draft))
      const members = signers(d)
      const sigs = opts.sig.map((p) => {
        const path = resolve(p)
        const s = readSignature(path)
        if (s.hash !== d.hash) {
          throw new CliError(
            'SIGNATURE_INVALID',
            `${path} signs charter ${s.hash.slice(0, 12)}… (version ${s.version}), not this draft ${d.hash.slice(0, 12)}…`,
          )
        }
        const m = members.get(s.state)
        if (!m)
          throw new CliError(
            'SIGNATURE_INVALID',
            `${path} is signed by ${s.state}, who may not sign this draft`,
          )
        if (!verifyCharterSignature(ed, d.charter, s.sig, m.stateKey)) {
          throw new CliError('SIGNATURE_INVALID', `${path}: the signature of ${s.state} does not verify`)
        }
        return { state: s.state, sig: s.sig }
      })
      const genesis = d.views.length === 0
      const need = genesis ? members.size : (d.views.at(-1) as CharterView).charter.quorum
      const have = new Set(sigs.map((s) => s.state))
      if (have.size < need) {
        const missing = [...members.keys()].filter((c) => !have.has(c))
        throw new CliError(
          'QUORUM_NOT_MET',
          genesis
            ? `${have.size} of ${members.size} founders signed; a genesis charter needs every founder (missing: ${missing.join(', ')})`
            : `${have.size} member(s) signed (${[...have].join(', ') || 'none'}); version ${d.charter.version - 1} requires ${need} (not yet signed: ${missing.join(', ')})`,
        )
      }
      let signed: SignedCharter
      let view: CharterView
      try {
        ;({ signed, view } = genesis
          ? genesisFromSignatures(ed, d.charter, sigs)
          : amendmentFromSignatures(ed, d.views.at(-1)!, d.charter, sigs))
      } catch (cause) {
        if (!isProtocolError(cause)) throw cause
        throw new CliError(
          'DRAFT_INVALID',
          `the signed draft does not verify: ${cause.message} (${cause.code})`,
          {
            cause,
          },
        )
      }
      const chain = [...d.chain, signed]
      writePublicFile(out, encodeCanonical(chain))
      const result = {
        file: out,
        bloc: view.bloc,
        version: view.version,
        hash: view.hash,
        signedBy: signed.sigs.map((s) => s.state),
      }
      if (opts.json) {
        println(io.stdout, JSON.stringify(result, null, 2))
        return
      }
      println(io.stdout, `Charter      version ${view.version}, ${view.hash}`)
      println(io.stdout, `Bloc         ${view.bloc}`)
      println(io.stdout, `Signed by    ${result.signedBy.join(', ')}`)
      println(io.stdout, `Chain file   ${out} (${chain.length} version(s))`)
    })
}

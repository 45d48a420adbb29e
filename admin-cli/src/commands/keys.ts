/**
 * `legation keys generate`, `keys encrypt` and `keys show`: key files in the one format the node
 * and every command read (node/src/keystore.ts; admin-cli/src/key-file.ts): the secret sealed
 * under a passphrase with scrypt (node:crypto) and AES-256-GCM, public fields in the clear.
 * Plaintext only with `--insecure-plaintext`, and then with a warning on every run.
 */
import { resolve } from 'node:path'
import { openKeysSync, sealKeys, writeFileAtomic } from '@legation/node/keystore'
import { fromBase64url, fromHex, generateKeyPair, keyId, toBase64url } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import {
  KEY_ROLES,
  type KeyRole,
  readFileOrFail,
  readKeyFileHeader,
  refuseExisting,
  writeKeyFile,
  writeSecretFile,
} from '../key-file.ts'
import { askPassphrase, passphraseFileOption } from '../passphrase.ts'

const ed = nativeEd25519

export const PLAINTEXT_WARNING =
  'WARNING: the secret key is written UNENCRYPTED (--insecure-plaintext): for development only, never for a real bloc; `legation keys encrypt` seals it'

function stateCode(value: string): string {
  if (!/^[A-Z]{2,3}$/.test(value)) throw new InvalidArgumentError('expected a state code such as AT')
  return value
}

interface GenerateOptions {
  role: KeyRole
  state?: string
  out?: string
  insecurePlaintext?: boolean
  passphraseFile?: string
  json?: boolean
}

export function registerKeys(program: Command, io: CliIo): void {
  const keys = program
    .command('keys')
    .description('key files for member states, officers, nodes, the auditor and citizens')

  keys
    .command('generate')
    .description(
      'make a new Ed25519 key pair in a new key file (mode 0600), sealed under a passphrase (scrypt, AES-256-GCM)',
    )
    .addOption(new Option('--role <role>', 'what the key is for').choices(KEY_ROLES).makeOptionMandatory())
    .addOption(
      new Option(
        '--state <code>',
        'the member state the key belongs to (state, node and officer keys)',
      ).argParser(stateCode),
    )
    .option('--out <file>', 'where to write the key file (default: ./<role>-<key id>.key.json)')
    .addOption(passphraseFileOption())
    .option('--insecure-plaintext', 'DEVELOPMENT ONLY: write the secret key unencrypted')
    .option('--json', 'print the public key and file as JSON')
    .action(async (opts: GenerateOptions) => {
      const pair = generateKeyPair(ed)
      const id = keyId(pair.publicKey)
      const path = resolve(opts.out ?? `${opts.role}-${id.slice(0, 16)}.key.json`)
      if (opts.role === 'state' && opts.state === undefined) {
        throw new CliError('USAGE', 'a state key names its state: give --state <code>')
      }
      if (opts.insecurePlaintext && opts.passphraseFile !== undefined) {
        throw new CliError('USAGE', 'give either --insecure-plaintext or --passphrase-file, not both')
      }
      refuseExisting(path)
      const passphrase = opts.insecurePlaintext
        ? null
        : await askPassphrase(io, { file: opts.passphraseFile, what: path, confirm: true })
      await writeKeyFile(path, {
        role: opts.role,
        keys: pair,
        passphrase,
        header: opts.state !== undefined ? { state: opts.state } : {},
      })
      pair.secretKey.fill(0)
      if (passphrase === null) println(io.stderr, PLAINTEXT_WARNING)
      const publicKey = toBase64url(pair.publicKey)
      if (opts.json) {
        const out = { role: opts.role, state: opts.state ?? null, keyId: id, publicKey, file: path }
        println(io.stdout, JSON.stringify({ ...out, encrypted: passphrase !== null }, null, 2))
        return
      }
      println(io.stdout, `role        ${opts.role}${opts.state ? ` of ${opts.state}` : ''}`)
      println(io.stdout, `public key  ${publicKey}`)
      println(io.stdout, `key id      ${id}`)
      println(
        io.stdout,
        `secret key  written to ${path} (mode 0600, ${passphrase === null ? 'UNENCRYPTED' : 'encrypted'})`,
      )
    })

  keys
    .command('encrypt')
    .description('seal a plaintext key file under a passphrase, in place (or into --out)')
    .argument('<file>', 'the plaintext key file')
    .option('--out <file>', 'write the encrypted file here and leave the plaintext one (default: replace it)')
    .addOption(passphraseFileOption())
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: { out?: string; passphraseFile?: string; json?: boolean }) => {
      const path = resolve(file)
      const { secret, role, header } = plaintextKey(path)
      const out = opts.out !== undefined ? resolve(opts.out) : path
      if (out !== path) refuseExisting(out)
      const passphrase = await askPassphrase(io, { file: opts.passphraseFile, what: out, confirm: true })
      try {
        const text = await sealKeys({ [role]: secret }, passphrase, { header })
        if (out === path) await writeFileAtomic(path, text)
        else writeSecretFile(out, text)
      } finally {
        secret.fill(0)
      }
      if (opts.json) {
        println(io.stdout, JSON.stringify({ file: out, role, keyId: header.keyId, encrypted: true }, null, 2))
        return
      }
      println(io.stdout, `encrypted   ${out} (${role} key ${header.keyId as string})`)
      if (out === path) {
        println(
          io.stdout,
          'note        the plaintext was replaced; copies of it elsewhere (backups) still hold the secret',
        )
      }
    })

  keys
    .command('show')
    .description("a key file's public part (role, state, key id, public key), without its passphrase")
    .argument('<file>', 'the key file')
    .option('--json', 'print it as JSON')
    .action((file: string, opts: { json?: boolean }) => {
      const path = resolve(file)
      const h = readKeyFileHeader(path)
      const out = {
        file: path,
        role: h.role ?? null,
        state: h.state ?? null,
        keyId: keyId(h.publicKey),
        publicKey: toBase64url(h.publicKey),
        encrypted: h.sealed,
      }
      if (opts.json) {
        println(io.stdout, JSON.stringify(out, null, 2))
        return
      }
      println(io.stdout, `role        ${out.role ?? '(not said)'}${out.state ? ` of ${out.state}` : ''}`)
      println(io.stdout, `public key  ${out.publicKey}`)
      println(io.stdout, `key id      ${out.keyId}`)
      println(io.stdout, `encrypted   ${out.encrypted ? 'yes' : 'NO (plaintext)'}`)
    })
}

/**
 * The one secret key of a plaintext key file: the keystore's plaintext format, or the flat
 * format earlier versions of `keys generate` wrote. Refuses a file that is encrypted already,
 * and a development bloc's dev-secrets.json (several keys: generate new ones instead).
 */
function plaintextKey(path: string): {
  secret: Uint8Array
  role: string
  header: Record<string, unknown>
} {
  const text = readFileOrFail(path, 'key file').toString('utf8')
  const bad = (why: string, cause?: unknown) =>
    new CliError('KEY_FILE_INVALID', `key file ${path}: ${why}`, { cause })
  let top: Record<string, unknown>
  try {
    top = JSON.parse(text)
  } catch (cause) {
    throw bad('not JSON', cause)
  }
  if (typeof top !== 'object' || top === null || Array.isArray(top)) throw bad('not a JSON object')
  const header: Record<string, unknown> = {}
  for (const field of ['role', 'keyId', 'publicKey', 'state', 'bloc', 'cert']) {
    if (top[field] !== undefined) header[field] = top[field]
  }
  let secret: Uint8Array
  let role: string
  if (top.v !== undefined) {
    if (top.plaintext !== true) throw new CliError('USAGE', `${path} is encrypted already`)
    let keys: Record<string, Uint8Array>
    try {
      keys = openKeysSync(path, text, null).keys
    } catch (cause) {
      throw bad((cause as Error).message, cause)
    }
    const names = Object.keys(keys)
    const name = typeof top.role === 'string' && names.includes(top.role) ? top.role : names[0]
    if (names.length !== 1 || name === undefined) throw bad(`holds ${names.length} keys, not one`)
    secret = keys[name]!
    role = name
  } else {
    if (top.states !== undefined || top.officer !== undefined) {
      throw bad("a development bloc's secrets file: generate new keys for a real bloc instead")
    }
    const value = top.secretKey
    if (typeof value !== 'string') throw bad('no secretKey')
    secret = /^[0-9a-f]{64}$/.test(value) ? fromHex(value) : fromBase64url(value)
    if (secret.length !== 32) throw bad('secretKey is not 32 bytes')
    role = top.cert !== undefined ? 'officer' : top.state !== undefined ? 'state' : 'citizen'
    header.role = role
  }
  const pair = generateKeyPair(ed, secret)
  header.keyId = keyId(pair.publicKey)
  header.publicKey = toBase64url(pair.publicKey)
  return { secret, role, header }
}

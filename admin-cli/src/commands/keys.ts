/** `legation keys generate`: a new Ed25519 key pair, its secret written only to a 0600 file. */
import { resolve } from 'node:path'
import { generateKeyPair, keyId, toBase64url } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Command } from 'commander'
import { type CliIo, println } from '../io.ts'
import { writeSecretFile } from '../key-file.ts'

export function registerKeys(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('key pairs for officers, state keys and citizens')
  keys
    .command('generate')
    .description('make a new Ed25519 key pair; the secret key goes only to a new file with mode 0600')
    .option('--out <file>', 'where to write the key file (default: ./legation-<key id>.key.json)')
    .action((opts: { out?: string }) => {
      const pair = generateKeyPair(nativeEd25519)
      const id = keyId(pair.publicKey)
      const path = resolve(opts.out ?? `legation-${id}.key.json`)
      const file = {
        type: 'ed25519',
        keyId: id,
        publicKey: toBase64url(pair.publicKey),
        secretKey: toBase64url(pair.secretKey),
      }
      writeSecretFile(path, `${JSON.stringify(file, null, 2)}\n`)
      pair.secretKey.fill(0)
      println(io.stdout, `public key  ${file.publicKey}`)
      println(io.stdout, `key id      ${id}`)
      println(io.stdout, `secret key  written to ${path} (mode 0600)`)
    })
}

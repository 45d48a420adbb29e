/**
 * `legation receipt verify FILE --charter FILE`: checks a citizen's inclusion receipt offline,
 * with nothing but the charter (docs/audit.md § Citizen receipts). With `--against`, other
 * receipts of the same record (from other nodes) must agree with it: one feed, one history.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import {
  type InclusionReceiptJson,
  isProtocolError,
  type ReceiptVerdict,
  verifyInclusionReceipt,
  verifyReceiptsAgree,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Command } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { verifyCharterFile } from './verify-charter.ts'

/** A receipt is a few KiB; anything far larger is not one. */
const MAX_RECEIPT_BYTES = 1024 * 1024

interface Options {
  charter: string
  against?: string[]
  requireFinal?: boolean
  json?: boolean
}

export function registerReceipt(program: Command, io: CliIo): void {
  const receipt = program.command('receipt').description('citizens’ inclusion receipts')
  receipt
    .command('verify')
    .description('verify an inclusion receipt offline with only the charter')
    .argument('<file>', 'the receipt (JSON, as GET /v1/records/{id}/receipt answers)')
    .requiredOption('--charter <file>', 'the charter chain (canonical CBOR)')
    .option('--against <files...>', 'receipts of the same record from other nodes, which must agree')
    .option('--require-final', 'fail unless the checkpoint is bloc-final')
    .option('--json', 'print the verdicts as JSON')
    .action((file: string, opts: Options) => {
      const { views } = verifyCharterFile(resolve(opts.charter))
      const check = (path: string) => {
        const receipt = readReceipt(path)
        try {
          return { path, receipt, verdict: verifyInclusionReceipt(nativeEd25519, receipt, views) }
        } catch (cause) {
          if (!isProtocolError(cause)) throw cause
          throw new CliError('RECEIPT_INVALID', `${path}: ${cause.message} (${cause.code})`, { cause })
        }
      }
      const main = check(resolve(file))
      const others = (opts.against ?? []).map((f) => check(resolve(f)))
      for (const o of others) {
        if (o.verdict.record !== main.verdict.record) {
          throw new CliError('RECEIPT_INVALID', `${o.path} is a receipt of another record`)
        }
        try {
          verifyReceiptsAgree(main, o)
        } catch (cause) {
          if (!isProtocolError(cause)) throw cause
          throw new CliError(
            'RECEIPT_INVALID',
            `${o.path} does not agree with ${main.path}: ${cause.message}`,
            {
              cause,
            },
          )
        }
      }
      if (opts.json) {
        println(
          io.stdout,
          JSON.stringify({ receipt: main.verdict, against: others.map((o) => o.verdict) }, null, 2),
        )
      } else {
        print(io, main.path, main.verdict)
        for (const o of others) print(io, o.path, o.verdict, 'agrees')
      }
      if (opts.requireFinal && ![main, ...others].every((r) => r.verdict.final)) {
        throw new CliError('RECEIPT_NOT_FINAL')
      }
    })
}

function readReceipt(path: string): InclusionReceiptJson {
  let text: string
  try {
    const bytes = readFileSync(path)
    if (bytes.length > MAX_RECEIPT_BYTES)
      throw new CliError('RECEIPT_INVALID', `${path} is too large for a receipt`)
    text = bytes.toString('utf8')
  } catch (cause) {
    if (cause instanceof CliError) throw cause
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE'
    throw new CliError(code, `${path}: ${(cause as Error).message}`, { cause })
  }
  try {
    return JSON.parse(text) as InclusionReceiptJson
  } catch (cause) {
    throw new CliError('RECEIPT_INVALID', `${path} is not JSON`, { cause })
  }
}

function print(io: CliIo, path: string, v: ReceiptVerdict, word = 'valid'): void {
  println(io.stdout, `${path}: ${word} receipt of record ${v.record}`)
  println(io.stdout, `  in entry ${v.seq} of node ${v.origin}'s feed, attested by node ${v.attestedBy}`)
  println(io.stdout, `  checkpoint of ${v.size} entries, root ${v.root}`)
  println(
    io.stdout,
    v.final
      ? `  bloc-final: cosigned by nodes of ${v.states.join(', ')}`
      : `  not bloc-final yet (cosigned by ${v.states.length > 0 ? v.states.join(', ') : 'no state'})`,
  )
}

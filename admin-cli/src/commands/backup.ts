/**
 * `legation backup` and `legation restore`: an online backup of a running node, and its restore
 * into a fresh data directory, or its check offline (`restore --verify`). The file format, and
 * why a restored node writes nothing until its peers have given it back its own feed, are in
 * @legation/node/backup; the operator's side is docs/operations.md § Backup and restore.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs'
import { access, mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { finished } from 'node:stream/promises'
import { auditStore } from '@legation/node/audit'
import {
  type BackupManifest,
  type BackupTrailer,
  RESTORED_CHARTER_FILE,
  readBackup,
  restoreBackup,
} from '@legation/node/backup'
import { LevelStore } from '@legation/node/level-store'
import { signRequest } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { type Command, Option } from 'commander'
import { CliError, type CliErrorCode } from '../errors.ts'
import { type CliIo, println, progressBar } from '../io.ts'
import { loadNodeKeyFile, refuseExisting } from '../key-file.ts'
import { NodeClient } from '../node-client.ts'
import { nodeOption } from '../options.ts'
import { passphraseFileOption, unlockFor } from '../passphrase.ts'

const ed = nativeEd25519

/** The node's codes a backup or restore can fail with, said as the CLI's own. */
const PASSED_ON = new Set<CliErrorCode>([
  'BACKUP_INVALID',
  'BACKUP_TRUNCATED',
  'BACKUP_CHECKSUM_MISMATCH',
  'RESTORE_TARGET_NOT_EMPTY',
])

function asCliError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code
  if (!(err instanceof CliError) && typeof code === 'string' && PASSED_ON.has(code as CliErrorCode)) {
    return new CliError(code as CliErrorCode, (err as Error).message, { cause: err })
  }
  return err
}

interface BackupOptions {
  node: string
  keyFile: string
  passphraseFile?: string
  out: string
  json?: boolean
}

interface RestoreOptions {
  dataDir?: string
  verify?: boolean
  json?: boolean
}

export function registerBackup(program: Command, io: CliIo): void {
  program
    .command('backup')
    .description(
      "take a consistent backup of a running node (its operator only: the request is signed with the node's key)",
    )
    .addOption(nodeOption(io))
    .addOption(
      new Option(
        '--key-file <file>',
        'the node key file the node runs with (signs the request)',
      ).makeOptionMandatory(),
    )
    .addOption(passphraseFileOption())
    .addOption(
      new Option('-o, --out <file>', 'the backup file to write (never overwritten)').makeOptionMandatory(),
    )
    .option('--json', 'print the manifest and trailer as JSON')
    .action(async (opts: BackupOptions) => {
      try {
        await backup(io, opts)
      } catch (err) {
        throw asCliError(err)
      }
    })

  program
    .command('restore')
    .description(
      'restore a backup into a fresh data directory, or check one offline (--verify): checksums, counts, and every signature and hash chain',
    )
    .argument('<backup>', 'the backup file')
    .option('--data-dir <dir>', 'the fresh data directory to restore into')
    .option('--verify', 'only check the backup (offline, no node needed); writes nothing')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: RestoreOptions) => {
      if ((opts.verify === true) === (opts.dataDir !== undefined)) {
        throw new CliError('USAGE', 'give either --data-dir <dir> (restore) or --verify (check only)')
      }
      try {
        await restore(io, resolve(file), opts)
      } catch (err) {
        throw asCliError(err)
      }
    })
}

async function backup(io: CliIo, opts: BackupOptions): Promise<void> {
  const out = resolve(opts.out)
  refuseExisting(out)
  const keyFile = resolve(opts.keyFile)
  const keys = loadNodeKeyFile(ed, keyFile, await unlockFor(io, keyFile, opts.passphraseFile))
  const node = new NodeClient({ url: opts.node, fetch: io.fetch })
  const body = await node.download('/v1/node/backup', {
    sign: (req) => signRequest(ed, req, keys, io.now()),
  })
  const partial = `${out}.partial`
  const file = createWriteStream(partial, { flags: 'wx', mode: 0o600 })
  let bytes = 0
  const progress = byteProgress(io)
  // Checked as it is written: the file is kept only if it reads back whole.
  async function* teed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()))
      bytes += chunk.length
      progress(bytes)
      yield chunk
    }
  }
  let manifest: BackupManifest | undefined
  let trailer: BackupTrailer | undefined
  try {
    try {
      for await (const item of readBackup(teed())) {
        if (item.type === 'manifest') manifest = item.manifest
        else if (item.type === 'trailer') trailer = item.trailer
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code
      // The connection broke off: the node stopped, or the network failed.
      if (code !== undefined && !PASSED_ON.has(code as CliErrorCode)) {
        throw new CliError(
          'BACKUP_TRUNCATED',
          `the backup from ${node.origin} broke off after ${bytes} bytes`,
          {
            cause: err,
          },
        )
      }
      throw err
    } finally {
      file.end()
      await finished(file).catch(() => undefined)
      if (io.stderr.isTTY) io.stderr.write('\n')
    }
    await rename(partial, out)
  } catch (err) {
    await rm(partial, { force: true })
    throw err
  }
  const m = manifest!
  const t = trailer!
  if (opts.json) {
    println(io.stdout, JSON.stringify({ file: out, bytes, manifest: m, trailer: t }, null, 2))
    return
  }
  println(io.stdout, `Backup of node ${m.nodeId} (${m.state}) written to ${out}`)
  for (const line of summary(m, t, bytes)) println(io.stdout, line)
  println(
    io.stdout,
    'Keep the node key file apart from the backup: the key ring in it opens with that key only.',
  )
}

async function restore(io: CliIo, file: string, opts: RestoreOptions): Promise<void> {
  // Before anything is made: a backup that is not there creates no data directory.
  await access(file, constants.R_OK).catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `backup not found: ${file}`, { cause })
    throw new CliError('FILE_UNREADABLE', `cannot read backup ${file}: ${cause.code ?? 'error'}`, { cause })
  })
  const verifyOnly = opts.verify === true
  const dataDir = verifyOnly ? await mkdtemp(join(tmpdir(), 'legation-verify-')) : resolve(opts.dataDir!)
  try {
    const restored = await restoreBackup(readFile(file), dataDir)
    const store = await LevelStore.open(restored.dbPath)
    const progress = io.stderr.isTTY
      ? progressBar(io, 'verifying [{bar}] {percentage}% | {value}/{total} entries | {eta_formatted} left')
      : { update() {}, stop() {} }
    let report: Awaited<ReturnType<typeof auditStore>> | undefined
    let failure: unknown
    try {
      report = await auditStore(store, ed, { onProgress: (d, t) => progress.update(d, t) })
    } catch (cause) {
      failure = cause
    } finally {
      progress.stop()
      await store.close()
    }
    if (!report?.ok) {
      // Nothing that does not verify is left to be started.
      if (!verifyOnly) await rmRestored(dataDir)
      const why = report
        ? `${report.problems.length} problem(s) in its signed history: ${report.problems.slice(0, 5).join('; ')}`
        : `its history cannot be checked: ${failure instanceof Error ? failure.message : String(failure)}`
      throw new CliError('BACKUP_AUDIT_FAILED', `${file}: ${why}`, { cause: failure })
    }
    const result = {
      file,
      verified: true,
      restoredTo: verifyOnly ? null : dataDir,
      charterFile: verifyOnly ? null : restored.charterFile,
      manifest: restored.manifest,
      trailer: restored.trailer,
      audit: {
        entries: report.entries,
        records: report.records,
        feeds: report.feeds,
        evidence: report.evidence,
        stateRoot: report.storedRoot,
      },
    }
    if (opts.json) {
      println(io.stdout, JSON.stringify(result, null, 2))
      return
    }
    const m = restored.manifest
    println(io.stdout, `Backup of node ${m.nodeId} (${m.state}): checksums, counts and signatures verify`)
    for (const line of summary(m, restored.trailer)) println(io.stdout, line)
    println(
      io.stdout,
      `  history   ${report.entries} entries and ${report.records} records verify; state root ${report.storedRoot}`,
    )
    if (!verifyOnly) {
      println(io.stdout, `Restored into ${dataDir}`)
      println(
        io.stdout,
        `  charter   ${restored.charterFile} (start the node with --charter-file ${restored.charterFile})`,
      )
      println(
        io.stdout,
        "  next      put the node's key file back, start the node: it takes writes again once its peers gave it its own feed back",
      )
    }
  } finally {
    if (verifyOnly) await rm(dataDir, { recursive: true, force: true })
  }
}

function summary(m: BackupManifest, t: BackupTrailer, bytes?: number): string[] {
  const entries = Object.values(t.feeds).reduce((s, n) => s + n, 0)
  return [
    `  taken     ${new Date(m.createdAt).toISOString()} by ${m.software}, bloc ${m.bloc}`,
    `  charter   v${m.charter.version} ${m.charter.hash}`,
    `  store     ${t.keys} pairs: ${t.records} records, ${t.payloads} payloads (sealed)${bytes === undefined ? '' : `, ${bytes} bytes`}`,
    `  feeds     ${Object.keys(t.feeds).length} feeds, ${entries} entries; this node's own at seq ${t.feeds[m.nodeId] ?? 0}`,
    `  sha256    ${t.sha256}`,
  ]
}

async function* readFile(path: string): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path)
  try {
    for await (const chunk of stream) yield chunk as Buffer
  } catch (cause) {
    const code = (cause as { code?: string }).code
    if (code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `backup not found: ${path}`, { cause })
    throw new CliError('FILE_UNREADABLE', `cannot read backup ${path}: ${code ?? 'error'}`, { cause })
  }
}

async function rmRestored(dataDir: string): Promise<void> {
  for (const f of ['db', 'db.vault-ring', RESTORED_CHARTER_FILE]) {
    await rm(join(dataDir, f), { recursive: true, force: true })
  }
}

/** Bytes received so far, on one line of stderr, when a person watches. */
function byteProgress(io: CliIo): (bytes: number) => void {
  if (!io.stderr.isTTY) return () => {}
  let shown = 0
  return (bytes) => {
    if (bytes - shown < 1 << 20) return
    shown = bytes
    io.stderr.write(`\rreceived ${(bytes / (1 << 20)).toFixed(1)} MiB`)
  }
}

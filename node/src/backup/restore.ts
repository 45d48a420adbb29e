/**
 * Restores a backup (format.ts) into a fresh data directory, offline: the store under `db/`, the
 * key ring beside it (`db.vault-ring`), and the charter chain as `charter.cbor` for the node's
 * `--charter-file`. The node's key file is not in a backup; the operator puts it back.
 *
 * The restored store is marked (`meta/restored`): the node it starts takes no writes until it has
 * learnt its own feed's head from its peers (restore-fence.ts). Peers may hold entries of its
 * feed made after the snapshot; a node writing before it has them back would sign a second,
 * different entry at a sequence number it already used — an equivocation, for which the bloc
 * would quarantine it.
 *
 * @example
 * const { manifest, trailer } = await restoreBackup(createReadStream(file), '/var/lib/legation')
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DATA_DIR_MODE } from '../data-dir.ts'
import { K } from '../engine/keys.ts'
import { RING_FILE } from '../engine/vault.ts'
import { NodeError } from '../errors.ts'
import { writeFileAtomic } from '../keystore.ts'
import { LevelStore } from '../storage/level-store.ts'
import type { BatchOp } from '../storage/store.ts'
import { type BackupManifest, type BackupTrailer, readBackup } from './format.ts'
import { encodeRestoreMark } from './restore-fence.ts'

/** The charter chain a restore writes into the data directory. */
export const RESTORED_CHARTER_FILE = 'charter.cbor'
/** Files in a data directory that a restore would replace: it refuses if any is there. */
const TAKEN = ['db', `db.${RING_FILE}`, RESTORED_CHARTER_FILE]

export interface RestoreResult {
  manifest: BackupManifest
  trailer: BackupTrailer
  /** The restored store's folder. */
  dbPath: string
  charterFile: string
}

export interface RestoreOptions {
  /** Told how many store pairs are written so far (of trailer.keys, unknown until the end). */
  onProgress?: (pairs: number) => void
  /** @default Date.now */
  now?: () => number
}

/**
 * Writes the backup into `dataDir` (created if absent), which must hold none of a node's data
 * (RESTORE_TARGET_NOT_EMPTY; other files, such as the node's key file, may be there). If the
 * backup proves damaged (its checksum or counts at the end), what was written is removed again.
 */
export async function restoreBackup(
  chunks: AsyncIterable<Uint8Array>,
  dataDir: string,
  opts: RestoreOptions = {},
): Promise<RestoreResult> {
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE })
  const present = new Set(await readdir(dataDir))
  const taken = TAKEN.filter((f) => present.has(f))
  if (taken.length > 0) {
    throw new NodeError(
      'RESTORE_TARGET_NOT_EMPTY',
      `${dataDir} already holds ${taken.join(', ')}: restore into a fresh data directory`,
    )
  }
  const dbPath = join(dataDir, 'db')
  const charterFile = join(dataDir, RESTORED_CHARTER_FILE)
  // Written under a name no node opens, and renamed once whole: a restore cut short (a crash, a
  // kill) leaves no store a node would start on.
  const partial = join(dataDir, `.db-restoring-${process.pid}`)
  let store: LevelStore | undefined
  try {
    await mkdir(partial, { mode: DATA_DIR_MODE })
    store = await LevelStore.open(partial)
    let manifest: BackupManifest | undefined
    let trailer: BackupTrailer | undefined
    let charter: Uint8Array | undefined
    let written = 0
    for await (const item of readBackup(chunks)) {
      if (item.type === 'manifest') manifest = item.manifest
      else if (item.type === 'ring') await store.sideFile(RING_FILE).write(item.ring)
      else if (item.type === 'pairs') {
        const ops: BatchOp[] = item.pairs.map(([key, value]) => ({ type: 'put', key, value }))
        for (const [key, value] of item.pairs) if (key === K.charter) charter = value
        await store.write(ops)
        written += ops.length
        opts.onProgress?.(written)
      } else trailer = item.trailer
    }
    if (!manifest || !trailer) throw new NodeError('BACKUP_TRUNCATED')
    if (!charter) throw new NodeError('BACKUP_INVALID', 'not a valid backup: the store holds no charter')
    const ownSeq = trailer.feeds[manifest.nodeId] ?? 0
    await store.write([
      {
        type: 'put',
        key: K.restored,
        value: encodeRestoreMark({
          restoredAt: (opts.now ?? Date.now)(),
          snapshotAt: manifest.createdAt,
          ownSeq,
        }),
      },
    ])
    await store.close()
    store = undefined
    await writeFileAtomic(charterFile, charter)
    // The ring first: a store without its ring refuses to start (VAULT_RING_MISSING), never the reverse.
    await rename(`${partial}.${RING_FILE}`, `${dbPath}.${RING_FILE}`)
    await rename(partial, dbPath)
    return { manifest, trailer, dbPath, charterFile }
  } catch (err) {
    await store?.close().catch(() => undefined)
    // Nothing half-restored is left to be started by mistake.
    await Promise.all(
      [
        ...TAKEN,
        `${partial.slice(dataDir.length + 1)}`,
        `${partial.slice(dataDir.length + 1)}.${RING_FILE}`,
      ].map((f) => rm(join(dataDir, f), { recursive: true, force: true })),
    )
    throw err
  }
}

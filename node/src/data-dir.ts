/**
 * The data folder holds the node's key, its store (citizens' personal data) and, in
 * development, the bloc's secrets: only the node's own user may enter it. A folder the
 * operator created readable by others (a default umask gives 0755, and LevelDB's files 0644)
 * is tightened at start-up, and said so.
 */
import { chmod, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

interface WarnLogger {
  warn(obj: Record<string, unknown>, msg?: string): void
}

/** Owner only: read, write and enter. */
export const DATA_DIR_MODE = 0o700

/** Creates the data folder and its `db/` owner-only, or tightens them if others may read them. */
export async function secureDataDir(dir: string, log?: WarnLogger): Promise<void> {
  for (const d of [dir, join(dir, 'db')]) {
    await mkdir(d, { recursive: true, mode: DATA_DIR_MODE })
    const mode = (await stat(d)).mode & 0o777
    if ((mode & 0o077) !== 0) {
      await chmod(d, DATA_DIR_MODE)
      log?.warn(
        { dir: d, was: mode.toString(8) },
        'the data folder was open to other users: now owner-only (0700)',
      )
    }
  }
}

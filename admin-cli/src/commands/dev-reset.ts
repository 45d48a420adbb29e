/**
 * `legation dev reset`: removes a development bloc's data folder, so that the next `npm start`
 * generates a fresh bloc (new keys, charter and development officer). The way back when a
 * development bloc is spoiled — its officer revoked by following an example, test data to drop.
 *
 * It deletes a whole folder, so it checks first: the folder's `charter.cbor` must verify and be a
 * development bloc's (every member `DV*`, `NOT_DEV_BLOC` otherwise), its store must not be held
 * by a running node (`FILE_UNREADABLE`), and without `--yes` it only says what it would remove
 * (`CONFIRMATION_REQUIRED`, exit 2).
 *
 * @example
 * npx legation dev reset --yes                  # ./.legation/node, or LEGATION_DATA_DIR
 * npx legation dev reset --data-dir /tmp/dev --yes
 */
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readCharterChain } from '@legation/node/charter-file'
import { DEFAULT_DATA_DIR, DEV_FILES } from '@legation/node/layout'
import { LevelStore } from '@legation/node/level-store'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Command } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println } from '../io.ts'
import { dataDirOption } from '../options.ts'
import { DEV_STATE_CODE } from './dev-seed.ts'

interface ResetOptions {
  dataDir?: string
  yes?: boolean
}

/** Checks that `dir` holds a development bloc no running node uses; returns its member codes. */
export async function checkDevDataDir(dir: string): Promise<string[]> {
  const charterFile = join(dir, DEV_FILES.charter)
  if (!existsSync(charterFile)) {
    throw new CliError('FILE_NOT_FOUND', `no development bloc in ${dir} (no ${DEV_FILES.charter})`)
  }
  let members: string[]
  try {
    const chain = await readCharterChain(nativeEd25519, charterFile)
    members = chain.at(-1)!.charter.members.map((m) => m.code)
  } catch (cause) {
    throw new CliError('CHARTER_REJECTED', `${charterFile} is not a charter chain that verifies`, { cause })
  }
  if (members.length === 0 || !members.every((m) => DEV_STATE_CODE.test(m))) {
    throw new CliError(
      'NOT_DEV_BLOC',
      `${dir} holds a bloc of ${members.join(', ')}, not a development bloc; dev reset removes only development blocs`,
    )
  }
  const db = join(dir, 'db')
  if (existsSync(db)) {
    try {
      const store = await LevelStore.open(db)
      await store.close()
    } catch (cause) {
      throw new CliError('FILE_UNREADABLE', `cannot open the store in ${db}: stop its node first`, { cause })
    }
  }
  return members
}

export function registerDevReset(dev: Command, io: CliIo): void {
  dev
    .command('reset')
    .description("remove a stopped development bloc's data folder; the next npm start makes a fresh one")
    .addOption(dataDirOption())
    .option('--yes', 'really remove it (without it, only say what would be removed)')
    .action(async (opts: ResetOptions) => {
      const dir = resolve(opts.dataDir ?? (io.env.LEGATION_DATA_DIR || DEFAULT_DATA_DIR))
      const members = await checkDevDataDir(dir)
      if (!opts.yes) {
        throw new CliError(
          'CONFIRMATION_REQUIRED',
          `would remove ${dir} (development bloc of ${members.join(', ')}: its store, keys, charter and officer); run again with --yes`,
        )
      }
      await rm(dir, { recursive: true, force: true })
      println(io.stdout, `Removed ${dir} (development bloc of ${members.join(', ')}).`)
      println(io.stdout, 'The next `npm start` creates a fresh development bloc and officer there.')
    })
}

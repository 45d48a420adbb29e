import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureDevBloc, LevelStore } from '@legation/node'
import { afterEach, describe, expect, it } from 'vitest'
import { ed, errorLines, legation, productionNode, type TestNode } from '../helpers.ts'

const dirs: string[] = []
const nodes: TestNode[] = []
const stores: LevelStore[] = []
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close()
  for (const n of nodes.splice(0)) await n.close()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A development bloc's data folder as a stopped dev node leaves it: charter, keys, store. */
async function devDataDir(): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'legation-cli-reset-'))
  dirs.push(parent)
  const dir = join(parent, 'node')
  await ensureDevBloc(dir, { ed })
  const store = await LevelStore.open(join(dir, 'db'))
  await store.close()
  return dir
}

describe('legation dev reset', () => {
  it('without --yes says what it would remove, removes nothing, exit 2', async () => {
    const dir = await devDataDir()
    const r = await legation(['dev', 'reset', '--data-dir', dir])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toEqual([
      `error: would remove ${dir} (development bloc of DVA, DVB, DVC: its store, keys, charter and officer); run again with --yes [CONFIRMATION_REQUIRED]`,
    ])
    expect((await readdir(dir)).sort()).toEqual(['charter.cbor', 'db', 'dev-secrets.json', 'node-key.json'])
  })

  it('with --yes removes the folder (found through LEGATION_DATA_DIR too)', async () => {
    const dir = await devDataDir()
    const r = await legation(['dev', 'reset', '--yes'], { LEGATION_DATA_DIR: dir })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`Removed ${dir} (development bloc of DVA, DVB, DVC).`)
    expect(existsSync(dir)).toBe(false)
    // The next start makes a fresh bloc there, with a new officer.
    const again = await ensureDevBloc(dir, { ed })
    expect(again.chain).toHaveLength(1)
  })

  it('refuses the data folder of a real bloc (NOT_DEV_BLOC) and keeps it', async () => {
    const node = await productionNode()
    nodes.push(node)
    const r = await legation(['dev', 'reset', '--data-dir', node.dir, '--yes'])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(/holds a bloc of AT, BE, not a development bloc.*\[NOT_DEV_BLOC\]$/m)
    expect(existsSync(node.charterFile)).toBe(true)
  })

  it('refuses while a node holds the store, and keeps it', async () => {
    const dir = await devDataDir()
    stores.push(await LevelStore.open(join(dir, 'db')))
    const r = await legation(['dev', 'reset', '--data-dir', dir, '--yes'])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: cannot open the store in ${join(dir, 'db')}: stop its node first [FILE_UNREADABLE]`,
    ])
    expect(existsSync(join(dir, 'charter.cbor'))).toBe(true)
  })

  it('refuses a folder without a charter (FILE_NOT_FOUND)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'legation-cli-reset-'))
    dirs.push(dir)
    const r = await legation(['dev', 'reset', '--data-dir', dir, '--yes'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`no development bloc in ${dir} (no charter.cbor) [FILE_NOT_FOUND]`)
    expect(existsSync(dir)).toBe(true)
  })
})

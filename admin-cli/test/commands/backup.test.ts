/**
 * `legation backup` and `legation restore` on the command line: what is refused before anything
 * is made, and with which code. The backup of a running bloc and its restore are in
 * test-network/test/backup.test.ts (real processes).
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorLines, legation } from '../helpers.ts'

describe('legation backup and restore: the command line', () => {
  let dir = ''
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legation-cli-backup-'))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('restore wants either --data-dir or --verify', async () => {
    for (const argv of [
      ['restore', 'x.backup'],
      ['restore', 'x.backup', '--verify', '--data-dir', dir],
    ]) {
      const r = await legation(argv)
      expect(r.code).toBe(2)
      expect(errorLines(r)).toEqual([
        'error: give either --data-dir <dir> (restore) or --verify (check only) [USAGE]',
      ])
    }
  })

  it('a backup that is not there creates nothing; a file that is not a backup is BACKUP_INVALID', async () => {
    const target = join(dir, 'fresh')
    const missing = await legation(['restore', join(dir, 'nope.backup'), '--data-dir', target])
    expect(errorLines(missing)).toEqual([
      `error: backup not found: ${join(dir, 'nope.backup')} [FILE_NOT_FOUND]`,
    ])
    expect(existsSync(target)).toBe(false)
    const text = join(dir, 'notes.txt')
    await writeFile(text, 'not a backup\n')
    const bad = await legation(['restore', '--verify', text])
    expect(bad.code).toBe(1)
    expect(errorLines(bad)).toEqual([
      'error: not a valid backup: it does not begin with LEGATION-BACKUP [BACKUP_INVALID]',
    ])
  })

  it('backup needs the node key file and an output file, and never overwrites one', async () => {
    const noKey = await legation(['backup', '--out', join(dir, 'b.backup')])
    expect(noKey.code).toBe(2)
    expect(noKey.stderr).toContain("required option '--key-file <file>' not specified")
    const existing = join(dir, 'taken.backup')
    await writeFile(existing, 'keep me')
    const r = await legation(['backup', '--key-file', join(dir, 'k.json'), '--out', existing])
    expect(r.code).toBe(1)
    expect(errorLines(r)[0]).toContain('[FILE_EXISTS]')
  })
})

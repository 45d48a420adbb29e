/**
 * The crash filesystem itself: a writer reads its own unsynced writes, fsync keeps them, a crash
 * drops the rest. Were lazyfs a plain passthrough, the power-loss test could not fail; this one
 * would.
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { buildLazyFs, LazyFs } from '../src/lazyfs.ts'

let tmp: string
let bin: string
let backing: string
let mnt: string
const mounts: LazyFs[] = []

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'legation-lazyfs-'))
  bin = await buildLazyFs(tmp)
  backing = join(tmp, 'disk')
  mnt = join(tmp, 'mnt')
  await mkdir(backing)
  await mkdir(mnt)
})

afterEach(async () => {
  for (const m of mounts.splice(0)) await m.unmount()
  await rm(tmp, { recursive: true, force: true })
})

async function mount(opts: { syncDelayMs?: number } = {}): Promise<LazyFs> {
  const m = await LazyFs.mount(bin, backing, mnt, opts)
  mounts.push(m)
  return m
}

/** Power loss and reboot: crash, unmount, mount a new one over the same disk. */
async function powerCycle(m: LazyFs) {
  const dropped = await m.crash()
  await m.unmount()
  return { dropped, next: await mount() }
}

it('keeps synced data, shows unsynced data to readers until a crash, then drops it', async () => {
  const disk = await mount()
  const fd = openSync(join(mnt, 'log'), 'w')
  writeSync(fd, 'synced;')
  fdatasyncSync(fd)
  writeSync(fd, 'unsynced;')
  closeSync(fd) // close is not a sync
  await writeFile(join(mnt, 'never-synced'), 'gone')
  const held = openSync(join(mnt, 'truncated'), 'w')
  writeSync(held, '0123456789')
  fsyncSync(held)
  ftruncateSync(held, 4)
  closeSync(held)

  // Before the crash a reader sees every write, with the size it gives the file.
  expect(await readFile(join(mnt, 'log'), 'utf8')).toBe('synced;unsynced;')
  expect((await stat(join(mnt, 'log'))).size).toBe(16)
  expect(await readFile(join(mnt, 'truncated'), 'utf8')).toBe('0123')
  // The disk below has only what was synced.
  expect(await readFile(join(backing, 'log'), 'utf8')).toBe('synced;')
  expect(await readFile(join(backing, 'truncated'), 'utf8')).toBe('0123456789')
  expect((await disk.report()).syncs).toBe(2)

  const { dropped, next } = await powerCycle(disk)
  expect(dropped.bytes).toBe('unsynced;'.length + 'gone'.length)
  expect(dropped.files.map((f) => f.path).sort()).toEqual(['/log', '/never-synced', '/truncated'])
  expect(await readFile(join(mnt, 'log'), 'utf8')).toBe('synced;')
  // Metadata went through at once (a known simplification): the file is there, empty.
  expect(await readFile(join(mnt, 'never-synced'), 'utf8')).toBe('')
  expect(await readFile(join(mnt, 'truncated'), 'utf8')).toBe('0123456789')
  expect((await next.report()).held.bytes).toBe(0)
})

it('is dead after a crash until it is mounted again', async () => {
  const disk = await mount()
  await writeFile(join(mnt, 'f'), 'x')
  await disk.crash()
  await expect(readFile(join(mnt, 'f'))).rejects.toMatchObject({ code: 'EIO' })
  await expect(writeFile(join(mnt, 'g'), 'y')).rejects.toMatchObject({ code: 'EIO' })
})

it('keeps held data with its file through a rename, and syncs it through any handle', async () => {
  const disk = await mount()
  await writeFile(join(mnt, 'tmp'), 'current')
  await rename(join(mnt, 'tmp'), join(mnt, 'CURRENT'))
  expect(await readFile(join(mnt, 'CURRENT'), 'utf8')).toBe('current')
  const fd = openSync(join(mnt, 'CURRENT'), 'r+')
  fsyncSync(fd)
  closeSync(fd)
  expect(await readFile(join(backing, 'CURRENT'), 'utf8')).toBe('current')
  expect((await readdir(mnt)).sort()).toEqual(['CURRENT']) // the control file is not listed
  const { next } = await powerCycle(disk)
  expect(await readFile(join(mnt, 'CURRENT'), 'utf8')).toBe('current')
  expect((await next.report()).crashed).toBe(false)
})

it('drops the data of an fsync a crash cuts short, and that fsync fails', async () => {
  const disk = await mount({ syncDelayMs: 2_000 })
  const file = await open(join(mnt, 'log'), 'w')
  try {
    await file.write('cut short')
    // On libuv's thread pool: the crash comes while it waits.
    const sync = file.datasync().then(
      () => 'synced',
      (err: NodeJS.ErrnoException) => err.code,
    )
    await new Promise((r) => setTimeout(r, 100))
    const dropped = await disk.crash()
    expect(await sync).toBe('EIO')
    expect(dropped).toEqual({ bytes: 9, files: [{ path: '/log', bytes: 9 }] })
  } finally {
    await file.close()
  }
  const { syncs } = await disk.report()
  expect(syncs).toBe(0)
  await disk.unmount()
  await mount()
  expect(await readFile(join(mnt, 'log'), 'utf8')).toBe('')
})

import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }
import { exitQuietlyOnEpipe } from '../src/io.ts'
import { legation } from './helpers.ts'

const BIN = join(import.meta.dirname, '../bin/legation.js')

describe('a closed stdout', () => {
  it('ends `legation … | head` quietly, not with an unhandled EPIPE', async () => {
    // The reader is gone before the command writes a byte, as when `head` has had its lines.
    const child = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })

  it('leaves other stream errors to fail loudly', () => {
    const stream = new EventEmitter()
    const exits: number[] = []
    exitQuietlyOnEpipe(stream, (code) => exits.push(code))
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
    expect(exits).toEqual([0])
    expect(() => stream.emit('error', Object.assign(new Error('bad fd'), { code: 'EBADF' }))).toThrow(
      'bad fd',
    )
  })
})

describe('legation --version', () => {
  it('prints the version in admin-cli/package.json', async () => {
    const r = await legation(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })
})

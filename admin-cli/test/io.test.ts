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

describe('starting the CLI', () => {
  it('loads the modules its commands need, not the node daemon’s mesh or HTTP server', async () => {
    // Every command line pays for what cli.ts imports: the whole node (libp2p, fastify) cost
    // each `legation …` ~1,500 modules where ~450 do.
    const hook = `import { registerHooks } from 'node:module'
      const urls = []
      registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
      process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(urls) + '\\n'))`
    const child = spawn(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, BIN, '--help'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code).toBe(0)
    // Node may warn on stderr too: the list is the line after its marker.
    const urls = JSON.parse(/\nLOADED (.*)\n/.exec(stderr)?.[1] ?? '[]') as string[]
    expect(urls.length).toBeGreaterThan(0)
    // The CLI's own commands, the protocol and the node's keystore and store are loaded.
    expect(urls.some((u) => u.includes('/admin-cli/src/commands/backup.ts'))).toBe(true)
    expect(urls.some((u) => u.includes('/node/src/storage/level-store.ts'))).toBe(true)
    const heavy = urls.filter((u) =>
      /node_modules\/(libp2p|@libp2p|fastify|@fastify)\/|\/node\/src\/(index\.ts$|mesh\/|http\/|replication\/)/.test(
        u,
      ),
    )
    expect(heavy).toEqual([])
  })
})

describe('legation --version', () => {
  it('prints the version in admin-cli/package.json', async () => {
    const r = await legation(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })
})

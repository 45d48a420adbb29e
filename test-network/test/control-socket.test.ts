/**
 * The control socket of `npm run testnet` (src/control-socket.ts) on its own, with a stand-in
 * for the commands: where it is, one exchange per connection, and what a client is told when
 * nothing or something else is there. The commands themselves are tested through the CLI
 * (cli.test.ts).
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { ControlResult } from '../src/control.ts'
import { type ControlServer, controlSocketPath, sendControl, serveControl } from '../src/control-socket.ts'

let dir: string
let servers: ControlServer[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'legation-ctl-'))
})

afterEach(async () => {
  for (const s of servers) await s.close()
  servers = []
  await rm(dir, { recursive: true, force: true })
})

const echo = async (line: string): Promise<ControlResult> => ({ ok: true, text: `got ${line}` })

async function serve(at: string, handle = echo): Promise<ControlServer> {
  const server = await serveControl(at, handle)
  servers.push(server)
  return server
}

describe('control socket (Unix)', () => {
  it('answers each command line it is sent, and is removed on close', async () => {
    const server = await serve(dir)
    expect(server.path).toBe(join(dir, 'control.sock'))
    expect(await sendControl(dir, 'restart 1')).toEqual({ ok: true, text: 'got restart 1' })
    // A refusal comes back as it was made.
    await mkdir(join(dir, 'other'))
    const refusing = await serve(join(dir, 'other'), async () => ({
      ok: false,
      code: 'UNKNOWN_NODE',
      text: 'no',
    }))
    expect(await sendControl(join(dir, 'other'), 'stop 9')).toEqual({
      ok: false,
      code: 'UNKNOWN_NODE',
      text: 'no',
    })
    servers = []
    await refusing.close()
    await server.close()
    expect(existsSync(server.path)).toBe(false)
    await expect(sendControl(dir, 'status')).rejects.toMatchObject({ code: 'NOT_RUNNING' })
  })

  it('puts the socket of a folder with a long path in the temporary folder, where the client finds it', async () => {
    const deep = join(dir, 'a'.repeat(60), 'b'.repeat(60))
    await mkdir(deep, { recursive: true })
    const server = await serve(deep)
    expect(server.path.startsWith(join(tmpdir(), 'legation-testnet-'))).toBe(true)
    expect(server.path).toBe(controlSocketPath(deep))
    expect(await sendControl(deep, 'status')).toEqual({ ok: true, text: 'got status' })
  })

  it('takes the place of a socket file left by a network that was killed, and refuses a second network', async () => {
    await writeFile(join(dir, 'control.sock'), '') // not a socket anyone listens on
    await expect(sendControl(dir, 'status')).rejects.toMatchObject({ code: 'NOT_RUNNING' })
    await serve(dir)
    expect(await sendControl(dir, 'status')).toEqual({ ok: true, text: 'got status' })
    await expect(serveControl(dir, echo)).rejects.toMatchObject({ code: 'IN_USE' })
    expect(await sendControl(dir, 'status')).toEqual({ ok: true, text: 'got status' })
  })

  it('refuses a command line over 1 KiB without running it', async () => {
    let ran = 0
    await serve(dir, async (line) => {
      ran++
      return echo(line)
    })
    const answer = await new Promise<string>((done, fail) => {
      const s = connect(join(dir, 'control.sock'))
      let text = ''
      s.setEncoding('utf8')
      s.on('data', (c: string) => {
        text += c
      })
      s.on('error', fail)
      s.on('close', () => done(text))
      s.write('x'.repeat(2000))
    })
    expect(JSON.parse(answer)).toMatchObject({ ok: false, code: 'UNKNOWN_COMMAND' })
    expect(ran).toBe(0)
  })
})

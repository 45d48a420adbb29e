/**
 * `npm run testnet` as a user runs it: the CLI as a real child process, its nodes reached over
 * real HTTP at the URLs it prints, stopped with SIGINT.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { NodeInfo } from '../src/network.ts'

const REPO = resolve(import.meta.dirname, '../..')
const CLI = join(REPO, 'test-network/src/cli.ts')
const LEGATION = join(REPO, 'admin-cli/bin/legation.js')
/** A row of the node table: index, state, URL, peer id, pid. */
const ROW = /^\s+(\d+)\s+(DV[A-C])\s+(http:\/\/127\.0\.0\.1:\d+)\s+(12D3\w+)\s+(\d+)$/gm

interface Run {
  proc: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

let run: Run | undefined
let nodePids: number[] = []

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

afterEach(async () => {
  // Whatever a failed test left: the CLI first (it stops its nodes), then the nodes by PID.
  const proc = run?.proc
  if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000)
    await run!.exited
    clearTimeout(timer)
  }
  for (const pid of nodePids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  run = undefined
  nodePids = []
})

function startCli(args: string[]): Run {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
    text += s
  })
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    text += s
  })
  const exited = once(proc, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }))
  run = { proc, output: () => text, exited }
  return run
}

/** Waits until the output matches, failing early if the CLI exits first. */
async function waitForOutput(r: Run, re: RegExp, timeoutMs: number): Promise<string> {
  const exited = () => r.proc.exitCode !== null || r.proc.signalCode !== null
  // Stops waiting once the CLI has exited: the check after it then says so.
  await vi.waitFor(() => exited() || expect(r.output()).toMatch(re), { timeout: timeoutMs, interval: 50 })
  expect(r.output(), `the CLI exited (${r.proc.exitCode ?? r.proc.signalCode}) first`).toMatch(re)
  return r.output()
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

describe('npm run testnet (src/cli.ts)', () => {
  it('starts 2 connected nodes, prints where they are and an officer key that works, and stops them on SIGINT', {
    timeout: 120_000,
  }, async () => {
    const r = startCli(['--nodes', '2'])
    const text = await waitForOutput(r, /Ready: all 2 nodes are connected/, 60_000)
    const nodes = [...text.matchAll(ROW)].map((m) => ({
      index: Number(m[1]),
      state: m[2]!,
      url: m[3]!,
      peerId: m[4]!,
      pid: Number(m[5]),
    }))
    nodePids = nodes.map((n) => n.pid)
    expect(nodes.map((n) => [n.index, n.state])).toEqual([
      [0, 'DVA'],
      [1, 'DVB'],
    ])
    for (const n of nodes) {
      expect(await getJson(`${n.url}/health`)).toEqual({ status: 'ok' })
      const info = await getJson<NodeInfo & { state: string }>(`${n.url}/v1/node`)
      expect(info.peerId).toBe(n.peerId)
      expect(info.state).toBe(n.state)
    }
    // Each node sees the other as a connected peer.
    for (const [a, b] of [nodes, [...nodes].reverse()] as const) {
      await expect
        .poll(
          async () => {
            const info = await getJson<NodeInfo>(`${a!.url}/v1/node`)
            return info.peers.some((p) => p.peerId === b!.peerId && p.connected)
          },
          { timeout: 20_000, interval: 50, message: `node ${a!.index} connected to node ${b!.index}` },
        )
        .toBe(true)
    }
    // The officer file it prints is one the `legation` CLI signs with.
    const officerFile = /^Officer\s+(\S+)$/m.exec(text)?.[1]
    expect(officerFile).toBeDefined()
    const legation = spawn(
      process.execPath,
      [LEGATION, 'citizen', 'find', '--nationality', 'DVB', '--node', nodes[1]!.url, '--key', officerFile!],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let answer = ''
    legation.stdout.setEncoding('utf8').on('data', (s: string) => {
      answer += s
    })
    legation.stderr.setEncoding('utf8').on('data', (s: string) => {
      answer += s
    })
    const [legationCode] = await once(legation, 'close')
    expect(legationCode, answer).toBe(0)
    expect(JSON.parse(answer)).toMatchObject({ citizens: [] })

    const folder = /^Folder\s+(\S+)/m.exec(text)?.[1]
    expect(folder && existsSync(folder)).toBe(true)
    r.proc.kill('SIGINT')
    const exit = await Promise.race([
      r.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit 20 s after SIGINT:\n${r.output()}`)), 20_000),
      ),
    ])
    expect(exit, r.output()).toEqual({ code: 0, signal: null })
    expect(r.output()).toContain('SIGINT: stopping 2 node(s)')
    expect(r.output()).not.toContain('exited unexpectedly')
    // The node processes are gone, their ports closed, and the temporary folder removed.
    for (const n of nodes) {
      expect(alive(n.pid), `node ${n.index} (pid ${n.pid})`).toBe(false)
      await expect(fetch(`${n.url}/health`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
    }
    expect(existsSync(folder!)).toBe(false)
  })

  it.each([['0'], ['abc'], ['21']])('refuses --nodes %s with exit code 2 and says why', async (value) => {
    const r = startCli(['--nodes', value])
    const exit = await r.exited
    expect(exit, r.output()).toEqual({ code: 2, signal: null })
    expect(r.output()).toContain(`--nodes must be a whole number from 1 to 20, got "${value}"`)
    expect(r.output()).not.toContain('Starting')
  })
})

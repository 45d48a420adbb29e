/**
 * `npm run testnet` as a user runs it: the CLI as a real child process, its nodes reached over
 * real HTTP at the URLs it prints, controlled one node at a time through `ctl` (another process)
 * and its prompt, its key files used by the `legation` CLI, and stopped with SIGINT.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { legation } from '../src/admin.ts'
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

function startCli(args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Run {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: [stdin, 'pipe', 'pipe'] })
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

interface Started {
  nodes: Array<{ index: number; state: string; url: string; peerId: string; pid: number }>
  folder: string
  officer: string
  /** Each member state's key file, by state code. */
  stateKeys: Record<string, string>
}

/** What the start banner says: the node table, the folder and the key files. */
function banner(text: string): Started {
  const nodes = [...text.matchAll(ROW)].map((m) => ({
    index: Number(m[1]),
    state: m[2]!,
    url: m[3]!,
    peerId: m[4]!,
    pid: Number(m[5]),
  }))
  nodePids.push(...nodes.map((n) => n.pid))
  const folder = /^Folder\s+(\S+)/m.exec(text)?.[1]
  const officer = /^Officer\s+(\S+)$/m.exec(text)?.[1]
  expect(folder, text).toBeDefined()
  expect(officer, text).toBeDefined()
  const stateKeys = Object.fromEntries(
    [...text.matchAll(/^(?:States)?\s+(\/\S+\/state-(DV[A-C])\.key\.json)$/gm)].map((m) => [m[2]!, m[1]!]),
  )
  return { nodes, folder: folder!, officer: officer!, stateKeys }
}

/** `npm run testnet -- ctl <command…> --dir <folder>` as another process; killed if it takes over 60 s. */
async function ctl(
  folder: string,
  ...command: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, 'ctl', ...command, '--dir', folder], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s
  })
  proc.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000)
  const [code] = (await once(proc, 'close')) as [number | null]
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** SIGINT, then the CLI must exit 0 within 20 s, its nodes gone. */
async function interrupt(r: Run): Promise<void> {
  r.proc.kill('SIGINT')
  const exit = await Promise.race([
    r.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no exit 20 s after SIGINT:\n${r.output()}`)), 20_000),
    ),
  ])
  expect(exit, r.output()).toEqual({ code: 0, signal: null })
}

/** The node at `url` answers `GET /v1/node` (within 5 s). */
async function nodeInfo(url: string): Promise<NodeInfo> {
  return await getJson<NodeInfo>(`${url}/v1/node`)
}

async function refusesConnections(url: string): Promise<void> {
  await expect(fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow()
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
      [
        LEGATION,
        'citizen',
        'find',
        '--nationality',
        'DVB',
        '--purpose',
        'consular-assistance',
        '--node',
        nodes[1]!.url,
        '--key',
        officerFile!,
      ],
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

  it('restarts, stops, starts and kills one node through ctl while the others run; a node brought back catches up', {
    timeout: 240_000,
  }, async () => {
    const r = startCli(['--nodes', '3'])
    const { nodes, folder, officer } = banner(
      await waitForOutput(r, /Ready: all 3 nodes are connected/, 60_000),
    )
    expect(r.output()).toContain(`npm run testnet -- ctl status --dir ${folder}`)
    const [n0, n1, n2] = nodes as [Started['nodes'][0], Started['nodes'][0], Started['nodes'][0]]

    // restart: a new process on the same data, answering again, the others untouched.
    const restarted = await ctl(folder, 'restart', '1')
    expect(restarted, r.output()).toMatchObject({ code: 0, stderr: '' })
    const pid1 = Number(/^node 1 restarted: (http:\S+) \(pid (\d+)\)$/m.exec(restarted.stdout)?.[2])
    nodePids.push(pid1)
    expect(pid1).not.toBe(n1.pid)
    expect(alive(n1.pid)).toBe(false)
    expect(alive(pid1)).toBe(true)
    expect((await nodeInfo(n1.url)).peerId).toBe(n1.peerId)
    expect(alive(n0.pid) && alive(n2.pid)).toBe(true)

    // stop: gone; a second stop is a clear one-line error, and the network is unchanged.
    expect(await ctl(folder, 'stop', '1')).toMatchObject({
      code: 0,
      stdout: `node 1 stopped (pid ${pid1})\n`,
    })
    expect(alive(pid1)).toBe(false)
    await refusesConnections(n1.url)
    expect(await ctl(folder, 'stop', '1')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'testnet: node 1 is already stopped; start 1 starts it [NODE_STOPPED]\n',
    })

    // Records written while node 1 is down…
    const before = (await nodeInfo(n0.url)).stateRoot
    const seeded = await legation([
      'dev',
      'seed',
      '--citizens',
      '3',
      '--seed',
      'ctl',
      '--node',
      n0.url,
      '--officer',
      officer,
    ])
    expect(seeded.code, seeded.stderr).toBe(0)
    await expect
      .poll(async () => (await nodeInfo(n2.url)).stateRoot, { timeout: 20_000, interval: 100 })
      .toBe((await nodeInfo(n0.url)).stateRoot)
    const target = (await nodeInfo(n0.url)).stateRoot
    expect(target).not.toBe(before)

    // …reach it once it is started again.
    const startedAgain = await ctl(folder, 'start', '1')
    expect(startedAgain.code, startedAgain.stderr).toBe(0)
    const pid1b = Number(/^node 1 started: http:\S+ \(pid (\d+)\)$/m.exec(startedAgain.stdout)?.[1])
    nodePids.push(pid1b)
    expect(alive(pid1b)).toBe(true)
    await expect
      .poll(async () => (await nodeInfo(n1.url)).stateRoot, {
        timeout: 30_000,
        interval: 100,
        message: 'node 1 caught up',
      })
      .toBe(target)
    const found = await legation([
      'citizen',
      'find',
      '--nationality',
      'DVA',
      '--node',
      n1.url,
      '--key',
      officer,
      '--purpose',
      'consular-assistance',
    ])
    const found2 = await legation([
      'citizen',
      'find',
      '--nationality',
      'DVB',
      '--node',
      n1.url,
      '--key',
      officer,
      '--purpose',
      'consular-assistance',
    ])
    const found3 = await legation([
      'citizen',
      'find',
      '--nationality',
      'DVC',
      '--node',
      n1.url,
      '--key',
      officer,
      '--purpose',
      'consular-assistance',
    ])
    const ids = [found, found2, found3].flatMap((f) => {
      expect(f.code, f.stderr).toBe(0)
      return (JSON.parse(f.stdout) as { citizens: Array<{ id: string }> }).citizens.map((c) => c.id)
    })
    expect(ids).toHaveLength(3)
    // A citizen written while node 1 was down, read from node 1 with the officer's key file.
    const shown = await legation([
      'citizen',
      'show',
      ids[0]!,
      '--node',
      n1.url,
      '--key',
      officer,
      '--purpose',
      'case-processing',
    ])
    expect(shown.code, shown.stderr).toBe(0)
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: ids[0] })
    expect(await ctl(folder, 'start', '1')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('[NODE_RUNNING]'),
    })

    // kill: SIGKILL, and not reported as a crash (the watcher looks twice, 500 ms apart).
    expect(await ctl(folder, 'kill', '2')).toMatchObject({
      code: 0,
      stdout: `node 2 killed with SIGKILL (pid ${n2.pid})\n`,
    })
    expect(alive(n2.pid)).toBe(false)
    await refusesConnections(n2.url)
    expect(await ctl(folder, 'kill', '2')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('[NODE_STOPPED]'),
    })
    const status = await ctl(folder, 'status')
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/^\s+1\s+DVB\s+running\s+http:\S+\s+\d+$/m)
    expect(status.stdout).toMatch(/^\s+2\s+DVC\s+stopped\s+http:\S+\s+-$/m)

    // An unknown node or command is a one-line error naming what exists.
    expect(await ctl(folder, 'restart', '3')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'testnet: no node "3": the nodes are 0 to 2 [UNKNOWN_NODE]\n',
    })
    expect(await ctl(folder, 'reboot', '1')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('[UNKNOWN_COMMAND]'),
    })
    expect(alive(n0.pid) && alive(pid1b)).toBe(true)
    expect(r.output()).not.toContain('exited unexpectedly')

    await interrupt(r)
    for (const pid of [n0.pid, pid1b]) expect(alive(pid), `pid ${pid}`).toBe(false)
    // The control socket went with it.
    expect(await ctl(folder, 'status')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('[NOT_RUNNING]'),
    })
  })

  it('takes commands on its prompt (stdin), and quit stops it', { timeout: 120_000 }, async () => {
    const r = startCli(['--nodes', '1', '--prompt'], 'pipe')
    const { nodes } = banner(await waitForOutput(r, /type help for commands/, 60_000))
    r.proc.stdin!.write('kill 0\nkill 0\nstatus\nrestart x\n')
    await waitForOutput(r, /no node "x"/, 20_000)
    expect(r.output()).toContain(`node 0 killed with SIGKILL (pid ${nodes[0]!.pid})`)
    expect(r.output()).toContain('testnet: node 0 is already stopped; start 0 starts it [NODE_STOPPED]')
    expect(r.output()).toMatch(/^\s+0\s+DVA\s+stopped\s+http:\S+\s+-$/m)
    expect(r.output()).toContain('testnet: no node "x": the only node is 0 [UNKNOWN_NODE]')
    expect(alive(nodes[0]!.pid)).toBe(false)
    // A node stopped by a command is not the end of the network, unlike every node crashing.
    expect(r.output()).not.toContain('every node has exited')
    r.proc.stdin!.write('start 0\n')
    const text = await waitForOutput(r, /node 0 started: http:\S+ \(pid \d+\)/, 40_000)
    const pid = Number(/node 0 started: http:\S+ \(pid (\d+)\)/.exec(text)![1])
    nodePids.push(pid)
    expect(alive(pid)).toBe(true)
    r.proc.stdin!.write('quit\n')
    const exit = await Promise.race([
      r.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit 20 s after quit:\n${r.output()}`)), 20_000),
      ),
    ])
    expect(exit, r.output()).toEqual({ code: 0, signal: null })
    expect(r.output()).toContain('quit: stopping 1 node(s)')
    expect(alive(pid)).toBe(false)
  })

  it('writes key files the legation CLI accepts: each state revokes with its own, the officer signs with its', {
    timeout: 120_000,
  }, async () => {
    const r = startCli(['--nodes', '1'])
    const { nodes, officer, stateKeys } = banner(await waitForOutput(r, /Ready: 1 node/, 60_000))
    const url = nodes[0]!.url
    expect(Object.keys(stateKeys).sort()).toEqual(['DVA', 'DVB', 'DVC'])
    for (const file of [officer, ...Object.values(stateKeys)])
      expect(statSync(file).mode & 0o777, file).toBe(0o600)

    const asOfficer = await legation([
      'citizen',
      'find',
      '--nationality',
      'DVA',
      '--node',
      url,
      '--key',
      officer,
      '--purpose',
      'consular-assistance',
    ])
    expect(asOfficer.code, asOfficer.stderr).toBe(0)
    // Each state's key file signs a revocation the node accepts as that state's (no --state needed).
    for (const [state, file] of Object.entries(stateKeys)) {
      const cert = randomBytes(32).toString('hex')
      const revoked = await legation([
        'officer',
        'revoke',
        '--node',
        url,
        '--state-key',
        file,
        '--cert',
        cert,
        '--json',
      ])
      expect(revoked.code, revoked.stderr).toBe(0)
      expect(JSON.parse(revoked.stdout)).toMatchObject({ new: true, state, cert })
    }
    // DVA revokes the officer it certified (from the officer's key file); the node then refuses it.
    const revoked = await legation([
      'officer',
      'revoke',
      '--node',
      url,
      '--state-key',
      stateKeys.DVA!,
      '--officer-key',
      officer,
    ])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.stdout).toContain('State        DVA')
    await expect
      .poll(
        async () =>
          (
            await legation([
              'citizen',
              'find',
              '--nationality',
              'DVA',
              '--purpose',
              'consular-assistance',
              '--node',
              url,
              '--key',
              officer,
            ])
          ).stderr,
        {
          timeout: 10_000,
          interval: 100,
        },
      )
      .toContain('CERT_REVOKED')
    await interrupt(r)
  })
})

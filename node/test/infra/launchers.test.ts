/**
 * Every executable entry point is a plain-JavaScript launcher that checks the Node version
 * before it loads TypeScript: an old Node gets one line saying what is needed and the command
 * that works, not an `ERR_UNKNOWN_FILE_EXTENSION` stack.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
// @ts-expect-error: plain JavaScript without type declarations, on purpose (old Node parses it)
import * as check from '../../bin/require-node.js'

const { MIN_NODE_VERSION, isSupportedNode } = check as {
  MIN_NODE_VERSION: string
  isSupportedNode(v: string): boolean
}

const ROOT = resolve(import.meta.dirname, '../../..')

const LAUNCHERS = [
  { file: 'node/bin/legation-node.js', command: 'npm start', help: /^Usage: npm start -- \[flags\]/ },
  { file: 'admin-cli/bin/legation.js', command: 'npx legation', help: /^Usage: legation / },
  {
    file: 'test-network/bin/legation-testnet.js',
    command: 'npm run testnet',
    help: /^Usage: npm run testnet -- /,
  },
] as const

/** A Node older than 22 on this machine (the system's Node 20 where there is one). */
function oldNode(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin']
  for (const dir of dirs) {
    const bin = join(dir, 'node')
    try {
      const v = execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 })
      if (Number(v.split('.')[0]) < 22) return bin
    } catch {
      // not there, or not runnable
    }
  }
  return undefined
}

/** Without an old Node on the machine, Node 22 pretends to be 20.11 before the launcher runs. */
const OLD = oldNode()
const PRETEND_OLD = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.11.1'})`

function runOld(file: string, args: string[]) {
  const [bin, pre] = OLD ? [OLD, []] : [process.execPath, ['--import', PRETEND_OLD]]
  return spawnSync(bin, [...pre, join(ROOT, file), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
  })
}

describe('launchers', () => {
  it('MIN_NODE_VERSION is what every package.json asks for', () => {
    for (const dir of ['.', 'protocol', 'node', 'admin-cli', 'test-network']) {
      const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'))
      expect(pkg.engines.node, dir).toBe(`>=${MIN_NODE_VERSION}`)
    }
  })

  it('compares versions numerically', () => {
    expect(isSupportedNode('22.18.0')).toBe(true)
    expect(isSupportedNode('v22.23.3')).toBe(true)
    expect(isSupportedNode('24.0.0')).toBe(true)
    expect(isSupportedNode('22.17.9')).toBe(false)
    expect(isSupportedNode('20.20.2')).toBe(false)
    expect(isSupportedNode('3.100.0')).toBe(false)
  })

  for (const l of LAUNCHERS) {
    it(`${l.file} on an old Node: one line with the command that works, exit 1`, () => {
      const r = runOld(l.file, ['--help'])
      expect(r.status).toBe(1)
      expect(r.stdout).toBe('')
      const lines = r.stderr.trimEnd().split('\n')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(
        new RegExp(
          `^legation: needs Node\\.js >= ${MIN_NODE_VERSION.replaceAll('.', '\\.')}, this is Node\\.js v(19|20|21)\\.`,
        ),
      )
      expect(lines[0]).toContain(l.command)
      expect(r.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION')
    })

    it(`${l.file} on this Node runs its entry point`, () => {
      const r = spawnSync(process.execPath, [join(ROOT, l.file), '--help'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 20_000,
      })
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      expect(r.stdout).toMatch(l.help)
    })
  }
})

/** The machine and software a benchmark ran on, for its JSON: figures mean little without it. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, freemem, release, totalmem } from 'node:os'
import { resolve } from 'node:path'

const REPO = resolve(import.meta.dirname, '../../..')

/** The installed version of a dependency (hoisted to the root's node_modules, or the node's). */
function packageVersion(name: string): string | undefined {
  for (const dir of ['node_modules', 'node/node_modules']) {
    try {
      const file = resolve(REPO, dir, name, 'package.json')
      return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    } catch {
      // not there: the next place
    }
  }
  return undefined
}

function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, {
      cwd: REPO,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return undefined
  }
}

export function describeMachine() {
  const cpu = cpus()
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    commit: git('rev-parse', '--short', 'HEAD'),
    uncommittedChanges: (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '',
    versions: Object.fromEntries(
      [
        'libp2p',
        'yjs',
        'level',
        'classic-level',
        'fastify',
        '@chainsafe/libp2p-noise',
        '@chainsafe/libp2p-yamux',
      ].map((n) => [n, packageVersion(n)]),
    ),
  }
}

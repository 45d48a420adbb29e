// Installs this folder's own dependencies on first use (`npm ci` from package-lock.json), so the
// project's normal `npm install` never pulls OrbitDB in. Run directly (`node bench/orbitdb/install.mjs`)
// or through run.mjs, which calls ensureInstalled() before importing anything from node_modules.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const HERE = path.dirname(fileURLToPath(import.meta.url))

const MARKER = path.join(HERE, 'node_modules', '@orbitdb', 'core', 'package.json')

/** Runs npm in this folder; returns { installed, seconds, command } or throws. */
export function ensureInstalled({ log = (s) => process.stderr.write(`[orbitdb-bench] ${s}\n`) } = {}) {
  if (existsSync(MARKER)) return { installed: false, seconds: 0, command: null }
  const hasLock = existsSync(path.join(HERE, 'package-lock.json'))
  const args = [hasLock ? 'ci' : 'install', '--no-audit', '--no-fund', '--workspaces=false']
  // Under `npm run`, npm_execpath names the npm that is running: use the same one.
  const npmCli = process.env.npm_execpath
  const [cmd, cmdArgs] =
    npmCli && /npm-cli\.c?js$/.test(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args]
  log(`first use: installing OrbitDB in ${HERE} (npm ${args.join(' ')}) ...`)
  const t0 = Date.now()
  const res = spawnSync(cmd, cmdArgs, {
    cwd: HERE,
    stdio: ['ignore', 2, 2],
    timeout: 10 * 60_000,
    env: { ...process.env, npm_config_workspaces: 'false' },
  })
  const seconds = (Date.now() - t0) / 1000
  if (res.error) throw new Error(`npm ${args[0]} failed to run: ${res.error.message}`)
  if (res.status !== 0) throw new Error(`npm ${args[0]} exited with ${res.status ?? res.signal}`)
  if (!existsSync(MARKER)) throw new Error(`npm ${args[0]} finished but ${MARKER} is missing`)
  log(`installed in ${seconds.toFixed(1)} s`)
  return { installed: true, seconds, command: `npm ${args.join(' ')}` }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = ensureInstalled()
  process.stdout.write(`${JSON.stringify(r)}\n`)
}

/**
 * OrbitDB side by side: `bench/orbitdb/run.mjs` runs the same workload shapes against OrbitDB
 * (installed on first use in a folder of its own, outside the workspaces, so a normal
 * `npm install` never pulls it in) and prints one JSON document, read here.
 */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'

const RUNNER = resolve(import.meta.dirname, '../../../bench/orbitdb/run.mjs')

export async function orbitdb(args: readonly string[], timeoutMs: number): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d
  })
  const code = await new Promise<number | null>((r) => child.once('exit', r))
  clearTimeout(timer)
  if (code !== 0) throw new Error(`bench/orbitdb/run.mjs exited with ${code}`)
  return JSON.parse(out) as Record<string, unknown>
}

/**
 * protocol/ is pure: it runs in browsers and never does I/O. Only the native files Node resolves
 * package imports to may use a Node module (node:crypto or node:buffer, computation only), and
 * the browser-safe entry point never reaches them.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))
const files = readdirSync(SRC).filter((f) => f.endsWith('.ts'))

/** Packages that do I/O (storage, network, logging, processes, threads, timers). */
const IO_PACKAGES = [
  'level',
  'classic-level',
  'browser-level',
  'abstract-level',
  'pino',
  'fastify',
  'libp2p',
  '@libp2p/',
  '@chainsafe/',
  'undici',
  'ws',
]
const BUILTINS = new Set(builtinModules)

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function specifiers(text: string): string[] {
  const out: string[] = []
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]
  for (const re of patterns) for (const m of text.matchAll(re)) out.push(m[1]!)
  return out
}

/** Files only Node loads (native-crypto.ts by its own entry point, sha256-native.ts by the `node` condition). */
/** Files Node resolves package imports to, and the one Node module each may use (computation only). */
const NATIVE = new Map([
  ['native-crypto.ts', 'node:crypto'],
  ['sha256-native.ts', 'node:crypto'],
  ['byte-text-native.ts', 'node:buffer'],
  ['joined-native.ts', 'node:buffer'],
])
/** Package imports (`#name`) as a browser resolves them: the `default` condition. */
const IMPORTS = JSON.parse(readFileSync(join(SRC, '../package.json'), 'utf8')).imports as Record<
  string,
  { node?: string; default: string }
>

function forbidden(file: string, spec: string): string | undefined {
  if (spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)) {
    return NATIVE.get(file) === spec ? undefined : 'a Node module'
  }
  for (const p of IO_PACKAGES) {
    if (p.endsWith('/') ? spec.startsWith(p) : spec === p || spec.startsWith(`${p}/`)) return 'an I/O package'
  }
  return undefined
}

describe('protocol purity', () => {
  it('finds the sources it checks', () => {
    expect(files).toContain('index.ts')
    expect(files).toContain('native-crypto.ts')
    expect(specifiers(readFileSync(join(SRC, 'native-crypto.ts'), 'utf8'))).toContain('node:crypto')
  })

  it('no source imports a Node module or an I/O package (native-crypto.ts may use node:crypto)', () => {
    const problems: string[] = []
    for (const f of files) {
      for (const spec of specifiers(readFileSync(join(SRC, f), 'utf8'))) {
        const why = forbidden(f, spec)
        if (why) problems.push(`${f} imports ${spec} (${why})`)
      }
    }
    expect(problems).toEqual([])
  })

  it('the detector catches what it should', () => {
    expect(forbidden('x.ts', 'node:fs')).toBeDefined()
    expect(forbidden('x.ts', 'fs/promises')).toBeDefined()
    expect(forbidden('x.ts', 'worker_threads')).toBeDefined()
    expect(forbidden('x.ts', 'child_process')).toBeDefined()
    expect(forbidden('x.ts', 'node:crypto')).toBeDefined()
    expect(forbidden('x.ts', '@libp2p/tcp')).toBeDefined()
    expect(forbidden('x.ts', 'level')).toBeDefined()
    expect(forbidden('x.ts', 'yjs')).toBeUndefined()
    expect(specifiers("import {\n  a,\n  b,\n} from 'node:net'\nconst x = await import('pino')")).toEqual([
      'node:net',
      'pino',
    ])
  })

  it('the entry point, as a browser resolves it, never reaches a file that uses node:crypto', () => {
    const seen = new Set<string>()
    const walk = (f: string) => {
      if (seen.has(f)) return
      seen.add(f)
      for (const spec of specifiers(readFileSync(join(SRC, f), 'utf8'))) {
        if (spec.startsWith('./')) walk(spec.slice(2))
        if (spec.startsWith('#')) walk(IMPORTS[spec]!.default.replace('./src/', ''))
      }
    }
    walk('index.ts')
    expect(seen.size).toBeGreaterThan(5)
    expect(seen).toContain('sha256.ts')
    for (const f of NATIVE.keys()) expect([...seen]).not.toContain(f)
  })

  it('every package import has a browser (default) file and any node file is a native one', () => {
    for (const [name, target] of Object.entries(IMPORTS)) {
      expect(files, name).toContain(target.default.replace('./src/', ''))
      if (target.node) expect(NATIVE.has(target.node.replace('./src/', '')), name).toBe(true)
    }
  })
})

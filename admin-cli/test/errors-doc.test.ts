/** docs/errors.md lists every error code of the admin CLI, with its exit status. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CLI_ERRORS } from '../src/errors.ts'

const ERRORS_MD = fileURLToPath(new URL('../../docs/errors.md', import.meta.url))

function section(): Map<string, { exit: number; meaning: string }> {
  const text = readFileSync(ERRORS_MD, 'utf8')
  const start = text.search(/^## admin-cli\s*$/m)
  expect(start, 'docs/errors.md has a "## admin-cli" section').toBeGreaterThanOrEqual(0)
  const rest = text.slice(start + 3)
  const end = rest.search(/^## /m)
  const body = end < 0 ? rest : rest.slice(0, end)
  const rows = new Map<string, { exit: number; meaning: string }>()
  for (const m of body.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|\s*(\d)\s*\|\s*(.*?)\s*\|\s*$/gm)) {
    rows.set(m[1]!, { exit: Number(m[2]), meaning: m[3]! })
  }
  return rows
}

describe('docs/errors.md § admin-cli', () => {
  const rows = section()

  it('lists every code of CLI_ERRORS with its exit status and a meaning', () => {
    for (const [code, { exit }] of Object.entries(CLI_ERRORS)) {
      const row = rows.get(code)
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined()
      expect(row!.exit, `${code} exit status`).toBe(exit)
      expect(row!.meaning.length, `${code} meaning`).toBeGreaterThan(10)
    }
  })

  it('lists no code the CLI does not have', () => {
    for (const code of rows.keys()) expect(Object.keys(CLI_ERRORS)).toContain(code)
  })
})

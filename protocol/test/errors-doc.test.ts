/** docs/errors.md lists every error code of this package, with its HTTP status. */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PROTOCOL_ERRORS, ProtocolError, type ProtocolErrorCode } from '../src/index.ts'

const ERRORS_MD = fileURLToPath(new URL('../../docs/errors.md', import.meta.url))

/** The rows `| CODE | status | meaning |` of the `## <pkg>` section. */
function section(pkg: string): Map<string, { status: number; meaning: string }> {
  const text = readFileSync(ERRORS_MD, 'utf8')
  const start = text.search(new RegExp(`^## ${pkg}\\s*$`, 'm'))
  expect(start, `docs/errors.md has a "## ${pkg}" section`).toBeGreaterThanOrEqual(0)
  const rest = text.slice(start + 3)
  const end = rest.search(/^## /m)
  const body = end < 0 ? rest : rest.slice(0, end)
  const rows = new Map<string, { status: number; meaning: string }>()
  for (const m of body.matchAll(/^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|\s*(\d{3})\s*\|\s*(.*?)\s*\|\s*$/gm)) {
    rows.set(m[1]!, { status: Number(m[2]), meaning: m[3]! })
  }
  return rows
}

describe('docs/errors.md', () => {
  const rows = section('protocol')

  it('lists every code of PROTOCOL_ERRORS with its HTTP status and a meaning', () => {
    for (const [code, { status }] of Object.entries(PROTOCOL_ERRORS)) {
      const row = rows.get(code)
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined()
      expect(row!.status, `${code} status`).toBe(status)
      expect(row!.meaning.length, `${code} meaning`).toBeGreaterThan(10)
    }
  })

  it('lists no protocol code that does not exist', () => {
    for (const code of rows.keys()) expect(Object.keys(PROTOCOL_ERRORS)).toContain(code)
  })

  it('every code makes an error with that status', () => {
    for (const code of Object.keys(PROTOCOL_ERRORS) as ProtocolErrorCode[]) {
      const err = new ProtocolError(code)
      expect(err.statusCode).toBe(PROTOCOL_ERRORS[code].status)
      expect(err.message).toBe(PROTOCOL_ERRORS[code].message)
    }
  })
})

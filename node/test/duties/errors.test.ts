/** The duty scheduler's error codes, kept honest against docs/errors.md (section duties). */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { DUTY_ERRORS, DutyError, type DutyErrorCode, isDutyError } from '../../src/duties/index.ts'

const ERRORS_MD = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url))

/** The `| CODE | — | meaning |` rows of the `## duties` section. */
function dutiesSection(): Map<string, string> {
  const text = readFileSync(ERRORS_MD, 'utf8')
  const start = text.search(/^## duties\s*$/m)
  expect(start, 'docs/errors.md has a "## duties" section').toBeGreaterThanOrEqual(0)
  const rest = text.slice(start + 3)
  const end = rest.search(/^## /m)
  const body = end < 0 ? rest : rest.slice(0, end)
  const rows = new Map<string, string>()
  for (const m of body.matchAll(/^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|\s*—\s*\|\s*(.*?)\s*\|\s*$/gm)) {
    rows.set(m[1]!, m[2]!)
  }
  return rows
}

describe('DutyError', () => {
  it('carries a stable code, a default message and the cause', () => {
    const cause = new Error('x')
    const err = new DutyError('DUTY_DATA_UNAVAILABLE', undefined, { cause })
    expect(isDutyError(err)).toBe(true)
    expect(err.name).toBe('DutyError')
    expect(err.code).toBe('DUTY_DATA_UNAVAILABLE')
    expect(err.message).toBe(DUTY_ERRORS.DUTY_DATA_UNAVAILABLE.message)
    expect(err.cause).toBe(cause)
    expect(isDutyError(new Error('x'))).toBe(false)
  })

  it('docs/errors.md lists every duty code, as never an HTTP answer, and no other', () => {
    const rows = dutiesSection()
    for (const code of Object.keys(DUTY_ERRORS) as DutyErrorCode[]) {
      expect(rows.get(code), `${code} is missing from docs/errors.md`).toBeDefined()
      expect(rows.get(code)!.length).toBeGreaterThan(10)
    }
    for (const code of rows.keys()) expect(Object.keys(DUTY_ERRORS)).toContain(code)
  })
})

import { describe, expect, it } from 'vitest'
import { errorLines, legation } from './helpers.ts'

describe('legation', () => {
  it('prints help listing every command, exit 0', async () => {
    const r = await legation(['--help'])
    expect(r.code).toBe(0)
    for (const cmd of [
      'status',
      'dev',
      'verify-charter',
      'keys',
      'ceremony',
      'charter',
      'citizen',
      'cases',
      'officer',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'))
    }
  })

  it('refuses an unknown command with one line and exit code 2', async () => {
    const r = await legation(['frobnicate'])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toEqual(["error: unknown command 'frobnicate'"])
    expect(r.stdout).toBe('')
  })

  it('suggests the command a typo meant', async () => {
    const r = await legation(['stauts'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('Did you mean status?')
  })

  it('refuses a bad node URL before any request, with a stable code', async () => {
    for (const url of ['not a url', 'ftp://127.0.0.1:8080']) {
      const r = await legation(['status', '--node', url])
      expect(r.code).toBe(2)
      expect(errorLines(r)).toHaveLength(1)
      expect(r.stderr).toMatch(/^error: .*\[NODE_URL_INVALID\]$/m)
    }
  })

  it('reports an unreachable node in one line, without a stack trace', async () => {
    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    const r = await legation(['status', '--node', 'http://127.0.0.1:9'])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toMatch(/^error: cannot reach http:\/\/127\.0\.0\.1:9: .+ \[NODE_UNREACHABLE\]$/m)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('takes the node URL from LEGATION_NODE_URL', async () => {
    const r = await legation(['status'], { LEGATION_NODE_URL: 'gopher://x' })
    expect(r.stderr).toContain('[NODE_URL_INVALID]')
  })

  it('rejects a malformed option value as a usage error', async () => {
    const r = await legation(['dev', 'seed', '--citizens', 'many'])
    expect(r.code).toBe(2)
    expect(errorLines(r)).toHaveLength(1)
    expect(r.stderr).toContain("option '--citizens <n>' argument 'many' is invalid")
  })
})

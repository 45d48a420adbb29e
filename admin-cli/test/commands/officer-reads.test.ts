import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devNode, errorLines, legation, type TestNode } from '../helpers.ts'

describe('signed reads: citizen show, citizen find, cases', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await devNode()
  })
  afterAll(() => node.close())

  it('an unknown citizen is the node’s 404, passed on with its code', async () => {
    const r = await legation(['citizen', 'show', '0'.repeat(32), '--node', node.url, '--key', node.secrets])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: GET ${node.url}/v1/citizens/${'0'.repeat(32)}: 404 NOT_FOUND: no such citizen [NODE_REFUSED]`,
    ])
  })

  it('an empty queue is an empty list', async () => {
    const r = await legation(['cases', '--node', node.url, '--key', node.secrets, '--state', 'approved'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ cases: [], next: null })
  })

  it('a plain key (no certificate) reads as a citizen, so officer searches are forbidden', async () => {
    const key = join(node.dir, 'me.key.json')
    expect(
      (await legation(['keys', 'generate', '--role', 'citizen', '--insecure-plaintext', '--out', key])).code,
    ).toBe(0)
    const r = await legation(['cases', '--node', node.url, '--key', key])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/: 403 FORBIDDEN: officers only \[NODE_REFUSED\]$/m)
  })

  it('checks ids and states before sending anything', async () => {
    const bad = await legation(['citizen', 'show', 'ABC', '--node', node.url, '--key', node.secrets])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('expected a citizen id')
    const state = await legation(['cases', '--node', node.url, '--key', node.secrets, '--state', 'lost'])
    expect(state.code).toBe(2)
    expect(state.stderr).toContain('Allowed choices are submitted, in-review')
    const find = await legation(['citizen', 'find', '--node', node.url, '--key', node.secrets])
    expect(find.code).toBe(2)
    expect(errorLines(find)).toEqual([
      'error: give exactly one of --nationality, --country, --travel-document [USAGE]',
    ])
  })

  it('a damaged key file is reported without its contents', async () => {
    const { writeFile } = await import('node:fs/promises')
    const file = join(node.dir, 'broken.json')
    const secret = 'a'.repeat(63)
    await writeFile(file, JSON.stringify({ officer: { secretKey: secret } }))
    const r = await legation(['cases', '--node', node.url, '--key', file])
    expect(r.code).toBe(1)
    expect(errorLines(r)).toEqual([
      `error: key file ${file}: secretKey must be 32 bytes in base64url (or hex) [KEY_FILE_INVALID]`,
    ])
    expect(r.stderr).not.toContain(secret)
  })
})

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isNodeError, NODE_ERRORS, NodeError, type NodeErrorCode } from '../../src/errors.ts'
import { isMeshError, MESH_ERRORS, MeshError, type MeshErrorCode } from '../../src/mesh/errors.ts'

const ERRORS_MD = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url))

/**
 * The rows `| CODE | status | meaning |` of the `## <name>` section of docs/errors.md;
 * `status` is null for `—` (never an HTTP answer).
 */
function section(name: string): Map<string, { status: number | null; meaning: string }> {
  const text = readFileSync(ERRORS_MD, 'utf8')
  const start = text.search(new RegExp(`^## ${name}\\s*$`, 'm'))
  expect(start, `docs/errors.md has a "## ${name}" section`).toBeGreaterThanOrEqual(0)
  const rest = text.slice(start + 3)
  const end = rest.search(/^## /m)
  const body = end < 0 ? rest : rest.slice(0, end)
  const rows = new Map<string, { status: number | null; meaning: string }>()
  for (const m of body.matchAll(/^\|\s*`?([A-Z][A-Z0-9_]+)`?\s*\|\s*(\d{3}|—)\s*\|\s*(.*?)\s*\|\s*$/gm)) {
    rows.set(m[1]!, { status: m[2] === '—' ? null : Number(m[2]), meaning: m[3]! })
  }
  return rows
}

const MESH_CODES = Object.keys(MESH_ERRORS) as MeshErrorCode[]

describe('NodeError', () => {
  it('carries a stable code, its HTTP status, a default message and the cause', () => {
    const cause = new Error('disk on fire')
    const err = new NodeError('NOT_READY', undefined, { cause })
    expect(err).toBeInstanceOf(Error)
    expect(isNodeError(err)).toBe(true)
    expect(err.name).toBe('NodeError')
    expect(err.code).toBe('NOT_READY')
    expect(err.statusCode).toBe(503)
    expect(err.message).toBe(NODE_ERRORS.NOT_READY.message)
    expect(err.cause).toBe(cause)
    expect(err.details).toEqual([])
  })

  it('takes a specific message and details', () => {
    const err = new NodeError('VALIDATION_FAILED', 'give one of a, b', { details: ['a: missing'] })
    expect(err.message).toBe('give one of a, b')
    expect(err.statusCode).toBe(400)
    expect(err.details).toEqual(['a: missing'])
    expect(isNodeError(new Error('x'))).toBe(false)
  })

  it('every code makes an error with its status', () => {
    for (const code of Object.keys(NODE_ERRORS) as NodeErrorCode[]) {
      const err = new NodeError(code)
      expect(err.statusCode).toBe(NODE_ERRORS[code].status)
      expect(err.message).toBe(NODE_ERRORS[code].message)
    }
    expect(NODE_ERRORS.UNAUTHENTICATED.status).toBe(401)
    expect(NODE_ERRORS.FORBIDDEN.status).toBe(403)
    expect(NODE_ERRORS.RATE_LIMITED.status).toBe(429)
    expect(NODE_ERRORS.BODY_TOO_LARGE.status).toBe(413)
  })
})

describe('docs/errors.md, node section', () => {
  const rows = section('node')

  it('lists every code of NODE_ERRORS with its HTTP status and a meaning', () => {
    for (const [code, { status }] of Object.entries(NODE_ERRORS)) {
      const row = rows.get(code)
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined()
      expect(row!.status, `${code} status`).toBe(status)
      expect(row!.meaning.length, `${code} meaning`).toBeGreaterThan(10)
    }
  })

  it('lists no node code that does not exist', () => {
    for (const code of rows.keys()) expect(Object.keys(NODE_ERRORS)).toContain(code)
  })
})

describe('MeshError', () => {
  it('carries a stable code, a default message per code and the cause', () => {
    const cause = new Error('socket reset')
    const err = new MeshError('MESH_CHANNEL_CLOSED', undefined, { cause })
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('MeshError')
    expect(err.code).toBe('MESH_CHANNEL_CLOSED')
    expect(err.message).toBe(MESH_ERRORS.MESH_CHANNEL_CLOSED.message)
    expect(err.cause).toBe(cause)
    // never an HTTP answer as such: the problem handler maps it to 500 INTERNAL
    expect('statusCode' in err).toBe(false)
    for (const code of MESH_CODES) expect(new MeshError(code).message).toBe(MESH_ERRORS[code].message)
  })

  it('isMeshError matches on the code', () => {
    const err = new MeshError('MESH_FRAME_MALFORMED', 'bad prefix')
    expect(isMeshError(err)).toBe(true)
    expect(isMeshError(err, 'MESH_FRAME_TOO_LARGE', 'MESH_FRAME_MALFORMED')).toBe(true)
    expect(isMeshError(err, 'MESH_FRAME_TOO_LARGE')).toBe(false)
    expect(isMeshError(Object.assign(new Error('x'), { code: 'MESH_FRAME_MALFORMED' }))).toBe(false)
  })
})

describe('docs/errors.md, mesh section', () => {
  const rows = section('mesh')

  it('lists every MESH_* code, as never an HTTP answer, with a meaning', () => {
    expect(MESH_CODES.length).toBeGreaterThanOrEqual(10)
    for (const code of MESH_CODES) {
      const row = rows.get(code)
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined()
      expect(row!.status, `${code} status`).toBeNull()
      expect(row!.meaning.length, `${code} meaning`).toBeGreaterThan(10)
    }
  })

  it('lists no mesh code that does not exist', () => {
    for (const code of rows.keys()) expect(MESH_CODES as string[]).toContain(code)
  })
})

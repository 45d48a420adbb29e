import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeCanonical, encodeCanonical, type SignedCharter } from '@legation/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devNode, errorLines, legation, type TestNode } from '../helpers.ts'

describe('legation verify-charter', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await devNode()
  })
  afterAll(() => node.close())

  it('verifies the chain a node wrote and prints each version', async () => {
    const r = await legation(['verify-charter', node.charterFile])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`${node.charterFile}: valid charter chain, 1 version(s)`)
    expect(r.stdout).toContain(`Bloc  ${node.bloc}`)
    expect(r.stdout).toContain(`Version 1  ${node.charterHash}`)
    expect(r.stdout).toContain('  quorum    2 of 3')
    expect(r.stdout).toContain('  signed by DVA, DVB, DVC')
    expect(r.stdout).toMatch(/^ {4}DVA {2}Development State A {2}\(state key [0-9a-f]{32}; node-0\)$/m)
    expect(r.stdout).toMatch(/^ {4}DVC {2}Development State C {2}\(state key [0-9a-f]{32}; no nodes\)$/m)
  })

  it('prints the versions as JSON', async () => {
    const r = await legation(['verify-charter', node.charterFile, '--json'])
    const [v1] = JSON.parse(r.stdout)
    expect(v1).toMatchObject({ version: 1, hash: node.charterHash, bloc: node.bloc, prev: null, quorum: 2 })
    expect(v1.members.map((m: { code: string }) => m.code)).toEqual(['DVA', 'DVB', 'DVC'])
  })

  it('rejects a chain whose charter was altered after signing', async () => {
    const chain = decodeCanonical(await readFile(node.charterFile)) as SignedCharter[]
    chain[0]!.charter.quorum = 1
    const tampered = join(node.dir, 'tampered.cbor')
    await writeFile(tampered, encodeCanonical(chain))
    const r = await legation(['verify-charter', tampered])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(errorLines(r)).toEqual([
      `error: ${tampered} does not verify: genesis signed by 0 of 3 founders (CHARTER_QUORUM_NOT_MET) [CHARTER_REJECTED]`,
    ])
  })

  it('rejects bytes that are not a charter chain', async () => {
    const garbage = join(node.dir, 'garbage.cbor')
    await writeFile(garbage, Uint8Array.of(0x82, 0x01)) // an array of 2 with one item
    const r = await legation(['verify-charter', garbage])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/is not canonical CBOR \(ENCODING_\w+\) \[CHARTER_FILE_INVALID\]$/m)
    const notArray = join(node.dir, 'map.cbor')
    await writeFile(notArray, encodeCanonical({ v: 1 }))
    expect((await legation(['verify-charter', notArray])).stderr).toContain('expected an array of versions')
  })

  it('names a missing file', async () => {
    const r = await legation(['verify-charter', join(node.dir, 'missing.cbor')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[FILE_NOT_FOUND]')
  })
})

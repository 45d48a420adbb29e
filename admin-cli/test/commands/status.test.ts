import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devNode, legation, type TestNode } from '../helpers.ts'

describe('legation status', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await devNode()
  })
  afterAll(() => node.close())

  it('summarizes the node: identity, readiness, charter, feeds, state root and peers', async () => {
    const info = await (await fetch(`${node.url}/v1/node`)).json()
    const r = await legation(['status', '--node', node.url])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines).toContain(`Node         node-0 of DVA at ${node.url} — ready`)
    expect(lines).toContain(`Node id      ${info.nodeId}`)
    expect(lines).toContain(`Bloc         ${node.bloc}`)
    expect(lines).toContain(`Charter      v1 ${node.charterHash}`)
    expect(lines).toContain('Members      DVA, DVB, DVC')
    expect(lines).toContain(`State root   ${info.stateRoot}`)
    expect(lines).toContain('Peers        0 known, 0 connected')
  })

  it('lists each feed of the version vector once records are written', async () => {
    const seeded = await legation([
      'dev',
      'seed',
      '--node',
      node.url,
      '--citizens',
      '2',
      '--officer',
      node.secrets,
      '--seed',
      's',
    ])
    expect(seeded.code).toBe(0)
    const info = await (await fetch(`${node.url}/v1/node`)).json()
    const seq = info.versionVector[info.nodeId]
    expect(seq).toBeGreaterThan(0)
    const r = await legation(['status', '--node', node.url])
    expect(r.stdout).toContain(`  ${info.nodeId}  seq ${seq}  (this node)`)
    expect(r.stdout).toMatch(new RegExp(`^Entries      ${seq} in 1 feed\\(s\\), \\d+ pending$`, 'm'))
  })

  it('prints the raw GET /v1/node with --json', async () => {
    const r = await legation(['status', '--node', node.url, '--json'])
    expect(r.code).toBe(0)
    const info = JSON.parse(r.stdout)
    expect(info).toMatchObject({ bloc: node.bloc, charter: { hash: node.charterHash, version: 1 } })
    expect(info.peers).toEqual([])
  })
})

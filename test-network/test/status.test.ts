/**
 * `legation status` for the whole bloc, against three real node processes: every node asked, as a
 * table and as JSON — health, peers, lag, heads, checkpoints, evidence — and what it shows once a
 * node is down.
 */
import { afterEach, expect, it } from 'vitest'
import { legation } from '../src/admin.ts'
import { eventually } from '../src/byzantine.ts'
import { TestNetwork } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

interface BlocJson {
  bloc: string
  converged: boolean
  nodes: Array<{
    url: string
    health: string
    info: {
      name: string
      nodeId: string
      versionVector: Record<string, number>
      evidence: number
      checkpoint: { size: number | null; finalSize: number | null }
      peers: Array<{ nodeId: string; connected: boolean; lag: number }>
    } | null
  }>
}

it('shows the whole bloc: health, peers, lag, heads, checkpoints and evidence, and a node that is down', {
  timeout: 120_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [n0, n1, n2] = net.nodes as [(typeof net.nodes)[0], (typeof net.nodes)[0], (typeof net.nodes)[0]]
  const officer = net.officer('DVA')
  await submitBatch(
    n0,
    Array.from({ length: 20 }, () => citizenRegistration(officer, 'DVB')),
  )
  await submitBatch(
    n1,
    Array.from({ length: 10 }, () => citizenRegistration(officer, 'DVC')),
  )
  await net.waitForConvergence()
  const nodes = net.nodes.flatMap((n) => ['--node', n.url])

  // Checkpoints are signed every couple of seconds: wait until node 0 shows one of its 1 entry.
  const bloc = await eventually(
    'a converged bloc with node 0 checkpointed',
    async () => {
      const r = await legation(['status', ...nodes, '--json'])
      expect(r.code, r.stderr).toBe(0)
      const s = JSON.parse(r.stdout) as BlocJson
      return s.converged && s.nodes[0]!.info!.checkpoint.size === 1 ? s : undefined
    },
    30_000,
  )
  expect(bloc.bloc).toBe(net.bloc)
  expect(bloc.nodes.map((n) => n.health)).toEqual(['ready', 'ready', 'ready'])
  for (const n of bloc.nodes) {
    expect(n.info!.evidence).toBe(0)
    expect(n.info!.versionVector).toEqual({ [n0.nodeId]: 1, [n1.nodeId]: 1 })
    expect(n.info!.peers.every((p) => p.connected && p.lag === 0)).toBe(true)
  }

  const text = await legation(['status', ...nodes])
  expect(text.code, text.stderr).toBe(0)
  expect(text.stdout).toContain('NODE')
  expect(text.stdout).toMatch(/node-0\s+DVA\s+http:\/\/127\.0\.0\.1:\d+\s+ready\s+2\/2/)
  expect(text.stdout).toContain('Replication lag')
  expect(text.stdout).toContain('Converged')

  // Node 2 goes down: its row says so, the others see it disconnected, the bloc is not converged.
  await n2.stop()
  const down = await eventually(
    'node 2 seen disconnected',
    async () => {
      const r = await legation(['status', ...nodes, '--json'])
      const s = JSON.parse(r.stdout) as BlocJson
      const seen = s.nodes[0]!.info!.peers.find((p) => p.nodeId === n2.nodeId)
      return seen && !seen.connected ? { r, s } : undefined
    },
    30_000,
  )
  expect(down.r.code).toBe(0)
  expect(down.s.converged).toBe(false)
  expect(down.s.nodes[2]!.info).toBeNull()
  expect(down.s.nodes[2]!.health).toContain('unreachable (NODE_UNREACHABLE)')
  const table = await legation(['status', '--bloc', '--node', n0.url])
  expect(table.stdout).toContain('Not converged')
  expect(table.stdout).toContain('✗')

  // Nobody answers: a failure, with its code.
  await Promise.all([n0.stop(), n1.stop()])
  const none = await legation(['status', ...nodes])
  expect(none.code).toBe(1)
  expect(none.stderr).toContain('[NODE_UNREACHABLE]')
})

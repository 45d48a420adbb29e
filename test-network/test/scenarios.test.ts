/**
 * Scenarios with real node processes on loopback (issue: the mesh). Sizes are kept small
 * for CI; the benchmarks run the large versions.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, missingAt, presence, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

describe('scenarios (real processes)', { timeout: 120_000 }, () => {
  it('1: records written at random nodes of a 5-node bloc appear everywhere, with identical state roots', async () => {
    net = await TestNetwork.start({ nodes: 5 })
    const officer = net.officer('DVA')
    const ids: string[] = []
    for (let round = 0; round < 10; round++) {
      const node = net.nodes[round % 5]!
      const regs = Array.from({ length: 10 }, () => citizenRegistration(officer, 'DVB'))
      ids.push(
        ...(await submitBatch(node, [...regs, ...regs.map((r, i) => presence(officer, r.citizenId, i))])),
      )
    }
    const root = await net.waitForConvergence({ timeoutMs: 30_000 })
    expect(root).toMatch(/^[0-9a-f]{64}$/)
    for (const node of net.nodes) expect(await missingAt(node, ids, officer)).toEqual([])
  })

  it('2: a node killed with SIGKILL while writes go on catches up, and every acknowledged write is everywhere', async () => {
    net = await TestNetwork.start({ nodes: 3 })
    const officer = net.officer('DVB')
    const acked: string[] = []
    const victim = net.nodes[1]!
    for (let round = 0; round < 12; round++) {
      if (round === 4) await victim.kill()
      if (round === 8) await victim.start()
      for (const node of net.nodes) {
        if (!node.running) continue
        const regs = Array.from({ length: 5 }, () => citizenRegistration(officer, 'DVA'))
        acked.push(...(await submitBatch(node, regs)))
      }
    }
    await net.waitForConvergence({ timeoutMs: 30_000 })
    for (const node of net.nodes) expect(await missingAt(node, acked, officer)).toEqual([])
  })

  it('3: a 2 | 3 partition with concurrent edits to the same citizens heals to identical state roots', async () => {
    net = await TestNetwork.start({ nodes: 5 })
    const officer = net.officer('DVC')
    const regs = Array.from({ length: 10 }, () => citizenRegistration(officer, 'DVA'))
    const ids = await submitBatch(net.nodes[0]!, regs)
    await net.waitForConvergence()
    await net.partition([0, 1], [2, 3, 4])
    // Both sides edit the same citizens' presence at the same time.
    const left = regs.map((r, i) => presence(officer, r.citizenId, i))
    const right = regs.map((r, i) => presence(officer, r.citizenId, i + 1))
    ids.push(...(await submitBatch(net.nodes[1]!, left)), ...(await submitBatch(net.nodes[3]!, right)))
    // Each side agrees within itself, and the two sides differ.
    const leftRoot = await net.waitForConvergence({ timeoutMs: 20_000, nodes: [0, 1] })
    const rightRoot = await net.waitForConvergence({ timeoutMs: 20_000, nodes: [2, 3, 4] })
    expect(leftRoot).not.toBe(rightRoot)
    await net.heal()
    const healedAt = Date.now()
    const root = await net.waitForConvergence({ timeoutMs: 20_000 })
    expect(root).toMatch(/^[0-9a-f]{64}$/)
    console.log(`partition healed: identical state roots ${Date.now() - healedAt} ms after heal`)
    for (const node of net.nodes) expect(await missingAt(node, ids, officer)).toEqual([])
    // The merge is deterministic: every node shows the same presence for each citizen.
    const views = await Promise.all(
      net.nodes.map((n) =>
        n.get<{ presence: unknown }>(
          `/v1/citizens/${regs[0]!.citizenId}?purpose=consular-assistance`,
          officer,
        ),
      ),
    )
    expect(new Set(views.map((v) => JSON.stringify(v.presence))).size).toBe(1)
  })
})

describe('scenarios (real processes): membership and discovery', { timeout: 120_000 }, () => {
  it('4: a node admitted by charter amendment joins after 20,000 records and catches up', {
    timeout: 240_000,
  }, async () => {
    net = await TestNetwork.start({ nodes: 4, joiners: 1, startNodes: 3 })
    const officer = net.officer('DVA')
    const total = 20_000
    const ids: string[] = []
    for (let i = 0; i < total; i += 500) {
      const batch = Array.from({ length: 500 }, () => citizenRegistration(officer, 'DVB'))
      ids.push(...(await submitBatch(net.nodes[(i / 500) % 3]!, batch)))
    }
    await net.waitForConvergence({ timeoutMs: 120_000, nodes: [0, 1, 2] })
    // Before the amendment the joiner is a stranger: the founders refuse it.
    expect((await net.nodes[0]!.info()).charter.version).toBe(1)
    await net.admit(3, 0)
    const joiner = net.nodes[3]!
    const t = Date.now()
    await joiner.start()
    const root = await net.waitForConvergence({ timeoutMs: 120_000 })
    console.log(`late joiner caught up on ${total} records in ${Date.now() - t} ms (start-up included)`)
    const infos = await Promise.all(net.nodes.map((n) => n.info()))
    expect(infos.map((i) => i.charter.version)).toEqual([2, 2, 2, 2])
    expect(infos.every((i) => i.stateRoot === root)).toBe(true)
    // Spot-check records written before it joined, and one written after.
    const sample = [ids[0]!, ids[7_777]!, ids[total - 1]!]
    expect(await missingAt(joiner, sample, officer)).toEqual([])
    const [after] = await submitBatch(joiner, [citizenRegistration(officer, 'DVC')])
    await net.waitForConvergence({ timeoutMs: 30_000 })
    expect(await missingAt(net.nodes[0]!, [after!], officer)).toEqual([])
  })

  it('6: a node restarted on a new port is found again through the DHT', async () => {
    net = await TestNetwork.start({ nodes: 3 })
    const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
    // vi.waitFor also retries while a node is not answering yet.
    await vi.waitFor(async () => expect((await c.info()).peers.filter((p) => p.connected)).toHaveLength(2), {
      timeout: 20_000,
      interval: 200,
    })
    const oldPort = a.p2pPort
    // A comes back on new ports and dials only B. C has only A's stale charter address, so
    // A's new address can reach C only through B and the bloc's private DHT.
    a.env = { LEGATION_P2P_BOOTSTRAP_PEERS: b.peerId }
    await a.restart({ newPorts: true })
    expect(a.p2pPort).not.toBe(oldPort)
    await vi.waitFor(
      async () => expect((await c.info()).peers.some((p) => p.peerId === a.peerId && p.connected)).toBe(true),
      { timeout: 30_000, interval: 200 },
    )
    const officer = net.officer('DVC')
    const ids = await submitBatch(c, [citizenRegistration(officer, 'DVA')])
    await net.waitForConvergence({ timeoutMs: 20_000 })
    expect(await missingAt(a, ids, officer)).toEqual([])
  })
})

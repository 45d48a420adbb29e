/**
 * No acknowledged write is lost: a node process is SIGKILLed at a random moment while
 * clients write; after a restart every acknowledged record is there and the feed verifies.
 */
import { join } from 'node:path'
import { auditStore, LevelStore } from '@legation/node'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { TestNetwork } from '../src/network.ts'
import { citizenRegistration, missingAt, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

it('keeps every acknowledged record through SIGKILL at a random moment, and the feed verifies', {
  timeout: 120_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 1 })
  const node = net.nodes[0]!
  const officer = net.officer('DVA')
  const seed = Date.now()
  const killAfterMs = 300 + (seed % 1200)
  console.log(`durability: SIGKILL after ${killAfterMs} ms (seed ${seed})`)
  const acked: string[] = []
  let attempted = 0
  let stop = false
  const writer = async () => {
    // Bounded: at most 400 batches per writer, and it stops when the node dies.
    for (let i = 0; i < 400 && !stop; i++) {
      const batch = Array.from({ length: 10 }, () => citizenRegistration(officer, 'DVB'))
      attempted += batch.length
      try {
        acked.push(...(await submitBatch(node, batch)))
      } catch {
        return // connection refused or reset: the node is down
      }
    }
  }
  const writers = Array.from({ length: 4 }, writer)
  await new Promise((r) => setTimeout(r, killAfterMs))
  await node.kill()
  stop = true
  await Promise.all(writers)
  expect(acked.length).toBeGreaterThan(0)
  console.log(`durability: ${acked.length} acknowledged of ${attempted} attempted before the kill`)

  await node.start()
  expect(await missingAt(node, acked, officer)).toEqual([])
  await node.stop()

  const store = await LevelStore.open(join(node.dir, 'db'))
  try {
    const report = await auditStore(store, nativeEd25519)
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    expect(report.records).toBeGreaterThanOrEqual(acked.length)
  } finally {
    await store.close()
  }
})

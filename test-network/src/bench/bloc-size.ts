/**
 * Blocs of growing size: the time for a bloc to converge on records written at one node, and
 * the mesh bytes each node sends per record (`legation_mesh_bytes_total`, frame payloads), which
 * must stay flat as the bloc grows — naive flooding would grow with the number of nodes.
 */
import type { TestNode } from '../network.ts'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { sleep, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

async function meshBytesSent(node: TestNode): Promise<number> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  return Number(/^legation_mesh_bytes_total\{direction="sent"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN)
}

export async function blocSizes(sizes: Sizes) {
  const out: BlocSizeResult[] = []
  for (const n of sizes.blocSizes) {
    const result = await measure(n, sizes).catch(
      (err: unknown): BlocSizeResult => ({
        nodes: n,
        error: err instanceof Error ? err.message : String(err),
      }),
    )
    out.push(result)
  }
  return out
}

/** One bloc size's figures, or why it could not be measured (a size that fails does not stop the others). */
export type BlocSizeResult =
  | {
      nodes: number
      records: number
      secondsToConverge: number
      bytesSentPerRecordPerNode: number
      bytesSentPerRecordByWriter: number
      bytesSentPerRecordMaxOtherNode: number
      error?: undefined
    }
  | { nodes: number; error: string }

async function measure(n: number, sizes: Sizes): Promise<BlocSizeResult> {
  return withNetwork({ nodes: n }, async (net) => {
    const officer = net.officer('DVA')
    const records = Array.from({ length: sizes.blocRecords }, () => citizenRegistration(officer, 'DVB'))
    await net.waitForConvergence({ timeoutMs: 120_000 })
    await sleep(3000) // the mesh connects; checkpoints of the charter settle
    const before = await Promise.all(net.nodes.map(meshBytesSent))
    const t = performance.now()
    for (let i = 0; i < records.length; i += 100) await submitBatch(net.nodes[0]!, records.slice(i, i + 100))
    await net.waitForConvergence({ timeoutMs: 300_000 })
    const converged = (performance.now() - t) / 1000
    const after = await Promise.all(net.nodes.map(meshBytesSent))
    const sent = after.map((a, i) => a - before[i]!)
    const total = sent.reduce((a, b) => a + b, 0)
    return {
      nodes: n,
      records: records.length,
      secondsToConverge: Number(converged.toFixed(2)),
      bytesSentPerRecordPerNode: Math.round(total / records.length / n),
      bytesSentPerRecordByWriter: Math.round(sent[0]! / records.length),
      bytesSentPerRecordMaxOtherNode: Math.round(Math.max(...sent.slice(1)) / records.length),
    }
  })
}

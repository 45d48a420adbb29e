/**
 * Blocs of growing size: the time for a bloc to converge on records written at one node, and
 * the mesh bytes each node sends per record (`legation_mesh_bytes_total`, frame payloads), which
 * must stay flat as the bloc grows — naive flooding would grow with the number of nodes.
 */
import type { TestNode } from '../network.ts'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { sleep, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

/** Mesh bytes a node sent, and sync message bytes it queued by message type. */
async function meshBytesSent(node: TestNode): Promise<{ total: number; byType: Record<string, number> }> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  const total = Number(/^legation_mesh_bytes_total\{direction="sent"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN)
  const byType: Record<string, number> = {}
  for (const m of text.matchAll(/^legation_sync_bytes_sent_total\{type="(\w+)"\} (\d+)/gm))
    byType[m[1]!] = Number(m[2])
  return { total, byType }
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
      /** Bytes per record per node by sync message type: which part of the protocol grows. */
      bytesSentPerRecordPerNodeByType: Record<string, number>
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
    const sent = after.map((a, i) => a.total - before[i]!.total)
    const total = sent.reduce((a, b) => a + b, 0)
    const byType: Record<string, number> = {}
    for (const [i, a] of after.entries()) {
      for (const [type, bytes] of Object.entries(a.byType)) {
        byType[type] = (byType[type] ?? 0) + bytes - (before[i]!.byType[type] ?? 0)
      }
    }
    for (const type of Object.keys(byType)) byType[type] = Math.round(byType[type]! / records.length / n)
    return {
      nodes: n,
      records: records.length,
      secondsToConverge: Number(converged.toFixed(2)),
      bytesSentPerRecordPerNode: Math.round(total / records.length / n),
      bytesSentPerRecordByWriter: Math.round(sent[0]! / records.length),
      bytesSentPerRecordMaxOtherNode: Math.round(Math.max(...sent.slice(1)) / records.length),
      bytesSentPerRecordPerNodeByType: byType,
    }
  })
}

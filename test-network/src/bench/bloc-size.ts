/**
 * Blocs of growing size: the time for a bloc to converge on records written at one node, and
 * the mesh bytes each node sends per record (`legation_mesh_bytes_total`, frame payloads), which
 * must stay flat as the bloc grows — naive flooding would grow with the number of nodes.
 */
import type { TestNode } from '../network.ts'
import { citizenRegistration, submitBatch } from '../workload.ts'
import { sleep, withNetwork } from './proc.ts'
import type { Sizes } from './sizes.ts'

/**
 * Mesh bytes a node sent, sync message bytes it queued by message type, entries it wrote, and
 * copies of entries it received that it held already.
 */
async function meshBytesSent(
  node: TestNode,
): Promise<{ total: number; byType: Record<string, number>; appended: number; duplicates: number }> {
  const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  const counter = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0)
  const total = Number(/^legation_mesh_bytes_total\{direction="sent"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN)
  const byType: Record<string, number> = {}
  for (const m of text.matchAll(/^legation_sync_bytes_sent_total\{type="(\w+)"\} (\d+)/gm))
    byType[m[1]!] = Number(m[2])
  return {
    total,
    byType,
    appended: counter(/^legation_entries_appended_total (\d+)/m),
    duplicates: counter(/^legation_entries_received_total\{result="duplicate"\} (\d+)/m),
  }
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
      /**
       * Copies of an entry a node received beyond the first, on average over the other nodes
       * (0 when each got each entry once): a push overtaken by a pull, on a busy host.
       */
      extraCopiesPerEntryPerNode: number
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
    const entries = after[0]!.appended - before[0]!.appended
    const duplicates = after.reduce((sum, a, i) => sum + a.duplicates - before[i]!.duplicates, 0)
    return {
      nodes: n,
      records: records.length,
      secondsToConverge: Number(converged.toFixed(2)),
      bytesSentPerRecordPerNode: Math.round(total / records.length / n),
      bytesSentPerRecordByWriter: Math.round(sent[0]! / records.length),
      bytesSentPerRecordMaxOtherNode: Math.round(Math.max(...sent.slice(1)) / records.length),
      bytesSentPerRecordPerNodeByType: byType,
      extraCopiesPerEntryPerNode: Number((duplicates / Math.max(entries, 1) / (n - 1)).toFixed(2)),
    }
  })
}

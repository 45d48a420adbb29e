import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics.ts'

describe('createMetrics', () => {
  it('exposes every node metric and the process metrics on its own registry', async () => {
    const m = createMetrics()
    m.recordsAccepted.inc({ source: 'client' })
    m.recordsAccepted.inc({ source: 'peer' }, 3)
    m.recordsRejected.inc({ code: 'SIGNATURE_INVALID' })
    m.entriesAppended.inc()
    m.entriesReceived.inc({ result: 'applied' })
    m.writeLatency.observe(0.0012)
    m.httpRequests.observe({ method: 'POST', route: '/v1/records', status: '201' }, 0.004)
    m.peersConnected.set(4)
    m.peerMisbehaviour.inc({ code: 'ENTRY_INVALID' })
    m.replicationLag.set({ peer: '12D3KooWpeer' }, 17)
    m.httpErrors.inc({ code: 'VALIDATION_FAILED' })
    m.evidenceStored.inc({ kind: 'equivocation' })
    const traffic = { bytesSent: 1200, bytesReceived: 800, framesSent: 3, framesReceived: 2 }
    m.observeMesh(traffic)
    const upkeep = {
      stats: { compactions: 2, compacting: true, lastCompactionSeconds: 4.5, bytesSinceCompaction: 1024 },
    }
    m.observeStore(upkeep)

    const text = await m.registry.metrics()
    for (const line of [
      'legation_records_accepted_total{source="client"} 1',
      'legation_records_accepted_total{source="peer"} 3',
      'legation_records_rejected_total{code="SIGNATURE_INVALID"} 1',
      'legation_entries_appended_total 1',
      'legation_entries_received_total{result="applied"} 1',
      'legation_write_latency_seconds_bucket{le="0.0025"} 1',
      'legation_write_latency_seconds_bucket{le="0.001"} 0',
      'legation_http_request_duration_seconds_count{method="POST",route="/v1/records",status="201"} 1',
      'legation_peers_connected 4',
      'legation_peer_misbehaviour_total{code="ENTRY_INVALID"} 1',
      'legation_replication_lag_entries{peer="12D3KooWpeer"} 17',
      'legation_http_errors_total{code="VALIDATION_FAILED"} 1',
      'legation_evidence_stored_total{kind="equivocation"} 1',
      'legation_mesh_bytes_total{direction="sent"} 1200',
      'legation_mesh_bytes_total{direction="received"} 800',
      'legation_mesh_frames_total{direction="sent"} 3',
      'legation_mesh_frames_total{direction="received"} 2',
      'legation_store_compactions_total 2',
      'legation_store_compacting 1',
      'legation_store_last_compaction_seconds 4.5',
      'legation_store_written_since_compaction_bytes 1024',
    ]) {
      expect(text).toContain(line)
    }
    // Each scrape reads the mesh's running totals afresh.
    Object.assign(traffic, { bytesSent: 5000 })
    expect(await m.registry.metrics()).toContain('legation_mesh_bytes_total{direction="sent"} 5000')
    expect(text).toContain('process_cpu_seconds_total')
    expect(text).toContain('nodejs_eventloop_lag_seconds')
    expect(m.registry.contentType).toMatch(/^text\/plain/)
  })

  it('describes replication lag as what this node has that the peer lacks, and serves no dead gauge', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics()
    expect(text).toContain(
      '# HELP legation_replication_lag_entries Entries this node has that the peer is not known to have, by peer',
    )
    // Nothing sets a document count (the engine has no such API): no gauge that is always 0.
    expect(text).not.toContain('legation_state_docs')
  })

  it('keeps two nodes in one process apart', async () => {
    const a = createMetrics({ defaultMetrics: false })
    const b = createMetrics({ defaultMetrics: false, labels: { node: 'b' } })
    a.entriesAppended.inc(5)
    expect(await a.registry.metrics()).toContain('legation_entries_appended_total 5')
    expect(await b.registry.metrics()).toContain('legation_entries_appended_total{node="b"} 0')
    expect(await b.registry.metrics()).not.toContain('process_cpu_seconds_total')
  })
})

/**
 * The monitoring files of docs/deploy watch what a node really exposes: every metric the alert
 * rules and the Grafana dashboard name is one GET /metrics serves (a renamed metric would leave
 * an alert that never fires), and the data dir's disk gauges the disk alerts need read real
 * numbers. docs/deploy/README.md says how promtool, systemd-analyze, caddy and nginx check the
 * rest; docker.test.ts runs the Dockerfile and compose.yaml.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/metrics.ts'

const DEPLOY = resolve(import.meta.dirname, '../../../docs/deploy')
/** Names of the node's own metrics and of prom-client's process and runtime ones. */
const METRIC_NAME = /\b(?:legation|process|nodejs)_[a-z0-9_]+/g
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count']

describe('docs/deploy monitoring files', () => {
  let dir: string
  let exposed: Set<string>
  let text: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legation-deploy-files-'))
    const metrics = createMetrics({ dataDir: dir })
    text = await metrics.registry.metrics()
    exposed = new Set()
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      exposed.add(m.name)
      if (String(m.type) === 'histogram') for (const s of HISTOGRAM_SUFFIXES) exposed.add(`${m.name}${s}`)
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('finds names in what it reads (the check below can fail)', () => {
    expect(exposed.has('legation_peers_connected')).toBe(true)
    expect(exposed.has('legation_write_latency_seconds_bucket')).toBe(true)
    expect(exposed.has('legation_no_such_metric')).toBe(false)
  })

  for (const file of ['prometheus/alerts.yml', 'grafana/legation.json']) {
    it(`${file} names only metrics a node exposes`, async () => {
      const used = new Set((await readFile(join(DEPLOY, file), 'utf8')).match(METRIC_NAME) ?? [])
      expect(used.size).toBeGreaterThan(5)
      expect([...used].filter((name) => !exposed.has(name))).toEqual([])
    })
  }

  it('the alerts cover a node down, no peers, replication lag, equivocation, disk and errors', async () => {
    const alerts = await readFile(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')
    const names = [...alerts.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1])
    expect(names).toEqual(
      expect.arrayContaining([
        'LegationNodeDown',
        'LegationNoPeers',
        'LegationReplicationLag',
        'LegationEquivocation',
        'LegationDiskLow',
        'LegationHttpServerErrors',
      ]),
    )
  })

  it("reads the data dir's filesystem at each scrape: free and total bytes", () => {
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `))
      expect(line, name).toBeDefined()
      return Number(line?.split(' ')[1])
    }
    const free = value('legation_data_dir_free_bytes')
    const size = value('legation_data_dir_size_bytes')
    expect(size).toBeGreaterThan(0)
    expect(free).toBeGreaterThanOrEqual(0)
    expect(free).toBeLessThanOrEqual(size)
  })
})

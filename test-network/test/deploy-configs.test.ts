/**
 * The configuration files of docs/deploy, checked by the tools that will read them: promtool
 * (the Prometheus config, the alert rules and their unit tests), systemd-analyze (the unit),
 * caddy (the Caddyfile) and nginx (nginx.conf, included in a minimal main config with a
 * throw-away certificate). .ci/run installs them from Debian (prometheus, caddy, nginx-light;
 * systemd is there); without one, its test fails and says which package brings it.
 */
import { spawnSync } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const DEPLOY = resolve(import.meta.dirname, '../../docs/deploy')

function tool(cmd: string, args: string[], pkg: string, cwd = DEPLOY) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 })
  expect(r.error?.message, `${cmd}: apt-get install ${pkg} (.ci/run does)`).toBeUndefined()
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('docs/deploy configuration files', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'legation-deploy-configs-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prometheus.yml and alerts.yml pass promtool, and the rules pass their unit tests', () => {
    const config = tool('promtool', ['check', 'config', 'prometheus/prometheus.yml'], 'prometheus')
    expect(config.code, config.out).toBe(0)
    expect(config.out).toMatch(/SUCCESS: \d+ rules found/)
    const tests = tool('promtool', ['test', 'rules', 'prometheus/alerts.test.yml'], 'prometheus')
    expect(tests.code, tests.out).toBe(0)
  })

  it('promtool finds a broken rule (the check above can fail)', async () => {
    const rules = await readFile(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8')
    await writeFile(
      join(dir, 'broken.yml'),
      rules.replace('expr: legation_peers_connected == 0', 'expr: legation_peers_connected =='),
    )
    const r = tool('promtool', ['check', 'rules', join(dir, 'broken.yml')], 'prometheus')
    expect(r.code).not.toBe(0)
  })

  it('legation-node.service passes systemd-analyze verify', async () => {
    // verify reads the unit by its file name; a copy outside the repository keeps it that name.
    await copyFile(join(DEPLOY, 'legation-node.service'), join(dir, 'legation-node.service'))
    const r = tool('systemd-analyze', ['verify', join(dir, 'legation-node.service')], 'systemd')
    expect(r.code, r.out).toBe(0)
    // Every key is known to this systemd (an unknown one is only a warning, with exit 0).
    expect(r.out).not.toMatch(/Unknown key|Unknown section|ignoring/)
  })

  it('the Caddyfile is valid for caddy', () => {
    const r = tool('caddy', ['validate', '--config', 'Caddyfile', '--adapter', 'caddyfile'], 'caddy')
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('Valid configuration')
  })

  it('nginx.conf passes nginx -t inside a minimal main config', async () => {
    const cert = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=node.aa.example.org',
        '-days',
        '1',
        '-keyout',
        join(dir, 'privkey.pem'),
        '-out',
        join(dir, 'fullchain.pem'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    )
    expect(cert.status, cert.stderr).toBe(0)
    const site = (await readFile(join(DEPLOY, 'nginx.conf'), 'utf8')).replaceAll('/etc/ssl/legation', dir)
    expect(site).toContain(join(dir, 'fullchain.pem'))
    await writeFile(join(dir, 'legation.conf'), site)
    await writeFile(
      join(dir, 'main.conf'),
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  include ${dir}/legation.conf;\n}\n`,
    )
    const r = tool('nginx', ['-t', '-c', join(dir, 'main.conf')], 'nginx-light')
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('test is successful')
  })
})

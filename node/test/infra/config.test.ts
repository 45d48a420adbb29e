import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_MAX_DRIFT_MS } from '@legation/protocol'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_HTTP_PORT,
  DEFAULT_P2P_LISTEN,
  type LoadConfigInput,
  loadConfig,
  SETTINGS,
} from '../../src/config.ts'
import {
  DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
  DEFAULT_DOC_CACHE,
  DEFAULT_DOC_CACHE_BYTES,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
  DEFAULT_RECORD_MAX_AHEAD_MS,
} from '../../src/engine/engine.ts'
import type { NodeError } from '../../src/errors.ts'
import { DEFAULT_BODY_LIMIT as DEFAULT_HTTP_BODY_LIMIT } from '../../src/http/app.ts'
import {
  DEFAULT_BAN_MS,
  DEFAULT_ENTRIES_PER_FRAME,
  DEFAULT_FRAME_BUDGET,
  DEFAULT_FRAMES_IN_FLIGHT,
  DEFAULT_MAX_QUEUED_FRAMES,
  DEFAULT_RECEIPT_WINDOW_MS,
  DEFAULT_STATUS_INTERVAL_MS,
} from '../../src/replication/replication.ts'

const cwd = mkdtempSync(join(tmpdir(), 'legation-config-'))

function configFile(value: unknown, name = 'node.json'): string {
  const path = join(cwd, name)
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value))
  return path
}

function failure(input: Partial<LoadConfigInput>): NodeError {
  try {
    loadConfig({ cwd, ...input })
  } catch (err) {
    return err as NodeError
  }
  throw new Error('loadConfig did not fail')
}

describe('loadConfig', () => {
  it('routes cases per nationality state (STATE=URL), and refuses a route of another form', () => {
    const c = loadConfig({
      cwd,
      env: {
        LEGATION_DUTIES_CASE_ROUTES: 'AAA=https://queue.aaa.example/cases,BBB=http://10.0.0.2:9000/q',
        LEGATION_DUTIES_CASE_WEBHOOK: 'https://queue.bloc.example/cases',
      },
      argv: [],
    })
    expect(c.duties.caseRoutes).toEqual(['AAA=https://queue.aaa.example/cases', 'BBB=http://10.0.0.2:9000/q'])
    const err = failure({ env: { LEGATION_DUTIES_CASE_ROUTES: 'aaa:https://x.example' }, argv: [] })
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message + (err.details ?? []).join(' ')).toContain('duties.caseRoutes')
  })

  it('takes reverse proxies to trust from the environment, and refuses what is not an address', () => {
    const c = loadConfig({ cwd, env: { LEGATION_HTTP_TRUST_PROXY: '10.0.0.0/8,::1' }, argv: [] })
    expect(c.http.trustProxy).toEqual(['10.0.0.0/8', '::1'])
    expect(() => loadConfig({ cwd, env: { LEGATION_HTTP_TRUST_PROXY: 'everyone' }, argv: [] })).toThrow(
      /http\.trustProxy/,
    )
  })

  it('reads the bloc’s node addresses and CORS origins as lists of http(s) URLs', () => {
    const c = loadConfig({
      cwd,
      env: {
        LEGATION_HTTP_BLOC_URLS: 'http://127.0.0.1:8080,https://node-b.example.org',
        LEGATION_HTTP_CORS_ORIGINS: 'https://portal.example.org',
      },
      argv: [],
    })
    expect(c.http.blocUrls).toEqual(['http://127.0.0.1:8080', 'https://node-b.example.org'])
    expect(c.http.corsOrigins).toEqual(['https://portal.example.org'])
    expect(() => loadConfig({ cwd, env: { LEGATION_HTTP_CORS_ORIGINS: '*' }, argv: [] })).toThrow(
      /http\.corsOrigins/,
    )
  })

  it('has defaults for everything', () => {
    const c = loadConfig({ cwd, env: {}, argv: [] })
    expect(c.http).toEqual({
      host: '127.0.0.1',
      port: DEFAULT_HTTP_PORT,
      bodyLimit: DEFAULT_HTTP_BODY_LIMIT,
      requestTimeoutMs: 60_000,
      rateLimit: { max: 600 },
      trustProxy: [],
      blocUrls: [],
      corsOrigins: [],
    })
    expect(c.p2p).toEqual({
      listen: [...DEFAULT_P2P_LISTEN],
      bootstrap: true,
      bootstrapPeers: [],
      banMs: DEFAULT_BAN_MS,
    })
    expect(c.duties).toEqual({})
    expect(c.log.level).toBe('info')
    expect(c.dataDir).toBe(join(cwd, '.legation/node'))
    expect(c.dev).toBe(true)
    expect(c.faultInjection).toBe(false)
    expect(c.writeConcernTimeoutMs).toBe(5000)
    expect(c.charterFile).toBeUndefined()
    expect(c.keyFile).toBeUndefined()
  })

  it('applies file, then environment, then flags', () => {
    const file = configFile({
      http: { host: '0.0.0.0', port: 1000, rateLimit: { max: 50 } },
      log: { level: 'debug' },
      writeConcernTimeoutMs: 100,
    })
    const c = loadConfig({
      cwd,
      env: { LEGATION_CONFIG: file, LEGATION_HTTP_PORT: '2000', LEGATION_LOG_LEVEL: 'warn' },
      argv: ['--http-port', '3000'],
    })
    expect(c.http.port).toBe(3000) // flag beats env beats file
    expect(c.log.level).toBe('warn') // env beats file
    expect(c.http.host).toBe('0.0.0.0') // file beats default
    expect(c.http.rateLimit.max).toBe(50)
    expect(c.writeConcernTimeoutMs).toBe(100)
    expect(c.http.bodyLimit).toBe(DEFAULT_HTTP_BODY_LIMIT) // untouched default
  })

  it('takes the config file from --config over LEGATION_CONFIG', () => {
    const a = configFile({ http: { port: 1111 } }, 'a.json')
    const b = configFile({ http: { port: 2222 } }, 'b.json')
    const c = loadConfig({ cwd, env: { LEGATION_CONFIG: a }, argv: ['--config', 'b.json'] })
    expect(c.http.port).toBe(2222)
    expect(b).toBe(join(cwd, 'b.json'))
  })

  it('coerces strings and splits lists', () => {
    const c = loadConfig({
      cwd,
      env: {
        LEGATION_P2P_LISTEN: '/ip4/127.0.0.1/tcp/4001, /ip4/127.0.0.1/tcp/4002',
        LEGATION_P2P_BOOTSTRAP: 'false',
        LEGATION_FAULT_INJECTION: '1',
        LEGATION_HTTP_BODY_LIMIT: '2048',
        LEGATION_DATA_DIR: 'data',
      },
      argv: ['--no-dev', '--key-file=/keys/node.json'],
    })
    expect(c.p2p.listen).toEqual(['/ip4/127.0.0.1/tcp/4001', '/ip4/127.0.0.1/tcp/4002'])
    expect(c.p2p.bootstrap).toBe(false)
    expect(c.faultInjection).toBe(true)
    expect(c.http.bodyLimit).toBe(2048)
    expect(c.dataDir).toBe(join(cwd, 'data'))
    expect(c.dev).toBe(false)
    expect(c.keyFile).toBe('/keys/node.json')
  })

  it('repeats list flags and lets a flag replace the environment list', () => {
    const c = loadConfig({
      cwd,
      env: { LEGATION_P2P_LISTEN: '/ip4/127.0.0.1/tcp/1' },
      argv: [
        '--p2p-listen',
        '/ip4/127.0.0.1/tcp/2',
        '--p2p-listen=/ip4/127.0.0.1/tcp/3',
        '--fault-injection',
      ],
    })
    expect(c.p2p.listen).toEqual(['/ip4/127.0.0.1/tcp/2', '/ip4/127.0.0.1/tcp/3'])
    expect(c.faultInjection).toBe(true)
  })

  it('turns development mode off by default when a charter is configured', () => {
    const c = loadConfig({ cwd, env: { LEGATION_CHARTER_FILE: 'bloc/charter.cbor' } })
    expect(c.dev).toBe(false)
    expect(c.charterFile).toBe(join(cwd, 'bloc/charter.cbor'))
    expect(loadConfig({ cwd, env: { LEGATION_CHARTER_FILE: 'c.cbor', LEGATION_DEV: 'true' } }).dev).toBe(true)
  })

  it('resolves relative paths of the config file against its folder', () => {
    const sub = join(cwd, 'etc')
    const file = configFile({ dataDir: 'state', keyFile: '/abs/key.json' }, 'paths.json')
    const c = loadConfig({ cwd: sub, argv: ['--config', file] })
    expect(c.dataDir).toBe(join(cwd, 'state'))
    expect(c.keyFile).toBe('/abs/key.json')
  })

  it('reads the key passphrase from the environment only', () => {
    expect(loadConfig({ cwd, env: { LEGATION_KEY_PASSPHRASE: 's3cret' } }).keyPassphrase).toBe('s3cret')
    expect(failure({ argv: ['--key-passphrase', 'x'] }).message).toContain('unknown flag --key-passphrase')
  })

  it('reports every problem at once, with its path and source', () => {
    const file = configFile({ http: { bodyLimit: 'big' }, logg: {} })
    const err = failure({
      env: {
        LEGATION_CONFIG: file,
        LEGATION_HTTP_PORT: '70000',
        LEGATION_LOG_LEVEL: 'loud',
        LEGATION_P2P_LISTEN: '/ip4/127.0.0.1/tcp/1,/nope/1',
      },
      argv: ['--write-concern-timeout-ms', '0', '--dev=perhaps'],
    })
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.details).toEqual(
      expect.arrayContaining([
        `logg: unknown setting (from config file ${file})`,
        `http.bodyLimit: must be an integer, got "big" (from config file ${file})`,
        'http.port: must be <= 65535 (from LEGATION_HTTP_PORT)',
        'log.level: must be one of fatal, error, warn, info, debug, trace, silent (from LEGATION_LOG_LEVEL)',
        'writeConcernTimeoutMs: must be >= 1 (from --write-concern-timeout-ms)',
        'dev: must be true or false, got "perhaps" (from --dev)',
      ]),
    )
    expect(err.details.some((d) => d.startsWith('p2p.listen[1]: not a valid multiaddr'))).toBe(true)
    expect(err.details).toHaveLength(7)
    for (const d of err.details) expect(err.message).toContain(d)
  })

  it('rejects unknown flags clearly, all of them', () => {
    const err = failure({ argv: ['--htp-port', '80', '--verbose', '--http-port', '81', 'stray'] })
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.details).toEqual([
      'unknown flag --htp-port (see --help for the flags)',
      'unknown flag --verbose (see --help for the flags)',
      'unexpected argument "stray"',
    ])
  })

  it('rejects a flag without its value', () => {
    expect(failure({ argv: ['--http-port'] }).details).toEqual(['--http-port: needs a value'])
    expect(failure({ argv: ['--data-dir', '--http-port', '1'] }).details).toContain(
      '--data-dir: needs a value',
    )
  })

  it('reports an unreadable or malformed config file', () => {
    expect(failure({ argv: ['--config', 'missing.json'] }).details[0]).toMatch(
      /^config file .*missing\.json: cannot be read \(ENOENT\)$/,
    )
    const bad = configFile('{"http": ', 'bad.json')
    expect(failure({ env: { LEGATION_CONFIG: bad } }).details[0]).toMatch(/bad\.json: not valid JSON/)
  })

  it('returns a deep-frozen object', () => {
    const c = loadConfig({ cwd })
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.http.rateLimit)).toBe(true)
    expect(Object.isFrozen(c.p2p.listen)).toBe(true)
    expect(() => {
      ;(c.http as { port: number }).port = 1
    }).toThrow(TypeError)
    expect(() => (c.p2p.listen as string[]).push('/ip4/1.2.3.4/tcp/1')).toThrow(TypeError)
    // Loading again is unaffected (defaults are copied, not shared).
    expect(loadConfig({ cwd }).p2p.listen).toEqual([...DEFAULT_P2P_LISTEN])
  })

  it('defaults the engine and replication limits to the services’ own defaults', () => {
    const c = loadConfig({ cwd })
    expect(c.engine).toEqual({
      recordMaxAheadMs: DEFAULT_RECORD_MAX_AHEAD_MS,
      officerRecordMaxAgeMs: DEFAULT_OFFICER_RECORD_MAX_AGE_MS,
      citizenRecordMaxAgeMs: DEFAULT_CITIZEN_RECORD_MAX_AGE_MS,
      maxClockDriftMs: DEFAULT_MAX_DRIFT_MS,
      docCacheSize: DEFAULT_DOC_CACHE,
      docCacheBytes: DEFAULT_DOC_CACHE_BYTES,
      maxPending: DEFAULT_MAX_PENDING,
      maxPendingAgeMs: DEFAULT_MAX_PENDING_AGE_MS,
      maxPendingBytes: DEFAULT_MAX_PENDING_BYTES,
    })
    expect(c.replication).toEqual({
      statusIntervalMs: DEFAULT_STATUS_INTERVAL_MS,
      entriesPerFrame: DEFAULT_ENTRIES_PER_FRAME,
      frameBudget: DEFAULT_FRAME_BUDGET,
      maxQueuedFrames: DEFAULT_MAX_QUEUED_FRAMES,
      framesInFlight: DEFAULT_FRAMES_IN_FLIGHT,
      receiptWindowMs: DEFAULT_RECEIPT_WINDOW_MS,
    })
    // Literal values too: a default that changed by accident shows here.
    expect(c.engine.recordMaxAheadMs).toBe(120_000)
    expect(c.replication.statusIntervalMs).toBe(1000)
  })

  it('sets the engine and replication limits from file, environment and flags', () => {
    const file = configFile(
      { engine: { docCacheSize: 10 }, replication: { framesInFlight: 4 } },
      'limits.json',
    )
    const c = loadConfig({
      cwd,
      env: {
        LEGATION_CONFIG: file,
        LEGATION_ENGINE_MAX_PENDING: '1000',
        LEGATION_ENGINE_OFFICER_RECORD_MAX_AGE_MS: '60000',
        LEGATION_REPLICATION_ENTRIES_PER_FRAME: '64',
        LEGATION_REPLICATION_FRAMES_IN_FLIGHT: '3',
      },
      argv: ['--replication-frames-in-flight', '8', '--engine-record-max-ahead-ms=5000'],
    })
    expect(c.engine).toMatchObject({
      docCacheSize: 10,
      maxPending: 1000,
      officerRecordMaxAgeMs: 60_000,
      recordMaxAheadMs: 5000,
    })
    expect(c.replication).toMatchObject({ entriesPerFrame: 64, framesInFlight: 8 })
    // Every new setting has its environment variable and flag.
    const names = SETTINGS.filter((x) => /^(engine|replication)\./.test(x.path)).map((x) => [x.env, x.flag])
    expect(names).toContainEqual([
      'LEGATION_ENGINE_CITIZEN_RECORD_MAX_AGE_MS',
      'engine-citizen-record-max-age-ms',
    ])
    expect(names).toContainEqual(['LEGATION_REPLICATION_RECEIPT_WINDOW_MS', 'replication-receipt-window-ms'])
    expect(names).toContainEqual(['LEGATION_ENGINE_DOC_CACHE_BYTES', 'engine-doc-cache-bytes'])
    expect(names).toHaveLength(15)
  })

  it('reports every out-of-bounds engine and replication limit at once', () => {
    const err = failure({
      env: {
        LEGATION_ENGINE_DOC_CACHE_SIZE: '0',
        LEGATION_ENGINE_MAX_PENDING_BYTES: '1024',
        LEGATION_ENGINE_CITIZEN_RECORD_MAX_AGE_MS: 'a week',
        LEGATION_REPLICATION_ENTRIES_PER_FRAME: '5000',
      },
      argv: ['--replication-frame-budget', '1', '--replication-status-interval-ms', '600000'],
    })
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.details).toEqual(
      expect.arrayContaining([
        'engine.docCacheSize: must be >= 1 (from LEGATION_ENGINE_DOC_CACHE_SIZE)',
        'engine.maxPendingBytes: must be >= 4194304 (from LEGATION_ENGINE_MAX_PENDING_BYTES)',
        'engine.citizenRecordMaxAgeMs: must be an integer, got "a week" (from LEGATION_ENGINE_CITIZEN_RECORD_MAX_AGE_MS)',
        'replication.entriesPerFrame: must be <= 1024 (from LEGATION_REPLICATION_ENTRIES_PER_FRAME)',
        'replication.frameBudget: must be >= 65536 (from --replication-frame-budget)',
        'replication.statusIntervalMs: must be <= 60000 (from --replication-status-interval-ms)',
      ]),
    )
    expect(err.details).toHaveLength(6)
    expect(
      failure({ env: { LEGATION_ENGINE_WHATEVER: '1' }, argv: ['--engine-whatever', '1'] }).details,
    ).toEqual(['unknown flag --engine-whatever (see --help for the flags)'])
  })

  it('refuses a receipt window shorter than the write-concern timeout', () => {
    const err = failure({
      argv: ['--replication-receipt-window-ms', '2000', '--write-concern-timeout-ms', '3000'],
    })
    expect(err.details).toEqual([
      'replication.receiptWindowMs: must be >= writeConcernTimeoutMs (3000) (from --replication-receipt-window-ms)',
    ])
    expect(
      loadConfig({ cwd, argv: ['--replication-receipt-window-ms', '5000'] }).replication.receiptWindowMs,
    ).toBe(5000)
  })
})

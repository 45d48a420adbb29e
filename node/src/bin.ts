#!/usr/bin/env node
/**
 * The node binary (`npm start`). Loads config (file → LEGATION_* env → flags), then either
 * the charter and key file it names, or — with no charter configured — a development bloc
 * generated on first run under the data dir. Stops gracefully on SIGTERM / SIGINT.
 */
import { join } from 'node:path'
import { generateKeyPair } from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import { readCharterChain } from './charter-file.ts'
import { type Config, configUsage, loadConfig } from './config.ts'
import { ensureDevBloc } from './dev-bloc.ts'
import { NodeError } from './errors.ts'
import { loadKeys, readPassphraseFile } from './keystore.ts'
import { createLogger } from './logger.ts'
import { startNode } from './node.ts'
import { address, listenPorts, probePorts } from './port-probe.ts'

const ed = nativeEd25519

/** The key file's passphrase: given, or the first line of its file, or none. */
async function passphrase(config: Readonly<Config>): Promise<string | null> {
  if (config.keyPassphrase) return config.keyPassphrase
  return config.keyPassphraseFile ? readPassphraseFile(config.keyPassphraseFile) : null
}

async function identity(config: Readonly<Config>, log: ReturnType<typeof createLogger>) {
  const secret = await passphrase(config)
  if (config.charterFile) {
    const chain = await readCharterChain(ed, config.charterFile)
    const keyFile = config.keyFile ?? join(config.dataDir, 'node-key.json')
    const loaded = await loadKeys(keyFile, secret)
    const nodeSecret = loaded.keys.node
    if (!nodeSecret) throw new NodeError('KEYSTORE_CORRUPT', `${keyFile} holds no "node" key`)
    if (!loaded.encrypted) {
      log.warn(
        { keyFile },
        'THE NODE KEY IS STORED UNENCRYPTED. This is a development default: set LEGATION_KEY_PASSPHRASE (or LEGATION_KEY_PASSPHRASE_FILE) and re-save the key for any real deployment.',
      )
    }
    return { chain, nodeKeys: generateKeyPair(ed, nodeSecret) }
  }
  if (!config.dev) {
    throw new NodeError('CONFIG_INVALID', 'no charterFile configured and development mode is off (--no-dev)')
  }
  const dev = await ensureDevBloc(config.dataDir, {
    ed,
    now: Date.now(),
    log,
    httpPort: config.http.port,
    ...(config.keyFile ? { keyFile: config.keyFile } : {}),
    ...(secret ? { passphrase: secret } : {}),
  })
  if (dev.plaintextKeys) {
    log.warn(
      'THE NODE KEY IS STORED UNENCRYPTED (development bloc default): never use this node for real data',
    )
  }
  return { chain: dev.chain, nodeKeys: dev.nodeKeys, devSecrets: dev.files.secrets }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: npm start -- [flags]\n\n${configUsage()}\n`)
    return
  }
  const config = loadConfig({ argv, env: process.env, cwd: process.cwd() })
  // Everything the node writes (store files, keys) is its user's alone.
  process.umask(0o077)
  const log = createLogger(config)
  // Before anything is written: a busy port must not leave a half-used development bloc behind.
  await probePorts([
    { host: config.http.host, port: config.http.port, setting: 'http.port' },
    ...listenPorts(config.p2p.listen),
  ])
  const { chain, nodeKeys, devSecrets } = await identity(config, log)
  const node = await startNode({
    dataDir: config.dataDir,
    charter: chain,
    nodeKeys,
    logger: log,
    http: {
      host: config.http.host,
      port: config.http.port,
      bodyLimit: config.http.bodyLimit,
      rateLimitPerMinute: config.http.rateLimit.max,
      trustProxy: config.http.trustProxy,
      requestTimeoutMs: config.http.requestTimeoutMs,
      blocUrls: config.http.blocUrls,
      corsOrigins: config.http.corsOrigins,
      publicUrl: config.http.publicUrl,
    },
    p2p: config.p2p,
    writeConcernTimeoutMs: config.writeConcernTimeoutMs,
    faultInjection: config.faultInjection,
    duties: config.duties,
    engine: { ...config.engine, retentionMs: config.privacy.retentionDays * 86_400_000 },
    unsyncedServeAfterMs: config.privacy.unsyncedServeAfterMs,
    replication: config.replication,
    witness: config.witness,
    storeUpkeep: {
      idleMs: config.store.compactAfterIdleMs,
      minBytes: config.store.compactAfterBytes,
    },
  })
  if (config.faultInjection) log.warn('FAULT INJECTION IS ENABLED: for tests only')
  process.stdout.write(`Legation node listening on ${node.url} (try ${node.url}/v1/node)\n`)
  if (devSecrets) {
    // The development bloc's officer signs requests and records with the admin CLI.
    process.stdout.write(
      [
        `Development bloc: the officer's key and certificate are in ${devSecrets} (plaintext; development only).`,
        '  fill the node with test data: npx legation dev seed --citizens 100',
        `                               (with --node ${node.url} --officer ${devSecrets} if not the defaults)`,
        `  read as that officer:         npx legation citizen find --nationality DVB --purpose consular-assistance --node ${node.url} --key ${devSecrets}`,
        `  try a revocation:             npx legation officer certify --state-key ${devSecrets} --state DVA --roles registrar --out trial.key.json --node ${node.url}`,
        '                               then revoke that officer, not this one (admin-cli/README.md § officer revoke)',
        `  start afresh (officer revoked, data to drop): stop this node, then npx legation dev reset --yes --data-dir ${config.dataDir}`,
        '',
      ].join('\n'),
    )
  }

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'unclean stop')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  const errno = err as NodeJS.ErrnoException & { address?: string; port?: number }
  if (errno?.code === 'EADDRINUSE') {
    // Taken between the probe and the listen: still the one documented code.
    const where = errno.address && errno.port ? address(errno.address, errno.port) : 'a configured port'
    process.stderr.write(`legation: PORT_IN_USE: ${where} is already in use, perhaps by another node\n`)
    process.exit(1)
  }
  if (err instanceof NodeError || (err instanceof Error && 'code' in err && typeof err.code === 'string')) {
    const e = err as Error & { code: string }
    // The message already lists every problem (details repeat them for programs).
    process.stderr.write(`legation: ${e.code}: ${e.message}\n`)
  } else {
    process.stderr.write(`legation: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  }
  process.exit(1)
})

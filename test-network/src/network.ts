/**
 * A local bloc of real Legation node processes on loopback, for tests, benchmarks and
 * `npm run testnet`. Each node is a child process (`node node/src/bin.ts`) with its own data
 * dir, HTTP port and libp2p port; the harness generates the charter, can stop, SIGKILL,
 * restart (on a new port if asked), partition and heal nodes, and waits for convergence.
 * It saves what it generated (keys, ports) in `<dir>/network.json`, so that a later run with
 * `reuse` starts the same bloc again on the data it kept.
 *
 * @example
 * const net = await TestNetwork.start({ nodes: 5 })
 * try { ...; await net.waitForConvergence() } finally { await net.stop() }
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { readCharterChain } from '@legation/node/charter-file'
import type { CharterAdoption, NodeInfo as NodeInfoSchema } from '@legation/node/http/schemas'
import {
  addNode,
  type CharterBody,
  certifyNode,
  certifyOfficer,
  createGenesis,
  encodeCanonical,
  expelMember,
  fromBase64url,
  generateKeyPair,
  type KeyPair,
  keyId,
  LegationClient,
  type OfficerCertificate,
  peerIdOf,
  type SignedCharter,
  signAmendment,
  toBase64url,
  toHex,
  verifyCharterChain,
  verifyGenesis,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'

const ed = nativeEd25519
const REPO = resolve(import.meta.dirname, '../..')
const BIN = join(REPO, 'node/src/bin.ts')
export const STATES = ['DVA', 'DVB', 'DVC'] as const
/** What a network saves in its dir to be started again (`reuse`). */
export const NETWORK_FILE = 'network.json'
const CHARTER_FILE = 'charter.cbor'
const NODE_KEY_FILE = 'node-key.json'

export interface NetworkOptions {
  nodes: number
  /** Where data dirs live; a temp dir (removed on stop) if omitted. */
  dir?: string
  /** Enables the fault-injection route each node needs for partitions. @default true */
  faultInjection?: boolean
  /** @default 'warn' */
  logLevel?: string
  /** Extra environment for every node. */
  env?: Record<string, string>
  /**
   * How long a starting node may take to answer `/ready`: on a machine shared with other work a
   * node's start (module loading, the store) takes several times its usual few seconds.
   * @default 30_000
   */
  readyTimeoutMs?: number
  /** Only the first `startNodes` nodes are started (the rest are certified, for late joiners). @default nodes */
  startNodes?: number
  /** The last `joiners` nodes are left out of the genesis charter, to be admitted later (`admit`). @default 0 */
  joiners?: number
  /**
   * If `dir` holds a network a previous run saved (`network.json`), start that one again: same
   * keys, charter, ports and data (`nodes` must match its size). Otherwise a new one is generated.
   * @default false
   */
  reuse?: boolean
}

/** `<dir>/network.json`: test secrets in plaintext (mode 0600), never for real data. */
interface SavedNetwork {
  v: 1
  warning: string
  /** Secret keys of the member states, base64url (node keys are in each node's key file). */
  stateKeys: Record<string, string>
  validity: { notBefore: number; notAfter: number }
  nodes: Array<{ index: number; state: string; httpPort: number; p2pPort: number }>
}

/** Ports this process handed out: the system may offer a port again once it is closed. */
const handedOut = new Set<number>()

export async function freePort(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const srv = createServer()
    srv.listen(0, '127.0.0.1')
    await once(srv, 'listening')
    const addr = srv.address()
    const port = typeof addr === 'object' && addr ? addr.port : 0
    srv.close()
    await once(srv, 'close')
    if (!handedOut.has(port) || tries >= 20) {
      handedOut.add(port)
      return port
    }
  }
}

async function sleep(ms: number) {
  await new Promise((r) => setTimeout(r, ms))
}

export class TestNode {
  readonly index: number
  readonly dir: string
  readonly keys: KeyPair
  readonly state: string
  readonly peerId: string
  readonly nodeId: string
  httpPort: number
  p2pPort: number
  /** Extra environment for this node's next start. */
  env: Record<string, string> = {}
  #proc: ChildProcess | undefined
  #exited: Promise<unknown> | undefined
  readonly #net: TestNetwork

  constructor(
    net: TestNetwork,
    index: number,
    dir: string,
    keys: KeyPair,
    state: string,
    httpPort: number,
    p2pPort: number,
  ) {
    this.#net = net
    this.index = index
    this.dir = dir
    this.keys = keys
    this.state = state
    this.peerId = peerIdOf(keys.publicKey)
    this.nodeId = keyId(keys.publicKey)
    this.httpPort = httpPort
    this.p2pPort = p2pPort
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }

  get pid(): number | undefined {
    return this.#proc?.pid
  }

  get running(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null
  }

  /**
   * Starts the process. Should its HTTP port have been taken meanwhile (another test's process
   * on this machine), it starts again on a new one; its p2p port is in the charter and stays.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startOnce()
      } catch (err) {
        const log = await readFile(join(this.dir, 'node.log'), 'utf8').catch(() => '')
        if (attempt >= 3 || !log.includes(`EADDRINUSE`) || !log.includes(String(this.httpPort))) throw err
        this.httpPort = await freePort()
      }
    }
  }

  async #startOnce(): Promise<void> {
    if (this.running) return
    const log = createWriteStream(join(this.dir, 'node.log'), { flags: 'a' })
    const args = [
      // Node flags for profiling the nodes a bench starts, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`
      // (Node refuses --cpu-prof in NODE_OPTIONS).
      ...(process.env.LEGATION_TESTNET_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      BIN,
      '--data-dir',
      this.dir,
      '--http-port',
      String(this.httpPort),
      '--p2p-listen',
      `/ip4/127.0.0.1/tcp/${this.p2pPort}`,
      '--charter-file',
      join(this.#net.dir, CHARTER_FILE),
      '--key-file',
      join(this.dir, NODE_KEY_FILE),
      '--no-dev',
      '--log-level',
      this.#net.options.logLevel ?? 'warn',
    ]
    if (this.#net.options.faultInjection ?? true) args.push('--fault-injection')
    const proc = spawn(process.execPath, args, {
      cwd: REPO,
      // Every test client shares one loopback address: lift the per-client rate limit.
      env: { ...process.env, LEGATION_HTTP_RATE_LIMIT_MAX: '1000000', ...this.#net.options.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    proc.stdout.pipe(log)
    proc.stderr.pipe(log)
    this.#proc = proc
    this.#exited = once(proc, 'exit')
    await this.waitReady(this.#net.options.readyTimeoutMs)
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (!this.running) {
        const tail = (await readFile(join(this.dir, 'node.log'), 'utf8').catch(() => ''))
          .split('\n')
          .slice(-6)
          .join('\n')
        throw new Error(`node ${this.index} exited during start-up (${join(this.dir, 'node.log')}):\n${tail}`)
      }
      try {
        const res = await fetch(`${this.url}/ready`, { signal: AbortSignal.timeout(1000) })
        if (res.ok) return
      } catch {
        // not listening yet
      }
      await sleep(100)
    }
    throw new Error(`node ${this.index} not ready after ${timeoutMs} ms`)
  }

  /** Graceful stop: SIGTERM, then wait for the process to exit. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.#proc!.kill('SIGTERM')
    const timer = setTimeout(() => this.#proc?.kill('SIGKILL'), 15_000)
    await this.#exited
    clearTimeout(timer)
  }

  /** SIGKILL: no chance to flush anything that was not already durable. */
  async kill(): Promise<void> {
    if (!this.running) return
    this.#proc!.kill('SIGKILL')
    await this.#exited
  }

  /** Starts again on the same data; on new ports if asked (the DHT must find it then). */
  async restart(opts: { newPorts?: boolean } = {}): Promise<void> {
    await this.stop()
    if (opts.newPorts) {
      this.httpPort = await freePort()
      this.p2pPort = await freePort()
    }
    await this.start()
  }

  async get<T = unknown>(path: string, signer?: LegationClient): Promise<T> {
    const headers = signer ? signer.sign({ method: 'GET', path }) : {}
    const res = await fetch(`${this.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`GET ${path} → ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }

  async post<T = unknown>(path: string, body: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    return { status: res.status, body: (await res.json()) as T }
  }

  /** POST of a CBOR body (a batch of records as `application/cbor`); the answer is JSON. */
  async postCbor<T = unknown>(path: string, body: Uint8Array): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/cbor' },
      body: new Uint8Array(body),
      signal: AbortSignal.timeout(30_000),
    })
    return { status: res.status, body: (await res.json()) as T }
  }

  async info(): Promise<NodeInfo> {
    return this.get<NodeInfo>('/v1/node')
  }
}

/** What GET /v1/node answers: the node's own response schema. */
export type NodeInfo = Static<typeof NodeInfoSchema>

export class TestNetwork {
  readonly dir: string
  readonly options: NetworkOptions
  readonly nodes: TestNode[] = []
  readonly stateKeys: Record<string, KeyPair> = {}
  /**
   * The secretariat's auditor key the genesis charter names. Not saved: a network reused from its
   * folder (`reuse`) has a charter naming a key this one is not.
   */
  readonly auditorKeys: KeyPair = generateKeyPair(ed)
  chain: SignedCharter[] = []
  bloc = ''
  charterHash = ''
  readonly #ownsDir: boolean
  #validity = { notBefore: 0, notAfter: 0 }

  private constructor(dir: string, options: NetworkOptions, ownsDir: boolean) {
    this.dir = dir
    this.options = options
    this.#ownsDir = ownsDir
  }

  static async start(options: NetworkOptions): Promise<TestNetwork> {
    const ownsDir = options.dir === undefined
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'legation-net-')))
    await mkdir(dir, { recursive: true })
    const net = new TestNetwork(dir, options, ownsDir)
    try {
      const saved = options.reuse ? await readSaved(dir) : undefined
      if (saved) await net.#load(saved)
      else await net.#generate()
      const n = options.startNodes ?? options.nodes
      await Promise.all(net.nodes.slice(0, n).map((node) => node.start()))
    } catch (err) {
      await net.stop()
      throw err
    }
    return net
  }

  async #generate(): Promise<void> {
    const now = Date.now()
    const validity = { notBefore: now - 86_400_000, notAfter: now + 365 * 86_400_000 }
    for (const s of STATES) this.stateKeys[s] = generateKeyPair(ed)
    for (let i = 0; i < this.options.nodes; i++) {
      const nodeDir = join(this.dir, `node-${i}`)
      await mkdir(nodeDir, { recursive: true })
      const keys = generateKeyPair(ed)
      const node = new TestNode(
        this,
        i,
        nodeDir,
        keys,
        STATES[i % STATES.length]!,
        await freePort(),
        await freePort(),
      )
      this.nodes.push(node)
      // Development key file (plaintext, as the dev default): the format node/src/keystore.ts reads.
      await writeFile(
        join(nodeDir, NODE_KEY_FILE),
        JSON.stringify({ v: 1, plaintext: true, keys: { node: toBase64url(keys.secretKey) } }),
        { mode: 0o600 },
      )
    }
    const founders = this.nodes.slice(0, this.nodes.length - (this.options.joiners ?? 0))
    const genesis = createGenesis(ed, {
      name: 'Local test bloc',
      members: STATES.map((code) => ({
        code,
        name: `Development State ${code.slice(2)}`,
        stateKeys: this.stateKeys[code]!,
        nodes: founders.filter((n) => n.state === code).map((n) => nodeSpec(n)),
      })),
      auditorKey: this.auditorKeys.publicKey,
      quorum: 2,
      issuedAt: now,
      validity,
    })
    const view = verifyGenesis(ed, genesis)
    this.#validity = validity
    this.chain = [genesis]
    this.bloc = view.bloc
    this.charterHash = view.hash
    await writeFile(join(this.dir, CHARTER_FILE), encodeCanonical(this.chain))
    const saved: SavedNetwork = {
      v: 1,
      warning: 'TEST NETWORK ONLY: secret keys of a generated bloc, stored without encryption.',
      stateKeys: Object.fromEntries(STATES.map((s) => [s, toBase64url(this.stateKeys[s]!.secretKey)])),
      validity,
      nodes: this.nodes.map((n) => ({
        index: n.index,
        state: n.state,
        httpPort: n.httpPort,
        p2pPort: n.p2pPort,
      })),
    }
    await writeFile(join(this.dir, NETWORK_FILE), `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 })
  }

  /** Takes up a network a previous run saved: its keys, ports and charter (as amended since). */
  async #load(saved: SavedNetwork): Promise<void> {
    const file = join(this.dir, NETWORK_FILE)
    if (saved.nodes.length !== this.options.nodes)
      throw new Error(`${file} is a network of ${saved.nodes.length} nodes, not ${this.options.nodes}`)
    for (const s of STATES) this.stateKeys[s] = generateKeyPair(ed, fromBase64url(saved.stateKeys[s]!))
    for (const n of saved.nodes) {
      const nodeDir = join(this.dir, `node-${n.index}`)
      const keyFile = JSON.parse(await readFile(join(nodeDir, NODE_KEY_FILE), 'utf8')) as {
        keys: { node: string }
      }
      const keys = generateKeyPair(ed, fromBase64url(keyFile.keys.node))
      this.nodes.push(new TestNode(this, n.index, nodeDir, keys, n.state, n.httpPort, n.p2pPort))
    }
    this.chain = await readCharterChain(ed, join(this.dir, CHARTER_FILE))
    const views = verifyCharterChain(ed, this.chain)
    const latest = views[views.length - 1]!
    for (const s of STATES) {
      const member = latest.members.get(s)
      if (!member || toHex(member.stateKey) !== toHex(this.stateKeys[s]!.publicKey))
        throw new Error(`${file} does not belong to the charter in ${this.dir}: key of ${s} differs`)
    }
    this.#validity = saved.validity
    this.bloc = latest.bloc
    this.charterHash = latest.hash
  }

  /**
   * Admits a node left out of the genesis charter: an amendment adding it, signed by two of
   * the three member states (the quorum), submitted to node `via`, from where it spreads.
   */
  async admit(index: number, via = 0): Promise<void> {
    const node = this.nodes[index]!
    const views = verifyCharterChain(ed, this.chain)
    const prev = views[views.length - 1]!
    const cert = certifyNode(
      ed,
      node.state,
      this.stateKeys[node.state]!.secretKey,
      nodeSpec(node),
      this.#validity,
    )
    const draft = addNode(prev, node.state, cert, { issuedAt: Date.now() })
    await this.#amend(draft, STATES.slice(0, 2), via)
  }

  /**
   * Expels a member state: an amendment removing it (and so its nodes), signed by the two
   * other states (the quorum), submitted to node `via`, from where it spreads.
   */
  async expel(state: string, via = 0): Promise<void> {
    const prev = verifyCharterChain(ed, this.chain).at(-1)!
    const draft = expelMember(prev, state, { issuedAt: Date.now() })
    await this.#amend(
      draft,
      STATES.filter((s) => s !== state),
      via,
    )
  }

  async #amend(draft: CharterBody, signedBy: readonly string[], via: number): Promise<void> {
    const signers = signedBy.map((code) => ({ code, secretKey: this.stateKeys[code]!.secretKey }))
    this.chain = [...this.chain, signAmendment(ed, draft, signers)]
    await writeFile(join(this.dir, CHARTER_FILE), encodeCanonical(this.chain))
    const res = await this.nodes[via]!.post<Static<typeof CharterAdoption>>('/v1/charter', {
      chain: toBase64url(encodeCanonical(this.chain)),
    })
    if (res.status !== 200 || !res.body.adopted)
      throw new Error(`amendment not adopted: ${res.status} ${JSON.stringify(res.body)}`)
  }

  /** The charter chain file every node starts from (`legation audit --charter`). */
  get charterFile(): string {
    return join(this.dir, CHARTER_FILE)
  }

  /** A consular officer of `state` with every role, for signing records and requests. */
  officer(
    state: string = STATES[0],
    roles: Array<'registrar' | 'consul' | 'crisis'> = ['registrar', 'consul', 'crisis'],
  ) {
    const now = Date.now()
    const keys = generateKeyPair(ed)
    const cert: OfficerCertificate = certifyOfficer(
      ed,
      this.bloc,
      state,
      this.stateKeys[state]!.secretKey,
      keys.publicKey,
      roles,
      {
        notBefore: now - 86_400_000,
        notAfter: now + 86_400_000,
      },
    )
    return new LegationClient({ ed, bloc: this.bloc, charter: this.charterHash, keys, cert })
  }

  /** The secretariat's auditor, who signs requests to the audit routes. */
  auditor(): LegationClient {
    return new LegationClient({ ed, bloc: this.bloc, charter: this.charterHash, keys: this.auditorKeys })
  }

  /** The size of the network saved in `dir` (see `reuse`), or undefined if it holds none. */
  static async savedSize(dir: string): Promise<number | undefined> {
    return (await readSaved(dir))?.nodes.length
  }

  /** Cuts the nodes of `a` off from those of `b` (both ways), through the fault switch. */
  async partition(a: readonly number[], b: readonly number[]): Promise<void> {
    const block = async (from: readonly number[], to: readonly number[]) => {
      for (const i of from) {
        const res = await this.nodes[i]!.post('/v1/_faults', { block: to.map((j) => this.nodes[j]!.peerId) })
        if (res.status !== 200) throw new Error(`fault injection refused by node ${i}: ${res.status}`)
      }
    }
    await block(a, b)
    await block(b, a)
  }

  async heal(): Promise<void> {
    for (const n of this.nodes) if (n.running) await n.post('/v1/_faults', { block: [] })
  }

  /** Waits until every running node (or those given) reports the same state root and no pending entries. */
  async waitForConvergence(opts: { timeoutMs?: number; nodes?: readonly number[] } = {}): Promise<string> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
    const which = opts.nodes ?? this.nodes.filter((n) => n.running).map((n) => n.index)
    let last: string[] = []
    while (Date.now() < deadline) {
      try {
        const infos = await Promise.all(which.map((i) => this.nodes[i]!.info()))
        last = infos.map((i) => `${i.stateRoot.slice(0, 12)} ${JSON.stringify(i.versionVector)}`)
        const roots = new Set(infos.map((i) => i.stateRoot))
        const vvs = new Set(infos.map((i) => JSON.stringify(sortKeys(i.versionVector))))
        const settled = infos.every((i) => i.pendingEntries === 0 && !i.rebuilding)
        if (roots.size === 1 && vvs.size === 1 && settled) return infos[0]!.stateRoot
      } catch {
        // a node restarting: try again
      }
      await sleep(100)
    }
    throw new Error(`no convergence within ${opts.timeoutMs ?? 30_000} ms:\n${last.join('\n')}`)
  }

  /** Stops every node (SIGTERM, by PID) and removes the temp dir if the harness made it. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop().catch(() => n.kill())))
    if (this.#ownsDir) await rm(this.dir, { recursive: true, force: true })
  }
}

async function readSaved(dir: string): Promise<SavedNetwork | undefined> {
  const file = join(dir, NETWORK_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const saved = JSON.parse(text) as SavedNetwork
  if (saved.v !== 1 || !Array.isArray(saved.nodes) || typeof saved.stateKeys !== 'object')
    throw new Error(`${file} is not a saved test network`)
  return saved
}

function nodeSpec(n: TestNode) {
  return {
    name: `node-${n.index}`,
    keys: n.keys,
    clientId: 10_000 + n.index,
    addrs: [`/ip4/127.0.0.1/tcp/${n.p2pPort}/p2p/${n.peerId}`],
  }
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)))
}

export { toHex }

/**
 * The deployment as an operator runs it: the image built from the Dockerfile, and a bloc of three
 * member states started from docs/deploy/compose.yaml with a real compose tool and a real Docker
 * engine, from a charter and encrypted node keys made by the `legation` CLI's own ceremony.
 *
 * No image can be pulled here, so the Dockerfile's base (`NODE_IMAGE`) is a stand-in built from
 * Debian's packages with debootstrap plus the Node 22 binary of the `node` npm package
 * (test-network/docker/stand-in-base.sh). Containers run on the host's network (the engine runs
 * without a bridge: `dockerd --bridge=none --iptables=false`, as .ci/run starts it), each node
 * bound to loopback with its own ports. Needs root (debootstrap), a running engine, and
 * docker-compose or `docker compose`: .ci/run installs and starts them; without them this test
 * fails and says what is missing, as the portal's browser test does without Chromium.
 *
 * Everything it makes is its own and removed at the end: a compose project, its containers and
 * volumes, two image tags and a temp dir. It uses no cache of an earlier run (`--no-cache`), but
 * BuildKit's build cache stays in the engine, shared with any other build there, so it is left
 * alone: `docker builder prune` clears it (about 0.8 GB a run); a CI machine starts without one.
 */
import { type SpawnOptions, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../src/network.ts'

const REPO = resolve(import.meta.dirname, '../..')
const CLI = join(REPO, 'admin-cli/src/cli.ts')
const COMPOSE_FILE = join(REPO, 'docs/deploy/compose.yaml')
const STAND_IN = join(REPO, 'test-network/docker/stand-in-base.sh')
const STATES = ['AA', 'BB', 'CC'] as const
type State = (typeof STATES)[number]
const SERVICE: Record<State, string> = { AA: 'node-aa', BB: 'node-bb', CC: 'node-cc' }
const PASS: Record<State, string> = { AA: 'aa-docker-pass-1', BB: 'bb-docker-pass-2', CC: 'cc-docker-pass-3' }
/** The image's `node` user (Dockerfile), who must be able to read the mounted key files. */
const IMAGE_UID = 1000
/** Debian's own client where it is installed (its BuildKit needs no buildx plugin), else any. */
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to its end (bounded by `timeoutMs`: then it is killed and the result says so). */
async function run(cmd: string, args: string[], opts: SpawnOptions = {}, timeoutMs = 600_000): Promise<Ran> {
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (d) => (stdout += d))
  proc.stderr?.on('data', (d) => (stderr += d))
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  try {
    const [code] = (await once(proc, 'exit')) as [number | null]
    return { code, stdout, stderr }
  } catch (err) {
    return { code: null, stdout, stderr: `${stderr}${(err as Error).message}` }
  } finally {
    clearTimeout(timer)
  }
}

async function ok(cmd: string, args: string[], opts: SpawnOptions = {}, timeoutMs?: number): Promise<Ran> {
  const r = await run(cmd, args, opts, timeoutMs)
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} → ${r.code}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    )
  }
  return r
}

/** `legation …` on the host, as a member state's operator runs it, with only its own passphrase. */
/** The passphrase the citizen's own key file is sealed under (`citizen enrol` seals it). */
const CITIZEN_PASS = 'ana-passphrase-for-the-docker-test'

/** The CLI as a state (its key file's passphrase) or as the citizen. */
function legation(cwd: string, args: string[], who?: State | 'citizen'): Promise<Ran> {
  return ok(process.execPath, [CLI, ...args], { cwd, env: cliEnv(who) })
}

function cliEnv(who?: State | 'citizen'): NodeJS.ProcessEnv {
  const { LEGATION_KEY_PASSPHRASE: _p, LEGATION_KEY_PASSPHRASE_FILE: _f, ...env } = process.env
  if (who === undefined) return env
  return { ...env, LEGATION_KEY_PASSPHRASE: who === 'citizen' ? CITIZEN_PASS : PASS[who] }
}

/** Polls `check` every `intervalMs` until it returns a value, at most `timeoutMs`. */
async function poll<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const intervalMs = 500
  let last: unknown
  for (let i = 0; i < Math.ceil(timeoutMs / intervalMs); i++) {
    try {
      const v = await check()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
}

/** `docker compose` (v2) if the client has it, else Debian's `docker-compose` (v1). */
async function composeTool(): Promise<[string, string[]] | undefined> {
  if ((await run(DOCKER, ['compose', 'version'])).code === 0) return [DOCKER, ['compose']]
  if ((await run('docker-compose', ['version'])).code === 0) return ['docker-compose', []]
  return undefined
}

interface NodeInfo {
  bloc: string
  state: string
  peerId: string
  peers: Array<{ peerId: string; connected: boolean }>
}

describe('the Docker image and docs/deploy/compose.yaml: a 3-member bloc in containers', {
  timeout: 900_000,
}, () => {
  const id = `${process.pid}-${Date.now().toString(36)}`
  const project = `legation-docker-test-${id}`
  const baseTag = `legation-test-base:${id}`
  const imageTag = `legation-test:${id}`
  let root = ''
  let compose: [string, string[]] | undefined
  let composeEnv: NodeJS.ProcessEnv = {}
  const http = {} as Record<State, number>
  const p2p = {} as Record<State, number>
  const url = (s: State) => `http://127.0.0.1:${http[s]}`
  const composeRun = (args: string[], timeoutMs?: number) => {
    if (!compose) throw new Error('no compose tool')
    const [cmd, pre] = compose
    return run(cmd, [...pre, '-p', project, '-f', COMPOSE_FILE, ...args], { env: composeEnv }, timeoutMs)
  }
  let started = false
  let imagesMade = 0

  beforeAll(async () => {
    // What this test needs, each missing piece named with its remedy.
    expect(process.getuid?.(), 'debootstrap needs root: run as root (.ci/run does)').toBe(0)
    expect(existsSync('/usr/sbin/debootstrap'), 'apt-get install debootstrap (.ci/run does)').toBe(true)
    const info = await run(DOCKER, ['info', '--format', '{{.ServerVersion}}'])
    expect(
      info.code,
      `no Docker engine: apt-get install docker.io, then dockerd --bridge=none --iptables=false & (.ci/run does)\n${info.stderr}`,
    ).toBe(0)
    compose = await composeTool()
    expect(compose, 'no compose tool: apt-get install docker-compose (.ci/run does)').toBeDefined()

    root = await mkdtemp(join(tmpdir(), 'legation-docker-'))
    for (const s of STATES) {
      http[s] = await freePort()
      p2p[s] = await freePort()
    }
  }, 120_000)

  afterAll(async () => {
    // Only what this test made: its compose project (containers, volumes), its tags, its folder.
    if (started) await composeRun(['down', '--volumes', '--timeout', '30'], 120_000)
    if (imagesMade > 1) await run(DOCKER, ['image', 'rm', '--force', imageTag])
    if (imagesMade > 0) await run(DOCKER, ['image', 'rm', '--force', baseTag])
    // Dangling layers of this build's stages: removed by the ids the build left behind.
    if (imagesMade > 0) {
      const dangling = await run(DOCKER, [
        'images',
        '--quiet',
        '--filter',
        'dangling=true',
        '--filter',
        `label=legation.test=${id}`,
      ])
      const ids = dangling.stdout.split('\n').filter(Boolean)
      if (ids.length > 0) await run(DOCKER, ['image', 'rm', '--force', ...ids])
    }
    if (root) await rm(root, { recursive: true, force: true })
  }, 300_000)

  it('builds the image on a stand-in base, starts three members from the compose file, and a record written at one is read at another', async () => {
    // 1. The base, from Debian's packages and the Node 22 of the `node` npm package, then the
    //    image from the repository's Dockerfile on it.
    const images = async () => {
      imagesMade = 1
      await ok(STAND_IN, [baseTag, root], { env: { ...process.env, DOCKER } }, 480_000)
      imagesMade = 2
      await ok(
        DOCKER,
        [
          'build',
          // Every run builds from nothing, as on a clean machine: no layer of an earlier run.
          '--no-cache',
          '--network',
          'host',
          '--build-arg',
          `NODE_IMAGE=${baseTag}`,
          '--label',
          `legation.test=${id}`,
          '--tag',
          imageTag,
          REPO,
        ],
        { env: { ...process.env, DOCKER_BUILDKIT: '1' } },
        600_000,
      )
    }

    // 2. Meanwhile, the founding ceremony with the CLI, each state in its own folder with its own
    //    passphrase; the public files travel between them, as they would by e-mail.
    const dir = (s: State | 'bloc') => join(root, s)
    const toAA = (s: State, name: string) => copyFile(join(dir(s), name), join(dir('AA'), name))
    const ceremony = async () => {
      await Promise.all(
        STATES.map(async (s) => {
          await mkdir(dir(s))
          await legation(
            dir(s),
            ['keys', 'generate', '--role', 'state', '--state', s, '--out', 'state.key'],
            s,
          )
          await legation(dir(s), ['keys', 'generate', '--role', 'node', '--state', s, '--out', 'node.key'], s)
          await legation(
            dir(s),
            [
              'ceremony',
              'descriptor',
              '--state-key',
              'state.key',
              '--name',
              `State ${s}`,
              '--node-key',
              'node.key',
              '--addr',
              `/ip4/127.0.0.1/tcp/${p2p[s]}`,
              '--out',
              `${s}.descriptor.json`,
            ],
            s,
          )
          if (s !== 'AA') await toAA(s, `${s}.descriptor.json`)
        }),
      )
      await legation(dir('AA'), ['keys', 'generate', '--role', 'auditor', '--out', 'auditor.key'], 'AA')
      await legation(dir('AA'), [
        'ceremony',
        'draft',
        '--name',
        'Docker test bloc',
        '--descriptor',
        ...STATES.map((s) => `${s}.descriptor.json`),
        '--auditor-key',
        'auditor.key',
        '--quorum',
        '2',
        '--out',
        'draft.json',
      ])
      await Promise.all(
        STATES.map(async (s) => {
          if (s !== 'AA') await copyFile(join(dir('AA'), 'draft.json'), join(dir(s), 'draft.json'))
          await legation(
            dir(s),
            [
              'ceremony',
              'sign',
              '--draft',
              'draft.json',
              '--state-key',
              'state.key',
              '--out',
              `${s}.sig.json`,
            ],
            s,
          )
          if (s !== 'AA') await toAA(s, `${s}.sig.json`)
        }),
      )
      const fin = await legation(dir('AA'), [
        'ceremony',
        'finalize',
        '--draft',
        'draft.json',
        '--sig',
        ...STATES.map((s) => `${s}.sig.json`),
        '--out',
        'charter.cbor',
        '--json',
      ])
      return JSON.parse(fin.stdout) as { bloc: string }
    }

    // Both to their end (so that the clean-up never races a build), then the first failure.
    const [built, founded] = await Promise.allSettled([images(), ceremony()])
    if (built.status === 'rejected') throw built.reason
    if (founded.status === 'rejected') throw founded.reason
    const genesis = founded.value

    const user = await ok(DOCKER, [
      'image',
      'inspect',
      '--format',
      '{{.Config.User}} {{json .Config.Healthcheck.Test}}',
      imageTag,
    ])
    expect(user.stdout.trim()).toBe('node ["CMD","node","node/bin/legation-healthcheck.js"]')

    // 3. The layout compose.yaml mounts: bloc/<STATE>/charter.cbor and bloc/<STATE>/node.key, the
    //    key readable by the image's user only (docs/deploy/README.md says the same).
    for (const s of STATES) {
      const to = join(dir('bloc'), s)
      await mkdir(to, { recursive: true })
      await copyFile(join(dir('AA'), 'charter.cbor'), join(to, 'charter.cbor'))
      await copyFile(join(dir(s), 'node.key'), join(to, 'node.key'))
      await chown(join(to, 'node.key'), IMAGE_UID, IMAGE_UID)
      await chmod(join(to, 'node.key'), 0o400)
    }
    expect(JSON.parse(await readFile(join(dir('bloc'), 'AA', 'node.key'), 'utf8')).ciphertext).toBeTypeOf(
      'string',
    )

    // 4. The bloc, from the compose file as it is committed: only its variables are set.
    composeEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LEGATION_IMAGE: imageTag,
      LEGATION_BLOC_DIR: dir('bloc'),
      ...Object.fromEntries(
        STATES.flatMap((s) => [
          [`${s}_HTTP_PORT`, String(http[s])],
          [`${s}_P2P_PORT`, String(p2p[s])],
          [`${s}_KEY_PASSPHRASE`, PASS[s]],
        ]),
      ),
    }
    started = true
    const up = await composeRun(['up', '--detach', '--no-build'], 300_000)
    expect(up.code, `compose up\n${up.stdout}\n${up.stderr}`).toBe(0)

    const logs = async () => (await composeRun(['logs', '--no-color', '--tail', '40'], 60_000)).stdout
    const infoOf = async (s: State): Promise<NodeInfo | undefined> => {
      const res = await fetch(`${url(s)}/v1/node`, { signal: AbortSignal.timeout(5_000) })
      return res.ok ? ((await res.json()) as NodeInfo) : undefined
    }
    let infos: Record<State, NodeInfo>
    try {
      infos = {} as Record<State, NodeInfo>
      for (const s of STATES) {
        infos[s] = await poll(`${s}'s node to answer`, () => infoOf(s), 180_000)
        expect(infos[s]).toMatchObject({ bloc: genesis.bloc, state: s })
      }
      // They find each other from the addresses in the charter: a bloc.
      const ids = STATES.map((s) => infos[s].peerId)
      for (const s of STATES) {
        await poll(
          `${s} connected to both other members`,
          async () => {
            const peers = (await infoOf(s))?.peers ?? []
            const others = ids.filter((p) => p !== infos[s].peerId)
            return others.every((p) => peers.some((q) => q.peerId === p && q.connected)) ? true : undefined
          },
          120_000,
        )
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- compose logs ---\n${await logs()}`)
    }

    // 5. A record written at one member (a citizen enrols at AA's node)…
    const citizenKey = join(root, 'ana.key.json')
    const enrolled = JSON.parse(
      (
        await legation(
          root,
          [
            'citizen',
            'enrol',
            '--node',
            url('AA'),
            '--key',
            citizenKey,
            '--nationality',
            'AA',
            '--given',
            'Ana',
            '--family',
            'Novak',
            '--birth-date',
            '1990-04-12',
            '--document-number',
            'X1234567',
            '--document-expires',
            '2031-06-30',
            '--email',
            'ana@example.org',
            '--json',
          ],
          'citizen',
        )
      ).stdout,
    ) as { citizen: string; status: string }
    expect(enrolled.status).toBe('accepted')
    // …is read at another (the citizen asks CC's node for their file).
    const file = await poll(
      "the citizen's file at CC's node",
      async () => {
        const r = await run(
          process.execPath,
          [CLI, 'citizen', 'status', '--node', url('CC'), '--key', citizenKey, '--json'],
          { env: cliEnv('citizen') },
        )
        return r.code === 0 ? (JSON.parse(r.stdout) as { id: string }) : undefined
      },
      120_000,
    )
    expect(file.id).toBe(enrolled.citizen)

    // The image's health check, run by the engine inside each container, finds the node.
    for (const s of STATES) {
      const container = (await composeRun(['ps', '--quiet', SERVICE[s]])).stdout.trim()
      expect(container, `${SERVICE[s]}'s container`).toMatch(/^[0-9a-f]{12,}$/)
      const health = await poll(
        `${SERVICE[s]} healthy`,
        async () => {
          const r = await run(DOCKER, [
            'inspect',
            '--format',
            '{{.State.Health.Status}} {{.Config.User}}',
            container,
          ])
          return r.stdout.trim().startsWith('healthy') ? r.stdout.trim() : undefined
        },
        120_000,
      )
      expect(health).toBe('healthy node')
    }

    // `docker compose stop` sends SIGTERM: the node flushes its store and exits 0 within the
    // grace period, rather than being killed (137).
    const aa = (await composeRun(['ps', '--quiet', SERVICE.AA])).stdout.trim()
    const stopped = await composeRun(['stop', '--timeout', '30', SERVICE.AA], 120_000)
    expect(stopped.code, stopped.stderr).toBe(0)
    const exit = await ok(DOCKER, ['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', aa])
    expect(exit.stdout.trim()).toBe('false 0')
  })
})

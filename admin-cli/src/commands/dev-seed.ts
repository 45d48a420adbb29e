/**
 * `legation dev seed`: fills a development bloc's node with realistic citizens through the
 * public API (POST /v1/records/batch), signed by the development officer a dev node writes
 * to `<dataDir>/dev-secrets.json`, and welfare check-ins signed by the citizens' own keys.
 *
 * Refuses any node whose bloc is not a development bloc (see `isDevelopmentBloc`).
 */
import { randomBytes } from 'node:crypto'
import type { BatchResults as BatchResultsSchema } from '@legation/node/http/schemas'
import {
  type BuiltRecord,
  type Ed25519,
  generateKeyPair,
  type KeyPair,
  keyId,
  LegationClient,
  type OfficerCertificate,
  type RecordKind,
  toSubmission,
} from '@legation/protocol'
import { nativeEd25519 } from '@legation/protocol/native-crypto'
import type { Static } from '@sinclair/typebox'
import { type Command, Option } from 'commander'
import { CliError } from '../errors.ts'
import { type CliIo, println, progressBar } from '../io.ts'
import { type LoadedKey, loadKeyFile } from '../key-file.ts'
import { NodeClient, type NodeInfo } from '../node-client.ts'
import { dataDirOption, intInRange, keyFileOption, keyFilePath, nodeOption } from '../options.ts'
import { planSeed, SeededRandom, type SeedPlan } from '../seed-data.ts'

export const DEFAULT_BATCH = 200
/** The node's own limit on a batch (node/src/http/routes/records.ts MAX_BATCH). */
export const MAX_BATCH = 1000
export const MAX_SEED_CITIZENS = 1_000_000
/** A few batches in flight keep the node's group commit busy; more only queue. */
export const DEFAULT_CONCURRENCY = 4
export const MAX_CONCURRENCY = 16

/**
 * Development blocs are recognized by their member state codes: a generated development bloc
 * uses `DV` + one letter (DVA, DVB, DVC…), which no real state code (ISO 3166) starts with.
 */
export const DEV_STATE_CODE = /^DV[A-Z]$/

export function isDevelopmentBloc(info: Pick<NodeInfo, 'charter'>): boolean {
  const members = info.charter.members
  return members.length > 0 && members.every((m) => DEV_STATE_CODE.test(m))
}

type Submission = ReturnType<typeof toSubmission>

/** What POST /v1/records/batch answers. */
type BatchResults = Static<typeof BatchResultsSchema>

export interface SeedInit {
  node: NodeClient
  ed: Ed25519
  officer: { keys: KeyPair; cert: OfficerCertificate }
  bloc: string
  /** The charter version the records name (the node's current one). */
  charter: string
  /** Nationalities to draw from: the bloc's members. */
  nationalities: readonly string[]
  citizens: number
  batch: number
  /** Batches in flight at once (within a phase). */
  concurrency: number
  seed: string
  now: () => number
  onProgress?: (done: number, total: number, tally: SeedTally) => void
}

export interface SeedTally {
  sent: number
  accepted: number
  duplicate: number
  refused: number
  refusedByCode: Record<string, number>
  acceptedByKind: Partial<Record<RecordKind, number>>
}

export interface SeedResult extends SeedTally {
  seed: string
  batches: number
  elapsedMs: number
  alertCountry: string | null
}

type Built = { kind: RecordKind; sub: Submission }

/**
 * A unit that must stay within one batch, in order. Phase 0 (registrations with their presence
 * and case, and the alerts) has no dependency between groups, so its batches may be in flight
 * together; phase 1 (check-ins) needs the citizens and alerts, so it starts once phase 0 is done.
 */
interface Group {
  phase: 0 | 1
  records: Built[]
}

/** Builds the records of a plan, citizen by citizen. */
function* buildGroups(plan: SeedPlan, init: SeedInit, random: (n: number) => Uint8Array): Generator<Group> {
  const common = { ed: init.ed, bloc: init.bloc, charter: init.charter, clock: init.now, random }
  const officer = new LegationClient({ ...common, keys: init.officer.keys, cert: init.officer.cert })
  const out = (b: BuiltRecord): Built => ({ kind: b.record.header.kind, sub: toSubmission(b) })
  const citizenKeys: KeyPair[] = []
  for (const c of plan.citizens) {
    const keys = generateKeyPair(init.ed, c.secretKey)
    citizenKeys.push(keys)
    const id = keyId(keys.publicKey)
    const records = [
      out(
        officer.record(
          'citizen.registered',
          id,
          {
            citizenKey: keys.publicKey,
            nationality: c.nationality,
            consent: { purposes: c.consent, version: 1 },
          },
          {
            salt: officer.salt(),
            names: c.names,
            birth: c.birth,
            travelDocument: c.travelDocument,
            contact: c.contact,
          },
        ),
      ),
    ]
    if (c.presence) {
      const { from, until, ...where } = c.presence
      records.push(
        out(officer.record('presence.registered', id, { from, until }, { salt: officer.salt(), ...where })),
      )
    }
    if (c.case) {
      records.push(
        out(
          officer.record(
            'case.opened',
            id,
            { caseType: c.case.type },
            { salt: officer.salt(), details: c.case.details },
          ),
        ),
      )
    }
    yield { phase: 0, records }
  }
  const alerts = plan.alerts.map((a) => officer.record('alert.issued', null, a))
  for (const a of alerts) yield { phase: 0, records: [out(a)] }
  for (const ci of plan.checkins) {
    // A check-in is the citizen's own word: signed with their key, no certificate.
    const citizen = new LegationClient({ ...common, keys: citizenKeys[ci.citizen]! })
    const payload = { salt: citizen.salt(), location: ci.location, ...(ci.note ? { note: ci.note } : {}) }
    const body = { alert: alerts[ci.alert]!.id, status: ci.status }
    yield { phase: 1, records: [out(citizen.record('welfare.checkin', citizen.id, body, payload))] }
  }
}

function countRecords(plan: SeedPlan): number {
  let n = plan.alerts.length + plan.checkins.length
  for (const c of plan.citizens) n += 1 + (c.presence ? 1 : 0) + (c.case ? 1 : 0)
  return n
}

/** Plans, signs and submits, with up to `concurrency` batches in flight within a phase. */
export async function seedNode(init: SeedInit): Promise<SeedResult> {
  const plan = planSeed(new SeededRandom(init.seed), {
    citizens: init.citizens,
    nationalities: init.nationalities,
    now: init.now(),
  })
  const salts = new SeededRandom(`${init.seed}/salts`)
  const total = countRecords(plan)
  const tally: SeedTally = {
    sent: 0,
    accepted: 0,
    duplicate: 0,
    refused: 0,
    refusedByCode: {},
    acceptedByKind: {},
  }
  const started = init.now()
  let batches = 0

  const send = async (batch: Built[]) => {
    let res: BatchResults
    try {
      res = await init.node.post<BatchResults>('/v1/records/batch', {
        records: batch.map((r) => r.sub),
      })
    } catch (err) {
      if (err instanceof CliError && err.remoteCode === 'BODY_TOO_LARGE') {
        throw new CliError('NODE_REFUSED', `${err.message} (try a smaller --batch than ${init.batch})`, {
          cause: err,
          remoteCode: err.remoteCode,
          status: err.status,
        })
      }
      throw err
    }
    if (!Array.isArray(res.results) || res.results.length !== batch.length) {
      throw new CliError(
        'NODE_RESPONSE_INVALID',
        'the node answered a batch with the wrong number of results',
      )
    }
    batches++
    res.results.forEach((r, i) => {
      const kind = batch[i]!.kind
      if (r.status === 'refused') {
        tally.refused++
        const code = r.code ?? 'UNKNOWN'
        tally.refusedByCode[code] = (tally.refusedByCode[code] ?? 0) + 1
        return
      }
      if (r.status === 'duplicate') tally.duplicate++
      else tally.accepted++
      tally.acceptedByKind[kind] = (tally.acceptedByKind[kind] ?? 0) + 1
    })
    tally.sent += batch.length
    init.onProgress?.(tally.sent, total, tally)
  }

  const inFlight = new Set<Promise<void>>()
  let failure: { err: unknown } | undefined
  let pending: Built[] = []
  const flush = async () => {
    if (pending.length > 0) {
      const batch = pending
      pending = []
      const p: Promise<void> = send(batch)
        .catch((err: unknown) => {
          failure ??= { err }
        })
        .finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    while (inFlight.size >= init.concurrency) await Promise.race(inFlight)
    if (failure) throw failure.err
  }
  const drain = async () => {
    await Promise.all(inFlight)
    if (failure) throw failure.err
  }

  init.onProgress?.(0, total, tally)
  let phase = 0
  try {
    for (const group of buildGroups(plan, init, (n) => salts.bytes(n))) {
      if (group.phase !== phase) {
        await flush()
        await drain()
        phase = group.phase
      }
      if (pending.length > 0 && pending.length + group.records.length > init.batch) await flush()
      pending.push(...group.records)
    }
    await flush()
  } finally {
    // Never leave requests running behind an error.
    await Promise.allSettled(inFlight)
  }
  await drain()
  return {
    ...tally,
    seed: init.seed,
    batches,
    elapsedMs: init.now() - started,
    alertCountry: plan.alerts[0]?.country ?? null,
  }
}

interface SeedOptions {
  node: string
  citizens: number
  officer?: string
  dataDir?: string
  batch: number
  concurrency: number
  seed?: string
  json?: boolean
}

/** Registers `dev seed` under `dev`; returns the `dev` command for its other subcommands. */
export function registerDevSeed(program: Command, io: CliIo): Command {
  const dev = program.command('dev').description('development blocs only')
  dev
    .command('seed')
    .description('create realistic test citizens, presences, cases, alerts and check-ins on a dev node')
    .addOption(nodeOption(io))
    .addOption(
      new Option('--citizens <n>', 'how many citizens to register')
        .argParser(intInRange(1, MAX_SEED_CITIZENS))
        .makeOptionMandatory(),
    )
    .addOption(keyFileOption('officer', "the development officer's key and certificate"))
    .addOption(dataDirOption())
    .addOption(
      new Option('--batch <n>', 'records per POST /v1/records/batch')
        .argParser(intInRange(1, MAX_BATCH))
        .default(DEFAULT_BATCH),
    )
    .addOption(
      new Option('--concurrency <n>', 'batches in flight at once')
        .argParser(intInRange(1, MAX_CONCURRENCY))
        .default(DEFAULT_CONCURRENCY),
    )
    .option('--seed <text>', 'seed of the generated data (default: random, printed)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: SeedOptions) => {
      const node = new NodeClient({ url: opts.node, fetch: io.fetch })
      const info = await node.get<NodeInfo>('/v1/node')
      if (!isDevelopmentBloc(info)) {
        throw new CliError(
          'NOT_DEV_BLOC',
          `${node.origin} runs bloc ${info.bloc.slice(0, 12)}… of ${info.charter.members.join(', ')}, not a development bloc; dev seed writes test data only to development blocs`,
        )
      }
      const path = keyFilePath(io, opts.officer, opts.dataDir)
      const officer = requireOfficer(loadKeyFile(nativeEd25519, path), path)
      if (officer.cert.body.bloc !== info.bloc || (officer.bloc && officer.bloc !== info.bloc)) {
        throw new CliError(
          'BLOC_MISMATCH',
          `${path} is for bloc ${officer.cert.body.bloc.slice(0, 12)}…, the node runs ${info.bloc.slice(0, 12)}…`,
        )
      }
      const seed = opts.seed ?? randomBytes(4).toString('hex')
      const progress = progressReporter(io)
      let result: SeedResult
      try {
        result = await seedNode({
          node,
          ed: nativeEd25519,
          officer,
          bloc: info.bloc,
          charter: info.charter.hash,
          nationalities: info.charter.members,
          citizens: opts.citizens,
          batch: opts.batch,
          concurrency: opts.concurrency,
          seed,
          now: io.now,
          onProgress: progress.update,
        })
      } finally {
        progress.stop()
      }
      if (opts.json)
        println(io.stdout, JSON.stringify({ node: node.origin, bloc: info.bloc, ...result }, null, 2))
      else for (const line of formatSummary(node.origin, info, result)) println(io.stdout, line)
      if (result.refused > 0) {
        throw new CliError('SEED_INCOMPLETE', `${result.refused} of ${result.sent} records were refused`)
      }
    })
  return dev
}

function requireOfficer(key: LoadedKey, path: string): LoadedKey & { cert: OfficerCertificate } {
  if (!key.cert) throw new CliError('KEY_FILE_INVALID', `${path} holds no officer certificate`)
  return key as LoadedKey & { cert: OfficerCertificate }
}

/** A progress bar when a person watches stderr; one plain line per batch otherwise. */
function progressReporter(io: CliIo) {
  if (io.stderr.isTTY) {
    const bar = progressBar<{ refused: number }>(
      io,
      'seeding [{bar}] {percentage}% | {value}/{total} records | {refused} refused',
    )
    return {
      update: (done: number, total: number, tally: SeedTally) =>
        bar.update(done, total, { refused: tally.refused }),
      stop: () => bar.stop(),
    }
  }
  return {
    update(done: number, total: number, tally: SeedTally) {
      if (done === 0) return
      println(io.stderr, `seeding: ${done}/${total} records sent, ${tally.refused} refused`)
    },
    stop() {},
  }
}

export function formatSummary(url: string, info: NodeInfo, r: SeedResult): string[] {
  const k = (kind: RecordKind) => r.acceptedByKind[kind] ?? 0
  const seconds = r.elapsedMs / 1000
  const rate = seconds > 0 ? `${Math.round(r.sent / seconds)} records/s` : 'n/a'
  const lines = [
    `Seeded ${url} (bloc ${info.bloc.slice(0, 12)}…, charter v${info.charter.version}) from seed "${r.seed}"`,
    `  citizens   ${k('citizen.registered')} registered, ${k('presence.registered')} present abroad, ${k('case.opened')} cases opened`,
    `  crisis     ${k('alert.issued')} alert(s)${r.alertCountry ? ` in ${r.alertCountry}` : ''}, ${k('welfare.checkin')} welfare check-ins`,
    `  records    ${r.sent} sent in ${r.batches} batch(es): ${r.accepted} accepted, ${r.duplicate} duplicate, ${r.refused} refused`,
  ]
  const codes = Object.entries(r.refusedByCode).sort((a, b) => b[1] - a[1])
  if (codes.length > 0) lines.push(`  refused    ${codes.map(([c, n]) => `${c} ×${n}`).join(', ')}`)
  lines.push(`  rate       ${rate} (${seconds.toFixed(2)} s)`)
  return lines
}

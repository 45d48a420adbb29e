/**
 * What a hostile client or peer can make a node spend, in main-thread CPU per request or frame:
 * `npm run bench:abuse` (prints JSON). Bounded in count; runs in-process.
 *
 * - `charterSubmission`: an anonymous POST /v1/charter of a self-made chain of another bloc with
 *   64 members × 16 nodes (the largest charter), as a client could send it.
 * - `repeatedWantReceipts`: a sync frame naming one entry 1,024 times.
 */
import { buildApp, Engine, MemoryStore } from '@legation/node'
import {
  createGenesis,
  decodeSyncMessage,
  encodeCanonical,
  encodeSyncMessage,
  generateKeyPair,
  toBase64url,
} from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { Registry } from 'prom-client'

function blocOf(members: number, nodes: number, now: number) {
  const validity = { notBefore: now - 1000, notAfter: now + 86_400_000 }
  return createGenesis(ed, {
    name: 'Bench bloc',
    members: Array.from({ length: members }, (_, m) => ({
      code: `${String.fromCharCode(65 + (m % 26))}${String.fromCharCode(65 + Math.floor(m / 26))}X`,
      name: `State ${m}`,
      stateKeys: generateKeyPair(ed),
      nodes: Array.from({ length: nodes }, (_, n) => ({
        name: `n${m}-${n}`,
        keys: generateKeyPair(ed),
        clientId: 1 + m * nodes + n,
        addrs: [],
      })),
    })),
    auditorKey: generateKeyPair(ed).publicKey,
    quorum: 2,
    issuedAt: now,
    validity,
  })
}

/** Main-thread CPU per call, in ms, over `runs` calls. */
async function cpuPer(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = process.cpuUsage()
  for (let i = 0; i < runs; i++) await fn()
  const d = process.cpuUsage(t)
  return Number(((d.user + d.system) / 1000 / runs).toFixed(2))
}

const now = Date.now()
const ours = blocOf(3, 1, now)
// A read-only engine (no node key): the route checks the chain the same way.
const engine = await Engine.open({ store: new MemoryStore(), ed, charter: [ours] })
const app = await buildApp({
  ctx: {
    engine,
    ed,
    now: Date.now,
    writeConcernTimeoutMs: 1000,
    node: { peerId: 'bench', name: 'bench', state: 'AAX', version: 'bench' },
    isReady: () => true,
  },
  registry: new Registry(),
  rateLimitPerMinute: 1_000_000,
})
// Two versions: longer than ours, so the node must look at it.
const theirs = blocOf(64, 16, now)
const evil = { chain: toBase64url(encodeCanonical([theirs, theirs])) }
let status = 0
// The per-client budget answers 429 after 10 submissions a minute: measure the first ten.
const charterSubmission = await cpuPer(10, async () => {
  status = (await app.inject({ method: 'POST', url: '/v1/charter', payload: evil })).statusCode
})
await app.close()

const origin = 'ab'.repeat(16)
const frame = encodeSyncMessage({
  t: 'wantReceipts',
  entries: Array.from({ length: 1024 }, () => ({ origin, seq: 1 })),
})
const repeatedWantReceipts = await cpuPer(200, () => {
  try {
    decodeSyncMessage(frame)
  } catch {
    // refused: the sender is banned
  }
})

process.stdout.write(
  `${JSON.stringify(
    {
      charterSubmission: { cpuMsPerRequest: charterSubmission, status, bytes: evil.chain.length },
      repeatedWantReceipts: { cpuMsPerFrame: repeatedWantReceipts },
    },
    null,
    2,
  )}\n`,
)

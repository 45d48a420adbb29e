/**
 * Offline audit of a node's store (a stopped node's data dir, or a backup): every feed
 * entry's signature and hash chain, then a replay of all feeds into a fresh, read-only
 * engine whose recomputed state root must equal the one the node stored. Trusts nothing
 * the node derived: only the signed entries, the payloads (checked against their digests)
 * and the charter chain (checked against its quorum signatures).
 *
 * @example
 * const report = await auditStore(await LevelStore.open(`${dataDir}/db`), nativeEd25519)
 * if (!report.ok) console.error(report.problems)
 */
import {
  decodeCanonical,
  decodeEntry,
  type Ed25519,
  EMPTY_ACCUMULATOR,
  entryHash,
  equalBytes,
  fromHex,
  ProtocolError,
  type SignedCharter,
  stateRoot,
  verifyCharterChain,
  verifyEntrySignature,
} from '@legation/protocol'
import { Engine } from './engine/engine.ts'
import { K } from './engine/keys.ts'
import { MemoryStore } from './storage/memory-store.ts'
import { prefixRange, type Store } from './storage/store.ts'

export interface AuditReport {
  ok: boolean
  bloc: string
  charterVersion: number
  /** Entries per origin node id. */
  feeds: Record<string, number>
  entries: number
  records: number
  storedRoot: string
  replayedRoot: string
  evidence: number
  problems: string[]
}

export async function auditStore(store: Store, ed: Ed25519): Promise<AuditReport> {
  const problems: string[] = []
  const rawChain = await store.get(K.charter)
  if (!rawChain) throw new ProtocolError('CHARTER_INVALID', 'the store holds no charter')
  const chain = decodeCanonical(rawChain, 64 * 1024 * 1024) as SignedCharter[]
  const charters = verifyCharterChain(ed, chain)
  const bloc = charters[0]!.bloc
  const rawState = await store.get(K.state)
  const stored = rawState
    ? (JSON.parse(new TextDecoder().decode(rawState)) as { vv: Record<string, number> })
    : { vv: {} }

  const replay = await Engine.open({ store: new MemoryStore(), ed, charter: chain })
  const payloads = new Map<string, Uint8Array>()
  for await (const [key, value] of store.range(prefixRange('pay/'))) payloads.set(key.slice(4), value)

  const feeds: Record<string, number> = {}
  let entries = 0
  let records = 0
  const all: Uint8Array[] = []
  for (const [origin, top] of Object.entries(stored.vv)) {
    let prev: Uint8Array | null = null
    let seq = 0
    for await (const [, bytes] of store.range(prefixRange(K.entries(origin)))) {
      seq++
      try {
        const entry = decodeEntry(bytes)
        verifyEntrySignature(ed, entry, bloc, charters)
        if (entry.body.origin !== origin || entry.body.seq !== seq)
          problems.push(`${origin}: entry ${seq} is out of place`)
        const chained =
          seq === 1
            ? entry.body.prev === null
            : entry.body.prev !== null && prev !== null && equalBytes(entry.body.prev, prev)
        if (!chained) problems.push(`${origin}: entry ${seq} does not name the previous entry`)
        prev = entryHash(entry.body)
        records += entry.body.changes.reduce((n, c) => n + c.records.length, 0)
        all.push(bytes)
      } catch (err) {
        problems.push(`${origin}: entry ${seq}: ${err instanceof ProtocolError ? err.code : String(err)}`)
      }
    }
    if (seq !== top) problems.push(`${origin}: ${seq} entries stored, version vector says ${top}`)
    feeds[origin] = seq
    entries += seq
  }
  // Causal order is the engine's job: it holds an entry until what it depends on arrived.
  for (const bytes of all) {
    try {
      await replay.applyRemote(bytes, payloads)
    } catch (err) {
      problems.push(`replay: ${err instanceof ProtocolError ? err.code : String(err)}`)
    }
  }
  if (replay.pendingCount() > 0)
    problems.push(`replay: ${replay.pendingCount()} entries never became applicable`)
  const storedRoot = await storedStateRoot(store)
  const replayedRoot = replay.stateRoot()
  if (storedRoot !== replayedRoot) problems.push(`state root: stored ${storedRoot}, replayed ${replayedRoot}`)
  let evidence = 0
  for await (const _ of store.range(prefixRange('evid/'))) evidence++
  await replay.close()
  return {
    ok: problems.length === 0,
    bloc,
    charterVersion: charters.length,
    feeds,
    entries,
    records,
    storedRoot,
    replayedRoot,
    evidence,
    problems,
  }
}

async function storedStateRoot(store: Store): Promise<string> {
  const raw = await store.get(K.state)
  if (!raw) return stateRoot(EMPTY_ACCUMULATOR)
  const { acc } = JSON.parse(new TextDecoder().decode(raw)) as { acc: string }
  return stateRoot(fromHex(acc))
}

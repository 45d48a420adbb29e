/**
 * Takes a backup of a running node (format.ts): one consistent view of its store and the key
 * ring that opens it, while writes go on.
 *
 * The store's pairs come from one range read over the whole key space: LevelDB reads an
 * iterator from a snapshot taken when it opens, so the pairs are the store as it was at one
 * moment, every batch wholly in or wholly out. The ring is a file beside the store, replaced
 * whole when a citizen is erased (vault.ts: the new ring is written before the batch that
 * re-wraps keys under it, and the old bucket key is dropped only after that batch is durable), so
 * a ring read just before or just after the snapshot opens every key in it — as long as it did
 * not change in between. The ring is read before and after the snapshot opens, and the pair is
 * taken only if both reads agree (each write of the ring seals it under a fresh nonce, so a
 * changed ring never reads the same); erasures are rare, and a few tries suffice.
 *
 * @example
 * for await (const bytes of backupStream(store, manifest)) out.write(bytes)
 */
import { createHash } from 'node:crypto'
import type { Engine } from '../engine/engine.ts'
import { STORE_FORMAT } from '../engine/migrate.ts'
import { RING_FILE } from '../engine/vault.ts'
import { NodeError } from '../errors.ts'
import type { Store } from '../storage/store.ts'
import {
  BACKUP_MAGIC,
  BACKUP_VERSION,
  BackupCounts,
  type BackupManifest,
  type BackupTrailer,
  FRAME,
  frame,
  jsonBytes,
  KvFramer,
} from './format.ts'

/** Tries to open a snapshot while the ring stays the same. */
export const SNAPSHOT_TRIES = 5

/**
 * The backup's bytes, frame by frame. Throws BACKUP_BUSY (before the first byte) if the ring
 * kept changing, VAULT_RING_MISSING if the store has none.
 */
export async function* backupStream(
  store: Store,
  manifest: Omit<BackupManifest, 'format'>,
): AsyncGenerator<Uint8Array> {
  const ringFile = store.sideFile(RING_FILE)
  let opened:
    | {
        ring: Uint8Array
        pairs: AsyncIterator<[string, Uint8Array]>
        first: IteratorResult<[string, Uint8Array]>
      }
    | undefined
  for (let attempt = 0; attempt < SNAPSHOT_TRIES && !opened; attempt++) {
    const before = await ringFile.read()
    if (!before) throw new NodeError('VAULT_RING_MISSING', 'the node has no key ring to back up')
    const pairs = store.range({})[Symbol.asyncIterator]()
    // The first read opens the snapshot.
    const first = await pairs.next()
    const after = await ringFile.read()
    if (after && Buffer.from(before).equals(after)) opened = { ring: before, pairs, first }
    else await pairs.return?.()
  }
  if (!opened) {
    throw new NodeError(
      'BACKUP_BUSY',
      'the key ring changed during every attempt to take a snapshot: try again',
    )
  }
  const hash = createHash('sha256')
  const out = (bytes: Uint8Array) => {
    hash.update(bytes)
    return bytes
  }
  const counts = new BackupCounts()
  const framer = new KvFramer()
  // The snapshot is released however the stream ends: done, failed, or its reader gone.
  try {
    yield out(BACKUP_MAGIC)
    yield out(frame(FRAME.manifest, jsonBytes({ format: 'legation-backup', ...manifest })))
    yield out(frame(FRAME.ring, opened.ring))
    let next = opened.first
    while (!next.done) {
      const [key, value] = next.value
      counts.add(key)
      const body = framer.add(key, value)
      if (body) yield out(frame(FRAME.kv, body))
      next = await opened.pairs.next()
    }
  } finally {
    await opened.pairs.return?.()
  }
  const rest = framer.flush()
  if (rest) yield out(frame(FRAME.kv, rest))
  const trailer: BackupTrailer = {
    keys: counts.keys,
    feeds: counts.feeds,
    records: counts.records,
    payloads: counts.payloads,
    sha256: hash.digest('hex'),
  }
  yield frame(FRAME.trailer, jsonBytes(trailer))
}

/** A backup of this node's store as it is now, with the manifest its engine describes. */
export function nodeBackup(
  engine: Pick<Engine, 'bloc' | 'nodeId' | 'charter' | 'certifiedNode'>,
  store: Store,
  software: string,
  now: () => number = Date.now,
): AsyncGenerator<Uint8Array> {
  return backupStream(store, {
    version: BACKUP_VERSION,
    createdAt: now(),
    software,
    bloc: engine.bloc,
    nodeId: engine.nodeId,
    state: engine.certifiedNode(engine.nodeId)?.state ?? '',
    charter: { version: engine.charter.version, hash: engine.charter.hash },
    storeFormat: STORE_FORMAT,
  })
}

/**
 * The in-memory store for unit tests and the offline audit's replay: the `level` store over
 * `memory-level`, so it keeps the very contract the product's store keeps (group commit, range
 * reads see only durable data, a failed write stops the store) instead of a second one.
 */
import { MemoryLevel } from 'memory-level'
import { LevelStore } from './level-store.ts'

export class MemoryStore extends LevelStore {
  /** Usable at once: the database opens itself and holds operations until it is open. */
  constructor() {
    // Values kept as the Uint8Arrays they were given (not copied into Buffers); nothing to fsync.
    const db = new MemoryLevel<string, Uint8Array>({
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      storeEncoding: 'view',
    })
    super(db, { sync: false })
  }
}

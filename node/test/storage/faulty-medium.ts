/**
 * Makes the database under a level-backed store slow or failing on demand, the way a disk
 * can be: so the compliance suite can watch a write that is on its way, and one that fails.
 */
import type { LevelDatabase } from '../../src/storage/level-store.ts'

export interface MediumControl {
  /** Batches from now on wait at the medium until `release`. */
  hold(): void
  release(): void
  /** Batches that have not yet reached the medium fail with `err`. */
  breakWrites(err: Error): void
}

export function controlMedium(db: LevelDatabase): MediumControl {
  const batch = db.batch.bind(db)
  const waiting: Array<() => void> = []
  let holding = false
  let broken: Error | undefined
  db.batch = async (ops, opts) => {
    if (holding) await new Promise<void>((resolve) => waiting.push(resolve))
    if (broken) throw broken
    return batch(ops, opts)
  }
  return {
    hold: () => {
      holding = true
    },
    release: () => {
      holding = false
      for (const resume of waiting.splice(0)) resume()
    },
    breakWrites: (err) => {
      broken = err
    },
  }
}

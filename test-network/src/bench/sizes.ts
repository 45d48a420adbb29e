/** How much each part of the benchmark does: `full` (the default), `--quick`, and `--smoke` (the test suite's). */
export interface Sizes {
  verify: number
  singles: number
  /**
   * Single writes at a node with a live peer before the timed ones (timed too, reported as the
   * cold figure); OrbitDB's single writes get as many.
   */
  singlesWarmup: number
  /**
   * Single writes at a node with a live peer, each sent a few milliseconds after the answer to
   * the one before: one write's latency when the bloc is not still busy with the last one.
   */
  singlesPaced: number
  concurrent: number
  batchRecords: number
  /** Writes whose replication to the 4 other nodes of a 5-node bloc is timed. */
  replication: number
  /**
   * Writes of the same shape before those: a new bloc's first writes run code V8 has not
   * optimised yet (timed too, and reported apart as the cold figure).
   */
  replicationWarmup: number
  /** Records written while one node of 5 is down. */
  catchUp: number
  /** Records written on each side of a partition. */
  partition: number
  /** Citizens registered at one node for the scale test, and reads timed at that size. */
  citizens: number
  /** Officers who sign the scale test's registrations, in turn (`--officers`). */
  officers: number
  reads: number
  /**
   * Reads of other citizens' files before the timed ones, as a node in service has served reads
   * (timed too: the first reads run code V8 has not optimised yet, and are kept as the cold figure).
   */
  readsWarmup: number
  blocSizes: number[]
  /** Records written per bloc size for bytes sent per record per node. */
  blocRecords: number
  /** How long a node is left alone before its idle CPU or its memory at rest is read, in ms. */
  settleMs: number
}

export const SIZES: Record<'full' | 'quick' | 'smoke', Sizes> = {
  full: {
    verify: 20_000,
    singles: 1000,
    singlesWarmup: 1000,
    singlesPaced: 300,
    concurrent: 4000,
    batchRecords: 20_000,
    replication: 200,
    replicationWarmup: 2000,
    catchUp: 100_000,
    partition: 2000,
    citizens: 1_000_000,
    officers: 1,
    reads: 1000,
    readsWarmup: 1000,
    blocSizes: [5, 10, 15],
    blocRecords: 2000,
    settleMs: 5000,
  },
  quick: {
    verify: 20_000,
    singles: 200,
    singlesWarmup: 200,
    singlesPaced: 100,
    concurrent: 1000,
    batchRecords: 5000,
    replication: 40,
    replicationWarmup: 400,
    catchUp: 10_000,
    partition: 500,
    citizens: 20_000,
    officers: 1,
    reads: 300,
    readsWarmup: 300,
    blocSizes: [5, 10, 15],
    blocRecords: 500,
    settleMs: 5000,
  },
  smoke: {
    verify: 500,
    singles: 5,
    singlesWarmup: 5,
    singlesPaced: 5,
    concurrent: 64,
    batchRecords: 500,
    replication: 3,
    replicationWarmup: 3,
    catchUp: 200,
    partition: 20,
    citizens: 300,
    // Two, so that the smoke run takes the path of several signers.
    officers: 2,
    reads: 10,
    readsWarmup: 5,
    blocSizes: [3, 4],
    blocRecords: 20,
    settleMs: 1000,
  },
}

/**
 * @legation/node — the node daemon: storage, the engine, replication over the libp2p mesh,
 * the HTTP API, and the offline auditor. The binary is `src/bin.ts` (`npm start`).
 */
export {
  type AuditReport,
  type AuditStoreOptions,
  auditStore,
  type FindingMaterial,
  type StoreFinding,
} from './audit.ts'
export { createLocalBloc, ensureDevBloc, readCharterChain } from './dev-bloc.ts'
export { DutyScheduler } from './duties/index.ts'
export {
  Engine,
  type EngineInit,
  type Receipt,
  type Submission,
  type SubmitOutcome,
} from './engine/engine.ts'
/** How entries are laid out in a store (entry-rows.ts): for tools and tests that read or rewrite one. */
export { deleteEntryRows, putEntryRows, readEntry } from './engine/entry-rows.ts'
export { buildApp } from './http/app.ts'
/** The API's response bodies; a client that must not load the node imports '@legation/node/http/schemas'. */
export * as responseSchemas from './http/schemas.ts'
export { type NodeOptions, type RunningNode, startNode, VERSION } from './node.ts'
export { LevelStore } from './storage/level-store.ts'
export { MemoryStore } from './storage/memory-store.ts'
export { type BatchOp, prefixRange, type RangeOptions, type Store } from './storage/store.ts'
export {
  DEFAULT_COMPACT_IDLE_MS,
  DEFAULT_COMPACT_MIN_BYTES,
  type StoreUpkeep,
  type StoreUpkeepInit,
  type StoreUpkeepStats,
  storeUpkeep,
} from './storage/upkeep.ts'

/**
 * `@legation/test-network`: real Legation node processes on loopback, for scenario tests,
 * benchmarks and `npm run testnet` (src/cli.ts). The harness (`TestNetwork`, `TestNode`), a
 * certified byzantine peer run in-process (`HostilePeer`) and the helpers that go with it,
 * realistic signed records (`citizenRegistration`, `presence`, `submitBatch`, `missingAt`), a
 * filesystem that loses unsynced writes in a crash (`LazyFs`), and what `npm run testnet` uses to
 * control its nodes one at a time (`NetworkControl`, `sendControl`) and write key files
 * (`writeKeyFiles`).
 *
 * @example
 * import { citizenRegistration, submitBatch, TestNetwork } from '@legation/test-network'
 *
 * const net = await TestNetwork.start({ nodes: 3 })
 * try {
 *   const officer = net.officer('DVA')
 *   await submitBatch(net.nodes[0]!, [citizenRegistration(officer, 'DVB')])
 *   await net.waitForConvergence()
 * } finally {
 *   await net.stop()
 * }
 */
export {
  changeFor,
  createDoc,
  type Doc,
  type Evidence,
  eventually,
  evidenceAt,
  type HostileInit,
  HostilePeer,
  metric,
  type SealedEntry,
  sleep,
  updateOf,
} from './byzantine.ts'
export {
  CONTROL_ERRORS,
  ControlError,
  type ControlErrorCode,
  type ControlResult,
  NetworkControl,
} from './control.ts'
export { type ControlServer, controlSocketPath, sendControl, serveControl } from './control-socket.ts'
export { FileNode, type FileNodeInit } from './file-node.ts'
export { type KeyFiles, OFFICER_FILE, stateKeyFileName, writeKeyFiles } from './key-files.ts'
export { buildLazyFs, type HeldData, LazyFs, type LazyFsReport } from './lazyfs.ts'
export {
  freePort,
  NETWORK_FILE,
  type NetworkOptions,
  type NodeInfo,
  STATES,
  TestNetwork,
  TestNode,
  toHex,
} from './network.ts'
export { type Acked, citizenRegistration, missingAt, presence, submitBatch } from './workload.ts'

/**
 * The former way to build a mesh, from two callbacks instead of a `PeerPolicy` component.
 * Kept only until `node.ts` (its one caller) is rewired to `mesh(init)(components)`; delete it then.
 */
import { type MeshLogger, noop, silentLogger } from './log.ts'
import { type Mesh, mesh } from './mesh.ts'
import type { MeshInit } from './options.ts'
import type { BootstrapPeer } from './peer-policy.ts'

/**
 * The options and callbacks of the former `createMesh`.
 *
 * @deprecated use `mesh(init)({ peerPolicy, logger })`.
 */
export interface CreateMeshInit extends MeshInit {
  /** Becomes `peerPolicy.isAllowed`. */
  isAllowedPeer(peerId: string): boolean
  /** Becomes `peerPolicy.bootstrapPeers`. @default () => [] */
  bootstrap?: () => BootstrapPeer[]
  /** @default a logger that discards everything */
  logger?: MeshLogger
}

/**
 * Build a mesh from the former callbacks. Its peer policy never signals a change: the caller
 * calls `refreshAllowedPeers()` itself, as before.
 *
 * @deprecated use `mesh(init)({ peerPolicy, logger })`; kept until `node.ts` is rewired.
 */
export async function createMesh(init: CreateMeshInit): Promise<Mesh> {
  const { isAllowedPeer, bootstrap, logger, ...options } = init
  return mesh(options)({
    peerPolicy: {
      isAllowed: (peerId) => isAllowedPeer(peerId),
      bootstrapPeers: () => bootstrap?.() ?? [],
      onChange: () => noop,
    },
    logger: logger ?? silentLogger,
  })
}

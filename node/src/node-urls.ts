/**
 * The bloc's public HTTP addresses, learnt from the bloc: each node announces its own
 * (`http.publicUrl`), signed with its node key (protocol/src/node-url.ts), to every peer that
 * connects; a node relays what is new to it to its other peers, so an address reaches nodes its
 * owner is not connected to. Only announcements of nodes the charter in force certifies, signed
 * by the key it certifies, are kept; the newest of each node stands. The portal reads them at
 * `GET /portal/config.json`, and they open the CSP's `connect-src` and CORS to those origins.
 *
 * @example
 * const urls = nodeUrls({ publicUrl: 'https://node-a.example' })({ engine, ed, nodeKeys, registrar, logger })
 * await urls.start()
 * urls.urls() // ['https://node-a.example', 'https://node-b.example', …]
 */
import {
  type Ed25519,
  type KeyPair,
  type NodeUrl,
  ProtocolError,
  signNodeUrl,
  verifyNodeUrl,
} from '@legation/protocol'
import type { Logger } from 'pino'
import type { Engine } from './engine/engine.ts'
import { COMPONENTS } from './logger.ts'
import type { SyncRegistrar } from './replication/registrar.ts'
import type { Startable } from './service.ts'

export interface NodeUrlsInit {
  /** This node's public HTTP address, announced to the bloc. @default none (announces nothing) */
  publicUrl?: string | undefined
}

export interface NodeUrlsComponents {
  engine: Engine
  ed: Ed25519
  nodeKeys: KeyPair
  registrar: SyncRegistrar
  logger: Logger
  /** @default Date.now */
  clock?: () => number
}

export function nodeUrls(init: NodeUrlsInit = {}): (c: NodeUrlsComponents) => NodeUrls {
  return (c) => new NodeUrls(init, c)
}

export class NodeUrls implements Startable {
  readonly #init: NodeUrlsInit
  readonly #c: NodeUrlsComponents
  readonly #log: Logger
  /** The newest announcement of each node, by node id. */
  readonly #known = new Map<string, NodeUrl>()
  /** Changes to `#known` so far, and `urls()` as of a number of them and a charter. */
  #changes = 0
  #urls: { known: number; charter: object; urls: readonly string[] } | undefined

  constructor(init: NodeUrlsInit, components: NodeUrlsComponents) {
    this.#init = init
    this.#c = components
    this.#log = components.logger.child({ component: COMPONENTS.nodeUrls })
  }

  async start(): Promise<void> {
    const { engine, ed, nodeKeys, registrar } = this.#c
    if (this.#init.publicUrl) {
      const at = (this.#c.clock ?? Date.now)()
      const own = signNodeUrl(ed, { node: engine.nodeId, url: this.#init.publicUrl, at }, nodeKeys.secretKey)
      this.#known.set(engine.nodeId, own)
      this.#changes++
    }
    registrar.handle('nodeUrls', {
      onMessage: (msg) => {
        const fresh = msg.list.filter((a) => this.#add(a))
        if (fresh.length > 0) registrar.broadcast({ t: 'nodeUrls', list: fresh })
      },
      onConnect: async () => {
        const list = this.list()
        return list.length > 0 ? { t: 'nodeUrls', list } : undefined
      },
    })
  }

  async stop(): Promise<void> {
    this.#c.registrar.unhandle('nodeUrls')
  }

  /** The announcements kept: nodes the charter in force certifies, newest first by node. */
  list(): NodeUrl[] {
    const certified = this.#c.engine.charter.nodes
    return [...this.#known.values()].filter((a) => certified.has(a.body.node))
  }

  /**
   * The announced addresses, this node's first: the same array until an announcement or the
   * charter in force changes it (every HTTP answer's headers are made from it).
   */
  urls(): readonly string[] {
    const charter = this.#c.engine.charter
    if (this.#urls?.known !== this.#changes || this.#urls.charter !== charter) {
      const self = this.#c.engine.nodeId
      const list = this.list().sort((a, b) => Number(b.body.node === self) - Number(a.body.node === self))
      this.#urls = { known: this.#changes, charter, urls: [...new Set(list.map((a) => a.body.url))] }
    }
    return this.#urls.urls
  }

  /** Keeps `a` if it is new and valid; answers whether it was. A forged one is the peer's misbehaviour. */
  #add(a: NodeUrl): boolean {
    const node = this.#c.engine.charter.nodes.get(a.body.node)
    // A node another charter version certifies (newer or older than ours): not ours to judge yet.
    if (!node) return false
    const had = this.#known.get(a.body.node)
    if (had && had.body.at >= a.body.at) return false
    if (!verifyNodeUrl(this.#c.ed, a, node.nodeKey)) {
      throw new ProtocolError('SIGNATURE_INVALID', 'node address announcement does not verify')
    }
    this.#known.set(a.body.node, a)
    this.#changes++
    this.#log.info({ node: a.body.node, url: a.body.url }, 'a node announced its public address')
    return true
  }
}

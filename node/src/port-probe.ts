/**
 * Checks, before the node writes anything, that the ports it is configured to listen on are free.
 *
 * Without it a busy port was found only when the HTTP server or libp2p began to listen — after
 * a first run had already generated a development bloc in the data folder — and was reported as
 * a raw `EADDRINUSE`. Each fixed port is bound once and released at once; a port taken between
 * this probe and the real listen still fails there (the binary reports that as `PORT_IN_USE`
 * too). Port 0 (any free port) needs no probe.
 *
 * @example
 * await probePorts([{ host: '127.0.0.1', port: 8080, setting: 'http.port' }])
 */
import { createServer } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { NodeError } from './errors.ts'

export interface PortToProbe {
  host: string
  port: number
  /** The setting the port comes from, named in the error (`http.port`, `p2p.listen[0]`). */
  setting: string
}

/** The fixed TCP ports of `/ip4|ip6/<host>/tcp/<port>` listen multiaddrs (others are skipped). */
export function listenPorts(listen: readonly string[]): PortToProbe[] {
  const out: PortToProbe[] = []
  listen.forEach((addr, i) => {
    const [ip, tcp] = multiaddr(addr).getComponents()
    if (!ip || !tcp || (ip.name !== 'ip4' && ip.name !== 'ip6') || tcp.name !== 'tcp') return
    const port = Number(tcp.value)
    if (ip.value && port > 0) out.push({ host: ip.value, port, setting: `p2p.listen[${i}]` })
  })
  return out
}

/** `host:port`, with an IPv6 host in brackets. */
export function address(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function bindOnce(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}

/**
 * Throws `NodeError('PORT_IN_USE')` naming the address and setting of the first port another
 * process holds, or `CONFIG_INVALID` for an address this machine cannot listen on.
 */
export async function probePorts(ports: readonly PortToProbe[]): Promise<void> {
  for (const { host, port, setting } of ports) {
    if (port === 0) continue
    const err = await bindOnce(host, port)
    if (!err) continue
    const where = `${address(host, port)} (${setting})`
    if (err.code === 'EADDRINUSE') {
      throw new NodeError(
        'PORT_IN_USE',
        `${where} is already in use, perhaps by another node: stop it or choose another port`,
        { cause: err },
      )
    }
    throw new NodeError('CONFIG_INVALID', `cannot listen on ${where}: ${err.code ?? err.message}`, {
      cause: err,
    })
  }
}

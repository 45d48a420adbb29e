#!/usr/bin/env node
/**
 * The container's health check (Dockerfile `HEALTHCHECK`): GET /health at the address the node
 * listens on, taken from the same LEGATION_HTTP_HOST / LEGATION_HTTP_PORT the node reads, so it
 * holds for a node bound to 0.0.0.0 in its own network namespace and for one bound to a loopback
 * or private address on the host network. Exit 0 when the node answers 200, 1 otherwise, with one
 * line saying why (Docker keeps it in `docker inspect`). Plain JavaScript: no TypeScript to load.
 *
 * @example
 * LEGATION_HTTP_PORT=8081 node node/bin/legation-healthcheck.js
 */

const DEFAULT_PORT = 8080
const TIMEOUT_MS = 8000

/** A wildcard address is reached on loopback; an IPv6 literal goes in brackets. */
export function healthUrl(env) {
  const host = env.LEGATION_HTTP_HOST || '127.0.0.1'
  const port = env.LEGATION_HTTP_PORT || DEFAULT_PORT
  const reach = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${reach.includes(':') ? `[${reach}]` : reach}:${port}/health`
}

const url = healthUrl(process.env)
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  process.stdout.write(`${url}: ${res.status}\n`)
  process.exit(res.ok ? 0 : 1)
} catch (err) {
  process.stdout.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}

/**
 * The Node.js version check every launcher runs before it loads any TypeScript.
 *
 * Legation runs its `.ts` sources directly (type stripping, Node >= 22.18). An older Node stops
 * at the first `.ts` import with a raw `ERR_UNKNOWN_FILE_EXTENSION` stack, which says nothing
 * about what to do. So each binary is a plain JavaScript launcher (this folder, and `bin/` of the
 * admin CLI and the test network) that calls `requireNode` first and only then imports its
 * entry point. This file must stay plain JavaScript that old Node versions can parse.
 *
 * @example
 * import { requireNode } from '@legation/node/require-node'
 * requireNode('npx legation …')
 * await import('../src/cli.ts')
 */

/** The oldest Node.js that runs Legation; the same as `engines.node` in every package.json. */
export const MIN_NODE_VERSION = '22.18.0'

function parts(version) {
  return String(version)
    .replace(/^v/, '')
    .split('.')
    .map((n) => Number.parseInt(n, 10) || 0)
}

/** Whether `version` (e.g. `process.versions.node`) is at least {@link MIN_NODE_VERSION}. */
export function isSupportedNode(version) {
  const have = parts(version)
  const need = parts(MIN_NODE_VERSION)
  for (let i = 0; i < need.length; i++) {
    if ((have[i] ?? 0) !== need[i]) return (have[i] ?? 0) > need[i]
  }
  return true
}

/**
 * The one line an unsupported Node gets: what is needed, what this is, and `command`, a way
 * to run the same thing that works (npm's scripts and `npx` use the Node 22 that
 * `npm install` brings).
 */
export function unsupportedNodeMessage(version, command) {
  return `legation: needs Node.js >= ${MIN_NODE_VERSION}, this is Node.js ${String(version).replace(/^v?/, 'v')}; from the repository, after \`npm install\` (which brings Node 22), run: ${command}`
}

/** Exits with status 1 and one line on stderr unless this Node can run the TypeScript sources. */
export function requireNode(command) {
  const version = process.versions.node
  if (isSupportedNode(version)) return
  process.stderr.write(`${unsupportedNodeMessage(version, command)}\n`)
  process.exit(1)
}

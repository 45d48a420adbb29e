/**
 * Where a node keeps its files: one place, shared with the admin CLI (`@legation/node/layout`),
 * which finds a development bloc's secrets next to the node's store. Imports nothing, so the
 * CLI loads none of the node to read it.
 */

/** The data folder when none is configured. */
export const DEFAULT_DATA_DIR = './.legation/node'

/** Files of a development bloc in the data folder. */
export const DEV_FILES = {
  charter: 'charter.cbor',
  nodeKeys: 'node-key.json',
  secrets: 'dev-secrets.json',
} as const

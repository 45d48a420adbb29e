/**
 * `--state FILE`: the checkpoints an audit saw, so that the next run (or the next round of
 * `--follow`) can check that each node only appended to its feed since. JSON, written
 * atomically; only checkpoints that verified and were consistent are remembered.
 *
 *   { "v": 1, "bloc": "<hex>", "checkpoints": { "<node id>": { "note", "size", "root", "at" } } }
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { CliError } from '../errors.ts'

export interface RememberedCheckpoint {
  /** The signed note, as the node served it. */
  readonly note: string
  readonly size: number
  /** base64url */
  readonly root: string
  /** When the audit saw it (ISO 8601). */
  readonly at: string
}

export interface AuditState {
  readonly v: 1
  readonly bloc: string
  readonly checkpoints: Record<string, RememberedCheckpoint>
}

/** Reads a state file; undefined if there is none yet. */
export function loadState(path: string, bloc: string): AuditState | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ENOENT') return undefined
    throw new CliError('STATE_FILE_INVALID', `cannot read ${path}`, { cause })
  }
  let state: AuditState
  try {
    state = JSON.parse(text) as AuditState
  } catch (cause) {
    throw new CliError('STATE_FILE_INVALID', `${path} is not JSON`, { cause })
  }
  if (state?.v !== 1 || typeof state.checkpoints !== 'object' || state.checkpoints === null) {
    throw new CliError('STATE_FILE_INVALID', `${path} is not an audit state file`)
  }
  for (const c of Object.values(state.checkpoints)) {
    if (typeof c?.note !== 'string' || !Number.isSafeInteger(c.size) || typeof c.root !== 'string') {
      throw new CliError('STATE_FILE_INVALID', `${path} holds a malformed checkpoint`)
    }
  }
  if (state.bloc !== bloc) throw new CliError('STATE_FILE_INVALID', `${path} is the state of another bloc`)
  return state
}

/** Writes a state file atomically (a temporary file renamed over it). */
export function saveState(path: string, state: AuditState): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`)
  renameSync(tmp, path)
}

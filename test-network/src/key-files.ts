/**
 * The key files `npm run testnet` writes in its folder for the `legation` admin CLI, in the
 * formats admin-cli/src/key-file.ts reads:
 *
 * - `officer.json`: a development officer's key and certificate, in the layout of a dev node's
 *   dev-secrets.json (`bloc`, `charter`, `officer`), for `--key` / `--officer` / `--officer-key`.
 *   A new officer on every start: its certificate is valid for 24 h.
 * - `state-<CODE>.key.json`, one per member state: the state's secret key in the format of
 *   `legation keys generate` with `state` and `bloc` added, for `legation officer revoke
 *   --state-key`. The same keys every start (they are the charter's, saved in network.json).
 *
 * Test secrets in plaintext, mode 0600: never for real data.
 */
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeCanonical, keyId, type LegationClient, toBase64url } from '@legation/protocol'
import { STATES, type TestNetwork } from './network.ts'

export const OFFICER_FILE = 'officer.json'

/** `state-DVA.key.json` for DVA. */
export function stateKeyFileName(state: string): string {
  return `state-${state}.key.json`
}

export interface KeyFiles {
  /** The officer's key file. */
  officer: string
  /** Each member state's key file, by state code. */
  states: Record<string, string>
}

async function writeSecret(file: string, body: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
  await chmod(file, 0o600) // the file may have been there from an earlier run, with another mode
}

/** Writes the officer's and every member state's key file in `net.dir`; returns their paths. */
export async function writeKeyFiles(net: TestNetwork, officer: LegationClient): Promise<KeyFiles> {
  const officerFile = join(net.dir, OFFICER_FILE)
  await writeSecret(officerFile, {
    warning: 'DEVELOPMENT ONLY. The secret key of a test network officer, stored without encryption.',
    bloc: net.bloc,
    charter: net.charterHash,
    officer: {
      state: officer.cert!.body.state,
      publicKey: toBase64url(officer.keys.publicKey),
      secretKey: toBase64url(officer.keys.secretKey),
      cert: toBase64url(encodeCanonical(officer.cert)),
    },
  })
  const states: Record<string, string> = {}
  for (const state of STATES) {
    const keys = net.stateKeys[state]!
    const file = join(net.dir, stateKeyFileName(state))
    await writeSecret(file, {
      warning: `TEST NETWORK ONLY. The secret key of member state ${state}, stored without encryption.`,
      type: 'ed25519',
      state,
      bloc: net.bloc,
      keyId: keyId(keys.publicKey),
      publicKey: toBase64url(keys.publicKey),
      secretKey: toBase64url(keys.secretKey),
    })
    states[state] = file
  }
  return { officer: officerFile, states }
}

/**
 * The citizen's key, kept in this browser's IndexedDB and nowhere else. The portal signs with it
 * (records and requests); it is never sent. Losing the browser's data loses the key: the passkey
 * backup (docs/portal.md, not built yet) is the way back in on a new device.
 */
import { type DBSchema, openDB } from 'idb'

export interface Enrolment {
  /** Citizen id: the key id of `publicKey`. */
  id: string
  publicKey: Uint8Array
  /** The 32-byte Ed25519 seed. */
  secretKey: Uint8Array
  bloc: string
  nationality: string
  enrolledAt: number
}

interface WalletDb extends DBSchema {
  enrolment: { key: string; value: Enrolment }
}

const DB_NAME = 'legation-wallet'
const KEY = 'citizen'

const db = () =>
  openDB<WalletDb>(DB_NAME, 1, {
    upgrade(d) {
      d.createObjectStore('enrolment')
    },
  })

export async function loadEnrolment(): Promise<Enrolment | undefined> {
  return (await db()).get('enrolment', KEY)
}

export async function saveEnrolment(e: Enrolment): Promise<void> {
  await (await db()).put('enrolment', e, KEY)
}

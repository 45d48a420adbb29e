/**
 * The citizen's key, kept in this browser's IndexedDB and nowhere else. The portal signs with it
 * (records and requests); it is never sent. Losing the browser's data loses the key: the passkey
 * (passkey.ts), which keeps it encrypted, is the way back in on a new device.
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
  /** The passkey that keeps an encrypted copy of the seed (hex credential id), if one was made. */
  passkey?: string
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

// Each use opens and closes the database: an open connection would hold up a deletion of the
// site's data (the browser's "clear site data") until the page is gone.
export async function loadEnrolment(): Promise<Enrolment | undefined> {
  const d = await db()
  try {
    return await d.get('enrolment', KEY)
  } finally {
    d.close()
  }
}

export async function saveEnrolment(e: Enrolment): Promise<void> {
  const d = await db()
  try {
    await d.put('enrolment', e, KEY)
  } finally {
    d.close()
  }
}

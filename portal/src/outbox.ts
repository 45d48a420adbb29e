/**
 * Records signed while no node answers, kept in IndexedDB until one does. A record carries its own
 * signature and is idempotent, so it is sent as it was signed, whenever a connection returns, to
 * whichever node answers — twice is harmless. Nothing here is personal data in clear that the
 * record's payload does not already hold; it stays in this browser until sent.
 */
import { type DBSchema, openDB } from 'idb'

export interface Pending {
  /** The record's id (its key here: queuing the same record twice keeps one). */
  id: string
  /** The body of `POST /v1/records`. */
  submission: { record: string; payload?: string }
  /** What the citizen did, for the page to say what is waiting (a message key's suffix). */
  what: 'checkin' | 'application' | 'presence'
  /** The message key that names the record on its receipt. */
  label: string
  queuedAt: number
}

interface OutboxDb extends DBSchema {
  pending: { key: string; value: Pending }
}

const db = () =>
  openDB<OutboxDb>('legation-outbox', 1, {
    upgrade(d) {
      d.createObjectStore('pending', { keyPath: 'id' })
    },
  })

async function use<T>(fn: (d: Awaited<ReturnType<typeof db>>) => Promise<T>): Promise<T> {
  const d = await db()
  try {
    return await fn(d)
  } finally {
    d.close()
  }
}

export const queue = (p: Pending) => use((d) => d.put('pending', p).then(() => undefined))
export const pending = () => use((d) => d.getAll('pending'))
export const remove = (id: string) => use((d) => d.delete('pending', id))

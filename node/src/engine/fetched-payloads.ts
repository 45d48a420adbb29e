/**
 * Payloads fetched by digest (`wantPayload`): a stored record names each and this node lacks it.
 * Each must match its record's signed digest and its kind's schema; the citizen's derived
 * summary follows (a travel document number, a presence).
 */
import { openPayload, toHex } from '@legation/protocol'
import type { Store } from '../storage/store.ts'
import { decodeText } from './codec.ts'
import type { DocCache } from './doc-cache.ts'
import type { Durability } from './durability.ts'
import { K } from './keys.ts'
import type { Projections } from './projections.ts'
import type { StoredRecord } from './types.ts'

export interface FetchedPayloadsComponents {
  store: Store
  durability: Durability
  docs: DocCache
  projections: Projections
}

/**
 * Stores the payloads that match a record stored here and missing its payload; answers how
 * many. The rest (not missing here, or not matching: a peer's bad copy) are ignored.
 */
export function storeFetchedPayloads(
  c: FetchedPayloadsComponents,
  getRecord: (id: string) => Promise<StoredRecord | undefined>,
  clientId: number,
  payloads: ReadonlyArray<{ d: Uint8Array; p: Uint8Array }>,
): Promise<number> {
  return c.durability.exclusive(async () => {
    const wanted = payloads.map(({ d }) => toHex(d))
    const owners = await c.store.getMany(wanted.map(K.missing))
    const tx = c.durability.newTx()
    const citizens = new Set<string>()
    for (const [i, { p }] of payloads.entries()) {
      const owner = owners[i]
      if (!owner) continue
      const stored = await getRecord(decodeText(owner))
      if (!stored) continue
      try {
        openPayload(stored.record.header, p)
      } catch {
        continue // a peer's bad copy: another peer may hold the right one
      }
      tx.payloads.set(wanted[i]!, p)
      tx.owners.set(wanted[i]!, { id: decodeText(owner), header: stored.record.header })
      tx.ops.push({ type: 'del', key: K.missing(wanted[i]!) })
      if (stored.record.header.subject) citizens.add(stored.record.header.subject)
    }
    if (tx.payloads.size === 0) return 0
    await c.durability.sealPayloads(tx)
    await c.docs.prefetch([...citizens])
    for (const citizen of citizens) await c.durability.txDoc(tx, citizen, clientId)
    await c.projections.update(tx, [...citizens])
    await c.store.write(tx.ops)
    c.durability.vault.handed(tx.ops)
    c.projections.remember(tx)
    return tx.payloads.size
  })
}

/**
 * The key layout of a node's store. One place, so that storage, backup and audit agree.
 * Ids in `rec/`, `pay/`, `ck/`, `doc/`, `sum/`, `acc/` and `ix/` keys are spelled by `idKeyPart`: a
 * citizen's 16 bytes or a record's or digest's 32 in base64url (hex before data format 6).
 *
 *   ent/<origin>/<seq:12>/<k:5>  a signed entry (canonical CBOR), cut before each of its
 *                           records: row 0 the record count and the bytes before the first,
 *                           row k the k-th record and the bytes after it (entry-rows.ts)   history
 *   rec/<recordId b64>      where a stored record is: [origin, seq, index in the entry]; the
 *                           id's 32 bytes in base64url (43 characters, where hex took 64)
 *   pay/<digest b64>        personal-data payload, sealed under its citizen's key (vault.ts); the
 *                           digest's bytes in base64url (data format 6; hex before)
 *   ck/<bucket>/<citizen>   the citizen's data key, sealed under its bucket's key (vault.ts)
 *   gone/<citizen hex>      the id of the record that erased the citizen here (vault.ts)
 *   ret/<at:13>/<digest>    a payload kept only for the retention period: its citizen and record id
 *   miss/<digest hex>       a payload a stored record names but this node lacks: its record id
 *   doc/<docId>             a doc's Yjs state (from data format 3 to 4 its hash first), or for
 *                           a doc that took one update from empty where it lies in its entry's
 *                           rows (entry-rows.ts `DocPlace`, data format 6)
 *   dh/<docId>              a doc's hash in data format 2 and before (migrate.ts)
 *   sum/<citizenId>         derived summary (canonical CBOR, summary-row.ts); the presence by
 *                           its record, the travel document only as its index token
 *   case/<caseId>           citizen id of the case
 *   acc/<citizen>/<recordId>  an access.logged record about the citizen (derived, rebuilt from
 *                           the feeds; data format 7); keys only: a file's reads are found
 *                           without reading every record of the file
 *   alert/<alertId>         marker of a crisis alert
 *   ix/...                  secondary indexes (derived, rebuilt from docs), keys only (the rows
 *                           are empty); personal values (travel document, country of presence)
 *                           as blind tokens (vault.ts)
 *   evid/...                evidence: equivocations and refused entries
 *   rev/<state>/<certId>    a revocation of an officer certificate, signed by the state that issued it
 *   mkt/<origin>/<level:2>/<index:12>   a complete subtree of an origin's feed tree (RFC 6962)
 *   ckpt/latest/<origin>    the latest checkpoint of a feed checked here, with its cosignatures (witness.ts)
 *   ckpt/final/<origin>     the latest bloc-final one
 *   stash/<origin>/<seq:12> an equivocating origin's entry set aside past its cut (healing.ts)
 *   meta/state              version vector, feed heads, accumulator, HLC, feed trees' right edges
 *   meta/charter            the charter chain
 *   meta/replay             signed requests accepted recently, saved by a clean stop (HTTP)
 *   meta/rebuild            present while derived state is being rebuilt from the feeds (rebuild.ts)
 *   meta/format             the store's data format (migrate.ts); absent: format 1
 *   meta/compact            present from a migration's format mark until its compaction is done
 *   meta/migrating          during a migration, the format it started from (migrate.ts)
 *   meta/restored           present from a restore until the node has its own feed back (backup/restore-fence.ts)
 */
export const seqKey = (n: number) => n.toString().padStart(12, '0')

const ID_HEX = /^(?:[0-9a-f]{32}|[0-9a-f]{64})$/
/** Where ids are converted: the longest a key spells is 32 bytes (43 characters in base64url). */
const scratch = Buffer.allocUnsafe(32)
const SCRATCH_BASE64 = 43

/**
 * An id as a key spells it: a citizen id (16 bytes), a record id or a payload digest (32 bytes)
 * in base64url, 22 or 43 characters where hex took 32 or 64 (data formats 5 and 6). Any other id
 * (the alerts doc; one asked for by a caller) is spelled as it is after `!`, which base64url never
 * writes: two ids never share a key, and an id a caller makes up names only itself.
 */
export function idKeyPart(id: string): string {
  if (!ID_HEX.test(id)) return `!${id}`
  // Through one scratch buffer: a record's keys spell its citizen's id five times or more.
  const n = scratch.write(id, 'hex')
  return scratch.toString('base64url', 0, n)
}

/** The id a key part spells (`idKeyPart`'s inverse). */
export function idOfKeyPart(part: string): string {
  if (part.startsWith('!')) return part.slice(1)
  if (part.length > SCRATCH_BASE64) return Buffer.from(part, 'base64url').toString('hex')
  const n = scratch.write(part, 'base64url')
  return scratch.toString('hex', 0, n)
}

/** The record id a `rec/` key names (`K.record`'s inverse). */
export function recordIdOf(key: string): string {
  return idOfKeyPart(key.slice(K.records.length))
}

export const K = {
  entryRows: (origin: string, seq: number) => `ent/${origin}/${seqKey(seq)}/`,
  entryRow: (origin: string, seq: number, k: number) =>
    `ent/${origin}/${seqKey(seq)}/${String(k).padStart(5, '0')}`,
  entries: (origin: string) => `ent/${origin}/`,
  record: (id: string) => `rec/${idKeyPart(id)}`,
  records: 'rec/',
  payload: (digestHex: string) => `pay/${idKeyPart(digestHex)}`,
  citizenKey: (bucket: number, citizen: string) => `${K.citizenBucket(bucket)}${idKeyPart(citizen)}`,
  citizenBucket: (bucket: number) => `ck/${bucket.toString(16).padStart(2, '0')}/`,
  citizenKeys: 'ck/',
  gone: (citizen: string) => `gone/${citizen}`,
  goneAll: 'gone/',
  retained: (at: number, digestHex: string) => `ret/${String(at).padStart(13, '0')}/${digestHex}`,
  retainedBefore: (at: number) => `ret/${String(at).padStart(13, '0')}`,
  retainedAll: 'ret/',
  missing: (digestHex: string) => `miss/${digestHex}`,
  missingAll: 'miss/',
  doc: (id: string) => `doc/${idKeyPart(id)}`,
  summary: (citizen: string) => `sum/${idKeyPart(citizen)}`,
  case: (caseId: string) => `case/${caseId}`,
  accessLog: (citizen: string, recordId: string) => `${K.accessLogOf(citizen)}${idKeyPart(recordId)}`,
  accessLogOf: (citizen: string) => `acc/${idKeyPart(citizen)}/`,
  accessLogs: 'acc/',
  alert: (alertId: string) => `alert/${alertId}`,
  alerts: 'alert/',
  evidence: (kind: string, id: string) => `evid/${kind}/${id}`,
  revocation: (state: string, certId: string) => `rev/${state}/${certId}`,
  revocations: 'rev/',
  subtree: (origin: string, level: number, index: number) =>
    `mkt/${origin}/${String(level).padStart(2, '0')}/${seqKey(index)}`,
  stash: (origin: string, seq: number) => `stash/${origin}/${seqKey(seq)}`,
  state: 'meta/state',
  charter: 'meta/charter',
  replay: 'meta/replay',
  rebuild: 'meta/rebuild',
  format: 'meta/format',
  compact: 'meta/compact',
  migrating: 'meta/migrating',
  restored: 'meta/restored',
} as const

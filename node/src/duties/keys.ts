/**
 * The duty scheduler's keys in the node's store (next to the engine's, see engine/keys.ts):
 *
 *   duty/<dutyId>              the duty (JSON): what it refers to, pending / done / skipped, by whom, when
 *   dutyq/<dutyId>             marker: still pending (start() reads only these, not every duty ever)
 *   dutyd/<at:13>/<dutyId>     done log by time (JSON DutyDone): what recentDone() reads
 *   dutyc                      discovery cursor: the version vector of entries already scanned for duties
 *
 * Only ids are stored (alert, case and citizen ids are pseudonymous key and content ids); the
 * personal data a delivery carries is read from the engine when it is sent, so erasing a
 * citizen's payloads also erases it from every delivery not yet made.
 */
export const DK = {
  duty: (id: string) => `duty/${id}`,
  pending: (id: string) => `dutyq/${id}`,
  pendingPrefix: 'dutyq/',
  done: (at: number, id: string) => `dutyd/${String(Math.max(0, Math.floor(at))).padStart(13, '0')}/${id}`,
  donePrefix: 'dutyd/',
  cursor: 'dutyc',
} as const

/**
 * Hybrid logical clock (Kulkarni et al.): physical milliseconds plus a logical counter, so
 * that causally later events always compare greater even when wall clocks disagree.
 * Pure: the physical time is passed in.
 */
import { ClockError } from './errors.ts'

/** `[wall ms, logical counter]`. Encoded as a two-element array. */
export type Hlc = readonly [number, number]

export const HLC_ZERO: Hlc = [0, 0]
/** A remote timestamp more than this ahead of our physical clock is refused. */
export const DEFAULT_MAX_DRIFT_MS = 60_000
const MAX_LOGICAL = 0xffff_ffff

export function compareHlc(a: Hlc, b: Hlc): number {
  return a[0] - b[0] || a[1] - b[1]
}

/** The timestamp of a local event at physical time `now`. */
export function hlcTick(last: Hlc, now: number): Hlc {
  if (now > last[0]) return [now, 0]
  if (last[1] >= MAX_LOGICAL) return [last[0] + 1, 0]
  return [last[0], last[1] + 1]
}

/** The clock after receiving a remote timestamp at physical time `now`. */
export function hlcReceive(last: Hlc, remote: Hlc, now: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS): Hlc {
  if (remote[0] - now > maxDriftMs) {
    throw new ClockError('CLOCK_DRIFT', `remote clock is ${remote[0] - now} ms ahead`)
  }
  const wall = Math.max(last[0], remote[0], now)
  let logical: number
  if (wall === last[0] && wall === remote[0]) logical = Math.max(last[1], remote[1]) + 1
  else if (wall === last[0]) logical = last[1] + 1
  else if (wall === remote[0]) logical = remote[1] + 1
  else logical = 0
  if (logical > MAX_LOGICAL) return [wall + 1, 0]
  return [wall, logical]
}

export function maxHlc(a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b
}

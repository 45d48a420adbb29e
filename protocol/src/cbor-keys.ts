/**
 * Map keys the decoder has read before, by their bytes (cbor.ts). A record's ~30 map keys recur
 * in every record of every entry, frame and request; a key decoded anew each time is a string
 * to allocate and then to intern (an object's property names are interned), while one from
 * here is interned already. Only short ASCII keys are kept: their bytes are their text, so a
 * hit can never skip a check the decoder makes of UTF-8.
 */

/** Slots (a power of two) and the longest key kept. */
const SLOTS = 512
export const MAX_CACHED_KEY_BYTES = 24

const slotBytes: Array<Uint8Array | undefined> = new Array(SLOTS)
const slotText: string[] = new Array(SLOTS)

/**
 * The slot of the key at `buf[start, start + n)` (n ≤ MAX_CACHED_KEY_BYTES), or -1 when its
 * bytes are not all ASCII and it is not to be cached.
 */
export function keySlot(buf: Uint8Array, start: number, n: number): number {
  let h = n
  for (let i = start; i < start + n; i++) {
    const b = buf[i]!
    if (b > 0x7f) return -1
    h = (Math.imul(h, 31) + b) | 0
  }
  return h & (SLOTS - 1)
}

/** The text kept in `slot` if its bytes are those at `buf[start, start + n)`. */
export function cachedKey(slot: number, buf: Uint8Array, start: number, n: number): string | undefined {
  const kept = slotBytes[slot]
  if (kept === undefined || kept.length !== n) return undefined
  for (let i = 0; i < n; i++) if (kept[i] !== buf[start + i]) return undefined
  return slotText[slot]
}

/** Keeps `key`, read from `buf[start, start + n)`, in `slot` (a copy of its bytes). */
export function keepKey(slot: number, buf: Uint8Array, start: number, n: number, key: string): void {
  slotBytes[slot] = buf.slice(start, start + n)
  slotText[slot] = key
}

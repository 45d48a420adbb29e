/**
 * Text people read — citizens' names, places, notes, alert titles — carries no control
 * characters and nothing that changes how it displays without being seen: a right-to-left
 * override makes one name read as another to the officer who checks it.
 *
 * Checked where a record is first accepted (the node a client submits to), not on replicas:
 * a replica that refused what another node accepted earlier would stop that node's feed and
 * split the bloc (docs/protocol.md § Records).
 *
 * - A **line** (names, a birth place, a region, an alert's title, a check-in's location, a
 *   document type, an e-mail address): no control character at all.
 * - **Free text** (an address, a note, case details, an alert's message): line breaks (CR, LF)
 *   and tabs, no other control character.
 * - Neither: bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069),
 *   zero-width space and word joiners (U+200B, U+2060–U+2064), line and paragraph separators
 *   (U+2028, U+2029), the byte-order mark (U+FEFF), interlinear annotations (U+FFF9–U+FFFB).
 *   Bidirectional *marks* (U+061C, U+200E, U+200F) and the zero-width (non-)joiners stay: Arabic,
 *   Hebrew, Persian and Indic text pasted from elsewhere carries them.
 */

/** Characters that hide or reorder text, as the inside of a regex class. */
const INVISIBLE = '\\u200B\\u2028-\\u202E\\u2060-\\u2064\\u2066-\\u2069\\uFEFF\\uFFF9-\\uFFFB'
const LINE = new RegExp(`[\\u0000-\\u001F\\u007F-\\u009F${INVISIBLE}]`)
const TEXT = new RegExp(`[\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F${INVISIBLE}]`)

/** Keys whose text is one line. */
const LINE_KEYS: ReadonlySet<string> = new Set([
  'given',
  'family',
  'place',
  'region',
  'title',
  'documentType',
  'location',
  'email',
  'name',
])

/** Whether a string of this field may be shown as it is. */
export function isDisplaySafe(text: string, oneLine: boolean): boolean {
  return !(oneLine ? LINE : TEXT).test(text)
}

/**
 * The path of the first text in `value` (a record's body or payload, decoded) that is not safe
 * to show, or undefined. Looks into objects and arrays, a few levels deep.
 */
export function unsafeDisplayText(value: unknown, path = '', depth = 0): string | undefined {
  if (depth > 4 || value === null || typeof value !== 'object' || value instanceof Uint8Array)
    return undefined
  // Only the path of a text refused is built: every record accepted walks its body and payload.
  const fields = value as Record<string, unknown>
  for (const k of Object.keys(fields)) {
    const v = fields[k]
    if (typeof v === 'string') {
      if (!isDisplaySafe(v, LINE_KEYS.has(k))) return `${path}/${k}`
    } else {
      const deeper = unsafeDisplayText(v, '', depth + 1)
      if (deeper !== undefined) return `${path}/${k}${deeper}`
    }
  }
  return undefined
}

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and transparency-log
 * checkpoints (https://c2sp.org/tlog-checkpoint): the formats the transparency ecosystem (Go's
 * checksum database, Sigstore's Rekor, witnesses) exchanges, so that existing tools read what a
 * Legation node signs.
 *
 *   note      := text • "\n" • signature+          text: UTF-8, ends with "\n", no blank line at its end
 *   signature := "— " • name • " " • base64(keyID(4) • Ed25519 signature over text) • "\n"
 *   keyID     := SHA-256(name • "\n" • 0x01 • publicKey)[0:4]
 *   vkey      := name • "+" • hex(keyID) • "+" • base64(0x01 • publicKey)
 *   checkpoint text := origin • "\n" • size • "\n" • base64(root) • "\n" • (extension line • "\n")*
 *
 * and C2SP tlog cosignatures (https://c2sp.org/tlog-cosignature, Ed25519 `cosignature/v1`): a
 * witness's note signature on a checkpoint, saying that as of its time this is the largest
 * consistent tree of that log it has seen.
 *
 *   cosignature line := "— " • name • " " • base64(cosignKeyID(4) • u64be(time) • Ed25519 sig)
 *   cosignKeyID      := SHA-256(name • "\n" • 0x04 • publicKey)[0:4]
 *   signed message   := "cosignature/v1\n" • "time " • time • "\n" • checkpoint text
 *
 * Pure: the signature implementation is passed in.
 */
import { sha256 } from '#sha256'
import { concatBytes, equalBytes, utf8ToBytes } from './bytes.ts'
import type { Ed25519 } from './crypto.ts'
import { ProtocolError } from './errors.ts'

/** Ed25519's algorithm byte in key ids and verifier keys. */
const ED25519_ALG = 0x01
/** The Ed25519 cosignature/v1 type byte in cosigners' key ids. */
const COSIGNATURE_ALG = 0x04
const SIG_PREFIX = '— '
/** Signature lines a note may carry at most, and its largest size (Go's note package: 100). */
const MAX_SIGNATURES = 100
const MAX_NOTE_BYTES = 1024 * 1024
/** A name: no whitespace and no "+" (C2SP signed-note). */
const NAME = /^[^\s+]+$/
const text = new TextDecoder('utf-8', { fatal: true })

function base64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

function unbase64(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return undefined
  const bin = atob(s)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/** The 4-byte key id of an Ed25519 key under `name`. */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(utf8ToBytes(name), Uint8Array.of(0x0a, ED25519_ALG), publicKey).subarray(0, 4)
}

/** The verifier key string (`name+keyid+key`) by which tools name a signer. */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  if (!NAME.test(name)) throw new ProtocolError('SCHEMA_INVALID', 'a note signer name has no spaces or "+"')
  const id = [...noteKeyId(name, publicKey)].map((b) => b.toString(16).padStart(2, '0')).join('')
  return `${name}+${id}+${base64(concatBytes(Uint8Array.of(ED25519_ALG), publicKey))}`
}

/** Parses a verifier key string into its name and Ed25519 public key. */
export function parseVerifierKey(vkey: string): { name: string; publicKey: Uint8Array } {
  // name+keyid+key: the key is standard base64, which may hold "+" itself.
  const first = vkey.indexOf('+')
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1)
  const name = first < 0 ? '' : vkey.slice(0, first)
  const id = second < 0 ? '' : vkey.slice(first + 1, second)
  const raw = second < 0 ? undefined : unbase64(vkey.slice(second + 1))
  if (!name || !NAME.test(name) || !id || !raw || raw.length !== 33 || raw[0] !== ED25519_ALG) {
    throw new ProtocolError('SCHEMA_INVALID', 'not an Ed25519 verifier key')
  }
  const publicKey = raw.subarray(1)
  const expected = [...noteKeyId(name, publicKey)].map((b) => b.toString(16).padStart(2, '0')).join('')
  if (id !== expected) throw new ProtocolError('SCHEMA_INVALID', 'verifier key id does not match its key')
  return { name, publicKey }
}

function checkText(t: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the controls a note may not hold (all but newline)
  if (!t.endsWith('\n') || t.endsWith('\n\n') || /[\u0000-\u0009\u000B-\u001F]/.test(t)) {
    throw new ProtocolError(
      'SCHEMA_INVALID',
      'a note text ends with one newline and holds no control character but newlines',
    )
  }
}

/** Signs `noteText` (ending with "\n") with each signer; answers the whole note. */
export function signNote(
  ed: Ed25519,
  noteText: string,
  signers: ReadonlyArray<{ name: string; secretKey: Uint8Array }>,
): string {
  checkText(noteText)
  if (signers.length === 0) throw new ProtocolError('SCHEMA_INVALID', 'a note has at least one signature')
  const message = utf8ToBytes(noteText)
  const lines = signers.map(({ name, secretKey }) => {
    if (!NAME.test(name)) throw new ProtocolError('SCHEMA_INVALID', 'a note signer name has no spaces or "+"')
    const id = noteKeyId(name, ed.publicKey(secretKey))
    return `${SIG_PREFIX}${name} ${base64(concatBytes(id, ed.sign(message, secretKey)))}\n`
  })
  return `${noteText}\n${lines.join('')}`
}

/** A note's text and its signature lines, each as its signer name and decoded bytes. */
function splitNote(note: string): {
  text: string
  message: Uint8Array
  lines: Array<{ name: string; raw: Uint8Array }>
} {
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n') || note.length > MAX_NOTE_BYTES) {
    throw new ProtocolError('SCHEMA_INVALID', 'not a signed note')
  }
  const noteText = note.slice(0, split + 1)
  checkText(noteText)
  const raw = note.slice(split + 2, -1).split('\n')
  if (raw.length > MAX_SIGNATURES) throw new ProtocolError('SCHEMA_INVALID', 'too many note signatures')
  // A line repeated is checked once.
  const lines = [...new Set(raw)].map((line) => {
    if (!line.startsWith(SIG_PREFIX))
      throw new ProtocolError('SCHEMA_INVALID', 'malformed note signature line')
    const [name, sig, ...rest] = line.slice(SIG_PREFIX.length).split(' ')
    const bytes = sig === undefined ? undefined : unbase64(sig)
    if (!name || !NAME.test(name) || rest.length > 0 || !bytes || bytes.length < 5) {
      throw new ProtocolError('SCHEMA_INVALID', 'malformed note signature line')
    }
    return { name, raw: bytes }
  })
  return { text: noteText, message: utf8ToBytes(noteText), lines }
}

/**
 * Opens a signed note: its text and the names of the known signers whose signatures verify.
 * Signatures by keys it does not know are ignored; one by a known key that does not verify, a
 * malformed note, or no verified signature at all is a ProtocolError (SIGNATURE_INVALID or
 * SCHEMA_INVALID).
 */
export function openNote(
  ed: Ed25519,
  note: string,
  known: ReadonlyArray<{ name: string; publicKey: Uint8Array }>,
): { text: string; verified: string[] } {
  const { text: noteText, message, lines } = splitNote(note)
  const verified: string[] = []
  for (const { name, raw } of lines) {
    const id = raw.subarray(0, 4)
    for (const k of known) {
      if (k.name !== name || !equalBytes(noteKeyId(k.name, k.publicKey), id)) continue
      if (raw.length !== 68 || !ed.verify(raw.subarray(4), message, k.publicKey)) {
        throw new ProtocolError('SIGNATURE_INVALID', `the note signature of ${name} does not verify`)
      }
      if (!verified.includes(name)) verified.push(name)
    }
  }
  if (verified.length === 0) throw new ProtocolError('SIGNATURE_INVALID', 'no known key signed the note')
  return { text: noteText, verified }
}

/** The 4-byte key id of an Ed25519 cosigner (witness) key under `name`. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(utf8ToBytes(name), Uint8Array.of(0x0a, COSIGNATURE_ALG), publicKey).subarray(0, 4)
}

function cosignedMessage(noteText: string, time: number): Uint8Array {
  return utf8ToBytes(`cosignature/v1\ntime ${time}\n${noteText}`)
}

/**
 * A witness's cosignature line on a checkpoint's text (ending with "\n"), at `time` (POSIX
 * seconds): append it to the checkpoint's signed note.
 */
export function cosignatureLine(
  ed: Ed25519,
  noteText: string,
  cosigner: { name: string; secretKey: Uint8Array },
  time: number,
): string {
  checkText(noteText)
  if (!NAME.test(cosigner.name))
    throw new ProtocolError('SCHEMA_INVALID', 'a cosigner name has no spaces or "+"')
  if (!Number.isSafeInteger(time) || time < 0)
    throw new ProtocolError('SCHEMA_INVALID', 'bad cosignature time')
  const stamp = new Uint8Array(8)
  new DataView(stamp.buffer).setBigUint64(0, BigInt(time))
  const sig = ed.sign(cosignedMessage(noteText, time), cosigner.secretKey)
  const id = cosignatureKeyId(cosigner.name, ed.publicKey(cosigner.secretKey))
  return `${SIG_PREFIX}${cosigner.name} ${base64(concatBytes(id, stamp, sig))}\n`
}

/** A signed note whose text is checked, and its signature lines kept apart (each ending in "\n"). */
export interface NoteParts {
  readonly text: string
  readonly lines: readonly string[]
}

/** The text and the signature lines of a note (shape checked, no signature verified). */
export function noteParts(note: string): NoteParts {
  const { text: noteText } = splitNote(note)
  const lines = [...new Set(note.slice(noteText.length + 1, -1).split('\n'))].map((l) => `${l}\n`)
  return { text: noteText, lines }
}

/** A note from its text and signature lines (a line appears once). */
export function joinNote(parts: NoteParts): string {
  return `${parts.text}\n${[...new Set(parts.lines)].join('')}`
}

/**
 * Opens a cosigned checkpoint note: the log's own signature by `signer` must verify (as
 * `openNote`), and each cosignature line by a known cosigner key is checked (one that does not
 * verify is SIGNATURE_INVALID). Lines by keys it does not know are ignored. Answers the text,
 * the log's own signature line, and, per cosigner name that verified, the line and its time.
 */
export function openCosignedNote(
  ed: Ed25519,
  note: string,
  signer: { name: string; publicKey: Uint8Array },
  cosigners: ReadonlyArray<{ name: string; publicKey: Uint8Array }>,
): { text: string; signerLine: string; cosignatures: Map<string, { line: string; time: number }> } {
  const { text: noteText } = openNote(ed, note, [signer])
  const { lines } = splitNote(note)
  // openNote verified every line under the signer's name and key id: the first is its own.
  const signerId = noteKeyId(signer.name, signer.publicKey)
  const own = lines.find((l) => l.name === signer.name && equalBytes(l.raw.subarray(0, 4), signerId))!
  const signerLine = `${SIG_PREFIX}${own.name} ${base64(own.raw)}\n`
  const cosignatures = new Map<string, { line: string; time: number }>()
  for (const { name, raw } of lines) {
    const id = raw.subarray(0, 4)
    for (const k of cosigners) {
      if (k.name !== name || !equalBytes(cosignatureKeyId(k.name, k.publicKey), id)) continue
      const time = raw.length === 76 ? new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0) : -1n
      if (
        time < 0n ||
        time > BigInt(Number.MAX_SAFE_INTEGER) ||
        !ed.verify(raw.subarray(12), cosignedMessage(noteText, Number(time)), k.publicKey)
      ) {
        throw new ProtocolError('SIGNATURE_INVALID', `the cosignature of ${name} does not verify`)
      }
      const line = `${SIG_PREFIX}${name} ${base64(raw)}\n`
      if (!cosignatures.has(name)) cosignatures.set(name, { line, time: Number(time) })
    }
  }
  return { text: noteText, signerLine, cosignatures }
}

/** A transparency-log checkpoint (tree head) and the lines Legation adds to it. */
export interface Checkpoint {
  readonly origin: string
  readonly size: number
  readonly root: Uint8Array
  readonly extensions: readonly string[]
}

/** The text of a checkpoint, to be signed as a note. */
export function checkpointText(c: Checkpoint): string {
  for (const line of [c.origin, ...c.extensions]) {
    if (line.length === 0 || line.includes('\n')) {
      throw new ProtocolError('SCHEMA_INVALID', 'a checkpoint line is not empty and holds no newline')
    }
  }
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new ProtocolError('SCHEMA_INVALID', 'bad tree size')
  if (c.root.length !== 32) throw new ProtocolError('SCHEMA_INVALID', 'a checkpoint root is a SHA-256 hash')
  return `${[c.origin, String(c.size), base64(c.root), ...c.extensions].join('\n')}\n`
}

/** Parses a checkpoint's text (a verified note's). */
export function parseCheckpoint(noteText: string): Checkpoint {
  checkText(noteText)
  const [origin, size, root, ...extensions] = noteText.slice(0, -1).split('\n')
  const hash = root === undefined ? undefined : unbase64(root)
  if (
    !origin ||
    !size ||
    !/^(0|[1-9][0-9]{0,15})$/.test(size) ||
    !Number.isSafeInteger(Number(size)) ||
    !hash ||
    hash.length !== 32 ||
    extensions.some((e) => e.length === 0)
  ) {
    throw new ProtocolError('SCHEMA_INVALID', 'not a checkpoint')
  }
  return { origin, size: Number(size), root: hash, extensions }
}

/** Decodes UTF-8 strictly (a note from the network). */
export function noteFromBytes(bytes: Uint8Array): string {
  try {
    return text.decode(bytes)
  } catch (cause) {
    throw new ProtocolError('SCHEMA_INVALID', 'a note is UTF-8', { cause })
  }
}

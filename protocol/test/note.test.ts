/**
 * C2SP signed notes and checkpoints. The first test opens the example note published with the
 * signed-note format (made by Go's golang.org/x/mod/sumdb/note, an implementation that shares
 * no code with this one): Legation reads the ecosystem's notes, and signs notes the same way.
 */
import { describe, expect, it } from 'vitest'
import {
  checkpointText,
  cosignatureKeyId,
  cosignatureLine,
  generateKeyPair,
  joinNote,
  noteKeyId,
  noteParts,
  openCosignedNote,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  signNote,
  verifierKey,
} from '../src/index.ts'
import { nativeEd25519 as ed } from '../src/native-crypto.ts'

const EXAMPLE_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'
const EXAMPLE_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n'

describe('signed notes (C2SP)', () => {
  it('open the format’s published example, signed by another implementation', () => {
    const key = parseVerifierKey(EXAMPLE_VKEY)
    expect(key.name).toBe('example.com/foo')
    expect(verifierKey(key.name, key.publicKey)).toBe(EXAMPLE_VKEY)
    expect(openNote(ed, EXAMPLE_NOTE, [key])).toEqual({
      text: 'This is an example message.\n',
      verified: ['example.com/foo'],
    })
    // One changed character, and the known key's signature fails.
    expect(() => openNote(ed, EXAMPLE_NOTE.replace('example message', 'exemple message'), [key])).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    )
  })

  it('read a verifier key whose base64 holds a "+" (the separator of its parts)', () => {
    for (let i = 0; i < 200; i++) {
      const k = generateKeyPair(ed)
      const vkey = verifierKey('legation/x', k.publicKey)
      if (!vkey.split('+').slice(2).join('+').includes('+')) continue
      expect(parseVerifierKey(vkey)).toEqual({ name: 'legation/x', publicKey: k.publicKey })
      return
    }
    throw new Error('no key with a "+" in 200 tries')
  })

  it('sign as the format says: signatures by other keys are ignored, the text comes back', () => {
    const node = generateKeyPair(ed)
    const other = generateKeyPair(ed)
    const text = 'legation/bloc/node-1\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n'
    const note = signNote(ed, text, [
      { name: 'legation/node-1', secretKey: node.secretKey },
      { name: 'legation/node-2', secretKey: other.secretKey },
    ])
    expect(openNote(ed, note, [{ name: 'legation/node-1', publicKey: node.publicKey }])).toEqual({
      text,
      verified: ['legation/node-1'],
    })
    expect(() => openNote(ed, note, [{ name: 'legation/node-3', publicKey: other.publicKey }])).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    )
  })

  it('write and read checkpoints, extension lines included, and refuse a malformed one', () => {
    const root = new Uint8Array(32).fill(9)
    const c = { origin: 'legation/abc/node-1', size: 20852163, root, extensions: ['vv 1a2b:3'] }
    const t = checkpointText(c)
    expect(t).toBe('legation/abc/node-1\n20852163\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\nvv 1a2b:3\n')
    expect(parseCheckpoint(t)).toEqual(c)
    expect(() => checkpointText({ ...c, origin: 'evil\n999' })).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
    expect(() => parseCheckpoint('origin\n01\nAAAA\n')).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
  })
})

describe('signed notes: what the format forbids', () => {
  it('refuses control characters, no signers, too many lines, empty extension lines and short roots', () => {
    const k = generateKeyPair(ed)
    const signer = [{ name: 'legation/x', secretKey: k.secretKey }]
    expect(() => signNote(ed, 'tab\there\n', signer)).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
    expect(() => signNote(ed, 'fine\n', [])).toThrow(expect.objectContaining({ code: 'SCHEMA_INVALID' }))
    const note = signNote(ed, 'fine\n', signer)
    const line = note.slice('fine\n\n'.length)
    const known = [{ name: 'legation/x', publicKey: k.publicKey }]
    expect(() => openNote(ed, `fine\n\n${line.repeat(101)}`, known)).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
    expect(openNote(ed, `fine\n\n${line.repeat(3)}`, known).verified).toEqual(['legation/x'])
    expect(() => parseCheckpoint('o\n1\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n\next\n')).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
    expect(() => checkpointText({ origin: 'o', size: 1, root: new Uint8Array(3), extensions: [] })).toThrow(
      expect.objectContaining({ code: 'SCHEMA_INVALID' }),
    )
  })
})

describe('cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1)', () => {
  const log = generateKeyPair(ed)
  const witness = generateKeyPair(ed)
  const other = generateKeyPair(ed)
  const text = checkpointText({
    origin: 'legation/b/n1',
    size: 3,
    root: new Uint8Array(32).fill(7),
    extensions: [],
  })
  const signed = signNote(ed, text, [{ name: 'legation/b/n1', secretKey: log.secretKey }])
  const signer = { name: 'legation/b/n1', publicKey: log.publicKey }
  const w = { name: 'legation/b/witness/n2', publicKey: witness.publicKey }

  it('sign the message the format defines, with the time in the line, and verify as a known witness', () => {
    const line = cosignatureLine(ed, text, { name: w.name, secretKey: witness.secretKey }, 1_679_315_147)
    const raw = Uint8Array.from(atob(line.trim().split(' ').at(-1)!), (c) => c.charCodeAt(0))
    expect(raw.length).toBe(4 + 8 + 64)
    expect([...raw.subarray(0, 4)]).toEqual([...cosignatureKeyId(w.name, w.publicKey)])
    expect(new DataView(raw.buffer, 4, 8).getBigUint64(0)).toBe(1_679_315_147n)
    const message = new TextEncoder().encode(`cosignature/v1\ntime 1679315147\n${text}`)
    expect(ed.verify(raw.subarray(12), message, witness.publicKey)).toBe(true)

    const note = joinNote({ text, lines: [...noteParts(signed).lines, line] })
    const opened = openCosignedNote(ed, note, signer, [w])
    expect(opened.text).toBe(text)
    expect([...opened.cosignatures]).toEqual([[w.name, { line, time: 1_679_315_147 }]])
    // The log's own key type (0x01) is not a cosignature (0x04): the same key and name differ.
    expect(cosignatureKeyId(w.name, w.publicKey)).not.toEqual(noteKeyId(w.name, w.publicKey))
  })

  it('refuse a cosignature that does not verify, ignore unknown witnesses, and need the log’s signature', () => {
    const line = cosignatureLine(ed, text, { name: w.name, secretKey: witness.secretKey }, 100)
    // Another time in the line than the one signed.
    const raw = Uint8Array.from(atob(line.trim().split(' ').at(-1)!), (c) => c.charCodeAt(0))
    raw[11] = raw[11]! ^ 1
    const tampered = `— ${w.name} ${btoa(String.fromCharCode(...raw))}\n`
    expect(() =>
      openCosignedNote(ed, joinNote({ text, lines: [...noteParts(signed).lines, tampered] }), signer, [w]),
    ).toThrow(expect.objectContaining({ code: 'SIGNATURE_INVALID' }))
    // By a key not listed: ignored.
    const stranger = cosignatureLine(
      ed,
      text,
      { name: 'legation/b/witness/n9', secretKey: other.secretKey },
      100,
    )
    const withStranger = joinNote({ text, lines: [...noteParts(signed).lines, stranger] })
    expect(openCosignedNote(ed, withStranger, signer, [w]).cosignatures.size).toBe(0)
    // Cosignatures alone do not open a checkpoint: the log must have signed it.
    expect(() => openCosignedNote(ed, joinNote({ text, lines: [line] }), signer, [w])).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    )
  })
})

/**
 * C2SP signed notes and checkpoints. The first test opens the example note published with the
 * signed-note format (made by Go's golang.org/x/mod/sumdb/note, an implementation that shares
 * no code with this one): Legation reads the ecosystem's notes, and signs notes the same way.
 */
import { describe, expect, it } from 'vitest'
import {
  checkpointText,
  generateKeyPair,
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

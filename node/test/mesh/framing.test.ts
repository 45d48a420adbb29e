import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { encodeFrame, encodeVarint, FrameDecoder, varintLength } from '../../src/mesh/framing.ts'

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/** Matches a `MeshError` with this code (tests match on the code, never the message). */
function coded(code: string): unknown {
  return expect.objectContaining({ name: 'MeshError', code })
}

describe('mesh framing', () => {
  it('encodes varints like LEB128', () => {
    expect([...encodeVarint(0)]).toEqual([0])
    expect([...encodeVarint(127)]).toEqual([127])
    expect([...encodeVarint(128)]).toEqual([0x80, 0x01])
    expect([...encodeVarint(300)]).toEqual([0xac, 0x02])
    expect(varintLength(4 * 1024 * 1024)).toBe(4)
  })

  it('decodes frames split at every possible boundary', () => {
    const frames = [new Uint8Array(0), randomBytes(1), randomBytes(127), randomBytes(128), randomBytes(1000)]
    const wire = concat(frames.map((f) => encodeFrame(f)))
    for (let cut = 0; cut <= wire.byteLength; cut++) {
      const decoder = new FrameDecoder(4096)
      const out = decoder.push(wire.subarray(0, cut))
      decoder.push(wire.subarray(cut), out)
      expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(
        frames.map((f) => Buffer.from(f).toString('hex')),
      )
      expect(decoder.idle).toBe(true)
    }
  })

  it('decodes byte by byte', () => {
    const frames = Array.from({ length: 20 }, (_, i) => randomBytes(i * 37))
    const wire = concat(frames.map((f) => encodeFrame(f)))
    const decoder = new FrameDecoder(4096)
    const out: Uint8Array[] = []
    for (const byte of wire) {
      decoder.push(Uint8Array.of(byte), out)
    }
    expect(out).toHaveLength(frames.length)
    out.forEach((f, i) => {
      expect(Buffer.compare(f, frames[i]!)).toBe(0)
    })
  })

  it('rejects a frame larger than the limit as soon as the prefix says so', () => {
    const decoder = new FrameDecoder(1024)
    expect(() => decoder.push(encodeVarint(1025))).toThrow(coded('MESH_FRAME_TOO_LARGE'))
    // a prefix that is still incomplete but already too large
    const decoder2 = new FrameDecoder(1024)
    expect(() => decoder2.push(Uint8Array.of(0xff, 0xff))).toThrow(coded('MESH_FRAME_TOO_LARGE'))
  })

  it('rejects malformed prefixes', () => {
    expect(() => new FrameDecoder(1024).push(Uint8Array.of(0x80, 0x00))).toThrow(
      coded('MESH_FRAME_MALFORMED'),
    )
    expect(() =>
      new FrameDecoder(2 ** 52).push(Uint8Array.of(0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81)),
    ).toThrow(coded('MESH_FRAME_MALFORMED'))
  })
})

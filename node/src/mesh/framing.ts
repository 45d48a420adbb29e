/**
 * Length-prefixed framing for the sync protocol.
 *
 * A frame on the wire is `varint(length) || payload`, the varint being an
 * unsigned LEB128 (the same prefix it-length-prefixed and libp2p's
 * lengthPrefixedStream use, so other implementations can interoperate).
 *
 * libp2p 3 streams emit 'message' events whose chunk boundaries are whatever
 * the muxer and the TCP socket produced: one event may hold half a frame or
 * several frames, so the decoder is an incremental state machine fed with
 * arbitrary chunks.
 */
import { MeshError } from './errors.ts'

/**
 * A varint longer than this cannot describe a frame we would accept: 7 bytes
 * already cover 2^49, far above any sane `maxFrameBytes`, and bounding it
 * keeps the arithmetic inside the exact range of a JS number.
 */
const MAX_VARINT_BYTES = 7

/** Number of bytes `encodeVarint(value)` produces. */
export function varintLength(value: number): number {
  let length = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    length++
  }
  return length
}

/**
 * Write `value` as an unsigned LEB128 varint into `target` at `offset` and
 * return the offset after the last written byte.
 */
export function writeVarint(value: number, target: Uint8Array, offset: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError('varint value must be a non-negative safe integer')
  }
  while (value >= 0x80) {
    target[offset++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  target[offset++] = value
  return offset
}

/** Encode `value` as a standalone varint. */
export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintLength(value))
  writeVarint(value, out, 0)
  return out
}

/**
 * Encode one frame into a single contiguous buffer. Used for small frames,
 * where one copy is cheaper than handing two buffers (and so two muxer frames)
 * to the stream.
 */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const prefixLength = varintLength(payload.byteLength)
  const out = new Uint8Array(prefixLength + payload.byteLength)
  writeVarint(payload.byteLength, out, 0)
  out.set(payload, prefixLength)
  return out
}

/**
 * Incremental decoder: feed it chunks with `push`, get back the frames that
 * became complete. It throws `MESH_FRAME_TOO_LARGE` as soon as a length
 * prefix announces more than `maxFrameBytes` (before allocating anything), and
 * `MESH_FRAME_MALFORMED` for a prefix that is over-long or not minimally
 * encoded. After a throw the decoder must not be used again: the stream it
 * reads is no longer in sync.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number
  /** Length being accumulated from the varint prefix. */
  private prefixValue = 0
  private prefixBytes = 0
  /** Payload under construction, undefined while reading a prefix. */
  private payload: Uint8Array | undefined
  private payloadOffset = 0

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes
  }

  /** True when the decoder is between frames (no partial frame buffered). */
  get idle(): boolean {
    return this.payload === undefined && this.prefixBytes === 0
  }

  /** Bytes of the current partial frame held by the decoder. */
  get bufferedBytes(): number {
    return this.payloadOffset + this.prefixBytes
  }

  push(chunk: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    let offset = 0
    const end = chunk.byteLength

    while (offset < end) {
      if (this.payload === undefined) {
        const byte = chunk[offset++]!
        // a continuation byte of zero after the first byte means the value
        // could have been encoded shorter: reject so a frame has exactly one
        // encoding and nobody can pad prefixes to probe the parser
        if (byte === 0 && this.prefixBytes > 0) {
          throw new MeshError('MESH_FRAME_MALFORMED', 'Frame length prefix is not minimally encoded')
        }
        this.prefixValue += (byte & 0x7f) * 2 ** (7 * this.prefixBytes)
        this.prefixBytes++

        if (this.prefixValue > this.maxFrameBytes) {
          throw new MeshError(
            'MESH_FRAME_TOO_LARGE',
            `Incoming frame announces at least ${this.prefixValue} bytes, limit is ${this.maxFrameBytes}`,
          )
        }
        if ((byte & 0x80) !== 0) {
          if (this.prefixBytes >= MAX_VARINT_BYTES) {
            throw new MeshError('MESH_FRAME_MALFORMED', 'Frame length prefix is too long')
          }
          continue
        }

        const length = this.prefixValue
        this.prefixValue = 0
        this.prefixBytes = 0

        if (length === 0) {
          out.push(new Uint8Array(0))
          continue
        }

        // fast path: the whole payload is inside this chunk. Copy it (slice)
        // rather than handing out a view, so a handler that keeps the frame
        // does not pin the (possibly much larger) chunk it arrived in
        if (end - offset >= length) {
          out.push(chunk.slice(offset, offset + length))
          offset += length
          continue
        }

        this.payload = new Uint8Array(length)
        this.payloadOffset = 0
      }

      const payload = this.payload
      const take = Math.min(payload.byteLength - this.payloadOffset, end - offset)
      payload.set(chunk.subarray(offset, offset + take), this.payloadOffset)
      this.payloadOffset += take
      offset += take

      if (this.payloadOffset === payload.byteLength) {
        out.push(payload)
        this.payload = undefined
        this.payloadOffset = 0
      }
    }

    return out
  }
}

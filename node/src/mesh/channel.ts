/**
 * A sync channel: the one long-lived libp2p stream used to exchange frames
 * with one peer. It owns the framing (encode on write, incremental decode on
 * read) and the write-side flow control; delivery of decoded frames to the
 * application is left to the mesh, which orders frames per peer across
 * channel replacements.
 */
import type {
  AbortOptions,
  Connection,
  Stream,
  StreamCloseEvent,
  StreamMessageEvent,
} from '@libp2p/interface'
import { isMeshError, MeshError, type MeshMisbehaviourCode } from './errors.ts'
import { encodeFrame, FrameDecoder } from './framing.ts'

export interface SyncChannelInit {
  peerId: string
  stream: Stream
  connection: Connection
  maxFrameBytes: number
  /** Bytes that may sit in the stream's write buffer before `write` waits. */
  maxBufferedBytes: number
  /**
   * Read buffer limit of the stream. While a channel is paused the remote may
   * still fill its whole receive window, which lands in the stream's read
   * buffer; libp2p resets a stream whose read buffer outgrows
   * `maxReadBufferLength` (4 MiB by default), which would turn a slow consumer
   * into a broken channel, so this must exceed the muxer's window.
   */
  maxReadBufferBytes: number
  /** Called with the frames each incoming chunk completed, in order. */
  onFrames(channel: SyncChannel, frames: Uint8Array[]): void
  /** Called once when the remote sent something that is not a valid frame. */
  onMisbehaviour(channel: SyncChannel, err: MeshError & { code: MeshMisbehaviourCode }): void
  /** Called once when the underlying stream closed, for whatever reason. */
  onClose(channel: SyncChannel, err?: Error): void
}

export class SyncChannel {
  readonly peerId: string
  readonly stream: Stream
  readonly connection: Connection
  readonly openedAt: number
  /** Set once the channel must deliver nothing more (handler failure). */
  failed = false
  closed = false
  /** True while we, not the remote, paused the readable side. */
  private pausedByUs = false
  private readonly decoder: FrameDecoder
  private readonly maxBufferedBytes: number
  private readonly init: SyncChannelInit

  constructor(init: SyncChannelInit) {
    this.init = init
    this.peerId = init.peerId
    this.stream = init.stream
    this.connection = init.connection
    this.openedAt = Date.now()
    this.decoder = new FrameDecoder(init.maxFrameBytes)
    this.maxBufferedBytes = init.maxBufferedBytes

    this.stream.maxReadBufferLength = init.maxReadBufferBytes
    // libp2p only bounds the write buffer if asked to; our own flow control
    // keeps it under maxBufferedBytes + one frame, so this is a backstop that
    // turns a flow control bug into a reset stream instead of unbounded memory
    this.stream.maxWriteBufferLength = 2 * (init.maxBufferedBytes + init.maxFrameBytes + 16)

    this.stream.addEventListener('message', this.onMessage)
    this.stream.addEventListener('close', this.onClose)
    this.stream.addEventListener('remoteCloseWrite', this.onRemoteCloseWrite)

    if (this.stream.status !== 'open') {
      // the stream may have been reset between negotiation and now: the close
      // event is gone, so report it ourselves on the next tick
      queueMicrotask(() => {
        this.onClose()
      })
    }
  }

  /** Whether a frame can be handed to the stream now without waiting. */
  get writable(): boolean {
    return !this.closed && this.stream.writeStatus === 'writable'
  }

  canWriteNow(frameBytes: number): boolean {
    if (!this.writable) {
      return false
    }
    // libp2p 3 keeps accepting `send()` after it returned false and just grows
    // its write buffer; stop at our own cap instead. While the stream does not
    // need a drain, send() flushes straight into the muxer so the buffer is
    // empty and there is nothing to wait for.
    return (
      !this.stream.writableNeedsDrain || this.stream.writeBufferLength + frameBytes <= this.maxBufferedBytes
    )
  }

  /**
   * Hand one frame to the stream. The caller must have checked
   * `canWriteNow` (or awaited `waitForCapacity`) just before.
   */
  write(frame: Uint8Array): void {
    if (!this.writable) {
      throw new MeshError('MESH_CHANNEL_CLOSED')
    }
    // one contiguous buffer per frame: a single send() is a single muxer frame,
    // and copying means the caller may reuse its buffer once send() resolved
    try {
      this.stream.send(encodeFrame(frame))
    } catch (err) {
      throw new MeshError('MESH_CHANNEL_CLOSED', 'Sync channel rejected the frame', { cause: err })
    }
  }

  /** Resolve once `frameBytes` can be written, reject if the channel closes. */
  async waitForCapacity(frameBytes: number, options?: AbortOptions): Promise<void> {
    while (!this.canWriteNow(frameBytes)) {
      if (!this.writable) {
        throw new MeshError('MESH_CHANNEL_CLOSED')
      }
      await this.waitForDrain(options)
    }
  }

  /**
   * Wait for the stream's 'drain' event. We deliberately do not use
   * `stream.onDrain()`: in @libp2p/utils 7.x its promise is created once and
   * never replaced after it resolves, so every later call resolves at once even
   * while `writableNeedsDrain` is true, which silently disables backpressure.
   */
  private waitForDrain(options?: AbortOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = options?.signal
      const cleanup = (): void => {
        this.stream.removeEventListener('drain', onDrain)
        this.stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => {
        cleanup()
        resolve()
      }
      const onClose = (): void => {
        cleanup()
        reject(new MeshError('MESH_CHANNEL_CLOSED'))
      }
      const onAbort = (): void => {
        cleanup()
        reject(signal?.reason)
      }
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      this.stream.addEventListener('drain', onDrain)
      this.stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort)
    })
  }

  /** Stop reading from the remote (yamux then stops granting send window). */
  pause(): void {
    if (this.pausedByUs || this.closed || this.stream.readStatus !== 'readable') {
      return
    }
    this.pausedByUs = true
    this.stream.pause()
  }

  resume(): void {
    if (!this.pausedByUs) {
      return
    }
    this.pausedByUs = false
    if (!this.closed && this.stream.readStatus === 'paused') {
      // resume() re-dispatches buffered data synchronously, which re-enters
      // onMessage; callers must tolerate new frames arriving during this call
      this.stream.resume()
    }
  }

  get paused(): boolean {
    return this.pausedByUs
  }

  /** Abort the stream: discards unsent data and resets it at the remote. */
  abort(err: Error): void {
    if (this.stream.status === 'open' || this.stream.status === 'closing') {
      this.stream.abort(err)
    }
    this.onClose()
  }

  /** Mark failed (nothing more will be delivered) and abort. */
  fail(err: Error): void {
    this.failed = true
    this.abort(err)
  }

  /** Graceful close of our writable end, bounded by the caller's signal. */
  async close(options?: AbortOptions): Promise<void> {
    try {
      await this.stream.close(options)
    } catch (err) {
      this.abort(
        err instanceof Error
          ? err
          : new MeshError('MESH_CHANNEL_CLOSED', 'Closing the sync channel failed', { cause: err }),
      )
    }
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.closed) {
      return
    }
    const frames: Uint8Array[] = []
    let error: (MeshError & { code: MeshMisbehaviourCode }) | undefined
    try {
      const data = evt.data
      if (data instanceof Uint8Array) {
        this.decoder.push(data, frames)
      } else {
        for (const chunk of data) {
          this.decoder.push(chunk, frames)
        }
      }
    } catch (err) {
      if (isMeshError(err, 'MESH_FRAME_TOO_LARGE', 'MESH_FRAME_MALFORMED')) {
        error = err
      } else {
        throw err
      }
    }
    // frames completed before the bad prefix are valid and are delivered
    if (frames.length > 0) {
      this.init.onFrames(this, frames)
    }
    if (error !== undefined) {
      this.init.onMisbehaviour(this, error)
      this.abort(error)
    }
  }

  /**
   * The remote finished sending. Half-open channels are useless to us (it is
   * one channel both ways), so finish our side too; 'close' then follows once
   * the stream is closed in both directions.
   */
  private readonly onRemoteCloseWrite = (): void => {
    // yamux reports FIN before it delivers the data of the same muxer frame:
    // defer so the last frames are still read
    setTimeout(() => {
      void this.close({ signal: AbortSignal.timeout(5_000) })
    }, 0)
  }

  private readonly onClose = (evt?: StreamCloseEvent): void => {
    if (this.closed) {
      return
    }
    this.closed = true
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteCloseWrite)
    this.init.onClose(this, evt?.error)
  }
}

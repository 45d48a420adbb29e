/**
 * A verification worker: checks batches of Ed25519 signatures with Node's native crypto.
 * Input: one buffer of items `sig(64) • key(32) • len(u32 LE) • message(len)`; output: one
 * byte per item, 1 if the signature verifies.
 */
import { parentPort } from 'node:worker_threads'
import { nativeEd25519 } from '@legation/protocol/native-crypto'

parentPort!.on('message', (msg: { id: number; buf: Uint8Array; count: number }) => {
  const out = new Uint8Array(msg.count)
  const view = new DataView(msg.buf.buffer, msg.buf.byteOffset, msg.buf.byteLength)
  let o = 0
  for (let i = 0; i < msg.count; i++) {
    const sig = msg.buf.subarray(o, o + 64)
    const key = msg.buf.subarray(o + 64, o + 96)
    const len = view.getUint32(o + 96, true)
    const message = msg.buf.subarray(o + 100, o + 100 + len)
    o += 100 + len
    out[i] = nativeEd25519.verify(sig, message, key) ? 1 : 0
  }
  parentPort!.postMessage({ id: msg.id, out }, [out.buffer])
})

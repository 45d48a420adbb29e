/**
 * Two byte strings joined, for a signature made or checked at once: what `#joined` resolves to
 * in browsers (package.json "imports"). Node uses joined-native.ts, which takes the bytes from
 * Buffer's shared pool.
 */
import { concatBytes } from '@noble/hashes/utils.js'

export const joinedForOnce = (a: Uint8Array, b: Uint8Array): Uint8Array => concatBytes(a, b)

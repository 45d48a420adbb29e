/**
 * @legation/protocol — what every node, the CLI, the portal and the auditor agree on,
 * byte for byte: keys, canonical encoding, certificates, the charter, signed records,
 * the hybrid logical clock, feed entries and the Yjs document model. Pure: no I/O.
 * Node's native Ed25519 lives apart, in `@legation/protocol/native-crypto`.
 */
export * from './bytes.ts'
export * from './certificates.ts'
export * from './charter.ts'
export * from './crypto.ts'
export * from './display.ts'
export * from './docmodel.ts'
export * from './encoding.ts'
export * from './errors.ts'
export * from './feed.ts'
export * from './feed-audit.ts'
export * from './hlc.ts'
export * from './identity.ts'
export * from './inclusion-receipt.ts'
export * from './keys.ts'
export * from './merkle.ts'
export * from './node-url.ts'
export * from './note.ts'
export * from './records.ts'
export * from './request-auth.ts'
export * from './schema.ts'
export * from './sdk.ts'
export * from './sync.ts'
export * from './witnessed.ts'

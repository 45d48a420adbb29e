/**
 * The vault: citizens' personal data encrypted at rest, one data key per citizen, and the
 * keyed hashes (blind index tokens) that let officers search without the store holding a
 * passport number or a whereabouts in plain form. `docs/privacy.md` has the design and its
 * threat model; in short:
 *
 *   ck/<bucket>/<citizen>  the citizen's data key (32 random bytes), sealed under its bucket's key
 *   pay/<digest>        1 ‖ len ‖ citizen ‖ nonce(12) ‖ ChaCha20-Poly1305(data key, payload)
 *   sum/<citizen>       no personal value: the presence's record id, the index tokens (projections.ts)
 *   ix/td/<token>/…     token = HMAC-SHA256(index key, kind ‖ 0 ‖ value), 128 bits, base64url
 *   gone/<citizen>      the citizen's erasure record: no key is ever made for them again
 *
 * Citizens' keys fall in 256 buckets; each bucket has a key of its own, kept in the key ring: a
 * small file beside the database (`Store.sideFile`), replaced whole on each change and sealed
 * under the wrap key. The wrap and index keys are derived (HKDF-SHA256) from the node's own
 * secret key, itself encrypted at rest under the operator's passphrase (keystore.ts): a copy
 * of the data folder alone reads nothing. Erasing a citizen wraps the other keys of their bucket
 * under a fresh bucket key and destroys the old one: the wrapped key LevelDB may keep in its
 * files for a while (a deleted value lingers until compaction reaches it) opens with nothing. Data keys never leave the node: peers are sent payloads over the
 * mesh's authenticated, encrypted channels (certified nodes only) and seal them under keys of
 * their own, so erasing a citizen is each node destroying its own key for them.
 *
 * The cipher is ChaCha20-Poly1305 as RFC 8439 defines it, from OpenSSL through `node:crypto`
 * (2.4× faster here than the same cipher in JavaScript, measured at 9 µs vs 22 µs per 300-byte
 * payload); `@noble/ciphers`' `chacha20poly1305` gives the same bytes in a browser, and a test
 * checks that the two agree. Nonces are random (96 bits): a citizen's key seals a few hundred
 * values in its life, far from the 2³² bound for random nonces under one key.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  randomFillSync,
} from 'node:crypto'
import { utf8ToBytes } from '@legation/protocol'
import { LRUCache } from 'lru-cache'
import { NodeError } from '../errors.ts'
import { type BatchOp, prefixRange, type SideFile, type Store } from '../storage/store.ts'
import { decodeText } from './codec.ts'
import { idOfKeyPart, K } from './keys.ts'

const CIPHER = 'chacha20-poly1305'
export const KEY_BYTES = 32
export const NONCE_BYTES = 12
const TAG_BYTES = 16
/**
 * The first byte of a sealed payload (a plain one is a CBOR map: 0xa0–0xbf): its owner as text,
 * `0x01 ‖ n ‖ owner (n bytes) ‖ sealed`.
 */
export const SEALED_PAYLOAD = 1
/**
 * The first byte of a sealed payload whose owner is a citizen id (32 hex digits) kept as its 16
 * bytes, `0x02 ‖ owner ‖ sealed` (data format 6): 17 bytes where the text took 34.
 */
export const SEALED_PAYLOAD_ID = 2
const CITIZEN_HEX = /^[0-9a-f]{32}$/
/** Bytes of a blind-index token (`indexToken`). */
export const INDEX_TOKEN_BYTES = 12

/** Whether a stored payload is sealed (in either form). */
export const isSealedPayload = (stored: Uint8Array): boolean =>
  stored[0] === SEALED_PAYLOAD || stored[0] === SEALED_PAYLOAD_ID
/** The key of payloads about no citizen (crisis alerts): never erased. */
export const BLOC_SUBJECT = '~bloc'
/** Data keys kept unwrapped in memory. */
export const DEFAULT_KEY_CACHE = 50_000
/** The key ring's file beside the database (`db.vault-ring`). */
export const RING_FILE = 'vault-ring'
const RING_AAD = utf8ToBytes('legation/v1/vault/ring')
const BUCKETS = 256

export type IndexKind = 'td' | 'pres'

export interface VaultInit {
  /** Data keys kept in memory. @default DEFAULT_KEY_CACHE */
  keyCacheSize?: number
}

export class Vault {
  readonly #wrapKey: Uint8Array
  readonly #indexKey: Uint8Array
  readonly #store: Store
  readonly #ringFile: SideFile
  /** Per bucket, its keys by generation, the current one last. */
  #ring = new Map<number, RingKey[]>()
  #loaded = false
  readonly #keys: LRUCache<string, Uint8Array>
  /** Data keys made but not yet handed to the store: every batch that uses one writes it. */
  readonly #made = new Map<string, Uint8Array>()
  /** Citizens erased here (their `gone/` markers, read at load; erasures are rare). */
  readonly #erased = new Set<string>()
  /** Citizens looked up (prefetch) and found with no key and not erased: no need to look again. */
  readonly #absent = new Set<string>()
  /** Per batch, the data keys it already puts. */
  readonly #putIn = new WeakMap<BatchOp[], Set<string>>()

  /** `root` is secret key material of this node (its Ed25519 seed); nothing else derives from it. */
  constructor(root: Uint8Array, components: { store: Store }, init: VaultInit = {}) {
    this.#wrapKey = derive(root, 'legation/v1/vault/wrap')
    this.#indexKey = derive(root, 'legation/v1/vault/index')
    this.#store = components.store
    this.#ringFile = components.store.sideFile(RING_FILE)
    this.#keys = new LRUCache({ max: init.keyCacheSize ?? DEFAULT_KEY_CACHE })
  }

  /** A vault whose keys exist only in this process (a read-only engine replaying for an audit). */
  static ephemeral(store: Store): Vault {
    return new Vault(randomBytes(KEY_BYTES), { store })
  }

  /**
   * Reads the key ring back, and finishes a rotation a stop cut short: data keys still wrapped
   * under a bucket's older key are wrapped under its current one, then the older is destroyed.
   */
  async load(): Promise<void> {
    const raw = await this.#ringFile.read()
    if (!raw) {
      // Keys wrapped under a ring that is not here: making a new ring would lose every citizen's data.
      for await (const _ of this.#store.range(prefixRange(K.citizenKeys, { limit: 1 }))) {
        throw new NodeError(
          'VAULT_RING_MISSING',
          `the store holds citizens' keys but their key ring (the file ending in .${RING_FILE} beside the database folder) is missing: restore it with the data folder`,
        )
      }
    }
    let ring: Map<number, RingKey[]> = new Map()
    if (raw) {
      try {
        ring = decodeRing(open(this.#wrapKey, raw, RING_AAD))
      } catch (cause) {
        throw new NodeError(
          'VAULT_RING_INVALID',
          `the key ring (the file ending in .${RING_FILE} beside the database folder) does not open with this node's key: it is damaged, or another node's`,
          { cause },
        )
      }
    }
    this.#ring = ring
    this.#loaded = true
    this.#erased.clear()
    for await (const [k] of this.#store.range(prefixRange(K.goneAll)))
      this.#erased.add(k.slice(K.goneAll.length))
    // Every bucket's key made at once (one write of the ring, not one per bucket on first use).
    if (this.#ring.size < BUCKETS) {
      for (let b = 0; b < BUCKETS; b++) {
        if (!this.#ring.has(b)) this.#ring.set(b, [{ gen: 1, key: random(KEY_BYTES) }])
      }
      await this.#saveRing()
    }
    const unfinished = [...this.#ring].filter(([, keys]) => keys.length > 1).map(([b]) => b)
    if (unfinished.length === 0) return
    const ops: BatchOp[] = []
    for (const b of unfinished) await this.#rewrapBucket(b, undefined, ops)
    await this.#store.write(ops)
    await this.retire()
  }

  /**
   * Looks up the data keys of many citizens in one batched read: a transaction's new citizens
   * then cost no read each.
   */
  async prefetch(citizens: Iterable<string>): Promise<void> {
    for (const [c, key] of await this.#readKeys(citizens)) if (!this.#erased.has(c)) this.#keys.set(c, key)
  }

  /** The data keys of those of `citizens` not in memory, read in one batch and unwrapped. */
  async #readKeys(citizens: Iterable<string>): Promise<Map<string, Uint8Array>> {
    const read = new Map<string, Uint8Array>()
    const unknown = [...new Set(citizens)].filter(
      (c) => !this.#keys.has(c) && !this.#made.has(c) && !this.#erased.has(c) && !this.#absent.has(c),
    )
    if (unknown.length === 0) return read
    const wrapped = await this.#store.getMany(unknown.map((c) => K.citizenKey(bucketOf(c), c)))
    for (const [i, c] of unknown.entries()) {
      const w = wrapped[i]
      const key = w && (await this.#unwrapRead(bucketOf(c), c, w))
      if (key) read.set(c, key)
      else if (!w) this.#absent.add(c)
    }
    return read
  }

  /**
   * A data key read from the store, unwrapped. One wrapped under a generation the ring no longer
   * holds (the only way `#unwrap` finds no key) was read while an erasure re-wrapped its bucket
   * and the old generation was retired: the store holds it under the new one by then, and it is
   * read again. Taken for no key, it would be replaced by a fresh one, and every payload sealed
   * under it lost.
   */
  async #unwrapRead(b: number, citizen: string, wrapped: Uint8Array): Promise<Uint8Array | undefined> {
    const key = this.#unwrap(b, citizen, wrapped)
    if (key) return key
    const again = await this.#store.get(K.citizenKey(b, citizen))
    return again && this.#unwrap(b, citizen, again)
  }

  /**
   * The blind-index token of a value: equal values give equal tokens on this node only. HMAC-SHA-256
   * cut to 96 bits (16 characters; 128 until data format 6): a token is looked up, never checked
   * against a forger, and two values of a million sharing one has odds of about 10⁻¹⁷.
   */
  indexToken(kind: IndexKind, value: string): string {
    return createHmac('sha256', this.#indexKey)
      .update(`${kind}\0${value}`)
      .digest()
      .subarray(0, INDEX_TOKEN_BYTES)
      .toString('base64url')
  }

  /** Whether the citizen was erased here (the marks are all in memory since `load`). */
  isErased(citizen: string): boolean {
    return this.#erased.has(citizen)
  }

  /**
   * Seals a payload about `subject` (null: about no citizen) for `pay/<digestHex>`; puts the
   * citizen's key into `ops` when it is new. Undefined for an erased citizen: nothing is stored.
   */
  async sealPayload(
    subject: string | null,
    digestHex: string,
    plain: Uint8Array,
    ops: BatchOp[],
  ): Promise<Uint8Array | undefined> {
    const owner = subject ?? BLOC_SUBJECT
    const key = await this.#keyFor(owner, ops)
    if (!key) return undefined
    return seal(key, plain, payloadAad(digestHex, owner), sealedHead(owner))
  }

  /** The plaintext of a stored payload; undefined once its citizen's key is gone. */
  async openPayload(digestHex: string, stored: Uint8Array): Promise<Uint8Array | undefined> {
    const { owner, body } = sealedParts(stored)
    const key = await this.#keyOf(owner)
    if (!key) return undefined
    return open(key, body, payloadAad(digestHex, owner))
  }

  /**
   * `openPayload` for many stored payloads (what serving a peer's catch-up reads), their
   * citizens' keys looked up in one read. Keys read for it are cached only while the cache has
   * room, pushing none out: a catch-up reads a node's history once, oldest first, and with more
   * citizens than the cache holds, each key it cached pushed out one that a later frame needed,
   * so every key was read and unwrapped (all 100,000 of a 100,000-record catch-up, at each node
   * serving it). A cache with room (after a restart, say) still keeps what it served, for the
   * next frame that names the citizen and the next peer catching up.
   */
  async openPayloads(
    digestHexes: readonly string[],
    stored: readonly (Uint8Array | undefined)[],
  ): Promise<(Uint8Array | undefined)[]> {
    const parts = stored.map((s) => s && sealedParts(s))
    const read = await this.#readKeys(parts.flatMap((p) => (p ? [p.owner] : [])))
    for (const [c, key] of read) {
      if (this.#keys.size >= this.#keys.max) break
      if (!this.#erased.has(c)) this.#keys.set(c, key)
    }
    const out: (Uint8Array | undefined)[] = []
    for (const [i, p] of parts.entries()) {
      if (!p) {
        out.push(undefined)
        continue
      }
      const { owner, body } = p
      // Not of a citizen erased meanwhile (the key is destroyed); one cached then, and pushed
      // out of the cache meanwhile, is read on its own.
      const key = this.#erased.has(owner) ? undefined : (read.get(owner) ?? (await this.#keyOf(owner)))
      out.push(key && open(key, body, payloadAad(digestHexes[i]!, owner)))
    }
    return out
  }

  /**
   * Destroys the citizen's data key here, in the batch `ops` that applies the erasure record:
   * every other data key of the citizen's bucket is wrapped under a fresh bucket key (already
   * in the ring file when this returns), the citizen's is deleted and the citizen marked erased.
   * Once the batch is durable, `retire` destroys the old bucket key — and with it the copy of
   * the citizen's wrapped key that LevelDB's files may still hold. Everything the store has
   * handed over must be durable before this is called (ranges read only what is).
   */
  async erase(citizen: string, recordId: string, ops: BatchOp[]): Promise<void> {
    this.#erased.add(citizen)
    this.#absent.delete(citizen)
    this.#keys.delete(citizen)
    this.#made.delete(citizen)
    const b = bucketOf(citizen)
    if (this.#ring.has(b)) await this.#rewrapBucket(b, citizen, ops)
    ops.push({ type: 'del', key: K.citizenKey(b, citizen) })
    ops.push({ type: 'put', key: K.gone(citizen), value: utf8ToBytes(recordId) })
  }

  /** Destroys the bucket keys that rotations replaced (their batches are durable). */
  async retire(): Promise<void> {
    let changed = false
    for (const [b, keys] of this.#ring) {
      if (keys.length > 1) {
        this.#ring.set(b, [keys.at(-1)!])
        changed = true
      }
    }
    if (changed) await this.#saveRing()
  }

  /**
   * After `ops` went to the store: keys made for them are cached as keys read from it are. A
   * citizen's next record (a presence after the registration), or a peer served the citizen's
   * history soon after, then needs no read of the wrapped key and no unwrapping: ~10 % of a
   * node's main thread while it served a catch-up of citizens it had just registered.
   */
  handed(ops: readonly BatchOp[]): void {
    if (this.#made.size === 0) return
    for (const op of ops) {
      if (op.type === 'put' && op.key.startsWith(K.citizenKeys)) {
        const citizen = idOfKeyPart(op.key.slice(op.key.indexOf('/', K.citizenKeys.length) + 1))
        const key = this.#made.get(citizen)
        if (key) {
          this.#keys.set(citizen, key)
          this.#made.delete(citizen)
        }
      }
    }
  }

  async #rewrapBucket(b: number, except: string | undefined, ops: BatchOp[]): Promise<void> {
    const fresh = { gen: this.#ring.get(b)!.at(-1)!.gen + 1, key: random(KEY_BYTES) }
    this.#ring.get(b)!.push(fresh)
    await this.#saveRing()
    for await (const [k, v] of this.#store.range(prefixRange(K.citizenBucket(b)))) {
      const citizen = idOfKeyPart(k.slice(K.citizenBucket(b).length))
      if (citizen === except) continue
      const key = this.#unwrap(b, citizen, v)
      if (key) ops.push({ type: 'put', key: k, value: this.#wrap(b, citizen, key) })
    }
    for (const [citizen, key] of this.#made) {
      if (citizen !== except && bucketOf(citizen) === b) this.#putKey(citizen, key, ops)
    }
  }

  async #keyOf(citizen: string): Promise<Uint8Array | undefined> {
    const cached = this.#keys.get(citizen) ?? this.#made.get(citizen)
    if (cached) return cached
    if (this.#erased.has(citizen) || this.#absent.has(citizen)) return undefined
    const b = bucketOf(citizen)
    const wrapped = await this.#store.get(K.citizenKey(b, citizen))
    const key = wrapped && (await this.#unwrapRead(b, citizen, wrapped))
    // An erasure applied while it was read has destroyed it.
    if (!key || this.#erased.has(citizen)) return undefined
    this.#keys.set(citizen, key)
    return key
  }

  async #keyFor(citizen: string, ops: BatchOp[]): Promise<Uint8Array | undefined> {
    const made = this.#made.get(citizen)
    if (made) {
      this.#putKey(citizen, made, ops)
      return made
    }
    const key = await this.#keyOf(citizen)
    if (key) return key
    if (this.#erased.has(citizen)) return undefined
    this.#absent.delete(citizen)
    const fresh = random(KEY_BYTES)
    this.#made.set(citizen, fresh)
    this.#putKey(citizen, fresh, ops)
    return fresh
  }

  #putKey(citizen: string, key: Uint8Array, ops: BatchOp[]): void {
    let put = this.#putIn.get(ops)
    if (!put) {
      put = new Set()
      this.#putIn.set(ops, put)
    }
    if (put.has(citizen)) return
    put.add(citizen)
    const b = bucketOf(citizen)
    ops.push({ type: 'put', key: K.citizenKey(b, citizen), value: this.#wrap(b, citizen, key) })
  }

  /** gen (4 bytes) ‖ the data key sealed under that generation of its bucket's key */
  #wrap(b: number, citizen: string, key: Uint8Array): Uint8Array {
    const current = this.#ring.get(b)!.at(-1)!
    const gen = new Uint8Array(4)
    new DataView(gen.buffer).setUint32(0, current.gen)
    return seal(current.key, key, utf8ToBytes(`ck/${citizen}`), gen)
  }

  #unwrap(b: number, citizen: string, wrapped: Uint8Array): Uint8Array | undefined {
    const gen = new DataView(wrapped.buffer, wrapped.byteOffset, 4).getUint32(0)
    const ringKey = this.#ring.get(b)?.find((k) => k.gen === gen)
    return ringKey && open(ringKey.key, wrapped.subarray(4), utf8ToBytes(`ck/${citizen}`))
  }

  async #saveRing(): Promise<void> {
    if (!this.#loaded) throw new Error('the vault was used before load()')
    await this.#ringFile.write(seal(this.#wrapKey, encodeRing(this.#ring), RING_AAD))
  }
}

interface RingKey {
  gen: number
  key: Uint8Array
}

const HEX_ID = /^[0-9a-f]{2}/
/** Which of the 256 buckets a citizen's key is in: citizen ids are key ids, already uniform. */
/** The head of a sealed payload of `owner`: the compact form for a citizen id. */
function sealedHead(owner: string): Uint8Array {
  if (CITIZEN_HEX.test(owner)) return concat(Uint8Array.of(SEALED_PAYLOAD_ID), Buffer.from(owner, 'hex'))
  const id = utf8ToBytes(owner)
  return concat(Uint8Array.of(SEALED_PAYLOAD, id.length), id)
}

/** The citizen (or `BLOC_SUBJECT`) a sealed payload belongs to, and its sealed bytes. */
function sealedParts(stored: Uint8Array): { owner: string; body: Uint8Array } {
  if (stored[0] === SEALED_PAYLOAD_ID && stored.length >= 17)
    return { owner: Buffer.from(stored.subarray(1, 17)).toString('hex'), body: stored.subarray(17) }
  if (stored[0] !== SEALED_PAYLOAD || stored.length < 2) throw new Error('unsealed payload in store')
  const n = stored[1]!
  return { owner: decodeText(stored.subarray(2, 2 + n)), body: stored.subarray(2 + n) }
}

/**
 * A sealed payload in its compact form (data format 6): its owner as 16 bytes if it is a citizen
 * id. The sealed bytes are kept as they are (their associated data names the owner as text).
 */
export function compactSealed(stored: Uint8Array): Uint8Array {
  if (stored[0] !== SEALED_PAYLOAD) return stored
  const { owner, body } = sealedParts(stored)
  return CITIZEN_HEX.test(owner) ? concat(sealedHead(owner), body) : stored
}

function bucketOf(citizen: string): number {
  return HEX_ID.test(citizen)
    ? Number.parseInt(citizen.slice(0, 2), 16)
    : createHash('sha256').update(citizen).digest()[0]!
}

function encodeRing(ring: Map<number, RingKey[]>): Uint8Array {
  const b: Record<string, Array<[number, string]>> = {}
  for (const [n, keys] of ring) b[n] = keys.map((k) => [k.gen, Buffer.from(k.key).toString('base64url')])
  return utf8ToBytes(JSON.stringify({ v: 1, b }))
}

function decodeRing(bytes: Uint8Array): Map<number, RingKey[]> {
  const { b } = JSON.parse(decodeText(bytes)) as { b: Record<string, Array<[number, string]>> }
  return new Map(
    Object.entries(b).map(([n, keys]) => [
      Number(n),
      keys.map(([gen, key]) => ({ gen, key: new Uint8Array(Buffer.from(key, 'base64url')) })),
    ]),
  )
}

/**
 * Random bytes (nonces, keys) drawn from a pool filled 4 KiB at a time: one call into the CSPRNG
 * per ~140 seals instead of one per seal (it was a quarter of the sealing cost, measured). A
 * drawn slice is never handed out again; the pool is replaced, not refilled in place.
 */
const POOL_BYTES = 4096
let pool = new Uint8Array(0)
let drawn = 0
function random(n: number): Uint8Array {
  if (drawn + n > pool.length) {
    pool = randomFillSync(new Uint8Array(POOL_BYTES))
    drawn = 0
  }
  const out = pool.slice(drawn, drawn + n)
  drawn += n
  return out
}

function derive(root: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', root, new Uint8Array(0), info, KEY_BYTES))
}

/**
 * A payload's associated data. From Buffer's shared pool, as it is used at once and dropped:
 * a fresh array of its ~100 bytes costs ~2 µs more, once per payload sealed or opened.
 */
function payloadAad(digestHex: string, owner: string): Uint8Array {
  return Buffer.from(`pay/${digestHex}\0${owner}`, 'utf8')
}

const NO_HEAD = new Uint8Array(0)

/**
 * head ‖ nonce ‖ ciphertext ‖ tag, in one array: `head` is what precedes the sealed value where
 * it is stored (a payload's owner, a wrapped key's generation). Each array of more than 64
 * bytes costs ~5 µs of CPU to allocate, account and sweep here, so the value is not built
 * sealed first and then copied behind its head.
 */
export function seal(
  key: Uint8Array,
  plain: Uint8Array,
  aad: Uint8Array,
  head: Uint8Array = NO_HEAD,
): Uint8Array {
  const nonce = random(NONCE_BYTES)
  const c = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES })
  c.setAAD(aad, { plaintextLength: plain.length })
  const out = new Uint8Array(head.length + NONCE_BYTES + plain.length + TAG_BYTES)
  out.set(head, 0)
  out.set(nonce, head.length)
  const body = c.update(plain)
  // A stream cipher: as long as the plaintext (the array is sized for that).
  if (body.length !== plain.length) throw new Error(`${CIPHER} wrote ${body.length} bytes of ${plain.length}`)
  out.set(body, head.length + NONCE_BYTES)
  c.final()
  out.set(c.getAuthTag(), head.length + NONCE_BYTES + body.length)
  return out
}

export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed value too short')
  const nonce = sealed.subarray(0, NONCE_BYTES)
  const tag = sealed.subarray(sealed.length - TAG_BYTES)
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)
  const d = createDecipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES })
  d.setAAD(aad, { plaintextLength: body.length })
  d.setAuthTag(tag)
  const out = d.update(body)
  d.final()
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

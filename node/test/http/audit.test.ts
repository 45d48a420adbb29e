/**
 * The auditor's view of a node's feeds over HTTP: a checkpoint in the transparency ecosystem's
 * own format (a C2SP checkpoint in a signed note, opened with the node's verifier key), proofs
 * that verify with RFC 9162's algorithms against it, and nothing for anyone but the auditor.
 */

import {
  decodeEntry,
  entryHash,
  fromBase64url,
  leafHash,
  openEntry,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  toBase64url,
  toHex,
  toSubmission,
  utf8ToBytes,
  verifyConsistency,
  verifyInclusion,
} from '@legation/protocol'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_AUDIT_PAGE_ENTRIES } from '../../src/http/routes/audit.ts'
import { ed, registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

type Signer = { sign(req: { method: string; path: string }): Record<string, string> }
const get = (app: FastifyInstance, path: string, who?: Signer) =>
  app.inject({ method: 'GET', url: path, headers: who ? who.sign({ method: 'GET', path }) : {} })

describe('audit routes', () => {
  it('serve the node’s signed checkpoint and proofs that verify against it', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 5; i++) {
      await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(registration(officer)) })
    }
    const res = await get(app, '/v1/audit/checkpoint', bloc.auditor)
    expect(res.statusCode).toBe(200)
    const { note, verifierKey, origin } = res.json()
    // Opened as any C2SP tool opens it: with the verifier key, the note's own format.
    const key = parseVerifierKey(verifierKey)
    expect(key.publicKey).toEqual(bloc.nodes[0]!.keys.publicKey)
    const opened = openNote(ed, note, [key])
    expect(opened.verified).toEqual([origin])
    const cp = parseCheckpoint(opened.text)
    expect(cp).toMatchObject({ origin: `legation/${bloc.bloc}/${engine.nodeId}`, size: 5 })
    expect(cp.extensions).toEqual([`charter 1 ${engine.charter.hash}`, `state-root ${engine.stateRoot()}`])

    // Entry 3 is in the checkpoint's tree.
    const third = openEntry((await engine.getEntryBytes(engine.nodeId, 3))!)
    const inc = (
      await get(app, `/v1/audit/feeds/${engine.nodeId}/inclusion?seq=3&size=5`, bloc.auditor)
    ).json()
    expect(inc.root).toBe(toBase64url(cp.root))
    // The answer names its leaf, so a standard verifier needs nothing else: the entry's hash as data.
    expect(inc).toMatchObject({ seq: 3, index: 2, entry: toHex(entryHash(third.entry.body)) })
    const leaf = leafHash(entryHash(third.entry.body))
    expect(verifyInclusion(leaf, 2, 5, inc.proof.map(fromBase64url), cp.root)).toBe(true)
    // And the tree of 2 is a prefix of the checkpoint's.
    const con = (
      await get(app, `/v1/audit/feeds/${engine.nodeId}/consistency?from=2&to=5`, bloc.auditor)
    ).json()
    expect(verifyConsistency(2, 5, fromBase64url(con.fromRoot), cp.root, con.proof.map(fromBase64url))).toBe(
      true,
    )
    // Every feed held, listed.
    const feeds = (await get(app, '/v1/audit/feeds', bloc.auditor)).json()
    expect(feeds.feeds).toEqual([{ origin: engine.nodeId, size: 5, root: toBase64url(cp.root) }])
  })

  it('answer the auditor only, and nothing beyond what the node holds', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    expect((await get(app, '/v1/audit/checkpoint')).statusCode).toBe(401)
    expect((await get(app, '/v1/audit/checkpoint', bloc.officer('AAA'))).statusCode).toBe(403)
    expect((await get(app, '/v1/audit/feeds', bloc.citizen())).statusCode).toBe(403)
    const beyond = await get(app, `/v1/audit/feeds/${engine.nodeId}/inclusion?seq=1&size=1`, bloc.auditor)
    expect(beyond.statusCode).toBe(404)
    expect(beyond.json().code).toBe('NOT_FOUND')
  })

  it('page through a feed’s signed entries as stored: every one, in order, and no payload', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    const officer = bloc.officer('AAA')
    const regs = Array.from({ length: 7 }, () => registration(officer))
    for (const reg of regs) {
      await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(reg) })
    }
    const base = `/v1/audit/feeds/${engine.nodeId}/entries`
    const seen: Array<{ seq: number; hash: string; entry: string }> = []
    let after = 0
    let pages = 0
    for (;;) {
      const path = `${base}?after=${after}&limit=3`
      const res = await get(app, path, bloc.auditor)
      expect(res.statusCode).toBe(200)
      const page = res.json()
      expect(page).toMatchObject({ origin: engine.nodeId, size: 7 })
      seen.push(...page.entries)
      pages++
      if (page.next === null) break
      after = page.next
    }
    expect(pages).toBe(3)
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
    for (const e of seen) {
      // The bytes the node stored, hashed as the tree's leaf data.
      const stored = (await engine.getEntryBytes(engine.nodeId, e.seq))!
      expect(toBase64url(stored)).toBe(e.entry)
      expect(e.hash).toBe(toHex(entryHash(decodeEntry(stored).body)))
    }
    // The records' headers and signatures are there; their personal data is not, only its digest.
    const all = seen.map((e) => Buffer.from(e.entry, 'base64url')).reduce((a, b) => Buffer.concat([a, b]))
    for (const reg of regs) {
      expect(all.includes(Buffer.from(reg.record.sig))).toBe(true)
      expect(all.includes(Buffer.from(reg.payload!))).toBe(false)
    }
    for (const personal of ['Family', 'example.org', '1988-04-12']) {
      expect(all.includes(Buffer.from(utf8ToBytes(personal))), personal).toBe(false)
    }
    // Past the end: an empty last page; a feed this node never saw: size 0.
    expect((await get(app, `${base}?after=7`, bloc.auditor)).json()).toMatchObject({
      entries: [],
      next: null,
    })
    const other = `/v1/audit/feeds/${'0'.repeat(32)}/entries`
    expect((await get(app, other, bloc.auditor)).json()).toEqual({
      origin: '0'.repeat(32),
      size: 0,
      entries: [],
      next: null,
    })
  })

  it('serve entries to the auditor only, with a bounded page', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    const path = `/v1/audit/feeds/${engine.nodeId}/entries`
    expect((await get(app, path)).json().code).toBe('UNAUTHENTICATED')
    expect((await get(app, path, bloc.officer('AAA'))).json().code).toBe('FORBIDDEN')
    expect((await get(app, path, bloc.citizen())).statusCode).toBe(403)
    const tooMany = await get(app, `${path}?limit=${MAX_AUDIT_PAGE_ENTRIES + 1}`, bloc.auditor)
    expect(tooMany.statusCode).toBe(400)
    expect(tooMany.json().code).toBe('VALIDATION_FAILED')
  })

  it('fuzz: whatever the auditor asks of the audit routes, never a 500', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    const officer = bloc.officer('AAA')
    for (let i = 0; i < 3; i++) {
      await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(registration(officer)) })
    }
    const number = fc.oneof(
      fc.integer({ min: -2, max: 6 }).map(String),
      fc.constantFrom('1e999', '-0', '0x2', '9007199254740993', '', 'NaN', '1.5'),
      fc.string({ maxLength: 8 }).map(encodeURIComponent),
    )
    const origin = fc.oneof(
      fc.constant(engine.nodeId),
      fc.constant('0'.repeat(32)),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 40 }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('entries', 'inclusion', 'consistency'),
        origin,
        fc.array(fc.tuple(fc.constantFrom('after', 'limit', 'seq', 'size', 'from', 'to', 'x'), number), {
          maxLength: 3,
        }),
        async (route, o, params) => {
          const query = params.map(([k, v]) => `${k}=${v}`).join('&')
          const res = await get(app, `/v1/audit/feeds/${o}/${route}${query ? `?${query}` : ''}`, bloc.auditor)
          expect(res.statusCode).toBeLessThan(500)
          if (res.statusCode >= 400) expect(res.json().code).toMatch(/^[A-Z_]+$/)
        },
      ),
      { numRuns: 300 },
    )
    const evidence = await get(app, '/v1/audit/evidence?after=refused%2F..%2Fx&limit=5', bloc.auditor)
    expect(evidence.statusCode).toBeLessThan(500)
  })

  it('page through stored evidence with after and next', async () => {
    const { app, bloc, engine } = await testApp()
    apps.push(app)
    for (const seq of [1, 2, 3]) {
      await engine.storeEvidence(
        'refused',
        `${'a'.repeat(32)}/${String(seq).padStart(12, '0')}/${'b'.repeat(64)}`,
        {
          code: 'ENTRY_INVALID',
          entry: new Uint8Array([seq]),
        },
      )
    }
    const first = (await get(app, '/v1/audit/evidence?limit=2', bloc.auditor)).json()
    expect(first.evidence.map((e: { kind: string }) => e.kind)).toEqual(['refused', 'refused'])
    expect(first.next).toBe(`refused/${first.evidence[1].id}`)
    const path = `/v1/audit/evidence?limit=2&after=${encodeURIComponent(first.next)}`
    const second = (await get(app, path, bloc.auditor)).json()
    expect(second.evidence).toHaveLength(1)
    expect(second.evidence[0].id).toMatch(/\/000000000003\//)
    expect(second.next).toBe(null)
  })
})

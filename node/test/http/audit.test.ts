/**
 * The auditor's view of a node's feeds over HTTP: a checkpoint in the transparency ecosystem's
 * own format (a C2SP checkpoint in a signed note, opened with the node's verifier key), proofs
 * that verify with RFC 9162's algorithms against it, and nothing for anyone but the auditor.
 */
import {
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
  verifyConsistency,
  verifyInclusion,
} from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
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
})

/**
 * GET /v1/audit/checkpoints: the checkpoints this node witnessed, for the auditor only. Alone,
 * a node holds its own feed's checkpoint, signed and not cosigned by anyone (not bloc-final).
 */
import { openNote } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, expect, it } from 'vitest'
import { LOCAL_REGISTRAR } from '../../src/replication/registrar.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import { type Witness, witness } from '../../src/witness/witness.ts'
import { ed, registration } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
const witnesses: Witness[] = []
afterEach(async () => {
  for (const w of witnesses.splice(0)) await w.stop()
  for (const a of apps.splice(0)) await a.close()
})

type Signer = { sign(req: { method: string; path: string }): Record<string, string> }
const get = (app: FastifyInstance, path: string, who?: Signer) =>
  app.inject({ method: 'GET', url: path, headers: who ? who.sign({ method: 'GET', path }) : {} })

it('lists the node’s own checkpoint for the auditor, and nothing for anyone else', async () => {
  let w: Witness | undefined
  const { app, bloc, engine } = await testApp({
    witness: (engine, nodeKeys) => {
      w = witness({ intervalMs: 60_000 })({
        engine,
        store: new MemoryStore(),
        ed,
        nodeKeys,
        registrar: LOCAL_REGISTRAR,
      })
      return w
    },
  })
  apps.push(app)
  witnesses.push(w!)
  await w!.start()
  await engine.submit([registration(bloc.officer('AAA')), registration(bloc.officer('AAA'))])
  await w!.tick()
  const res = await get(app, '/v1/audit/checkpoints', bloc.auditor)
  expect(res.statusCode).toBe(200)
  const [own] = res.json().checkpoints
  expect(own).toMatchObject({ origin: engine.nodeId, latest: { size: 1, cosigners: [], final: false } })
  expect(own.final).toBeUndefined()
  const node = engine.charter.nodes.get(engine.nodeId)!
  openNote(ed, own.latest.note, [
    { name: `legation/${engine.bloc}/${engine.nodeId}`, publicKey: node.nodeKey },
  ])
  expect((await get(app, '/v1/audit/checkpoints')).statusCode).toBe(401)
  expect((await get(app, '/v1/audit/checkpoints', bloc.officer('AAA'))).statusCode).toBe(403)
})

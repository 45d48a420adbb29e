/** Searching citizens by the start of a name, within a nationality (GET /v1/citizens?name=). */
import { generateKeyPair, LegationClient, toSubmission } from '@legation/protocol'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { ed } from '../fixtures.ts'
import { testApp } from './helpers.ts'

const apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close()
})

describe('GET /v1/citizens?name=', () => {
  it('finds the citizens one of whose names starts with it, ignoring case and accents, and logs only those', async () => {
    const { app, bloc } = await testApp()
    apps.push(app)
    const officer = bloc.officer('AAA')
    const enrol = (given: string, family: string, nationality = 'AAA') => {
      const keys = generateKeyPair(ed)
      const id = new LegationClient({ ed, bloc: officer.bloc, charter: officer.charter, keys }).id
      const r = officer.record(
        'citizen.registered',
        id,
        {
          citizenKey: keys.publicKey,
          nationality,
          consent: { purposes: ['consular-assistance'], version: 1 },
        },
        {
          salt: officer.salt(),
          names: { given, family },
          birth: { date: '1990-01-01' },
          travelDocument: {
            type: 'passport',
            number: `P${id.slice(0, 8).toUpperCase()}`,
            issuer: nationality,
            expires: '2031-01-01',
          },
          contact: { email: `${id.slice(0, 6)}@example.org` },
        },
      )
      return { id, keys, r }
    }
    const ana = enrol('Ana', 'Nováková')
    const jan = enrol('Jan', 'Novak-Horvat')
    const eva = enrol('Eva', 'Kral')
    const abroad = enrol('Nora', 'Novak', 'BBB')
    const res = await app.inject({
      method: 'POST',
      url: '/v1/records/batch',
      payload: { records: [ana, jan, eva, abroad].map((c) => toSubmission(c.r)) },
    })
    expect(res.statusCode).toBe(200)

    const search = async (q: string) => {
      const path = `/v1/citizens?${q}&purpose=consular-assistance`
      const r = await app.inject({ url: path, headers: officer.sign({ method: 'GET', path }) })
      expect(r.statusCode).toBe(200)
      return (r.json().citizens as Array<{ id: string }>).map((c) => c.id).sort()
    }
    expect(await search('nationality=AAA&name=NOVA')).toEqual([ana.id, jan.id].sort())
    expect(await search('nationality=AAA&name=horv')).toEqual([jan.id])
    expect(await search('nationality=AAA&name=ev')).toEqual([eva.id])
    expect(await search('nationality=AAA&name=zz')).toEqual([])
    expect(await search('nationality=BBB&name=nov')).toEqual([abroad.id])

    // The officer's read is logged for what was shown, and only for that.
    const logOf = async (c: { id: string; keys: { publicKey: Uint8Array; secretKey: Uint8Array } }) => {
      const client = new LegationClient({ ed, bloc: officer.bloc, charter: officer.charter, keys: c.keys })
      const path = `/v1/citizens/${c.id}/access-log`
      const r = await app.inject({ url: path, headers: client.sign({ method: 'GET', path }) })
      return (r.json().reads as Array<{ shown: string }>).filter((x) => x.shown === 'search-hit').length
    }
    expect(await logOf(ana)).toBe(1)
    expect(await logOf(eva)).toBe(1) // shown once, by 'ev'
    const unseen = enrol('Zed', 'Quill')
    await app.inject({ method: 'POST', url: '/v1/records', payload: toSubmission(unseen.r) })
    await search('nationality=AAA&name=nov')
    expect(await logOf(unseen)).toBe(0)
  })
})

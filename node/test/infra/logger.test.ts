import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { COMPONENTS, createLogger, REDACT_CENSOR } from '../../src/logger.ts'

function memoryLogger(level = 'info') {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  const logger = createLogger({ log: { level } }, stream)
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  return { logger, lines, records }
}

describe('createLogger', () => {
  it('redacts secrets and personal data wherever they sit', () => {
    const { logger, lines, records } = memoryLogger()
    const log = logger.child({ component: COMPONENTS.engine })
    log.info(
      {
        secretKey: 'c2VjcmV0LXNlZWQ',
        keys: { passphrase: 'hunter2' },
        citizen: {
          id: 'c0ffee',
          names: { given: 'Ana', family: 'Peeters' },
          contact: { email: 'ana@example.org' },
          travelDocument: { number: 'EH123456' },
        },
        submission: { record: 'abc', payload: 'cGVyc29uYWw' },
        req: { headers: { authorization: 'Legation sig=…', 'legation-certificate': 'Y2VydA', host: 'n1' } },
      },
      'record accepted',
    )
    const text = lines.join('')
    for (const secret of [
      'c2VjcmV0LXNlZWQ',
      'hunter2',
      'Ana',
      'Peeters',
      'ana@example.org',
      'EH123456',
      'cGVyc29uYWw',
      'Y2VydA',
      'sig=',
    ]) {
      expect(text).not.toContain(secret)
    }
    const [r] = records()
    expect(r).toMatchObject({
      component: 'engine',
      msg: 'record accepted',
      secretKey: REDACT_CENSOR,
      keys: { passphrase: REDACT_CENSOR },
      citizen: { id: 'c0ffee', names: REDACT_CENSOR, contact: REDACT_CENSOR, travelDocument: REDACT_CENSOR },
      submission: { record: 'abc', payload: REDACT_CENSOR },
      req: { headers: { authorization: REDACT_CENSOR, 'legation-certificate': REDACT_CENSOR, host: 'n1' } },
    })
  })

  it('does not change the logged object', () => {
    const { logger } = memoryLogger()
    const obj = { secretKey: 'x' }
    logger.info(obj)
    expect(obj.secretKey).toBe('x')
  })

  it('honours the configured level and serializes errors under err', () => {
    const { logger, records } = memoryLogger('warn')
    logger.info('lifecycle')
    logger.warn({ err: new Error('bad frame') }, 'peer misbehaved')
    const rs = records()
    expect(rs).toHaveLength(1)
    expect(rs[0]).toMatchObject({ msg: 'peer misbehaved', err: { type: 'Error', message: 'bad frame' } })
  })

  it('names components from one constant', () => {
    expect(Object.values(COMPONENTS)).toEqual(
      expect.arrayContaining(['http', 'engine', 'mesh', 'storage', 'replication']),
    )
  })

  it('no source file retypes a component name instead of using COMPONENTS', () => {
    const src = fileURLToPath(new URL('../../src/', import.meta.url))
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))
    expect(files.length).toBeGreaterThan(20)
    const retyped = files.filter((f) =>
      /component:\s*['"`]|_COMPONENT\s*=\s*['"`]/.test(readFileSync(join(src, f), 'utf8')),
    )
    expect(retyped).toEqual([])
  })
})

import { describe, expect, it } from 'vitest'
import { type NamedService, startServices } from '../../src/service.ts'
import { backoffDelay } from '../../src/util/backoff.ts'
import { integerOptions } from '../../src/util/options.ts'

describe('backoffDelay', () => {
  it('doubles per attempt up to its bound, waiting at least half a step', () => {
    const at = (attempt: number, r: number) =>
      backoffDelay(attempt, { minMs: 100, maxMs: 1000, random: () => r })
    expect([0, 1, 2, 3, 4, 10].map((a) => at(a, 0.999999))).toEqual([100, 200, 400, 800, 1000, 1000])
    expect([0, 1, 2, 3, 4].map((a) => at(a, 0))).toEqual([50, 100, 200, 400, 500])
  })
})

describe('integerOptions', () => {
  it('fills in defaults and reports every bad value at once', () => {
    const defaults = { a: 5, b: 6, c: 0 }
    expect(integerOptions('svc', {}, defaults, { min: { c: 0 } })).toEqual({ a: 5, b: 6, c: 0 })
    expect(integerOptions('svc', { a: 9 }, defaults, { min: { c: 0 } }).a).toBe(9)
    expect(() => integerOptions('svc', { a: 0, b: 1.5 }, defaults, { min: { c: 0 } })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: [
          'svc.a: must be an integer of at least 1, got 0',
          'svc.b: must be an integer of at least 1, got 1.5',
        ],
      }),
    )
  })
})

describe('startServices', () => {
  function recorder() {
    const log: string[] = []
    const service = (name: string, failStart = false): NamedService => ({
      name,
      service: {
        start: async () => {
          if (failStart) throw new Error(`${name} cannot start`)
          log.push(`start ${name}`)
        },
        stop: async () => void log.push(`stop ${name}`),
      },
    })
    return { log, service }
  }

  it('starts in order and stops in reverse', async () => {
    const { log, service } = recorder()
    const stop = await startServices([service('store'), service('engine'), service('http')])
    await stop()
    expect(log).toEqual([
      'start store',
      'start engine',
      'start http',
      'stop http',
      'stop engine',
      'stop store',
    ])
  })

  it('stops what it started, in reverse, when a later service fails to start', async () => {
    const { log, service } = recorder()
    await expect(startServices([service('store'), service('engine'), service('mesh', true)])).rejects.toThrow(
      'mesh cannot start',
    )
    expect(log).toEqual(['start store', 'start engine', 'stop engine', 'stop store'])
  })
})

describe('startServices: after start, before stop', () => {
  it('calls afterStart once all have started, and beforeStop on all before any stops', async () => {
    const log: string[] = []
    const service = (name: string): NamedService => ({
      name,
      service: {
        start: async () => void log.push(`start ${name}`),
        afterStart: () => void log.push(`after ${name}`),
        beforeStop: () => void log.push(`before-stop ${name}`),
        stop: async () => void log.push(`stop ${name}`),
      },
    })
    const stop = await startServices([service('duties'), service('mesh')])
    expect(log).toEqual(['start duties', 'start mesh', 'after duties', 'after mesh'])
    log.length = 0
    await stop()
    expect(log).toEqual(['before-stop mesh', 'before-stop duties', 'stop mesh', 'stop duties'])
  })
})

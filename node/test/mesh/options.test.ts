import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../src/mesh/log.ts'
import { mesh } from '../../src/mesh/mesh.ts'
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_INBOUND_QUEUE_BYTES,
  DEFAULT_REDIAL_MIN_DELAY,
  type MeshInit,
  resolveInit,
} from '../../src/mesh/options.ts'

const BASE: MeshInit = {
  privateKey: new Uint8Array(32),
  listen: ['/ip4/127.0.0.1/tcp/0'],
  protocolPrefix: '/legation/b1/',
}

const invalid = expect.objectContaining({ name: 'MeshError', code: 'MESH_INVALID_CONFIG' })

describe('mesh options', () => {
  it('fills in each default and trims the prefix', () => {
    const resolved = resolveInit(BASE)
    expect(resolved.protocolPrefix).toBe('/legation/b1')
    expect(resolved.maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES)
    expect(resolved.maxInboundQueueBytes).toBe(DEFAULT_MAX_INBOUND_QUEUE_BYTES)
    expect(resolved.redialMinDelay).toBe(DEFAULT_REDIAL_MIN_DELAY)
    expect(Object.isFrozen(resolved)).toBe(true)
    // the inbound queue holds at least one whole frame
    expect(resolveInit({ ...BASE, maxFrameBytes: 16 * 1024 * 1024 }).maxInboundQueueBytes).toBe(
      16 * 1024 * 1024,
    )
  })

  it('the factory refuses an invalid option at once, with MESH_INVALID_CONFIG', () => {
    const bad: Partial<MeshInit>[] = [
      { privateKey: new Uint8Array(31) },
      { listen: [] },
      { protocolPrefix: 'legation' },
      { maxStreamWindowBytes: 1024 },
      { maxFrameBytes: 0 },
      { dialTimeout: 1.5 },
      { maintenanceInterval: -1 },
    ]
    for (const b of bad) expect(() => mesh({ ...BASE, ...b }), JSON.stringify(b)).toThrow(invalid)
  })

  it('builds a mesh that is not started and does nothing until it is', async () => {
    const m = mesh(BASE)({
      peerPolicy: { isAllowed: () => true, bootstrapPeers: () => [], onChange: () => () => {} },
      logger: silentLogger,
    })
    expect(m.isStarted()).toBe(false)
    expect(m.addrs()).toEqual([])
    expect(m.connectedPeers()).toEqual([])
    await expect(
      m.send('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN', Uint8Array.of(1)),
    ).rejects.toMatchObject({
      code: 'MESH_NOT_STARTED',
    })
    await expect(m.dial('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')).rejects.toMatchObject({
      code: 'MESH_NOT_STARTED',
    })
    await m.stop()
  })
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  compareHlc,
  DEFAULT_MAX_DRIFT_MS,
  HLC_ZERO,
  type Hlc,
  hlcReceive,
  hlcTick,
  maxHlc,
} from '../src/index.ts'
import { expectCode, T0 } from './fixtures.ts'

const wall = fc.integer({ min: T0 - 10_000, max: T0 + 10_000 })
/** A stamp somewhere near T0, possibly with a large logical counter. */
const stamp: fc.Arbitrary<Hlc> = fc.tuple(wall, fc.oneof(fc.nat(5), fc.constant(0xffff_ffff)))

describe('hybrid logical clock', () => {
  it('ticks are strictly increasing whatever the physical clock does (even backwards)', () => {
    fc.assert(
      fc.property(fc.array(wall, { minLength: 1, maxLength: 100 }), (times) => {
        let last = HLC_ZERO
        for (const now of times) {
          const next = hlcTick(last, now)
          expect(compareHlc(next, last)).toBeGreaterThan(0)
          // Never behind the physical clock.
          expect(next[0]).toBeGreaterThanOrEqual(now)
          last = next
        }
      }),
      { numRuns: 300 },
    )
  })

  it('receive() is greater than both the local and the remote stamp', () => {
    fc.assert(
      fc.property(stamp, stamp, wall, (last, remote, now) => {
        fc.pre(remote[0] - now <= DEFAULT_MAX_DRIFT_MS)
        const next = hlcReceive(last, remote, now)
        expect(compareHlc(next, last)).toBeGreaterThan(0)
        expect(compareHlc(next, remote)).toBeGreaterThan(0)
        expect(next[0]).toBeGreaterThanOrEqual(now)
        expect(next[1]).toBeLessThanOrEqual(0xffff_ffff)
      }),
      { numRuns: 500 },
    )
  })

  it('a mixed run of local ticks and receives stays monotonic', () => {
    const event = fc.oneof(
      fc.record({ type: fc.constant('tick' as const), now: wall }),
      fc.record({ type: fc.constant('recv' as const), now: wall, remote: stamp }),
    )
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        let last: Hlc = [T0, 0]
        for (const e of events) {
          const next =
            e.type === 'tick' || e.remote[0] - e.now > DEFAULT_MAX_DRIFT_MS
              ? hlcTick(last, e.now)
              : hlcReceive(last, e.remote, e.now)
          expect(compareHlc(next, last)).toBeGreaterThan(0)
          last = next
        }
      }),
      { numRuns: 200 },
    )
  })

  it('a remote stamp too far ahead of the physical clock is refused with CLOCK_DRIFT', () => {
    const now = T0
    expect(hlcReceive([now, 0], [now + DEFAULT_MAX_DRIFT_MS, 0], now)).toEqual([
      now + DEFAULT_MAX_DRIFT_MS,
      1,
    ])
    expectCode(() => hlcReceive([now, 0], [now + DEFAULT_MAX_DRIFT_MS + 1, 0], now), 'CLOCK_DRIFT')
    expectCode(() => hlcReceive([now, 0], [now + 1_001, 0], now, 1_000), 'CLOCK_DRIFT')
    // A remote clock far behind is fine: HLC absorbs it.
    expect(hlcReceive([now, 3], [now - 3_600_000, 9], now)).toEqual([now, 4])
  })

  it('overflowing the logical counter moves to the next millisecond', () => {
    expect(hlcTick([T0, 0xffff_ffff], T0)).toEqual([T0 + 1, 0])
    expect(hlcReceive([T0, 0xffff_ffff], [T0, 0xffff_ffff], T0)).toEqual([T0 + 1, 0])
  })

  it('orders by wall time, then by counter', () => {
    expect(compareHlc([1, 9], [2, 0])).toBeLessThan(0)
    expect(compareHlc([2, 1], [2, 0])).toBeGreaterThan(0)
    expect(compareHlc([2, 1], [2, 1])).toBe(0)
    expect(maxHlc([1, 9], [2, 0])).toEqual([2, 0])
  })
})

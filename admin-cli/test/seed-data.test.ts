import { describe, expect, it } from 'vitest'
import { planSeed, SeededRandom } from '../src/seed-data.ts'

const opts = { citizens: 50, nationalities: ['DVA', 'DVB'], now: Date.UTC(2025, 5, 1) }

describe('planSeed', () => {
  it('is a function of the seed', () => {
    const a = planSeed(new SeededRandom('42'), opts)
    expect(planSeed(new SeededRandom('42'), opts)).toEqual(a)
    expect(planSeed(new SeededRandom('43'), opts).citizens[0]).not.toEqual(a.citizens[0])
  })

  it('alerts the country where most citizens are, and only people there check in', () => {
    const plan = planSeed(new SeededRandom('crisis'), opts)
    const counts = new Map<string, number>()
    for (const c of plan.citizens) {
      if (c.presence) counts.set(c.presence.country, (counts.get(c.presence.country) ?? 0) + 1)
    }
    const max = Math.max(...counts.values())
    expect(plan.alerts.length).toBeGreaterThanOrEqual(1)
    expect(plan.alerts.length).toBeLessThanOrEqual(2)
    expect(counts.get(plan.alerts[0]!.country)).toBe(max)
    for (const ci of plan.checkins) {
      expect(plan.citizens[ci.citizen]!.presence!.country).toBe(plan.alerts[ci.alert]!.country)
    }
  })

  it('draws nationalities from the bloc and keeps documents well-formed', () => {
    for (const c of planSeed(new SeededRandom('docs'), opts).citizens) {
      expect(opts.nationalities).toContain(c.nationality)
      expect(c.travelDocument.number).toMatch(/^[A-Z0-9]{3,32}$/)
      expect(c.travelDocument.issuer).toBe(c.nationality)
      expect(c.contact.email).toMatch(/^[a-z]+\.[a-z]+\d+@example\.org$/)
      expect(c.birth.date < '2008-01-01').toBe(true)
    }
  })
})

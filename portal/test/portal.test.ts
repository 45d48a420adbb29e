/**
 * The citizen portal in a real browser (Debian's Chromium, headless) against a bloc of three
 * real node processes: a citizen enrols at node 0 by keyboard alone, registers presence and
 * applies for an emergency travel document; an officer of another state approves it at node 1;
 * the citizen sees the new status at node 2; node 0 is killed and the page carries on at
 * another node. Every page passes axe-core, works at 360 px, and is saved as a screenshot in
 * portal/test-artifacts/ (gitignored). No test of this file is skipped when Chromium is missing:
 * `.ci/run` installs it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import AxeBuilder from '@axe-core/playwright'
import { sealKeys } from '@legation/node/keystore'
import {
  encodeCanonical,
  fromBase64url,
  fromHex,
  nobleEd25519,
  toBase64url,
  verifyReceipt,
} from '@legation/protocol'
import { TestNetwork, writeKeyFiles } from '@legation/test-network'
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const CHROMIUM = process.env.LEGATION_CHROMIUM ?? '/usr/bin/chromium'
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url))
const DIST = fileURLToPath(new URL('../dist/index.html', import.meta.url))

let net: TestNetwork
let browser: Browser
const contexts: BrowserContext[] = []
/**
 * While a node is down or the browser offline, the browser logs the requests that could not be
 * answered: the failover and the outbox at work, not faults of the page.
 */
let networkDown = false

beforeAll(async () => {
  expect(existsSync(DIST), 'the portal is built by `npm install` (root prepare script)').toBe(true)
  expect(existsSync(CHROMIUM), `${CHROMIUM}: apt-get install chromium (.ci/run does)`).toBe(true)
  await mkdir(ARTIFACTS, { recursive: true })
  // Each node is told its own public address only (http.publicUrl), and announces it to the
  // bloc: no node is given the others' addresses by hand.
  net = await TestNetwork.start({ nodes: 3, startNodes: 0, readyTimeoutMs: 90_000 })
  for (const n of net.nodes) n.env = { LEGATION_HTTP_PUBLIC_URL: n.url }
  await Promise.all(net.nodes.map((n) => n.start()))
  // Bounded: until every node's config.json lists all three (announced over the mesh).
  const all = JSON.stringify(net.nodes.map((n) => n.url).sort())
  const listed = async (n: (typeof net.nodes)[number]) =>
    JSON.stringify((await n.get<{ nodes: string[] }>('/portal/config.json')).nodes.sort())
  for (let waited = 0; ; waited += 250) {
    if ((await Promise.all(net.nodes.map(listed))).every((l) => l === all)) break
    if (waited > 60_000) throw new Error('the nodes did not learn each other’s addresses in 60 s')
    await new Promise((r) => setTimeout(r, 250))
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
}, 240_000)

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined)
  await browser?.close()
  await net?.stop()
}, 60_000)

/** A fresh browser profile; every console error or CSP report fails the test that opened it. */
async function open(width: number, height: number): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-GB' })
  contexts.push(context)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    const lost =
      /^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INTERNET_DISCONNECTED)$/
    if (m.type() === 'error' && !(networkDown && lost.test(m.text()))) problems.push(`console: ${m.text()}`)
  })
  return { page, problems }
}

/** axe-core finds nothing on the page as it is now (WCAG 2.0–2.2 A and AA rules, best practices). */
async function accessible(page: Page, what: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'])
    .analyze()
  expect(
    violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    `axe on ${what}`,
  ).toEqual([])
  // axe no longer checks ids are unique (a label would name the wrong element): checked here.
  const duplicateIds = await page.evaluate(() => {
    const seen = new Set<string>()
    return [...document.querySelectorAll('[id]')]
      .map((el) => el.id)
      .filter((id) => seen.has(id) || !seen.add(id))
  })
  expect(duplicateIds, `unique ids on ${what}`).toEqual([])
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true })
}

/** Presses Tab until `target` has the focus: it is reachable by keyboard, in a sensible number of steps. */
async function tabTo(page: Page, target: Locator, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await target.evaluate((el) => el === document.activeElement)) return
    await page.keyboard.press('Tab')
  }
  throw new Error(`not reached by ${max} presses of Tab: ${target}`)
}

async function type(page: Page, selector: string, text: string): Promise<void> {
  await tabTo(page, page.locator(selector))
  await page.keyboard.type(text)
}

/**
 * `expect.poll` with a default bound sized for a shared, loaded machine (vitest's own is 1 s): a
 * page load or a replication there can take several seconds. Still bounded, never a timing check.
 */
const poll = <T>(fn: () => T | Promise<T>, opts: { timeout?: number; interval?: number } = {}) =>
  expect.poll(fn, { timeout: 15_000, ...opts })

const heading = (page: Page) => page.locator('h1')
const servedBy = (page: Page) => page.locator('#served-by')

describe('the citizen portal', () => {
  it('is served with a strict CSP and security headers, and the API answers as before', async () => {
    const node = net.nodes[0]!
    const res = await fetch(`${node.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("style-src 'self'")
    expect(csp).toContain("object-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/)
    // The page may call the bloc's other nodes (as they announced themselves), and nothing else.
    for (const other of net.nodes) expect(csp).toContain(other.url)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    const html = await res.text()
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/) // no inline script
    expect(html).not.toMatch(/<style|style="/) // no inline style

    // CORS: a page served by another node of the bloc may call this one; an unknown origin may not.
    const preflight = (origin: string) =>
      fetch(`${node.url}/v1/records`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      })
    const allowed = await preflight(net.nodes[2]!.url)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(net.nodes[2]!.url)
    const refused = await preflight('https://elsewhere.example')
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()

    // Every node's address, learnt from the nodes' own signed announcements.
    const config = (await (await fetch(`${node.url}/portal/config.json`)).json()) as { nodes: string[] }
    expect(config.nodes[0]).toBe(node.url)
    expect([...config.nodes].sort()).toEqual(net.nodes.map((n) => n.url).sort())
    expect((await fetch(`${node.url}/health`)).status).toBe(200)
    expect(((await (await fetch(`${node.url}/v1/node`)).json()) as { name: string }).name).toBe('node-0')
    const unknown = await fetch(`${node.url}/v1/no-such-route`)
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { code: string }).code).toBe('NOT_FOUND')
  })

  it('works at a phone’s width (360 px), in English and French, with no accessibility violation', async () => {
    const { page, problems } = await open(360, 740)
    const fitsWidth = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)
    await page.goto(`${net.nodes[1]!.url}/`)
    await poll(() => servedBy(page).textContent()).toContain('node-1')
    await accessible(page, 'start (phone)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-start')

    await page.getByRole('link', { name: 'Start now' }).click()
    await poll(() => heading(page).textContent()).toBe('Enrol')
    // Submitting nothing shows the error summary, focused, linking to each field.
    await page.getByRole('button', { name: 'Enrol' }).click()
    await poll(() => page.locator('.govuk-error-summary').isVisible()).toBe(true)
    expect(await page.evaluate(() => document.activeElement?.classList.contains('govuk-error-summary'))).toBe(
      true,
    )
    expect(await page.locator('.govuk-error-summary a').count()).toBe(7)
    await accessible(page, 'enrol with errors (phone)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-enrol-errors')

    await page.fill('#given', 'Bea')
    await page.fill('#family', 'Ortiz')
    await page.fill('#birth-day', '3')
    await page.fill('#birth-month', '11')
    await page.fill('#birth-year', '1985')
    await page.selectOption('#nationality', 'DVB')
    await page.fill('#document', 'b7654321')
    await page.fill('#expires-day', '1')
    await page.fill('#expires-month', '2')
    await page.fill('#expires-year', '2030')
    await page.fill('#email', 'bea@example.org')
    await page.check('#consent')
    await page.getByRole('button', { name: 'Enrol' }).click()
    await poll(() => heading(page).textContent(), { timeout: 30_000 }).toBe('Your applications')
    await poll(() => page.locator('.govuk-summary-list').first().textContent()).toContain('Bea Ortiz')
    await accessible(page, 'applications (phone)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-account')

    for (const [route, title] of [
      ['#/presence', 'Register where you are'],
      ['#/apply', 'Apply for a consular service'],
      ['#/nodes', 'Choose the node you use'],
      ['#/alerts', 'Crisis alerts where you are'],
      ['#/signin', 'Sign in with a passkey'],
    ] as const) {
      await page.goto(`${net.nodes[1]!.url}/${route}`)
      await poll(() => heading(page).textContent()).toBe(title)
      await accessible(page, `${route} (phone)`)
      expect(await fitsWidth(), route).toBe(true)
      await shot(page, `phone-${route.slice(2)}`)
    }

    // The language switch: every string changes, the choice is kept, <html lang> follows.
    await page.getByRole('link', { name: 'Français' }).click()
    await poll(() => heading(page).textContent()).toBe('Se connecter avec une clé d’accès')
    expect(await page.getAttribute('html', 'lang')).toBe('fr')
    await page.goto(`${net.nodes[1]!.url}/#/enrol`)
    await poll(() => heading(page).textContent()).toBe('Inscription')
    await page.getByRole('button', { name: 'M’inscrire' }).click()
    await poll(() => page.locator('.govuk-error-summary__title').textContent()).toBe('Il y a un problème')
    await accessible(page, 'enrol with errors, in French (phone)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-enrol-fr')

    // An application in French, then the console in French at 360 px: sign-in, the queue with
    // that case (a table, which must not widen the page), the alerts page.
    await page.goto(`${net.nodes[1]!.url}/#/apply`)
    await page.getByLabel('Renouvellement du passeport').check()
    await page.getByRole('button', { name: 'Envoyer la demande' }).click()
    await poll(() => page.locator('section.app-case').count(), { timeout: 30_000 }).toBe(1)
    const files = await writeKeyFiles(net, net.officer('DVB'))
    await page.goto(`${net.nodes[1]!.url}/#/officer`)
    await poll(() => heading(page).textContent()).toBe('Se connecter comme agent consulaire')
    await accessible(page, 'officer sign-in (phone, French)')
    await page.setInputFiles('#keyfile', files.officer)
    await page.getByRole('button', { name: 'Se connecter' }).click()
    await poll(() => heading(page).textContent()).toBe('Dossiers')
    expect(await page.locator('tr[data-case]').count()).toBeGreaterThan(0)
    await accessible(page, 'officer queue (phone, French)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-officer-queue-fr')
    await page.getByRole('link', { name: 'Trouver un citoyen' }).click()
    await poll(() => heading(page).textContent()).toBe('Trouver un citoyen')
    await page.fill('#name', 'or')
    await page.getByRole('button', { name: 'Chercher' }).click()
    await poll(() => page.locator('table[data-results]').count()).toBe(1)
    await accessible(page, 'officer search (phone, French)')
    expect(await fitsWidth()).toBe(true)
    await shot(page, 'phone-officer-search-fr')
    await page.getByRole('link', { name: 'Alertes de crise (agents)' }).click()
    await poll(() => heading(page).textContent()).toBe('Alertes de crise')
    await accessible(page, 'officer alerts (phone, French)')
    expect(await fitsWidth()).toBe(true)
    expect(problems).toEqual([])
  }, 180_000)

  it('keeps the key on a passkey (large blob) and signs in on a fresh profile with the passkey alone', async () => {
    // WebAuthn needs a domain for the relying party, not an IP address: the page is opened at localhost.
    const origin = net.nodes[2]!.url.replace('127.0.0.1', 'localhost')
    const authenticator = async (page: Page) => {
      const cdp = await page.context().newCDPSession(page)
      await cdp.send('WebAuthn.enable')
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          ctap2Version: 'ctap2_1',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          hasPrf: true,
          hasLargeBlob: true,
          automaticPresenceSimulation: true,
        },
      })
      return { cdp, authenticatorId }
    }

    const first = await open(1280, 900)
    const a = await authenticator(first.page)
    await first.page.goto(`${origin}/#/enrol`)
    await poll(() => heading(first.page).textContent(), { timeout: 15_000 }).toBe('Enrol')
    for (const [sel, v] of [
      ['#given', 'Chidi'],
      ['#family', 'Okafor'],
      ['#birth-day', '9'],
      ['#birth-month', '9'],
      ['#birth-year', '1979'],
      ['#document', 'C2468024'],
      ['#expires-day', '9'],
      ['#expires-month', '9'],
      ['#expires-year', '2033'],
      ['#email', 'chidi@example.org'],
    ] as const)
      await first.page.fill(sel, v)
    await first.page.selectOption('#nationality', 'DVC')
    await first.page.check('#consent')
    await first.page.getByRole('button', { name: 'Enrol' }).click()
    await poll(() => heading(first.page).textContent(), { timeout: 30_000 }).toBe('Your applications')
    const citizenId = (await first.page.locator('.govuk-summary-list__value').first().textContent())!.trim()
    await first.page.getByRole('button', { name: 'Create a passkey' }).click()
    await poll(() => first.page.locator('.govuk-notification-banner').textContent(), {
      timeout: 30_000,
    }).toContain('Your passkey now keeps your key')
    expect(await first.page.locator('.app-passkey').textContent()).toContain('Set up')
    await accessible(first.page, 'applications with a passkey')
    await shot(first.page, 'desktop-passkey')

    const { credentials } = await a.cdp.send('WebAuthn.getCredentials', {
      authenticatorId: a.authenticatorId,
    })
    expect(credentials).toHaveLength(1)
    expect(credentials[0]!.largeBlob, 'the key is kept on the passkey').toBeTruthy()

    // A fresh profile on another device, without the passkey: no key, and the page says so.
    const other = await open(1280, 900)
    await authenticator(other.page)
    await other.page.goto(`${origin}/#/account`)
    await poll(() => heading(other.page).textContent(), { timeout: 15_000 }).toBe(
      'You are not enrolled in this browser',
    )
    await other.page.goto(`${origin}/#/signin`)
    await poll(() => heading(other.page).textContent(), { timeout: 15_000 }).toBe('Sign in with a passkey')
    await other.page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await poll(() => other.page.locator('.govuk-error-summary').textContent(), { timeout: 30_000 }).toContain(
      'No passkey was used',
    )
    await accessible(other.page, 'sign in, no passkey')
    expect(other.problems).toEqual([])

    // A fresh profile on another device, with the passkey: a new browser context (nothing of the
    // first profile's storage), whose authenticator holds the same credential, carried over as a
    // synced passkey is — its key pair, user handle and large blob (WebAuthn.addCredential).
    const fresh = await open(1280, 900)
    const b = await authenticator(fresh.page)
    await b.cdp.send('WebAuthn.addCredential', {
      authenticatorId: b.authenticatorId,
      credential: credentials[0]!,
    })
    await fresh.page.goto(`${origin}/#/account`)
    await poll(() => heading(fresh.page).textContent(), { timeout: 15_000 }).toBe(
      'You are not enrolled in this browser',
    )
    await fresh.page.goto(`${origin}/`)
    await fresh.page.getByRole('link', { name: 'Sign in with a passkey' }).click()
    await poll(() => heading(fresh.page).textContent(), { timeout: 15_000 }).toBe('Sign in with a passkey')
    await accessible(fresh.page, 'sign in')
    await shot(fresh.page, 'desktop-signin')
    await fresh.page.getByRole('button', { name: 'Sign in with a passkey' }).click()
    await poll(() => heading(fresh.page).textContent(), { timeout: 30_000 }).toBe('Your applications')
    expect((await fresh.page.locator('.govuk-summary-list__value').first().textContent())!.trim()).toBe(
      citizenId,
    )
    expect(await fresh.page.locator('.govuk-summary-list').first().textContent()).toContain('Chidi Okafor')
    await shot(fresh.page, 'desktop-passkey-signin')
    // The key is back: the fresh profile signs a new application, which the node accepts and
    // shows as the citizen's (the node checks the record's signature against the citizen's key).
    await fresh.page.getByRole('link', { name: 'Apply for a service' }).click()
    await fresh.page.getByLabel('Passport renewal').check()
    await fresh.page.getByRole('button', { name: 'Send application' }).click()
    await poll(() => fresh.page.locator('section.app-case').count(), { timeout: 30_000 }).toBe(1)
    const caseId = (await fresh.page.locator('section.app-case').getAttribute('data-case'))!
    const officer = net.officer('DVC')
    const signedCase = await net.nodes[2]!.get<{ citizen: string }>(
      `/v1/cases/${caseId}?purpose=case-processing`,
      officer,
    )
    expect(signedCase.citizen).toBe(citizenId)
    expect(fresh.problems).toEqual([])
    expect(first.problems).toEqual([])
  }, 180_000)

  it('signs a check-in offline, keeps it in the browser, and sends it when the connection returns', async () => {
    // An officer of DVA issues a cyclone warning for Tanzania in the console at node 2, and keeps
    // its crisis dashboard open: it follows node 2's live stream of the board.
    const officer = net.officer('DVA')
    const files = await writeKeyFiles(net, officer)
    const desk = await open(1280, 900)
    await desk.page.goto(`${net.nodes[2]!.url}/#/officer`)
    await desk.page.setInputFiles('#keyfile', files.officer)
    await desk.page.getByRole('button', { name: 'Sign in' }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Cases')
    await desk.page.getByRole('link', { name: 'Crisis alerts (officers)' }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Crisis alerts')
    await desk.page.fill('#country', 'TZ')
    await desk.page.fill('#title', 'Cyclone warning: coast of Tanzania')
    await desk.page.fill('#message', 'Move inland, away from the coast, and tell your embassy how you are.')
    await accessible(desk.page, 'officer alerts')
    await desk.page.getByRole('button', { name: 'Issue the alert' }).click()
    await poll(() => heading(desk.page).textContent(), { timeout: 30_000 }).toBe(
      'Cyclone warning: coast of Tanzania',
    )
    const alertId = /#\/officer\/alert\/([0-9a-f]{64})$/.exec(desk.page.url())![1]!
    const safeCount = desk.page.locator('[data-count="safe"]')
    expect(await safeCount.textContent()).toBe('0')
    const mode = desk.page.locator('#dashboard-mode')
    await poll(() => mode.getAttribute('data-mode'), { timeout: 30_000 }).toBe('live')
    expect(await mode.textContent()).toContain('Live')
    // From now on the dashboard asks nothing: what it shows comes down the stream.
    const asked: string[] = []
    desk.page.on('request', (r) => {
      if (/\/welfare(\?|$)/.test(r.url())) asked.push(r.url())
    })

    // A citizen at node 1.
    const { page, problems } = await open(1280, 900)
    const url = net.nodes[1]!.url
    await page.goto(`${url}/#/enrol`)
    await poll(() => heading(page).textContent()).toBe('Enrol')
    for (const [sel, v] of [
      ['#given', 'Dewi'],
      ['#family', 'Santoso'],
      ['#birth-day', '1'],
      ['#birth-month', '5'],
      ['#birth-year', '1995'],
      ['#document', 'D1357913'],
      ['#expires-day', '1'],
      ['#expires-month', '5'],
      ['#expires-year', '2032'],
      ['#email', 'dewi@example.org'],
    ] as const)
      await page.fill(sel, v)
    await page.check('#consent')
    await page.getByRole('button', { name: 'Enrol' }).click()
    await poll(() => heading(page).textContent(), { timeout: 30_000 }).toBe('Your applications')
    const citizenId = (await page.locator('.govuk-summary-list__value').first().textContent())!.trim()
    await page.getByRole('link', { name: 'Register where you are' }).click()
    await page.fill('#country', 'TZ')
    await page.fill('#region', 'Dar es Salaam')
    await page.getByRole('button', { name: 'Register presence' }).click()
    await poll(() => page.locator('.govuk-summary-list').first().textContent(), {
      timeout: 30_000,
    }).toContain('Dar es Salaam, TZ')

    // The alert reaches node 1, and the citizen sees it where they are.
    await poll(
      async () => {
        await page.goto(`${url}/#/alerts`)
        await poll(() => heading(page).textContent()).toBe('Crisis alerts where you are')
        return page.locator('section.app-alert').count()
      },
      { timeout: 45_000, interval: 500 },
    ).toBe(1)
    expect(await page.locator('section.app-alert').textContent()).toContain('Cyclone warning')
    await accessible(page, 'alerts')
    await shot(page, 'desktop-alerts')
    await page.getByRole('link', { name: 'Check in' }).click()
    await poll(() => heading(page).textContent()).toBe('Tell your embassy how you are')
    await accessible(page, 'check-in')
    await shot(page, 'desktop-checkin')

    // The connection drops; the check-in is signed and kept, and the page says so.
    networkDown = true
    await page.context().setOffline(true)
    await page.getByLabel('I am safe').check()
    await page.fill('#note', 'Sheltering at a school inland.')
    await page.getByRole('button', { name: 'Send' }).click()
    await poll(() => page.locator('.govuk-notification-banner').textContent(), { timeout: 30_000 }).toContain(
      'You are offline',
    )
    await poll(() => page.locator('#outbox-notice').textContent()).toContain('1 signed item')
    await accessible(page, 'start, offline with a waiting check-in')
    await shot(page, 'desktop-offline')
    // Still offline, the portal opens again (from its service worker), the check-in still waiting.
    await page.reload()
    await poll(() => page.locator('#outbox-notice').textContent(), { timeout: 30_000 }).toContain(
      '1 signed item',
    )
    const board = () =>
      net.nodes[2]!.get<{ counts: { safe: number }; safe: string[] }>(
        `/v1/alerts/${alertId}/welfare?purpose=crisis-response`,
        officer,
      )
    expect((await board()).counts.safe).toBe(0)

    // Back online: it is sent by itself to node 1, and replicates to the welfare board of node 2.
    await page.context().setOffline(false)
    await poll(() => page.locator('.govuk-notification-banner').textContent(), { timeout: 30_000 }).toContain(
      'Back online',
    )
    expect(await page.locator('#outbox-notice').count()).toBe(0)
    await poll(async () => (await board()).safe, { timeout: 45_000 }).toEqual([citizenId])
    // The officer's dashboard at node 2, left open and never reloaded, shows it: pushed down the
    // live stream (it asked the node for nothing meanwhile, and is still live).
    await poll(() => safeCount.textContent(), { timeout: 45_000 }).toBe('1')
    expect(asked).toEqual([])
    expect(await mode.getAttribute('data-mode')).toBe('live')
    await accessible(desk.page, 'crisis dashboard')
    await shot(desk.page, 'desktop-dashboard')
    networkDown = false
    expect(desk.problems).toEqual([])
    expect(problems).toEqual([])
  }, 180_000)

  it('takes a citizen through enrolment, presence and an application by keyboard, and follows it across nodes', async () => {
    const { page, problems } = await open(1280, 900)
    await page.goto(`${net.nodes[0]!.url}/`)
    await poll(() => servedBy(page).textContent()).toContain('node-0')
    await accessible(page, 'start')
    await shot(page, 'desktop-start')

    // Enrol, by keyboard alone: the skip link first, then the start button.
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('skip-link')
    await tabTo(page, page.getByRole('link', { name: 'Start now' }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent()).toBe('Enrol')
    await accessible(page, 'enrol')
    await type(page, '#given', 'Ana')
    await type(page, '#family', 'Novak')
    await type(page, '#birth-day', '12')
    await type(page, '#birth-month', '4')
    await type(page, '#birth-year', '1990')
    await tabTo(page, page.locator('#nationality'))
    await page.keyboard.press('ArrowDown') // DVA → DVB: a citizen of another state than node 0's
    await type(page, '#document', 'X1234567')
    await type(page, '#expires-day', '30')
    await type(page, '#expires-month', '6')
    await type(page, '#expires-year', '2031')
    await type(page, '#email', 'ana@example.org')
    await tabTo(page, page.locator('#consent'))
    await page.keyboard.press('Space')
    await shot(page, 'desktop-enrol')
    await tabTo(page, page.getByRole('button', { name: 'Enrol' }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent(), { timeout: 30_000 }).toBe('Your applications')
    await poll(() => page.locator('.govuk-notification-banner').textContent()).toContain('You are enrolled')
    const citizenId = (await page.locator('.govuk-summary-list__value').first().textContent())!.trim()
    expect(citizenId).toMatch(/^[0-9a-f]{32}$/)
    await accessible(page, 'applications after enrolment')

    // Register presence abroad.
    await tabTo(page, page.getByRole('link', { name: 'Register where you are' }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent()).toBe('Register where you are')
    await type(page, '#country', 'ke')
    await type(page, '#region', 'Nairobi')
    await shot(page, 'desktop-presence')
    await tabTo(page, page.getByRole('button', { name: 'Register presence' }))
    await page.keyboard.press('Enter')
    await poll(() => page.locator('.govuk-summary-list').first().textContent(), {
      timeout: 30_000,
    }).toContain('Nairobi, KE')

    // Apply for an emergency travel document (the second choice: arrow keys move among radios).
    await tabTo(page, page.getByRole('link', { name: 'Apply for a service' }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent()).toBe('Apply for a consular service')
    await tabTo(page, page.locator('#caseType'))
    await page.keyboard.press('ArrowDown')
    expect(await page.getByLabel('Emergency travel document').isChecked()).toBe(true)
    await type(page, '#details', 'Passport stolen in Nairobi; flight home on Friday.')
    await accessible(page, 'apply')
    await shot(page, 'desktop-apply')
    await tabTo(page, page.getByRole('button', { name: 'Send application' }))
    await page.keyboard.press('Enter')
    const theCase = page.locator('section.app-case')
    await poll(() => theCase.getAttribute('data-state'), { timeout: 30_000 }).toBe('submitted')
    expect(await theCase.textContent()).toContain('Emergency travel document')
    const caseId = (await theCase.getAttribute('data-case'))!
    await accessible(page, 'applications with a case')
    await shot(page, 'desktop-account-submitted')

    // Its receipt: signed by node 0, checked in the page against the charter, printable, with a QR code.
    await tabTo(page, page.getByRole('link', { name: /^See the receipt\W+Emergency travel document$/ }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent()).toBe('Receipt')
    await poll(() => page.locator('main').textContent()).toContain('Verified against the bloc’s charter')
    expect(await page.locator('main').textContent()).toContain('Node node-0 of DVA')
    const carried = JSON.parse((await page.locator('.app-qr').getAttribute('data-receipt'))!) as {
      record: string
      node: string
      origin: string
      seq: number
      entry: string
      sig: string
    }
    expect(carried.record).toBe(caseId)
    const signed = {
      node: carried.node,
      origin: carried.origin,
      seq: carried.seq,
      entry: fromHex(carried.entry),
    }
    expect(
      verifyReceipt(
        nobleEd25519,
        { body: signed, sig: fromBase64url(carried.sig) },
        net.nodes[0]!.keys.publicKey,
      ),
    ).toBe(true)
    expect(await page.locator('.app-qr svg path').count()).toBe(1)
    await accessible(page, 'receipt')
    await shot(page, 'desktop-receipt')
    await page.goBack()
    await poll(() => heading(page).textContent()).toBe('Your applications')

    // An officer of another member state (DVC) approves it in the console at node 1: signed in with
    // their key file, they find the case in the queue once it has replicated there.
    // Their key file is the bloc's format, sealed under a passphrase (node/src/keystore.ts).
    const dvc = net.officer('DVC')
    const sealed = join(net.dir, 'officer-dvc.key.json')
    const header = {
      role: 'officer',
      keyId: dvc.id,
      publicKey: toBase64url(dvc.keys.publicKey),
      state: 'DVC',
      bloc: net.bloc,
      cert: toBase64url(encodeCanonical(dvc.cert)),
    }
    const phrase = 'correct horse battery staple'
    await writeFile(
      sealed,
      await sealKeys({ officer: dvc.keys.secretKey }, phrase, { header, scryptN: 2 ** 12 }),
    )
    const desk = await open(1280, 900)
    await desk.page.goto(`${net.nodes[1]!.url}/#/officer`)
    await poll(() => heading(desk.page).textContent()).toBe('Sign in as a consular officer')
    await accessible(desk.page, 'officer sign-in')
    await desk.page.setInputFiles('#keyfile', sealed)
    await desk.page.fill('#passphrase', 'wrong horse')
    await desk.page.getByRole('button', { name: 'Sign in' }).click()
    await poll(() => desk.page.locator('.govuk-error-summary').textContent(), { timeout: 30_000 }).toContain(
      'The passphrase does not open this key file',
    )
    await accessible(desk.page, 'officer sign-in, wrong passphrase')
    await desk.page.fill('#passphrase', phrase)
    await desk.page.getByRole('button', { name: 'Sign in' }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Cases')
    expect(await desk.page.locator('.govuk-notification-banner').textContent()).toContain('officer of DVC')
    // Finding the citizen: by the start of a name among DVB's nationals (once the registration
    // has replicated to node 1), then by their travel document's number.
    await desk.page.getByRole('link', { name: 'Find a citizen' }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Find a citizen')
    await accessible(desk.page, 'officer search')
    await desk.page.getByRole('button', { name: 'Search' }).click()
    await poll(() => desk.page.locator('.govuk-error-summary').textContent()).toContain(
      'at least 2 letters of a name',
    )
    await accessible(desk.page, 'officer search, nothing asked')
    await desk.page.fill('#name', 'nov')
    await desk.page.selectOption('#nationality', 'DVB')
    const hit = desk.page.locator(`tr[data-citizen="${citizenId}"]`)
    await poll(
      async () => {
        await desk.page.getByRole('button', { name: 'Search' }).click()
        return hit.count()
      },
      { timeout: 45_000, interval: 500 },
    ).toBe(1)
    expect(await hit.textContent()).toContain('Ana Novak')
    expect(await hit.textContent()).toContain('X1234567')
    await accessible(desk.page, 'officer search results')
    await shot(desk.page, 'desktop-officer-search')
    await desk.page.fill('#name', '')
    await desk.page.fill('#document', 'x1234567')
    await desk.page.getByRole('button', { name: 'Search' }).click()
    await poll(() => desk.page.locator('table[data-results]').getAttribute('data-results')).toBe('1')
    expect(await hit.count()).toBe(1)
    await desk.page.getByRole('link', { name: 'Cases', exact: true }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Cases')
    const row = desk.page.locator(`tr[data-case="${caseId}"]`)
    await poll(
      async () => {
        await desk.page.getByRole('button', { name: 'Show' }).click()
        return row.count()
      },
      { timeout: 45_000, interval: 500 },
    ).toBe(1)
    await accessible(desk.page, 'officer queue')
    await shot(desk.page, 'desktop-officer-queue')
    await row.getByRole('link', { name: 'Emergency travel document' }).click()
    await poll(() => heading(desk.page).textContent()).toBe('Emergency travel document')
    expect(await desk.page.locator('main').textContent()).toContain('Passport stolen in Nairobi')
    await accessible(desk.page, 'officer case')
    await desk.page.getByRole('button', { name: 'Start the review' }).click()
    await poll(() => desk.page.locator('.govuk-notification-banner').textContent(), {
      timeout: 30_000,
    }).toContain('The case is now: In review')
    await desk.page.getByRole('button', { name: 'Approve' }).click()
    await poll(() => desk.page.locator('.govuk-notification-banner').textContent(), {
      timeout: 30_000,
    }).toContain('The case is now: Approved')
    // An attestation: the document's hash is computed in the browser; the document is not sent.
    const scan = randomBytes(200_000)
    const bodies: number[] = []
    desk.page.on('request', (r) => bodies.push(r.postDataBuffer()?.length ?? 0))
    await desk.page.setInputFiles('#document-file', {
      name: 'passport-scan.pdf',
      mimeType: 'application/pdf',
      buffer: scan,
    })
    await desk.page.fill('#document-type', 'police report')
    await desk.page.getByRole('button', { name: 'Attest' }).click()
    await poll(() => desk.page.locator('.govuk-notification-banner').textContent(), {
      timeout: 30_000,
    }).toContain(createHash('sha256').update(scan).digest('hex'))
    expect(Math.max(...bodies), 'no request carried the document').toBeLessThan(10_000)
    await accessible(desk.page, 'officer case, attested')
    await shot(desk.page, 'desktop-officer-case')
    expect(desk.problems).toEqual([])

    // The citizen looks at node 2: the approval is there.
    await tabTo(page, page.getByRole('link', { name: 'Use another node' }))
    await page.keyboard.press('Enter')
    await poll(() => heading(page).textContent()).toBe('Choose the node you use')
    await accessible(page, 'nodes')
    await shot(page, 'desktop-nodes')
    await page.locator(`input[value="${net.nodes[2]!.url}"]`).check()
    await page.getByRole('button', { name: 'Use this node' }).click()
    await poll(() => servedBy(page).textContent()).toContain('node-2')
    await poll(
      async () => {
        await page.getByRole('button', { name: 'Check for updates' }).click()
        return theCase.getAttribute('data-state')
      },
      { timeout: 45_000, interval: 500 },
    ).toBe('approved')
    expect(await theCase.textContent()).toContain('Approved')
    // And who read their data to do it: the DVC officer's reads of the case, logged at node 1
    // with their purpose, replicated to node 2.
    const read = page.locator('.app-access-log tr[data-purpose="case-processing"]')
    await poll(
      async () => {
        await page.getByRole('button', { name: 'Check for updates' }).click()
        return read.count()
      },
      { timeout: 30_000, interval: 500 },
    ).toBeGreaterThan(0)
    expect(await read.first().textContent()).toContain('Officer of DVC')
    expect(await read.first().textContent()).toContain('Handling a case')
    await accessible(page, 'applications, approved')
    await shot(page, 'desktop-account-approved')

    // Back to node 0, which is then killed: the page moves to another node by itself.
    await page.goto(`${net.nodes[0]!.url}/#/nodes`)
    await page.locator(`input[value="${net.nodes[0]!.url}"]`).check()
    await page.getByRole('button', { name: 'Use this node' }).click()
    await poll(() => servedBy(page).textContent()).toContain('node-0')
    await poll(() => theCase.getAttribute('data-state')).toBe('approved')
    networkDown = true
    await net.nodes[0]!.kill()
    await page.getByRole('button', { name: 'Check for updates' }).click()
    await poll(() => page.locator('.govuk-notification-banner').textContent(), { timeout: 45_000 }).toContain(
      'stopped answering',
    )
    await poll(() => servedBy(page).textContent()).toMatch(/node-[12]/)
    await poll(() => theCase.getAttribute('data-state')).toBe('approved')
    await accessible(page, 'applications after failover')
    expect(await page.locator('.govuk-notification-banner').textContent()).toContain('stopped answering')
    await shot(page, 'desktop-failover')

    // And it still takes new work there: a second application.
    await page.getByRole('link', { name: 'Apply for a service' }).click()
    await poll(() => heading(page).textContent()).toBe('Apply for a consular service')
    await page.getByLabel('Attestation of a document').check()
    await page.getByRole('button', { name: 'Send application' }).click()
    await poll(() => page.locator('section.app-case').count(), { timeout: 30_000 }).toBe(2)
    expect(problems).toEqual([])
  }, 240_000)
})

/**
 * The portal's entry: the layout (header, service navigation, language switch, footer), the
 * router (`#/…` routes, so every node serves one file and the page never reloads — it keeps
 * working from its script when the node that served it is gone), and the node the page uses.
 */
import './styles.scss'
import { accountPage, receiptPage, signinPage } from './account.ts'
import { Bloc } from './bloc.ts'
import {
  casesPage,
  dashboardPage,
  officerAlertsPage,
  officerCasePage,
  officerSigninPage,
  searchPage,
} from './console.ts'
import { alertsPage, checkinPage } from './crisis.ts'
import { banner, h } from './dom.ts'
import { initLanguage, LANGUAGES, type Language, language, setLanguage, t } from './i18n.ts'
import { pending, remove } from './outbox.ts'
import {
  applyPage,
  enrolPage,
  nodesPage,
  notFoundPage,
  type Page,
  type PageContext,
  presencePage,
  startPage,
} from './pages.ts'
import { keepReceipt, type Receipt } from './receipts.ts'

const ROUTES: Record<string, (ctx: PageContext) => Promise<Page> | Page> = {
  '#/': startPage,
  '#/enrol': enrolPage,
  '#/presence': presencePage,
  '#/apply': applyPage,
  '#/account': accountPage,
  '#/nodes': nodesPage,
  '#/signin': signinPage,
  '#/alerts': alertsPage,
  '#/officer': officerSigninPage,
  '#/officer/alerts': officerAlertsPage,
}
const CHECKIN = /^#\/checkin\/([0-9a-f]{64})$/
const RECEIPT = /^#\/receipt\/([0-9a-f]{64})$/
const OFFICER_CASE = /^#\/officer\/case\/([0-9a-f]{64})$/
const DASHBOARD = /^#\/officer\/alert\/([0-9a-f]{64})$/

function pageFor(r: string): (ctx: PageContext) => Promise<Page> | Page {
  const checkin = CHECKIN.exec(r)
  if (checkin) return (c) => checkinPage(c, checkin[1]!)
  const receipt = RECEIPT.exec(r)
  if (receipt) return (c) => receiptPage(c, receipt[1]!)
  const dashboard = DASHBOARD.exec(r)
  if (dashboard) return (c) => dashboardPage(c, dashboard[1]!)
  const officerCase = OFFICER_CASE.exec(r)
  if (officerCase) return (c) => officerCasePage(c, officerCase[1]!)
  const [path, query] = r.split('?', 2) as [string, string | undefined]
  if (path === '#/officer/cases') return (c) => casesPage(c, new URLSearchParams(query ?? ''))
  if (path === '#/officer/search') return (c) => searchPage(c, new URLSearchParams(query ?? ''))
  return ROUTES[r] ?? notFoundPage
}
const NAV: Array<[string, Parameters<typeof t>[0]]> = [
  ['#/', 'nav.start'],
  ['#/account', 'nav.account'],
  ['#/presence', 'nav.presence'],
  ['#/apply', 'nav.apply'],
  ['#/alerts', 'nav.alerts'],
]

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initLanguage()
const bloc = new Bloc(location.origin)
let route = location.hash.startsWith('#/') ? location.hash : '#/'
/** A banner, shown on the page of `route` until the citizen goes to another page. */
let flash: { title: string; text: string; success: boolean; route: string } | null = null
let rendering = 0
/** The first page is not focused: a screen reader starts at the top, and the skip link comes first. */
let firstRender = true

const ctx: PageContext = {
  bloc,
  go(to, message) {
    flash = message ? { ...message, success: true, route: to } : null
    if (location.hash === to) void render()
    else location.hash = to
  },
  refresh: () => void render(),
}

bloc.onChange((node, why) => {
  if (why === 'failover' || why === 'none') {
    const text = node ? t('failover.moved', { name: node.name, state: node.state }) : t('failover.none')
    flash = { title: t('banner.title'), text, success: false, route }
    showFlash()
  }
  renderFooter()
})

function renderHeader(): void {
  const langs = Object.entries(LANGUAGES).map(([code, { name }]) =>
    h(
      'li',
      { className: 'govuk-language-navigation__list-item' },
      code === language()
        ? h(
            'span',
            { className: 'govuk-language-navigation__text', 'aria-current': 'true', lang: code },
            name,
          )
        : langLink(code as Language, name),
    ),
  )
  const nav = NAV.map(([href, key]) =>
    h(
      'li',
      {},
      h(
        'a',
        {
          className: 'govuk-link govuk-link--no-visited-state app-nav__link',
          href,
          'aria-current': route === href ? 'page' : undefined,
        },
        t(key),
      ),
    ),
  )
  document
    .getElementById('header')!
    .replaceChildren(
      h(
        'header',
        { className: 'govuk-generic-header' },
        h(
          'div',
          { className: 'govuk-generic-header__container govuk-width-container' },
          h(
            'div',
            { className: 'govuk-generic-header__logo' },
            h('a', { href: '#/', className: 'govuk-generic-header__homepage-link' }, t('service.name')),
          ),
        ),
      ),
      h(
        'div',
        { className: 'app-nav' },
        h(
          'div',
          { className: 'govuk-width-container app-nav__row' },
          h(
            'nav',
            { 'aria-label': t('nav.label') },
            h('ul', { className: 'app-nav__list govuk-body' }, ...nav),
          ),
          h(
            'nav',
            { className: 'govuk-language-navigation', 'aria-label': t('lang.label') },
            h('ul', { className: 'govuk-language-navigation__list' }, ...langs),
          ),
        ),
      ),
    )
  const skip = document.getElementById('skip-link')!
  skip.textContent = t('skip')
}

function langLink(code: Language, name: string): HTMLElement {
  const a = h(
    'a',
    {
      className: 'govuk-language-navigation__link',
      href: `?lang=${code}${route}`,
      lang: code,
      hreflang: code,
      rel: 'alternate',
    },
    name,
  )
  a.addEventListener('click', (ev) => {
    ev.preventDefault()
    setLanguage(code)
    void render()
  })
  return a
}

function renderFooter(): void {
  const node = bloc.current
  document
    .getElementById('footer')!
    .replaceChildren(
      h(
        'div',
        { className: 'govuk-width-container' },
        h(
          'div',
          { className: 'govuk-footer__meta' },
          h(
            'div',
            { className: 'govuk-footer__meta-item govuk-footer__meta-item--grow' },
            h(
              'p',
              { className: 'govuk-body-s', id: 'served-by', 'data-node': node?.url ?? '' },
              node ? t('footer.node', { name: node.name, state: node.state }) : t('footer.noNode'),
            ),
            h(
              'p',
              { className: 'govuk-body-s' },
              h('a', { className: 'govuk-footer__link', href: '#/nodes' }, t('footer.change')),
            ),
            h(
              'p',
              { className: 'govuk-body-s' },
              h('a', { className: 'govuk-footer__link', href: '#/officer' }, t('footer.officers')),
            ),
          ),
        ),
      ),
    )
}

function showFlash(): void {
  const slot = document.getElementById('app-flash')!
  if (flash && flash.route !== route) flash = null
  slot.replaceChildren(
    ...(flash ? [banner(flash.title, flash.text, flash.success)] : []),
    ...(waiting > 0
      ? [
          h(
            'div',
            { className: 'govuk-inset-text', id: 'outbox-notice' },
            t('outbox.waiting', { count: String(waiting) }),
          ),
        ]
      : []),
  )
}

async function render(): Promise<void> {
  const mine = ++rendering
  route = location.hash.startsWith('#/') ? location.hash : route
  renderHeader()
  let page: Page
  try {
    page = await pageFor(route)(ctx)
  } catch {
    page = {
      title: t('footer.noNode'),
      content: h('div', {}, h('h1', { className: 'govuk-heading-l', tabindex: '-1' }, t('failover.none'))),
    }
  }
  if (mine !== rendering) return
  document.title = `${page.title} – ${t('service.name')}`
  // The banner slot stays at the top of <main>, where GOV.UK places notification banners.
  document
    .getElementById('main-content')!
    .replaceChildren(document.getElementById('app-flash')!, page.content)
  showFlash()
  renderFooter()
  void countWaiting()
  if (!firstRender) page.content.querySelector<HTMLElement>('h1')?.focus()
  firstRender = false
}

// ---- What was signed offline waits in the outbox; it is sent when a node answers again. ----
let waiting = 0
let flushing = false

async function countWaiting(): Promise<void> {
  waiting = (await pending()).length
  showFlash()
}

async function flush(): Promise<void> {
  if (flushing || !navigator.onLine) return
  flushing = true
  let sent = 0
  const refusedCodes: string[] = []
  try {
    for (const item of await pending()) {
      let res: { status: number; body: unknown }
      try {
        res = await bloc.request('POST', '/v1/records', { json: item.submission })
      } catch {
        break // still no node: try again later
      }
      if (res.status >= 500) break
      if (res.status < 300) {
        const { receipt } = res.body as { receipt: Receipt }
        await keepReceipt({ receipt, label: item.label, at: Date.now() })
      }
      // Accepted, a duplicate (it arrived before), or refused: nothing more to send either way.
      if (res.status >= 400)
        refusedCodes.push((res.body as { code?: string } | null)?.code ?? String(res.status))
      await remove(item.id)
      sent++
    }
  } finally {
    flushing = false
  }
  await countWaiting()
  if (sent > 0) {
    const text = [t('outbox.sent'), ...refusedCodes.map((code) => t('error.refused', { code }))].join(' ')
    flash = { title: t('banner.success'), text, success: refusedCodes.length === 0, route }
    await render()
  }
}

window.addEventListener('online', () => void flush())
setInterval(() => void flush(), 15_000)
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => undefined)

// The skip link moves focus without changing the route.
document.getElementById('skip-link')!.addEventListener('click', (ev) => {
  ev.preventDefault()
  const main = document.getElementById('main-content')!
  main.setAttribute('tabindex', '-1')
  main.focus()
})
window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#/')) void render()
})

const asked = new URLSearchParams(location.search).get('lang')
if (asked && asked in LANGUAGES) setLanguage(asked as Language)
renderFooter()
void bloc
  .connect()
  .catch(() => undefined)
  .then(() => render())
  .then(() => countWaiting())
  .then(() => flush())

/**
 * The portal's entry: the layout (header, service navigation, language switch, footer), the
 * router (`#/…` routes, so every node serves one file and the page never reloads — it keeps
 * working from its script when the node that served it is gone), and the node the page uses.
 */
import './styles.scss'
import { Bloc } from './bloc.ts'
import { h } from './dom.ts'
import { initLanguage, LANGUAGES, type Language, language, setLanguage, t } from './i18n.ts'
import {
  accountPage,
  applyPage,
  banner,
  enrolPage,
  notFoundPage,
  type Page,
  type PageContext,
  presencePage,
  startPage,
} from './pages.ts'

const ROUTES: Record<string, (ctx: PageContext) => Promise<Page> | Page> = {
  '#/': startPage,
  '#/enrol': enrolPage,
  '#/presence': presencePage,
  '#/apply': applyPage,
  '#/account': accountPage,
}
const NAV: Array<[string, Parameters<typeof t>[0]]> = [
  ['#/', 'nav.start'],
  ['#/account', 'nav.account'],
  ['#/presence', 'nav.presence'],
  ['#/apply', 'nav.apply'],
]

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initLanguage()
const bloc = new Bloc(location.origin)
let route = location.hash.startsWith('#/') ? location.hash : '#/'
let flash: { title: string; text: string; success: boolean } | null = null
let rendering = 0

const ctx: PageContext = {
  bloc,
  go(to, message) {
    flash = message ? { ...message, success: true } : null
    if (location.hash === to) void render()
    else location.hash = to
  },
  refresh: () => void render(),
}

bloc.onChange((node, moved) => {
  if (moved) {
    flash = node
      ? {
          title: t('banner.title'),
          text: t('failover.moved', { name: node.name, state: node.state }),
          success: false,
        }
      : { title: t('banner.title'), text: t('failover.none'), success: false }
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
          ),
        ),
      ),
    )
}

function showFlash(): void {
  const slot = document.getElementById('status')!
  slot.replaceChildren(...(flash ? [banner(flash.title, flash.text, flash.success)] : []))
}

async function render(): Promise<void> {
  const mine = ++rendering
  route = location.hash.startsWith('#/') ? location.hash : route
  renderHeader()
  let page: Page
  try {
    page = await (ROUTES[route] ?? notFoundPage)(ctx)
  } catch {
    page = {
      title: t('footer.noNode'),
      content: h('div', {}, h('h1', { className: 'govuk-heading-l', tabindex: '-1' }, t('failover.none'))),
    }
  }
  if (mine !== rendering) return
  document.title = `${page.title} – ${t('service.name')}`
  document.getElementById('main-content')!.replaceChildren(page.content)
  showFlash()
  flash = null
  renderFooter()
  page.content.querySelector<HTMLElement>('h1')?.focus()
}

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

/**
 * The citizen's pages: start, enrol, register presence, apply for a service, and their
 * applications with the status of each. Each page is a function that returns its content;
 * `main.ts` puts it in the layout. Records are built and signed in the browser with the
 * protocol package's client, with the key kept in IndexedDB (wallet.ts).
 */
import {
  CASE_TYPES,
  type CaseType,
  generateKeyPair,
  LegationClient,
  nobleEd25519,
  toHex,
  toSubmission,
} from '@legation/protocol'
import { type Bloc, type NodeSummary, NoNodeError } from './bloc.ts'
import {
  banner,
  button,
  checkbox,
  dateInput,
  errorSummary,
  fields,
  h,
  heading,
  input,
  link,
  p,
  radios,
  select,
  summaryList,
  tag,
  textarea,
} from './dom.ts'
import { formatDate, type MessageKey, t } from './i18n.ts'
import { type Pending, queue } from './outbox.ts'
import { createPasskey, PasskeyError, recoverWithPasskey } from './passkey.ts'
import { checkReceipt, keepReceipt, keptReceipt, qrCode, type Receipt, receiptText } from './receipts.ts'
import { type Enrolment, loadEnrolment, saveEnrolment } from './wallet.ts'

export interface PageContext {
  bloc: Bloc
  /** Navigates to a route (`#/…`), with an optional banner on the next page. */
  go: (route: string, flash?: { title: string; text: string }) => void
  /** Re-renders the current page. */
  refresh: () => void
}

export interface Page {
  title: string
  content: HTMLElement
}

type Errors = Array<{ field?: string; text: string }>

const DATE_LABELS = (): [string, string, string] => [t('date.day'), t('date.month'), t('date.year')]

function client(node: NodeSummary, e: Enrolment): LegationClient {
  return new LegationClient({
    ed: nobleEd25519,
    bloc: e.bloc,
    charter: node.charter.hash,
    keys: { publicKey: e.publicKey, secretKey: e.secretKey },
  })
}

/** A form page: fields, a submit button and an error summary when `submit` reports errors. */
function formPage(
  title: string,
  lead: string | null,
  build: (errors: Record<string, string>, values: Record<string, string>) => HTMLElement[],
  submitText: string,
  submit: (values: Record<string, string>) => Promise<Errors | undefined>,
): Page {
  const content = h('div', { className: 'govuk-grid-row' })
  const render = (errors: Errors, values: Record<string, string>) => {
    const byField = Object.fromEntries(errors.filter((e) => e.field).map((e) => [e.field!, e.text]))
    const form = h('form', { novalidate: true, method: 'post' })
    form.append(...build(byField, values), button(submitText))
    const summary = errors.length ? errorSummary(t('error.summary'), errors) : null
    summary?.addEventListener('click', (ev) => {
      const a = (ev.target as HTMLElement).closest('a')
      if (!a) return
      ev.preventDefault()
      document.getElementById(a.getAttribute('href')!.slice(1))?.focus()
    })
    const col = h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      summary,
      heading(title),
      lead ? p(lead) : null,
      form,
    )
    content.replaceChildren(col)
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault()
      const values = fields(form)
      const btn = form.querySelector('button')!
      btn.disabled = true
      btn.setAttribute('aria-disabled', 'true')
      const errs = await submit(values).catch(() => [{ text: t('error.network') }])
      if (errs?.length) {
        document.title = `${t('error.summary')}: ${title}`
        render(errs, values)
        content.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
      }
    })
  }
  render([], {})
  return { title, content }
}

function readDate(v: Record<string, string>, name: string): string | null {
  const [d, m, y] = [v[`${name}-day`], v[`${name}-month`], v[`${name}-year`]].map((x) => Number(x ?? ''))
  if (!Number.isInteger(d) || !Number.isInteger(m) || !Number.isInteger(y) || y! < 1900 || y! > 2200)
    return null
  const date = new Date(Date.UTC(y!, m! - 1, d!))
  if (date.getUTCDate() !== d || date.getUTCMonth() !== m! - 1) return null
  return date.toISOString().slice(0, 10)
}

const dateValue = (v: Record<string, string>, name: string) => ({
  day: v[`${name}-day`] ?? '',
  month: v[`${name}-month`] ?? '',
  year: v[`${name}-year`] ?? '',
})

/** Answers a refused write as an error for the summary. */
function refused(status: number, body: unknown): Errors {
  const code = (body as { code?: string } | null)?.code ?? String(status)
  return [{ text: t('error.refused', { code }) }]
}

/**
 * Sends a signed record to the bloc; with no connection, keeps it in the outbox and says so.
 * Returns errors for the form, or undefined once the page moved on.
 */
async function send(
  ctx: PageContext,
  built: { id: string; record: unknown; payload: Uint8Array | null },
  what: Pending['what'],
  label: MessageKey,
  done: { route: string; title: string; text: string },
): Promise<Errors | undefined> {
  const submission = toSubmission(built as Parameters<typeof toSubmission>[0])
  const offline = async () => {
    await queue({ id: built.id, submission, what, label, queuedAt: Date.now() })
    ctx.go('#/', { title: t('offline.title'), text: t('offline.body') })
    return undefined
  }
  if (!navigator.onLine) return offline()
  try {
    const res = await ctx.bloc.request<{ receipt: Receipt }>('POST', '/v1/records', { json: submission })
    if (res.status !== 201 && res.status !== 200) return refused(res.status, res.body)
    await keepReceipt({ receipt: res.body.receipt, label, at: Date.now() })
  } catch (err) {
    if (err instanceof NoNodeError) return offline()
    throw err
  }
  ctx.go(done.route, { title: done.title, text: done.text })
  return undefined
}

export async function startPage(): Promise<Page> {
  const enrolled = await loadEnrolment()
  const items: MessageKey[] = ['start.item.enrol', 'start.item.presence', 'start.item.apply']
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      heading(t('start.title'), 'xl'),
      p(t('start.lead'), 'govuk-body-l'),
      p(t('start.youCan')),
      h('ul', { className: 'govuk-list govuk-list--bullet' }, ...items.map((k) => h('li', {}, t(k)))),
      enrolled
        ? h('div', {}, p(t('start.enrolled')), link(t('start.continue'), '#/account', 'govuk-button'))
        : h(
            'div',
            {},
            link(t('start.button'), '#/enrol', 'govuk-button govuk-button--start'),
            h('h2', { className: 'govuk-heading-m' }, t('start.signin')),
            link(t('signin.title'), '#/signin', 'govuk-button govuk-button--secondary'),
          ),
    ),
  )
  return { title: t('start.title'), content }
}

export async function enrolPage(ctx: PageContext): Promise<Page> {
  const node = ctx.bloc.current ?? (await ctx.bloc.connect())
  const required = (v: string | undefined, field: string, label: string, errs: Errors) => {
    if (!v) errs.push({ field, text: t('error.required', { field: label.toLowerCase() }) })
  }
  return formPage(
    t('enrol.title'),
    t('enrol.lead'),
    (e, v) => [
      input(
        {
          name: 'given',
          label: t('enrol.given'),
          error: e.given,
          value: v.given ?? '',
          autocomplete: 'given-name',
          spellcheck: false,
        },
        t('error.summary'),
      ),
      input(
        {
          name: 'family',
          label: t('enrol.family'),
          error: e.family,
          value: v.family ?? '',
          autocomplete: 'family-name',
          spellcheck: false,
        },
        t('error.summary'),
      ),
      dateInput(
        {
          name: 'birth',
          label: t('enrol.birth'),
          hint: t('enrol.birthHint'),
          error: e['birth-day'],
          value: dateValue(v, 'birth'),
          labels: DATE_LABELS(),
          autocomplete: 'bday',
        },
        t('error.summary'),
      ),
      select(
        {
          name: 'nationality',
          label: t('enrol.nationality'),
          value: v.nationality ?? node.state,
          options: node.charter.members.map((m) => ({ value: m, text: m })),
        },
        t('error.summary'),
      ),
      input(
        {
          name: 'document',
          label: t('enrol.document'),
          hint: t('enrol.documentHint'),
          error: e.document,
          value: v.document ?? '',
          width: '10',
          spellcheck: false,
        },
        t('error.summary'),
      ),
      dateInput(
        {
          name: 'expires',
          label: t('enrol.expires'),
          hint: t('enrol.expiresHint'),
          error: e['expires-day'],
          value: dateValue(v, 'expires'),
          labels: DATE_LABELS(),
        },
        t('error.summary'),
      ),
      input(
        {
          name: 'email',
          label: t('enrol.email'),
          error: e.email,
          value: v.email ?? '',
          type: 'email',
          autocomplete: 'email',
          spellcheck: false,
        },
        t('error.summary'),
      ),
      checkbox(
        { name: 'consent', label: t('enrol.consent'), error: e.consent, checked: v.consent === 'yes' },
        t('error.summary'),
      ),
    ],
    t('enrol.submit'),
    async (v) => {
      const errs: Errors = []
      required(v.given, 'given', t('enrol.given'), errs)
      required(v.family, 'family', t('enrol.family'), errs)
      const birth = readDate(v, 'birth')
      if (!birth) errs.push({ field: 'birth-day', text: t('error.date', { field: t('enrol.birth') }) })
      const doc = (v.document ?? '').toUpperCase().replace(/\s+/g, '')
      if (!/^[A-Z0-9]{3,32}$/.test(doc)) errs.push({ field: 'document', text: t('error.document') })
      const expires = readDate(v, 'expires')
      if (!expires) errs.push({ field: 'expires-day', text: t('error.date', { field: t('enrol.expires') }) })
      if (!/^[^@\s]+@[^@\s]+$/.test(v.email ?? '')) errs.push({ field: 'email', text: t('error.email') })
      if (v.consent !== 'yes') errs.push({ field: 'consent', text: t('error.consent') })
      if (errs.length) return errs
      const at = ctx.bloc.current ?? (await ctx.bloc.connect())
      const nationality = v.nationality ?? at.state
      const keys = generateKeyPair(nobleEd25519)
      const c = new LegationClient({ ed: nobleEd25519, bloc: at.bloc, charter: at.charter.hash, keys })
      const built = c.record(
        'citizen.registered',
        c.id,
        {
          citizenKey: keys.publicKey,
          nationality,
          consent: { purposes: ['consular-assistance', 'crisis-contact'], version: 1 },
        },
        {
          salt: c.salt(),
          names: { given: v.given!, family: v.family! },
          birth: { date: birth! },
          travelDocument: { type: 'passport', number: doc, issuer: nationality, expires: expires! },
          contact: { email: v.email! },
        },
      )
      const res = await ctx.bloc.request('POST', '/v1/records', { json: toSubmission(built) })
      if (res.status !== 201 && res.status !== 200) return refused(res.status, res.body)
      await saveEnrolment({
        id: c.id,
        publicKey: keys.publicKey,
        secretKey: keys.secretKey,
        bloc: at.bloc,
        nationality,
        enrolledAt: Date.now(),
      })
      ctx.go('#/account', { title: t('enrol.done'), text: t('enrol.doneBody', { id: c.id }) })
      return undefined
    },
  )
}

/** A page that needs an enrolment, or a page saying how to get one. */
async function enrolled(build: (e: Enrolment) => Promise<Page> | Page): Promise<Page> {
  const e = await loadEnrolment()
  if (e) return build(e)
  const content = h(
    'div',
    {},
    heading(t('notEnrolled.title')),
    p(t('notEnrolled.body')),
    link(t('notEnrolled.link'), '#/enrol', 'govuk-button'),
  )
  return { title: t('notEnrolled.title'), content }
}

export function presencePage(ctx: PageContext): Promise<Page> {
  return enrolled((e) =>
    formPage(
      t('presence.title'),
      t('presence.lead'),
      (errs, v) => [
        input(
          {
            name: 'country',
            label: t('presence.country'),
            hint: t('presence.countryHint'),
            error: errs.country,
            value: v.country ?? '',
            width: '2',
            spellcheck: false,
            autocomplete: 'country',
          },
          t('error.summary'),
        ),
        input(
          {
            name: 'region',
            label: t('presence.region'),
            error: errs.region,
            value: v.region ?? '',
            autocomplete: 'address-level2',
          },
          t('error.summary'),
        ),
        input(
          {
            name: 'address',
            label: t('presence.address'),
            value: v.address ?? '',
            autocomplete: 'street-address',
          },
          t('error.summary'),
        ),
      ],
      t('presence.submit'),
      async (v) => {
        const errs: Errors = []
        const country = (v.country ?? '').toUpperCase()
        if (!/^[A-Z]{2}$/.test(country)) errs.push({ field: 'country', text: t('error.country') })
        if (!v.region)
          errs.push({
            field: 'region',
            text: t('error.required', { field: t('presence.region').toLowerCase() }),
          })
        if (errs.length) return errs
        const c = client(ctx.bloc.current ?? (await ctx.bloc.connect()), e)
        const built = c.record(
          'presence.registered',
          e.id,
          { from: Date.now(), until: null },
          { salt: c.salt(), country, region: v.region!, ...(v.address ? { address: v.address } : {}) },
        )
        return send(ctx, built, 'presence', 'presence.title', {
          route: '#/account',
          title: t('banner.success'),
          text: t('presence.done', { country }),
        })
      },
    ),
  )
}

export function applyPage(ctx: PageContext): Promise<Page> {
  return enrolled((e) =>
    formPage(
      t('apply.title'),
      null,
      (errs, v) => [
        radios(
          {
            name: 'caseType',
            label: t('apply.type'),
            error: errs.caseType,
            value: v.caseType ?? '',
            options: CASE_TYPES.map((c) => ({ value: c, text: t(`case.${c}`) })),
          },
          t('error.summary'),
        ),
        textarea(
          {
            name: 'details',
            label: t('apply.details'),
            hint: t('apply.detailsHint'),
            value: v.details ?? '',
          },
          t('error.summary'),
        ),
      ],
      t('apply.submit'),
      async (v) => {
        if (!CASE_TYPES.includes(v.caseType as CaseType))
          return [{ field: 'caseType', text: t('error.choose') }]
        const c = client(ctx.bloc.current ?? ctx.bloc.lastKnown ?? (await ctx.bloc.connect()), e)
        const built = c.record(
          'case.opened',
          e.id,
          { caseType: v.caseType as CaseType },
          { salt: c.salt(), ...(v.details ? { details: v.details } : {}) },
        )
        return send(ctx, built, 'application', `case.${v.caseType as CaseType}`, {
          route: '#/account',
          title: t('banner.success'),
          text: t('apply.done'),
        })
      },
    ),
  )
}

interface CitizenFile {
  id: string
  nationality: string
  names: { given: string; family: string } | null
  presence: { country: string; region: string } | null
  welfare: Array<{ alert: string; status: string }>
  cases: Array<{ id: string; type: string; state: string; opened: number }>
}

const STATE_COLOURS: Record<string, string> = {
  submitted: 'blue',
  'in-review': 'light-blue',
  'needs-info': 'yellow',
  approved: 'green',
  issued: 'green',
  rejected: 'red',
  closed: 'grey',
  withdrawn: 'grey',
}

export function accountPage(ctx: PageContext): Promise<Page> {
  return enrolled(async (e) => {
    const path = `/v1/citizens/${e.id}`
    const node = ctx.bloc.current ?? (await ctx.bloc.connect())
    const c = client(node, e)
    const res = await ctx.bloc.request<CitizenFile>('GET', path, { sign: (r) => c.sign(r) })
    const refreshBtn = button(t('account.refresh'), {
      type: 'button',
      className: 'govuk-button govuk-button--secondary',
    })
    refreshBtn.addEventListener('click', () => ctx.refresh())
    const col = h('div', { className: 'govuk-grid-column-full' }, heading(t('account.title')))
    if (res.status !== 200) {
      col.append(
        p(res.status === 404 ? t('account.notYet') : t('error.refused', { code: String(res.status) })),
        refreshBtn,
      )
      return { title: t('account.title'), content: h('div', { className: 'govuk-grid-row' }, col) }
    }
    const f = res.body
    col.append(
      summaryList([
        [t('account.id'), f.id],
        [t('account.name'), f.names ? `${f.names.given} ${f.names.family}` : '—'],
        [t('account.nationality'), f.nationality],
        [
          t('account.presence'),
          f.presence ? `${f.presence.region}, ${f.presence.country}` : t('account.noPresence'),
        ],
      ]),
      h('h2', { className: 'govuk-heading-m' }, t('account.cases')),
    )
    if (f.cases.length === 0) col.append(p(t('account.noCases')))
    for (const k of [...f.cases].sort((a, b) => b.opened - a.opened)) {
      const typeKey = `case.${k.type}` as MessageKey
      const stateKey = `state.${k.state}` as MessageKey
      const receipt = (await keptReceipt(k.id))
        ? h(
            'p',
            { className: 'govuk-body' },
            h(
              'a',
              { className: 'govuk-link', href: `#/receipt/${k.id}` },
              t('receipt.link'),
              h('span', { className: 'govuk-visually-hidden' }, `: ${t(typeKey)}`),
            ),
          )
        : null
      col.append(
        h(
          'section',
          { className: 'app-case', 'data-case': k.id, 'data-state': k.state, 'aria-label': t(typeKey) },
          h('h3', { className: 'govuk-heading-s' }, t(typeKey)),
          summaryList([
            [t('account.status'), tag(t(stateKey), STATE_COLOURS[k.state])],
            [t('account.opened'), formatDate(k.opened)],
          ]),
          receipt,
        ),
      )
    }
    col.append(refreshBtn, passkeySection(ctx, e, f))
    return { title: t('account.title'), content: h('div', { className: 'govuk-grid-row' }, col) }
  })
}

/** On the applications page: make a passkey that keeps the key, or say that one exists. */
function passkeySection(ctx: PageContext, e: Enrolment, f: CitizenFile): HTMLElement {
  const section = h('section', { className: 'app-passkey', 'aria-labelledby': 'passkey-title' })
  const title = h('h2', { className: 'govuk-heading-m', id: 'passkey-title' }, t('passkey.title'))
  if (e.passkey) {
    section.append(title, summaryList([[t('passkey.row'), tag(t('passkey.set'), 'green')]]))
    return section
  }
  const create = button(t('passkey.create'), { type: 'button' })
  const error = h('div', {})
  create.addEventListener('click', async () => {
    create.disabled = true
    try {
      const label = f.names ? `${f.names.given} ${f.names.family}` : e.id
      const id = await createPasskey({ id: e.id, seed: e.secretKey, label })
      await saveEnrolment({ ...e, passkey: toHex(id) })
      ctx.go('#/account', { title: t('banner.success'), text: t('passkey.done') })
    } catch (err) {
      const code = err instanceof PasskeyError ? err.code : 'PASSKEY_CANCELLED'
      error.replaceChildren(errorSummary(t('error.summary'), [{ text: t(`error.${code}`) }]))
      error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
      create.disabled = false
    }
  })
  section.append(title, error, p(t('passkey.body')), create)
  return section
}

/** Sign in on a fresh browser with the passkey alone: it brings back the key it keeps. */
export function signinPage(ctx: PageContext): Page {
  const error = h('div', {})
  const go = button(t('signin.button'), { type: 'button' })
  const fail = (text: string) => {
    error.replaceChildren(errorSummary(t('error.summary'), [{ text }]))
    error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
    go.disabled = false
  }
  go.addEventListener('click', async () => {
    go.disabled = true
    let seed: Uint8Array
    let credentialId: Uint8Array
    try {
      ;({ seed, credentialId } = await recoverWithPasskey())
    } catch (err) {
      return fail(t(`error.${err instanceof PasskeyError ? err.code : 'PASSKEY_CANCELLED'}`))
    }
    const keys = generateKeyPair(nobleEd25519, seed)
    try {
      const node = ctx.bloc.current ?? (await ctx.bloc.connect())
      const c = new LegationClient({ ed: nobleEd25519, bloc: node.bloc, charter: node.charter.hash, keys })
      const res = await ctx.bloc.request<CitizenFile>('GET', `/v1/citizens/${c.id}`, {
        sign: (r) => c.sign(r),
      })
      if (res.status !== 200) return fail(t('error.notRegistered'))
      await saveEnrolment({
        id: c.id,
        publicKey: keys.publicKey,
        secretKey: keys.secretKey,
        bloc: node.bloc,
        nationality: res.body.nationality,
        enrolledAt: Date.now(),
        passkey: toHex(credentialId),
      })
      ctx.go('#/account', { title: t('banner.success'), text: t('signin.done') })
    } catch {
      fail(t('error.network'))
    }
  })
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      error,
      heading(t('signin.title')),
      p(t('signin.body')),
      go,
    ),
  )
  return { title: t('signin.title'), content }
}

export async function nodesPage(ctx: PageContext): Promise<Page> {
  const known = await ctx.bloc.survey()
  const current = ctx.bloc.current?.url ?? ''
  return formPage(
    t('nodes.title'),
    t('nodes.lead'),
    (errs, v) => [
      radios(
        {
          name: 'node',
          label: t('nodes.legend'),
          error: errs.node,
          value: v.node ?? current,
          options: known.map(({ url, node }) => ({
            value: url,
            text: node
              ? `${t('nodes.option', { name: node.name, state: node.state })} (${url})`
              : t('nodes.down', { url }),
          })),
        },
        t('error.summary'),
      ),
    ],
    t('nodes.submit'),
    async (v) => {
      const node = await ctx.bloc.use(v.node ?? '').catch(() => null)
      if (!node) return [{ field: 'node', text: t('error.node') }]
      ctx.go('#/account', {
        title: t('banner.success'),
        text: t('nodes.done', { name: node.name, state: node.state }),
      })
      return undefined
    },
  )
}

interface Alert {
  id: string
  country: string
  region: string | null
  severity: string
  title: string
  message: string
  issuedAt: number
}

/** Alerts seen on the alerts page, so that a check-in form opens without a connection. */
const seenAlerts = new Map<string, Alert>()

/** The crisis alerts for where the citizen is, each with their last check-in and a link to check in. */
export function alertsPage(ctx: PageContext): Promise<Page> {
  return enrolled(async (e) => {
    const node = ctx.bloc.current ?? (await ctx.bloc.connect())
    const c = client(node, e)
    const [file, list] = await Promise.all([
      ctx.bloc.request<CitizenFile>('GET', `/v1/citizens/${e.id}`, { sign: (r) => c.sign(r) }),
      ctx.bloc.request<{ alerts: Alert[] }>('GET', '/v1/alerts'),
    ])
    const col = h('div', { className: 'govuk-grid-column-two-thirds' }, heading(t('alerts.title')))
    const page = { title: t('alerts.title'), content: h('div', { className: 'govuk-grid-row' }, col) }
    const where = file.status === 200 ? file.body.presence : null
    if (!where) {
      col.append(p(t('alerts.noPresence')), link(t('nav.presence'), '#/presence', 'govuk-button'))
      return page
    }
    const mine = list.body.alerts.filter(
      (a) => a.country === where.country && (a.region === null || a.region === where.region),
    )
    if (mine.length === 0) col.append(p(t('alerts.none')))
    for (const a of mine) {
      seenAlerts.set(a.id, a)
      const last = file.body.welfare.find((w) => w.alert === a.id)
      col.append(
        h(
          'section',
          { className: 'app-alert', 'data-alert': a.id, 'aria-labelledby': `alert-${a.id}` },
          h('h2', { className: 'govuk-heading-m', id: `alert-${a.id}` }, a.title),
          p(a.message),
          summaryList([
            [t('alerts.issued'), formatDate(a.issuedAt)],
            [t('presence.region'), a.region ?? a.country],
            [
              t('alerts.yourStatus'),
              last
                ? tag(t(`welfare.${last.status}` as MessageKey), last.status === 'safe' ? 'green' : 'red')
                : t('alerts.notYet'),
            ],
          ]),
          link(t('alerts.checkin'), `#/checkin/${a.id}`, 'govuk-button'),
        ),
      )
    }
    return page
  })
}

/** Check in for one alert: safe or needing help. Opens and signs without a connection; sent when one returns. */
export function checkinPage(ctx: PageContext, alertId: string): Promise<Page> {
  return enrolled((e) => {
    const alert = seenAlerts.get(alertId)
    return formPage(
      t('checkin.title'),
      alert ? alert.title : null,
      (errs, v) => [
        radios(
          {
            name: 'status',
            label: t('checkin.status'),
            error: errs.status,
            value: v.status ?? '',
            options: [
              { value: 'safe', text: t('checkin.safe') },
              { value: 'needs-help', text: t('checkin.needsHelp') },
            ],
          },
          t('error.summary'),
        ),
        textarea({ name: 'note', label: t('checkin.note'), value: v.note ?? '' }, t('error.summary')),
      ],
      t('checkin.submit'),
      async (v) => {
        if (v.status !== 'safe' && v.status !== 'needs-help')
          return [{ field: 'status', text: t('error.checkin') }]
        // Signed against the charter this page last saw: offline, there is no node to ask.
        const node = ctx.bloc.current ?? ctx.bloc.lastKnown ?? (await ctx.bloc.connect())
        const c = client(node, e)
        const built = c.record(
          'welfare.checkin',
          e.id,
          { alert: alertId, status: v.status },
          { salt: c.salt(), ...(v.note ? { note: v.note } : {}) },
        )
        return send(ctx, built, 'checkin', 'checkin.title', {
          route: '#/alerts',
          title: t('banner.success'),
          text: t('checkin.done'),
        })
      },
    )
  })
}

/** A printable receipt: what was recorded, by which node, its signature checked, and a QR code of it. */
export function receiptPage(ctx: PageContext, recordId: string): Promise<Page> {
  return enrolled(async (e) => {
    const kept = await keptReceipt(recordId)
    const col = h('div', { className: 'govuk-grid-column-two-thirds' }, heading(t('receipt.title')))
    const page = { title: t('receipt.title'), content: h('div', { className: 'govuk-grid-row' }, col) }
    if (!kept) {
      col.append(p(t('receipt.none')))
      return page
    }
    const r = kept.receipt
    const charter = await ctx.bloc
      .request<{ chain: string }>('GET', '/v1/charter')
      .then((res) => (res.status === 200 ? res.body.chain : null))
      .catch(() => null)
    const signer = charter ? checkReceipt(r, charter, e.bloc) : null
    const print = button(t('receipt.print'), {
      type: 'button',
      className: 'govuk-button govuk-button--secondary app-noprint',
    })
    print.addEventListener('click', () => window.print())
    col.append(
      p(t('receipt.help')),
      summaryList([
        [t('receipt.what'), t(kept.label as MessageKey)],
        [t('receipt.record'), r.record],
        [t('receipt.node'), signer ? t('receipt.nodeName', signer) : r.node],
        [t('receipt.position'), `${r.origin} #${r.seq}`],
        [t('receipt.date'), formatDate(kept.at)],
        [
          t('receipt.check'),
          signer ? tag(t('receipt.verified'), 'green') : tag(t('receipt.unverified'), 'red'),
        ],
      ]),
      h(
        'div',
        { className: 'app-qr', 'data-receipt': receiptText(r) },
        qrCode(receiptText(r), t('receipt.qr')),
      ),
      print,
    )
    return page
  })
}

export function notFoundPage(): Page {
  return { title: t('notFound.title'), content: h('div', {}, heading(t('notFound.title'))) }
}

export { banner }

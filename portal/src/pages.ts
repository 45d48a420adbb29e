/**
 * The citizen's pages: start, enrol, register presence, apply for a service, choose a node; and
 * what the other pages share (the page context, the signing client, sending a record or keeping it
 * offline, pages that need an enrolment). Each page is a function that returns its content;
 * `main.ts` puts it in the layout. Records are built and signed in the browser with the protocol
 * package's client, with the key kept in IndexedDB (wallet.ts).
 */
import {
  CASE_TYPES,
  type CaseType,
  generateKeyPair,
  LegationClient,
  nobleEd25519,
  toSubmission,
} from '@legation/protocol'
import { type Bloc, type NodeSummary, NoNodeError } from './bloc.ts'
import { checkbox, dateInput, h, heading, input, link, p, radios, select, textarea } from './dom.ts'
import { dateValue, formPage, readDate, refused } from './form.ts'
import { type MessageKey, t } from './i18n.ts'
import { type Pending, queue } from './outbox.ts'
import { keepReceipt, type Receipt } from './receipts.ts'
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

export type Errors = Array<{ field?: string; text: string }>

export const DATE_LABELS = (): [string, string, string] => [t('date.day'), t('date.month'), t('date.year')]

export function client(node: NodeSummary, e: Enrolment): LegationClient {
  return new LegationClient({
    ed: nobleEd25519,
    bloc: e.bloc,
    charter: node.charter.hash,
    keys: { publicKey: e.publicKey, secretKey: e.secretKey },
  })
}

/**
 * Sends a signed record to the bloc; with no connection, keeps it in the outbox and says so.
 * Returns errors for the form, or undefined once the page moved on.
 */
export async function send(
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
export async function enrolled(build: (e: Enrolment) => Promise<Page> | Page): Promise<Page> {
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

export interface CitizenFile {
  id: string
  nationality: string
  names: { given: string; family: string } | null
  presence: { country: string; region: string } | null
  welfare: Array<{ alert: string; status: string }>
  cases: Array<{ id: string; type: string; state: string; opened: number }>
}

export const STATE_COLOURS: Record<string, string> = {
  submitted: 'blue',
  'in-review': 'light-blue',
  'needs-info': 'yellow',
  approved: 'green',
  issued: 'green',
  rejected: 'red',
  closed: 'grey',
  withdrawn: 'grey',
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

export function notFoundPage(): Page {
  return { title: t('notFound.title'), content: h('div', {}, heading(t('notFound.title'))) }
}

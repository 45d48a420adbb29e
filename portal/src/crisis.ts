/**
 * Crisis alerts for where the citizen is, and checking in as safe or needing help. A check-in
 * is signed in the page and, with no connection, kept in the outbox until one returns.
 */
import { h, heading, link, p, radios, summaryList, tag, textarea } from './dom.ts'
import { formPage } from './form.ts'
import { formatDate, type MessageKey, t } from './i18n.ts'
import { type CitizenFile, client, enrolled, type Page, type PageContext, send } from './pages.ts'

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

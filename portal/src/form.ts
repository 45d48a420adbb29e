/** Form pages in the GOV.UK pattern: fields, a submit button, an error summary that takes the focus. */
import { button, errorSummary, fields, h, heading, p } from './dom.ts'
import { t } from './i18n.ts'
import type { Errors, Page } from './pages.ts'

/** A form page: fields, a submit button and an error summary when `submit` reports errors. */
export function formPage(
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

export function readDate(v: Record<string, string>, name: string): string | null {
  const [d, m, y] = [v[`${name}-day`], v[`${name}-month`], v[`${name}-year`]].map((x) => Number(x ?? ''))
  if (!Number.isInteger(d) || !Number.isInteger(m) || !Number.isInteger(y) || y! < 1900 || y! > 2200)
    return null
  const date = new Date(Date.UTC(y!, m! - 1, d!))
  if (date.getUTCDate() !== d || date.getUTCMonth() !== m! - 1) return null
  return date.toISOString().slice(0, 10)
}

export const dateValue = (v: Record<string, string>, name: string) => ({
  day: v[`${name}-day`] ?? '',
  month: v[`${name}-month`] ?? '',
  year: v[`${name}-year`] ?? '',
})

/** Answers a refused write as an error for the summary. */
export function refused(status: number, body: unknown): Errors {
  const code = (body as { code?: string } | null)?.code ?? String(status)
  return [{ text: t('error.refused', { code }) }]
}

/**
 * Building pages from GOV.UK Design System components, with DOM calls only: text is always set
 * as text (never parsed as HTML), and no element carries an inline style, so the node's
 * Content-Security-Policy can forbid inline script and style.
 */

type Child = Node | string | null | undefined | false
type Attrs = Record<string, string | boolean | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    el.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : v)
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

export function heading(text: string, size: 'xl' | 'l' | 'm' = 'l'): HTMLHeadingElement {
  // Focused after each navigation (tabindex -1), so screen readers announce the new page.
  return h('h1', { className: `govuk-heading-${size}`, tabindex: '-1' }, text)
}

export const p = (text: string, className = 'govuk-body') => h('p', { className }, text)

export interface FieldOpts {
  name: string
  label: string
  hint?: string
  error?: string | undefined
  value?: string
  type?: string
  autocomplete?: string
  width?: string
  spellcheck?: boolean
}

function describedBy(name: string, hint?: string, error?: string): string | undefined {
  const ids = [hint ? `${name}-hint` : '', error ? `${name}-error` : ''].filter(Boolean)
  return ids.length ? ids.join(' ') : undefined
}

const hintEl = (name: string, hint?: string) =>
  hint ? h('div', { className: 'govuk-hint', id: `${name}-hint` }, hint) : null

function errorEl(name: string, error: string | undefined, prefix: string): HTMLElement | null {
  return error
    ? h(
        'p',
        { className: 'govuk-error-message', id: `${name}-error` },
        h('span', { className: 'govuk-visually-hidden' }, `${prefix}: `),
        error,
      )
    : null
}

const groupClass = (error?: string) => `govuk-form-group${error ? ' govuk-form-group--error' : ''}`

export function input(o: FieldOpts, errorPrefix: string): HTMLElement {
  return h(
    'div',
    { className: groupClass(o.error) },
    h('label', { className: 'govuk-label', for: o.name }, o.label),
    hintEl(o.name, o.hint),
    errorEl(o.name, o.error, errorPrefix),
    h('input', {
      className: `govuk-input${o.width ? ` govuk-input--width-${o.width}` : ''}${o.error ? ' govuk-input--error' : ''}`,
      id: o.name,
      name: o.name,
      type: o.type ?? 'text',
      value: o.value ?? '',
      autocomplete: o.autocomplete,
      spellcheck: o.spellcheck === false ? 'false' : undefined,
      'aria-describedby': describedBy(o.name, o.hint, o.error),
    }),
  )
}

export function textarea(o: FieldOpts, errorPrefix: string): HTMLElement {
  const ta = h('textarea', {
    className: `govuk-textarea${o.error ? ' govuk-textarea--error' : ''}`,
    id: o.name,
    name: o.name,
    rows: '5',
    'aria-describedby': describedBy(o.name, o.hint, o.error),
  })
  ta.value = o.value ?? ''
  return h(
    'div',
    { className: groupClass(o.error) },
    h('label', { className: 'govuk-label', for: o.name }, o.label),
    hintEl(o.name, o.hint),
    errorEl(o.name, o.error, errorPrefix),
    ta,
  )
}

export function select(
  o: FieldOpts & { options: Array<{ value: string; text: string }> },
  errorPrefix: string,
): HTMLElement {
  const sel = h(
    'select',
    {
      className: 'govuk-select',
      id: o.name,
      name: o.name,
      'aria-describedby': describedBy(o.name, o.hint, o.error),
    },
    ...o.options.map((opt) => h('option', { value: opt.value, selected: opt.value === o.value }, opt.text)),
  )
  return h(
    'div',
    { className: groupClass(o.error) },
    h('label', { className: 'govuk-label', for: o.name }, o.label),
    hintEl(o.name, o.hint),
    errorEl(o.name, o.error, errorPrefix),
    sel,
  )
}

/** The GOV.UK date input: day, month and year in one fieldset. Its first field is `${name}-day`. */
export function dateInput(
  o: Omit<FieldOpts, 'value'> & {
    value?: { day: string; month: string; year: string }
    labels: [string, string, string]
  },
  errorPrefix: string,
): HTMLElement {
  const parts = [
    ['day', o.labels[0], '2'],
    ['month', o.labels[1], '2'],
    ['year', o.labels[2], '4'],
  ] as const
  return h(
    'div',
    { className: groupClass(o.error) },
    h(
      'fieldset',
      {
        className: 'govuk-fieldset',
        role: 'group',
        'aria-describedby': describedBy(o.name, o.hint, o.error),
      },
      h('legend', { className: 'govuk-fieldset__legend govuk-fieldset__legend--s' }, o.label),
      hintEl(o.name, o.hint),
      errorEl(o.name, o.error, errorPrefix),
      h(
        'div',
        { className: 'govuk-date-input', id: o.name },
        ...parts.map(([part, label, width]) =>
          h(
            'div',
            { className: 'govuk-date-input__item' },
            h(
              'div',
              { className: 'govuk-form-group' },
              h(
                'label',
                { className: 'govuk-label govuk-date-input__label', for: `${o.name}-${part}` },
                label,
              ),
              h('input', {
                className: `govuk-input govuk-date-input__input govuk-input--width-${width}${o.error ? ' govuk-input--error' : ''}`,
                id: `${o.name}-${part}`,
                name: `${o.name}-${part}`,
                type: 'text',
                inputmode: 'numeric',
                value: o.value?.[part] ?? '',
                autocomplete: o.autocomplete
                  ? `${o.autocomplete}-${part === 'day' ? 'day' : part === 'month' ? 'month' : 'year'}`
                  : undefined,
              }),
            ),
          ),
        ),
      ),
    ),
  )
}

export function radios(
  o: FieldOpts & { options: Array<{ value: string; text: string }>; legendSize?: 'l' | 'm' | 's' },
  errorPrefix: string,
): HTMLElement {
  return h(
    'div',
    { className: groupClass(o.error) },
    h(
      'fieldset',
      { className: 'govuk-fieldset', 'aria-describedby': describedBy(o.name, o.hint, o.error) },
      h(
        'legend',
        { className: `govuk-fieldset__legend govuk-fieldset__legend--${o.legendSize ?? 'm'}` },
        o.label,
      ),
      hintEl(o.name, o.hint),
      errorEl(o.name, o.error, errorPrefix),
      h(
        'div',
        { className: 'govuk-radios', 'data-module': 'govuk-radios' },
        ...o.options.map((opt, i) =>
          h(
            'div',
            { className: 'govuk-radios__item' },
            h('input', {
              className: 'govuk-radios__input',
              // The first radio carries the field's id, so the error summary's link lands on it.
              id: i === 0 ? o.name : `${o.name}-${i}`,
              name: o.name,
              type: 'radio',
              value: opt.value,
              checked: opt.value === o.value,
            }),
            h(
              'label',
              { className: 'govuk-label govuk-radios__label', for: i === 0 ? o.name : `${o.name}-${i}` },
              opt.text,
            ),
          ),
        ),
      ),
    ),
  )
}

export function checkbox(o: FieldOpts & { checked: boolean }, errorPrefix: string): HTMLElement {
  return h(
    'div',
    { className: groupClass(o.error) },
    errorEl(o.name, o.error, errorPrefix),
    h(
      'div',
      { className: 'govuk-checkboxes', 'data-module': 'govuk-checkboxes' },
      h(
        'div',
        { className: 'govuk-checkboxes__item' },
        h('input', {
          className: 'govuk-checkboxes__input',
          id: o.name,
          name: o.name,
          type: 'checkbox',
          value: 'yes',
          checked: o.checked,
          'aria-describedby': describedBy(o.name, undefined, o.error),
        }),
        h('label', { className: 'govuk-label govuk-checkboxes__label', for: o.name }, o.label),
      ),
    ),
  )
}

export function button(text: string, attrs: Attrs = {}): HTMLButtonElement {
  return h(
    'button',
    { type: 'submit', className: 'govuk-button', 'data-module': 'govuk-button', ...attrs },
    text,
  )
}

/** The error summary: a titled list of links to the fields in error. Focused when shown. */
export function errorSummary(title: string, errors: Array<{ field?: string; text: string }>): HTMLElement {
  return h(
    'div',
    { className: 'govuk-error-summary', 'data-module': 'govuk-error-summary', tabindex: '-1' },
    h(
      'div',
      { role: 'alert' },
      h('h2', { className: 'govuk-error-summary__title' }, title),
      h(
        'div',
        { className: 'govuk-error-summary__body' },
        h(
          'ul',
          { className: 'govuk-list govuk-error-summary__list' },
          ...errors.map((e) => h('li', {}, e.field ? h('a', { href: `#${e.field}` }, e.text) : e.text)),
        ),
      ),
    ),
  )
}

export function banner(title: string, text: string, success = false): HTMLElement {
  return h(
    'div',
    {
      className: `govuk-notification-banner${success ? ' govuk-notification-banner--success' : ''}`,
      role: success ? 'alert' : 'region',
      'aria-labelledby': 'banner-title',
      'data-module': 'govuk-notification-banner',
    },
    h(
      'div',
      { className: 'govuk-notification-banner__header' },
      h('h2', { className: 'govuk-notification-banner__title', id: 'banner-title' }, title),
    ),
    h(
      'div',
      { className: 'govuk-notification-banner__content' },
      h('p', { className: 'govuk-notification-banner__heading app-break' }, text),
    ),
  )
}

export function summaryList(rows: Array<[string, Node | string]>): HTMLElement {
  return h(
    'dl',
    { className: 'govuk-summary-list' },
    ...rows.map(([key, value]) =>
      h(
        'div',
        { className: 'govuk-summary-list__row' },
        h('dt', { className: 'govuk-summary-list__key' }, key),
        h('dd', { className: 'govuk-summary-list__value app-break' }, value),
      ),
    ),
  )
}

export function tag(text: string, colour?: string): HTMLElement {
  return h('strong', { className: `govuk-tag${colour ? ` govuk-tag--${colour}` : ''}` }, text)
}

export function link(text: string, href: string, className = 'govuk-link'): HTMLAnchorElement {
  return h('a', { className, href }, text)
}

/** Reads a form's text fields. */
export function fields(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of new FormData(form)) if (typeof v === 'string') out[k] = v.trim()
  return out
}

/**
 * The consular console, first part: an officer signs in with their key file, sees the queue of
 * cases in one state (optionally their own nationals only), oldest first, opens a case and moves it
 * through the states an officer may (protocol's CASE_TRANSITIONS). Every read and record is signed
 * in the page with the officer's key and certificate.
 *
 * The officer's key is held in memory only, for this page's life: a reload signs out. An officer's
 * key file never goes to IndexedDB or any storage (docs/portal.md § The consular console).
 */
import {
  ALERT_SEVERITIES,
  CASE_STATES,
  CASE_TRANSITIONS,
  type CaseState,
  decodeCanonical,
  equalBytes,
  fromBase64url,
  fromHex,
  generateKeyPair,
  LegationClient,
  nobleEd25519,
  type OfficerCertificate,
  parseOfficerCertificate,
  toHex,
  toSubmission,
} from '@legation/protocol'
import {
  button,
  checkbox,
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
import { KeyFileError, openKeyFile } from './key-file.ts'
import { readEvents } from './live.ts'
import type { Page, PageContext } from './pages.ts'

interface Officer {
  keys: { publicKey: Uint8Array; secretKey: Uint8Array }
  cert: OfficerCertificate
}

let officer: Officer | null = null

function officerClient(ctx: PageContext, o: Officer): LegationClient {
  const node = ctx.bloc.current ?? ctx.bloc.lastKnown
  return new LegationClient({
    ed: nobleEd25519,
    bloc: o.cert.body.bloc,
    charter: node?.charter.hash ?? '',
    keys: o.keys,
    cert: o.cert,
  })
}

const bytesOf = (v: unknown): Uint8Array | null => {
  if (typeof v !== 'string') return null
  try {
    return /^[0-9a-f]{64}$/i.test(v) ? fromHex(v) : fromBase64url(v)
  } catch {
    return null
  }
}

/**
 * Reads an officer's key file: the bloc's key file format (key-file.ts; sealed files need the
 * passphrase), or a development node's dev-secrets.json (`officer` inside). Null when it holds
 * no officer key with a certificate of that key; KeyFileError for a wrong passphrase.
 */
export async function readOfficerKeyFile(text: string, passphrase: string): Promise<Officer | null> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof json !== 'object' || json === null) return null
  const top = json as Record<string, unknown>
  let secretKey: Uint8Array | null
  let certField: unknown
  if (top.v === 1) {
    const keys = await openKeyFile(top, passphrase)
    const names = Object.keys(keys)
    const name =
      typeof top.role === 'string' && names.includes(top.role)
        ? top.role
        : names.length === 1
          ? names[0]
          : undefined
    secretKey = name ? (keys[name] ?? null) : null
    certField = top.cert
  } else {
    const entry = (typeof top.officer === 'object' && top.officer !== null ? top.officer : top) as Record<
      string,
      unknown
    >
    secretKey = bytesOf(entry.secretKey)
    certField = entry.cert
  }
  const certBytes = bytesOf(certField)
  if (secretKey?.length !== 32 || !certBytes) return null
  try {
    const keys = generateKeyPair(nobleEd25519, secretKey)
    const cert = parseOfficerCertificate.parse(
      decodeCanonical(certBytes, 8192),
      'certificate',
    ) as OfficerCertificate
    if (!equalBytes(cert.body.officerKey, keys.publicKey)) return null
    return { keys, cert }
  } catch {
    return null
  }
}

/** `#/officer`: sign in with a key file, read in the browser and kept in memory only. */
export function officerSigninPage(ctx: PageContext): Page {
  const error = h('div', {})
  const fileInput = h('input', {
    className: 'govuk-file-upload',
    id: 'keyfile',
    name: 'keyfile',
    type: 'file',
    accept: 'application/json,.json',
    'aria-describedby': 'keyfile-hint',
  })
  const passphrase = h('input', {
    className: 'govuk-input govuk-input--width-20',
    id: 'passphrase',
    name: 'passphrase',
    type: 'password',
    autocomplete: 'current-password',
    spellcheck: 'false',
    'aria-describedby': 'passphrase-hint',
  })
  const go = button(t('officer.signin'), { type: 'button' })
  go.addEventListener('click', async () => {
    const fail = (field: string, text: string) => {
      error.replaceChildren(errorSummary(t('error.summary'), [{ field, text }]))
      error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
      go.disabled = false
    }
    const file = fileInput.files?.[0]
    if (!file) return fail('keyfile', t('error.keyfile'))
    go.disabled = true
    let o: Officer | null
    try {
      o = await readOfficerKeyFile(await file.text(), passphrase.value)
    } catch (err) {
      const locked = err instanceof KeyFileError && err.code === 'KEY_FILE_LOCKED'
      return locked ? fail('passphrase', t('error.passphrase')) : fail('keyfile', t('error.keyfile'))
    }
    passphrase.value = ''
    if (!o) return fail('keyfile', t('error.keyfile'))
    officer = o
    ctx.go('#/officer/cases', {
      title: t('banner.success'),
      text: t('officer.signedIn', { state: o.cert.body.state, roles: o.cert.body.roles.join(', ') }),
    })
  })
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      error,
      heading(t('officer.title')),
      p(t('officer.lead')),
      h(
        'div',
        { className: 'govuk-form-group' },
        h('label', { className: 'govuk-label', for: 'keyfile' }, t('officer.keyfile')),
        h('div', { className: 'govuk-hint', id: 'keyfile-hint' }, t('officer.keyfileHint')),
        fileInput,
      ),
      h(
        'div',
        { className: 'govuk-form-group' },
        h('label', { className: 'govuk-label', for: 'passphrase' }, t('officer.passphrase')),
        h('div', { className: 'govuk-hint', id: 'passphrase-hint' }, t('officer.passphraseHint')),
        passphrase,
      ),
      go,
    ),
  )
  return { title: t('officer.title'), content }
}

/** The console's own links, at the top of its pages. */
function officerNav(): HTMLElement {
  return h(
    'nav',
    { 'aria-label': t('officer.nav'), className: 'govuk-body' },
    link(t('nav.officerCases'), '#/officer/cases'),
    ' · ',
    link(t('nav.officerSearch'), '#/officer/search'),
    ' · ',
    link(t('nav.officerAlerts'), '#/officer/alerts'),
  )
}

function signedOut(): Page {
  return {
    title: t('officer.title'),
    content: h(
      'div',
      {},
      heading(t('officer.signedOut')),
      link(t('officer.signin'), '#/officer', 'govuk-button'),
    ),
  }
}

interface CaseRow {
  id: string
  citizen: string
  type: string
  state: string
  opened: number
  updated: number
  details?: string
  history: Array<{ from: string; to: string; at: number; by: string }>
}

/** `#/officer/cases?state=…&mine=1`: the queue of cases in one state, oldest first. */
export async function casesPage(ctx: PageContext, query: URLSearchParams): Promise<Page> {
  const o = officer
  if (!o) return signedOut()
  const state = (CASE_STATES as readonly string[]).includes(query.get('state') ?? '')
    ? query.get('state')!
    : 'submitted'
  const mine = query.get('mine') === 'yes'
  const path = `/v1/cases?state=${state}${mine ? `&nationality=${o.cert.body.state}` : ''}&limit=200`
  const c = officerClient(ctx, o)
  const res = await ctx.bloc.request<{ cases: CaseRow[] }>('GET', path, { sign: (r) => c.sign(r) })
  const form = h(
    'form',
    { method: 'get', action: '#/officer/cases', className: 'app-filter' },
    select(
      {
        name: 'state',
        label: t('officer.state'),
        value: state,
        options: CASE_STATES.map((s) => ({ value: s, text: t(`state.${s}`) })),
      },
      t('error.summary'),
    ),
    checkbox(
      { name: 'mine', label: t('officer.mine', { state: o.cert.body.state }), checked: mine },
      t('error.summary'),
    ),
    button(t('officer.filter'), { className: 'govuk-button govuk-button--secondary' }),
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const data = new FormData(form)
    ctx.go(`#/officer/cases?state=${data.get('state')}${data.get('mine') ? '&mine=yes' : ''}`)
  })
  const rows = res.status === 200 ? [...res.body.cases].sort((a, b) => a.opened - b.opened) : []
  const table = h(
    'table',
    { className: 'govuk-table' },
    h(
      'caption',
      { className: 'govuk-table__caption govuk-table__caption--m' },
      t('officer.queue', { state: t(`state.${state}` as MessageKey) }),
    ),
    h(
      'thead',
      { className: 'govuk-table__head' },
      h(
        'tr',
        { className: 'govuk-table__row' },
        ...[t('officer.opened'), t('officer.type'), t('account.id')].map((x) =>
          h('th', { scope: 'col', className: 'govuk-table__header' }, x),
        ),
      ),
    ),
    h(
      'tbody',
      { className: 'govuk-table__body' },
      ...rows.map((r) =>
        h(
          'tr',
          { className: 'govuk-table__row', 'data-case': r.id },
          h('td', { className: 'govuk-table__cell' }, formatDate(r.opened)),
          h(
            'td',
            { className: 'govuk-table__cell' },
            link(t(`case.${r.type}` as MessageKey), `#/officer/case/${r.id}`),
          ),
          h('td', { className: 'govuk-table__cell app-break' }, r.citizen),
        ),
      ),
    ),
  )
  const content = h(
    'div',
    {},
    officerNav(),
    heading(t('officer.casesTitle')),
    form,
    // A data table may scroll sideways on a phone (WCAG 1.4.10 exempts it); the page itself must not.
    rows.length
      ? h(
          'div',
          {
            className: 'app-table-scroll',
            role: 'region',
            'aria-label': t('officer.casesTitle'),
            tabindex: '0',
          },
          table,
        )
      : p(t('officer.none')),
  )
  return { title: t('officer.casesTitle'), content }
}

interface SearchHit {
  id: string
  nationality: string
  names: { given: string; family: string } | null
  travelDocument: { number: string } | null
  presence: { country: string; region: string | null } | null
}

/**
 * `#/officer/search?document=…` or `?name=…&nationality=…`: find citizens by their travel
 * document's number, or by the start of a name among one state's nationals (`GET /v1/citizens`,
 * purpose `consular-assistance`: each citizen shown is logged, and only those).
 */
export async function searchPage(ctx: PageContext, query: URLSearchParams): Promise<Page> {
  const o = officer
  if (!o) return signedOut()
  const document = (query.get('document') ?? '').trim().toUpperCase()
  const name = (query.get('name') ?? '').trim()
  const members = (ctx.bloc.current ?? ctx.bloc.lastKnown)?.charter.members ?? [o.cert.body.state]
  const nationality = members.includes(query.get('nationality') ?? '')
    ? query.get('nationality')!
    : o.cert.body.state
  const asked = query.has('document') || query.has('name')
  const errors: Array<{ field: string; text: string }> = []
  if (asked && document && !/^[A-Z0-9]{3,32}$/.test(document))
    errors.push({ field: 'document', text: t('search.errorDocument') })
  if (asked && !document && name.length < 2) errors.push({ field: 'name', text: t('search.errorName') })
  const errorOf = (f: string) => errors.find((e) => e.field === f)?.text
  const form = h(
    'form',
    { method: 'get', action: '#/officer/search', className: 'app-filter', novalidate: '' },
    input(
      {
        name: 'document',
        label: t('search.document'),
        hint: t('search.documentHint'),
        value: document,
        error: errorOf('document'),
        width: 'govuk-input--width-20',
        spellcheck: false,
      },
      t('error.summary'),
    ),
    input(
      {
        name: 'name',
        label: t('search.name'),
        hint: t('search.nameHint'),
        value: name,
        error: errorOf('name'),
        width: 'govuk-input--width-20',
        spellcheck: false,
      },
      t('error.summary'),
    ),
    select(
      {
        name: 'nationality',
        label: t('search.nationality'),
        value: nationality,
        options: members.map((m) => ({ value: m, text: m })),
      },
      t('error.summary'),
    ),
    button(t('search.button'), { className: 'govuk-button govuk-button--secondary' }),
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const data = fields(form)
    const q = new URLSearchParams(
      data.document
        ? { document: data.document }
        : { name: data.name ?? '', nationality: data.nationality ?? '' },
    )
    ctx.go(`#/officer/search?${q}`)
  })

  let results: HTMLElement | null = null
  let refused: string | null = null
  if (asked && errors.length === 0) {
    const q = document
      ? `travelDocument=${encodeURIComponent(document)}`
      : `nationality=${nationality}&name=${encodeURIComponent(name)}`
    const c = officerClient(ctx, o)
    const res = await ctx.bloc.request<{ citizens: SearchHit[]; code?: string }>(
      'GET',
      `/v1/citizens?${q}&limit=50&purpose=consular-assistance`,
      { sign: (r) => c.sign(r) },
    )
    if (res.status !== 200) refused = res.body?.code ?? String(res.status)
    else {
      const hits = res.body.citizens
      const cell = (x: Node | string, cls = '') => h('td', { className: `govuk-table__cell${cls}` }, x)
      results = hits.length
        ? h(
            'div',
            {
              className: 'app-table-scroll',
              role: 'region',
              'aria-label': t('search.results', { n: String(hits.length) }),
              tabindex: '0',
            },
            h(
              'table',
              { className: 'govuk-table', 'data-results': String(hits.length) },
              h(
                'caption',
                { className: 'govuk-table__caption govuk-table__caption--m' },
                t('search.results', { n: String(hits.length) }),
              ),
              h(
                'thead',
                { className: 'govuk-table__head' },
                h(
                  'tr',
                  { className: 'govuk-table__row' },
                  ...[
                    t('search.colName'),
                    t('search.nationality'),
                    t('search.document'),
                    t('search.colWhere'),
                  ].map((x) => h('th', { scope: 'col', className: 'govuk-table__header' }, x)),
                ),
              ),
              h(
                'tbody',
                { className: 'govuk-table__body' },
                ...hits.map((r) =>
                  h(
                    'tr',
                    { className: 'govuk-table__row', 'data-citizen': r.id },
                    cell(r.names ? `${r.names.given} ${r.names.family}` : r.id),
                    cell(r.nationality),
                    cell(r.travelDocument?.number ?? '—'),
                    cell(
                      r.presence
                        ? `${r.presence.region ? `${r.presence.region}, ` : ''}${r.presence.country}`
                        : '—',
                    ),
                  ),
                ),
              ),
            ),
          )
        : p(t('search.none'))
    }
  }
  const content = h(
    'div',
    {},
    officerNav(),
    ...(errors.length ? [errorSummary(t('error.summary'), errors)] : []),
    ...(refused ? [errorSummary(t('error.summary'), [{ text: t('error.refused', { code: refused }) }])] : []),
    heading(t('search.title')),
    p(t('search.body')),
    form,
    ...(results ? [results] : []),
  )
  return { title: t('search.title'), content }
}

/** `#/officer/case/{id}`: one case, its history, and the moves an officer may make from its state. */
export async function officerCasePage(ctx: PageContext, id: string): Promise<Page> {
  const o = officer
  if (!o) return signedOut()
  const c = officerClient(ctx, o)
  const res = await ctx.bloc.request<CaseRow>('GET', `/v1/cases/${id}?purpose=case-processing`, {
    sign: (r) => c.sign(r),
  })
  if (res.status !== 200)
    return { title: t('notFound.title'), content: h('div', {}, heading(t('notFound.title'))) }
  const k = res.body
  const error = h('div', {})
  const moves = Object.entries(CASE_TRANSITIONS)
    .filter(([edge, who]) => who.officer && edge.startsWith(`${k.state}>`))
    .map(([edge]) => edge.split('>')[1] as CaseState)
  const actions = moves.map((to) => {
    const b = button(t(`officer.move.${to}` as MessageKey), {
      type: 'button',
      className: to === 'rejected' ? 'govuk-button govuk-button--warning' : 'govuk-button',
    })
    b.addEventListener('click', async () => {
      b.disabled = true
      const move = officerClient(ctx, o).record(
        'case.transition',
        k.citizen,
        { case: k.id, from: k.state as CaseState, to },
        { salt: c.salt() },
      )
      const sent = await ctx.bloc
        .request<{ code?: string }>('POST', '/v1/records', { json: toSubmission(move) })
        .catch(() => null)
      if (sent && (sent.status === 200 || sent.status === 201)) {
        ctx.go(`#/officer/case/${k.id}`, {
          title: t('banner.success'),
          text: t('officer.moved', { state: t(`state.${to}` as MessageKey) }),
        })
        return
      }
      const code = sent ? (sent.body?.code ?? String(sent.status)) : 'NO_NODE'
      error.replaceChildren(errorSummary(t('error.summary'), [{ text: t('error.refused', { code }) }]))
      error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
      b.disabled = false
    })
    return b
  })
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      error,
      officerNav(),
      heading(t(`case.${k.type}` as MessageKey)),
      summaryList([
        [t('account.status'), tag(t(`state.${k.state}` as MessageKey))],
        [t('account.id'), k.citizen],
        [t('officer.opened'), formatDate(k.opened)],
        [t('apply.details'), k.details ?? '—'],
      ]),
      h('h2', { className: 'govuk-heading-m' }, t('officer.history')),
      h(
        'ol',
        { className: 'govuk-list govuk-list--number' },
        ...k.history.map((x) =>
          h(
            'li',
            {},
            `${formatDate(x.at)}: ${t(`state.${x.from}` as MessageKey)} → ${t(`state.${x.to}` as MessageKey)} (${x.by})`,
          ),
        ),
      ),
      h('div', { className: 'govuk-button-group' }, ...actions),
      attestSection(ctx, o, k, error),
      link(t('officer.back'), '#/officer/cases', 'govuk-link'),
    ),
  )
  return { title: t(`case.${k.type}` as MessageKey), content }
}

/**
 * Attest a document for this case: its SHA-256 is computed in the browser and only the hash is
 * signed and sent (`document.attested`); the document itself never leaves the officer's machine.
 */
function attestSection(ctx: PageContext, o: Officer, k: CaseRow, error: HTMLElement): HTMLElement {
  const file = h('input', {
    className: 'govuk-file-upload',
    id: 'document-file',
    name: 'document-file',
    type: 'file',
  })
  const docType = h('input', {
    className: 'govuk-input govuk-input--width-20',
    id: 'document-type',
    name: 'document-type',
    type: 'text',
  })
  const go = button(t('officer.attest'), {
    type: 'button',
    className: 'govuk-button govuk-button--secondary',
  })
  go.addEventListener('click', async () => {
    const chosen = file.files?.[0]
    const kind = docType.value.trim()
    const fail = (text: string, field?: string) => {
      error.replaceChildren(errorSummary(t('error.summary'), [{ text, ...(field ? { field } : {}) }]))
      error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
    }
    if (!chosen) return fail(t('error.document.file'), 'document-file')
    if (!kind || kind.length > 64) return fail(t('error.document.type'), 'document-type')
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await chosen.arrayBuffer()))
    const c = officerClient(ctx, o)
    const built = c.record(
      'document.attested',
      k.citizen,
      { documentHash: digest, documentType: kind, case: k.id },
      { salt: c.salt() },
    )
    const sent = await ctx.bloc
      .request<{ code?: string }>('POST', '/v1/records', { json: toSubmission(built) })
      .catch(() => null)
    if (sent && (sent.status === 200 || sent.status === 201)) {
      ctx.go(`#/officer/case/${k.id}`, {
        title: t('banner.success'),
        text: t('officer.attested', { hash: toHex(digest) }),
      })
      return
    }
    fail(t('error.refused', { code: sent ? (sent.body?.code ?? String(sent.status)) : 'NO_NODE' }))
  })
  return h(
    'section',
    { 'aria-labelledby': 'attest-title' },
    h('h2', { className: 'govuk-heading-m', id: 'attest-title' }, t('officer.attestTitle')),
    p(t('officer.attestLead')),
    h(
      'div',
      { className: 'govuk-form-group' },
      h('label', { className: 'govuk-label', for: 'document-file' }, t('officer.attestFile')),
      file,
    ),
    h(
      'div',
      { className: 'govuk-form-group' },
      h('label', { className: 'govuk-label', for: 'document-type' }, t('officer.attestType')),
      docType,
    ),
    go,
  )
}

interface AlertRow {
  id: string
  country: string
  region: string | null
  severity: string
  title: string
  issuedAt: number
}

/** `#/officer/alerts`: the bloc's crisis alerts, each with its dashboard, and a form to issue one. */
export async function officerAlertsPage(ctx: PageContext): Promise<Page> {
  const o = officer
  if (!o) return signedOut()
  const res = await ctx.bloc.request<{ alerts: AlertRow[] }>('GET', '/v1/alerts')
  const alerts = res.status === 200 ? res.body.alerts : []
  const error = h('div', {})
  const form = h(
    'form',
    { method: 'post', novalidate: true },
    h('h2', { className: 'govuk-heading-m' }, t('officer.issue')),
    input(
      { name: 'country', label: t('presence.country'), hint: t('presence.countryHint'), width: '2' },
      t('error.summary'),
    ),
    input({ name: 'region', label: t('officer.alertRegion') }, t('error.summary')),
    radios(
      {
        name: 'severity',
        label: t('officer.severity'),
        legendSize: 's',
        value: 'warning',
        options: ALERT_SEVERITIES.map((x) => ({ value: x, text: t(`severity.${x}`) })),
      },
      t('error.summary'),
    ),
    input({ name: 'title', label: t('officer.alertTitle') }, t('error.summary')),
    textarea({ name: 'message', label: t('officer.alertMessage') }, t('error.summary')),
    button(t('officer.issueButton')),
  )
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault()
    const v = fields(form)
    const country = (v.country ?? '').toUpperCase()
    const problems: Array<{ field: string; text: string }> = []
    if (!/^[A-Z]{2}$/.test(country)) problems.push({ field: 'country', text: t('error.country') })
    if (!v.title)
      problems.push({
        field: 'title',
        text: t('error.required', { field: t('officer.alertTitle').toLowerCase() }),
      })
    if (!v.message)
      problems.push({
        field: 'message',
        text: t('error.required', { field: t('officer.alertMessage').toLowerCase() }),
      })
    const fail = (errs: Array<{ field?: string; text: string }>) => {
      error.replaceChildren(errorSummary(t('error.summary'), errs))
      error.querySelector<HTMLElement>('.govuk-error-summary')?.focus()
    }
    if (problems.length) return fail(problems)
    const built = officerClient(ctx, o).record('alert.issued', null, {
      country,
      region: v.region ? v.region : null,
      severity: (v.severity ?? 'warning') as (typeof ALERT_SEVERITIES)[number],
      title: v.title!,
      message: v.message!,
    })
    const sent = await ctx.bloc
      .request<{ code?: string }>('POST', '/v1/records', { json: toSubmission(built) })
      .catch(() => null)
    if (sent && (sent.status === 200 || sent.status === 201)) {
      ctx.go(`#/officer/alert/${built.id}`, { title: t('banner.success'), text: t('officer.issued') })
      return
    }
    fail([
      { text: t('error.refused', { code: sent ? (sent.body?.code ?? String(sent.status)) : 'NO_NODE' }) },
    ])
  })
  const list = h(
    'ul',
    { className: 'govuk-list' },
    ...alerts.map((a) =>
      h(
        'li',
        {},
        link(`${a.title} (${a.region ? `${a.region}, ` : ''}${a.country})`, `#/officer/alert/${a.id}`),
        ` — ${t(`severity.${a.severity}` as MessageKey)}, ${formatDate(a.issuedAt)}`,
      ),
    ),
  )
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      error,
      officerNav(),
      heading(t('officer.alertsTitle')),
      alerts.length ? list : p(t('officer.noAlerts')),
      form,
    ),
  )
  return { title: t('officer.alertsTitle'), content }
}

interface Welfare {
  counts: { safe: number; needsHelp: number; notHeard: number }
  safe: string[]
  needsHelp: string[]
  notHeard: string[]
}

/** How often the crisis dashboard asks the node again while its live stream is down, in ms. */
const DASHBOARD_REFRESH_MS = 3000
/** How long the dashboard waits before it opens the live stream again after it ended, in ms. */
const STREAM_RETRY_MS = 10_000

/**
 * `#/officer/alert/{id}`: the crisis dashboard of one alert — who is safe, needs help, or has not
 * been heard from. It follows the node's live stream (`GET /v1/alerts/{id}/welfare/events`,
 * server-sent events pushed as check-ins replicate to that node); while the stream is down it
 * asks again every few seconds, and tries the stream again.
 */
export async function dashboardPage(ctx: PageContext, id: string): Promise<Page> {
  const o = officer
  if (!o) return signedOut()
  const c = officerClient(ctx, o)
  const alert = await ctx.bloc.request<AlertRow>('GET', `/v1/alerts/${id}`)
  if (alert.status !== 200)
    return { title: t('notFound.title'), content: h('div', {}, heading(t('notFound.title'))) }
  const board = h('div', { 'aria-live': 'polite', id: 'welfare-board' })
  const mode = h('p', { className: 'govuk-body', id: 'dashboard-mode' })
  const setMode = (m: 'live' | 'polling') => {
    if (mode.dataset.mode === m) return
    mode.dataset.mode = m
    mode.replaceChildren(
      tag(t(m === 'live' ? 'officer.modeLive' : 'officer.modePolling'), m === 'live' ? 'green' : 'grey'),
      ' ',
      t(m === 'live' ? 'officer.live' : 'officer.polling'),
    )
  }
  setMode('polling')
  const show = (w: Welfare) => {
    board.replaceChildren(
      summaryList([
        [t('officer.safe'), h('span', { 'data-count': 'safe' }, String(w.counts.safe))],
        [t('officer.needsHelp'), h('span', { 'data-count': 'needsHelp' }, String(w.counts.needsHelp))],
        [t('officer.notHeard'), h('span', { 'data-count': 'notHeard' }, String(w.counts.notHeard))],
      ]),
      ...(w.needsHelp.length
        ? [
            h('h2', { className: 'govuk-heading-s' }, t('officer.needsHelp')),
            h('ul', { className: 'govuk-list app-break' }, ...w.needsHelp.map((x) => h('li', {}, x))),
          ]
        : []),
    )
  }
  const load = async () => {
    const res = await ctx.bloc
      .request<Welfare>('GET', `/v1/alerts/${id}/welfare?purpose=crisis-response`, { sign: (r) => c.sign(r) })
      .catch(() => null)
    if (res?.status === 200) show(res.body)
  }
  await load()

  const route = `#/officer/alert/${id}`
  const left = new AbortController()
  const shown = () => location.hash === route && board.isConnected
  let live = false
  let nextStream = 0
  const follow = async () => {
    const node = ctx.bloc.current ?? (await ctx.bloc.connect().catch(() => null))
    if (!node) return
    const path = `/v1/alerts/${id}/welfare/events?purpose=crisis-response`
    await readEvents(
      `${node.url}${path}`,
      c.sign({ method: 'GET', path }),
      left.signal,
      () => {
        live = true
        setMode('live')
      },
      (name, data) => {
        if (name === 'board') show(JSON.parse(data) as Welfare)
      },
    )
    live = false
    nextStream = Date.now() + STREAM_RETRY_MS
    if (!left.signal.aborted) {
      setMode('polling')
      void load()
    }
  }
  nextStream = Number.POSITIVE_INFINITY // until this attempt ends
  void follow()
  window.addEventListener('hashchange', () => location.hash !== route && left.abort(), {
    signal: left.signal,
  })
  const timer = setInterval(() => {
    if (!shown()) {
      clearInterval(timer)
      left.abort()
    } else if (!live) {
      if (Date.now() >= nextStream) {
        nextStream = Number.POSITIVE_INFINITY // until this attempt ends
        void follow()
      } else void load()
    }
  }, DASHBOARD_REFRESH_MS)
  const a = alert.body
  const content = h(
    'div',
    { className: 'govuk-grid-row' },
    h(
      'div',
      { className: 'govuk-grid-column-two-thirds' },
      heading(a.title),
      p(
        `${t(`severity.${a.severity}` as MessageKey)} — ${a.region ? `${a.region}, ` : ''}${a.country} — ${formatDate(a.issuedAt)}`,
      ),
      mode,
      board,
      link(t('officer.backAlerts'), '#/officer/alerts', 'govuk-link'),
    ),
  )
  return { title: a.title, content }
}

/**
 * The citizen's own pages once enrolled: their applications and their status, the passkey that
 * keeps their key, signing in with it on a fresh browser, and the receipts of their records.
 */
import { generateKeyPair, LegationClient, nobleEd25519, toHex } from '@legation/protocol'
import type { Signer } from './bloc.ts'
import { button, errorSummary, h, heading, p, summaryList, tag } from './dom.ts'
import { formatDate, type MessageKey, t } from './i18n.ts'
import { type CitizenFile, client, enrolled, type Page, type PageContext, STATE_COLOURS } from './pages.ts'
import { createPasskey, PasskeyError, recoverWithPasskey } from './passkey.ts'
import { checkReceipt, keptReceipt, qrCode, receiptText } from './receipts.ts'
import { type Enrolment, saveEnrolment } from './wallet.ts'

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
    col.append(refreshBtn, await accessSection(ctx, e.id, (r) => c.sign(r)), passkeySection(ctx, e, f))
    return { title: t('account.title'), content: h('div', { className: 'govuk-grid-row' }, col) }
  })
}

interface AccessRead {
  at: number
  officer: string
  state: string
  purpose: string
  shown: string
}

/** Who read the citizen's personal data, when and why: the node's signed access log. */
async function accessSection(ctx: PageContext, id: string, sign: Signer): Promise<HTMLElement> {
  const section = h(
    'section',
    { className: 'app-access-log', 'aria-labelledby': 'access-title' },
    h('h2', { className: 'govuk-heading-m', id: 'access-title' }, t('access.title')),
    p(t('access.body')),
  )
  const res = await ctx.bloc.request<{ reads: AccessRead[] }>('GET', `/v1/citizens/${id}/access-log`, {
    sign,
  })
  const reads = res.status === 200 ? [...res.body.reads].sort((a, b) => b.at - a.at) : []
  if (reads.length === 0) {
    section.append(p(t('access.none')))
    return section
  }
  const cell = (text: string, tagName: 'td' | 'th' = 'td') =>
    h(tagName, { className: `govuk-table__${tagName === 'td' ? 'cell' : 'header'}` }, text)
  section.append(
    h(
      'table',
      { className: 'govuk-table' },
      h(
        'thead',
        { className: 'govuk-table__head' },
        h(
          'tr',
          { className: 'govuk-table__row' },
          ...[t('access.when'), t('access.who'), t('access.purpose'), t('access.shown')].map((x) =>
            cell(x, 'th'),
          ),
        ),
      ),
      h(
        'tbody',
        { className: 'govuk-table__body' },
        ...reads.map((r) =>
          h(
            'tr',
            { className: 'govuk-table__row', 'data-purpose': r.purpose },
            cell(formatDate(r.at)),
            cell(t('access.whoValue', { state: r.state, officer: r.officer.slice(0, 8) })),
            cell(t(`access.purpose.${r.purpose}` as MessageKey)),
            cell(t(`access.shown.${r.shown}` as MessageKey)),
          ),
        ),
      ),
    ),
  )
  return section
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

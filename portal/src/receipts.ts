/**
 * The receipts nodes gave for the citizen's records, kept in this browser, shown as a printable
 * page with a QR code. A receipt is a node's signature over where it stored the record (its feed,
 * position and entry hash: api.md § Receipts); anyone with the bloc's charter can check it
 * offline (`verifyReceipt`), which the page does against the charter a node serves.
 */
import {
  type CharterView,
  decodeCanonical,
  fromBase64url,
  fromHex,
  nobleEd25519,
  verifyCharterChain,
  verifyReceipt,
} from '@legation/protocol'
import { type DBSchema, openDB } from 'idb'
import { encode } from 'uqr'

export interface Receipt {
  record: string
  node: string
  origin: string
  seq: number
  entry: string
  sig: string
}

export interface KeptReceipt {
  receipt: Receipt
  /** What the record was, for the page (e.g. `case.emergency-travel-document`). */
  label: string
  at: number
}

interface ReceiptDb extends DBSchema {
  receipts: { key: string; value: KeptReceipt }
}

const db = () =>
  openDB<ReceiptDb>('legation-receipts', 1, {
    upgrade(d) {
      d.createObjectStore('receipts', { keyPath: 'receipt.record' })
    },
  })

export async function keepReceipt(r: KeptReceipt): Promise<void> {
  const d = await db()
  try {
    await d.put('receipts', r)
  } finally {
    d.close()
  }
}

export async function keptReceipt(recordId: string): Promise<KeptReceipt | undefined> {
  const d = await db()
  try {
    return await d.get('receipts', recordId)
  } finally {
    d.close()
  }
}

/**
 * The node that signed the receipt, if its signature verifies under the charter chain given,
 * which must be the chain of the bloc the citizen enrolled in (its genesis hash).
 */
export function checkReceipt(
  r: Receipt,
  chain: string,
  bloc: string,
): { name: string; state: string } | null {
  let views: CharterView[]
  try {
    views = verifyCharterChain(nobleEd25519, decodeCanonical(fromBase64url(chain)) as never)
  } catch {
    return null
  }
  if (views[0]?.bloc !== bloc) return null
  for (const view of [...views].reverse()) {
    const node = view.nodes.get(r.node)
    if (!node) continue
    const body = { node: r.node, origin: r.origin, seq: r.seq, entry: fromHex(r.entry) }
    const ok = verifyReceipt(nobleEd25519, { body, sig: fromBase64url(r.sig) }, node.nodeKey)
    return ok ? { name: node.name, state: node.state } : null
  }
  return null
}

/** What the QR code carries: the receipt itself, as compact JSON. */
export function receiptText(r: Receipt): string {
  return JSON.stringify({ v: 1, ...r })
}

/** The QR code of `text` as an SVG image built with DOM calls (one path, no inline style). */
export function qrCode(text: string, label: string): SVGSVGElement {
  const { data, size } = encode(text, { ecc: 'M', border: 2 })
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`)
  svg.setAttribute('width', String(size * 4))
  svg.setAttribute('height', String(size * 4))
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', label)
  svg.setAttribute('shape-rendering', 'crispEdges')
  const bg = document.createElementNS(ns, 'rect')
  bg.setAttribute('width', String(size))
  bg.setAttribute('height', String(size))
  bg.setAttribute('fill', '#ffffff')
  const path = document.createElementNS(ns, 'path')
  let d = ''
  data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`
    })
  })
  path.setAttribute('d', d)
  path.setAttribute('fill', '#0b0c0c')
  svg.append(bg, path)
  return svg
}

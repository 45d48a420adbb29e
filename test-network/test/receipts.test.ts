/**
 * Citizen receipts that prove inclusion (real processes): a citizen fetches a receipt for their
 * registration from the node that took it, and it verifies offline with nothing but the charter
 * — bloc-final once the other states' nodes cosigned the checkpoint. Receipts of the same record
 * from the other nodes verify too, and agree with the first (one feed, one history). A receipt
 * holds none of the citizen's personal data, and one tampered with does not verify.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  decodeCanonical,
  encodeCanonical,
  fromBase64url,
  type InclusionReceiptJson,
  LegationClient,
  toBase64url,
  toSubmission,
  verifyCharterChain,
  verifyInclusionReceipt,
  verifyReceiptsAgree,
} from '@legation/protocol'
import { nativeEd25519 as ed } from '@legation/protocol/native-crypto'
import { afterEach, expect, it } from 'vitest'
import { legation } from '../src/admin.ts'
import { eventually } from '../src/byzantine.ts'
import { TestNetwork, type TestNode } from '../src/network.ts'
import { citizenRegistration, submitBatch } from '../src/workload.ts'

let net: TestNetwork | undefined
afterEach(async () => {
  await net?.stop()
  net = undefined
})

it('a receipt from one node verifies offline with the charter alone, and agrees with every other node’s', {
  timeout: 120_000,
}, async () => {
  net = await TestNetwork.start({ nodes: 3 })
  const [a, b, c] = net.nodes as [TestNode, TestNode, TestNode]
  const officer = net.officer('DVA')
  const reg = citizenRegistration(officer, 'DVB')
  expect((await a.post('/v1/records', toSubmission(reg))).status).toBe(201)
  const citizen = new LegationClient({ ed, bloc: net.bloc, charter: net.charterHash, keys: reg.keys })
  const charters = verifyCharterChain(ed, net.chain)
  const receiptAt = async (n: TestNode, from?: number) => {
    const path = `/v1/records/${reg.id}/receipt${from ? `?from=${from}` : ''}`
    return eventually(
      `a bloc-final receipt from node ${n.index}`,
      async () => {
        const res = await fetch(`${n.url}${path}`, { headers: citizen.sign({ method: 'GET', path }) })
        if (res.status !== 200) return undefined
        const receipt = (await res.json()) as InclusionReceiptJson
        const verdict = verifyInclusionReceipt(ed, receipt, charters)
        return verdict.final && (!from || verdict.size > from) ? { receipt, verdict } : undefined
      },
      30_000,
    )
  }

  const first = await receiptAt(a)
  expect(first.verdict).toMatchObject({ record: reg.id, origin: a.nodeId, seq: 1, final: true })
  expect(first.verdict.states.length).toBeGreaterThanOrEqual(2)
  // Nothing personal: not the names, the passport or the e-mail the registration's payload holds.
  const json = JSON.stringify(first.receipt)
  const personal = decodeCanonical(reg.payload!) as {
    names: { given: string; family: string }
    travelDocument: { number: string }
    contact: { email: string }
  }
  for (const value of [
    personal.names.given,
    personal.names.family,
    personal.travelDocument.number,
    personal.contact.email,
  ]) {
    expect(json).not.toContain(value)
  }

  // The feed grows; the other nodes' receipts of the same record prove it in their later
  // checkpoints, consistent with the first one.
  await submitBatch(
    a,
    Array.from({ length: 5 }, () => citizenRegistration(officer, 'DVC')),
  )
  let last = first
  for (const n of [b, c]) {
    const later = await receiptAt(n, first.verdict.size)
    last = later
    expect(later.verdict.attestedBy).toBe(n.nodeId)
    expect(() => verifyReceiptsAgree(first, later)).not.toThrow()
  }

  // The same, as a citizen would with the command line: the receipt and the charter, nothing else.
  const file = (name: string, value: unknown) => {
    const path = join(net!.dir, name)
    writeFileSync(path, JSON.stringify(value))
    return path
  }
  const firstFile = file('receipt-0.json', first.receipt)
  const lastFile = file('receipt-2.json', last.receipt)
  const ok = await legation([
    'receipt',
    'verify',
    firstFile,
    '--charter',
    net.charterFile,
    '--against',
    lastFile,
    '--require-final',
  ])
  expect(ok.stderr).toBe('')
  expect(ok.code).toBe(0)
  expect(ok.stdout).toContain(`valid receipt of record ${reg.id}`)
  expect(ok.stdout).toContain('bloc-final: cosigned by nodes of')

  // Tampered: a proof hash flipped, or the placement moved to another record.
  // (A later checkpoint holds more than this entry: its proof has at least one hash.)
  const path = last.receipt.proof.path.map(fromBase64url)
  expect(path.length).toBeGreaterThan(0)
  path[0]![0] = path[0]![0]! ^ 1
  const flipped = { ...last.receipt, proof: { ...last.receipt.proof, path: path.map(toBase64url) } }
  expect(() => verifyInclusionReceipt(ed, flipped, charters)).toThrow(
    expect.objectContaining({ code: 'RECEIPT_INVALID' }),
  )
  const bad = await legation([
    'receipt',
    'verify',
    file('flipped.json', flipped),
    '--charter',
    net.charterFile,
  ])
  expect(bad.code).toBe(3)
  expect(bad.stderr).toContain('[RECEIPT_INVALID]')
  const other = citizenRegistration(officer, 'DVB')
  const swapped = { ...first.receipt, record: toBase64url(encodeCanonical(other.record)) }
  expect(() => verifyInclusionReceipt(ed, swapped, charters)).toThrow(
    expect.objectContaining({ code: 'RECEIPT_INVALID' }),
  )
})

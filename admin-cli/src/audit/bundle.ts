/**
 * Evidence bundles: what an audit found, with the signed material that shows it, in one JSON
 * file that anyone holding the bloc's charter can check offline (`legation audit verify-bundle`).
 *
 *   { "type": "legation-evidence-bundle", "v": 1, "bloc", "createdAt",
 *     "charter": "<base64url canonical CBOR of the charter chain the audit worked under>",
 *     "report": { …the audit's report… },
 *     "findings": [{ "finding": { kind, node, source, nodes, feed, seq, record?, detail },
 *                    "proof": { "entries"?: [b64url], "revocations"?: [b64url],
 *                               "checkpoints"?: [signed note], "feed"?: { origin, entries: [b64url] } } }] }
 *
 * Checking a finding re-runs the audit's own checks on the material alone. A finding is
 * `proven` when material signed by the party at fault shows it (an entry its origin signed that
 * carries a record signed after its officer's revocation; two entries the origin signed for one
 * place; a checkpoint its node signed that its own signed entries contradict), `shown` when the
 * material shows it but no signature ties it to a party (bytes that do not verify), `observed`
 * when the material cannot show it (a root a node said but did not sign), and `unproven` when
 * the material contradicts it — the bundle is wrong.
 */
import {
  auditCharter,
  BoundedSet,
  type CharterView,
  type CheckedEntry,
  checkEntry,
  decodeCanonical,
  type Ed25519,
  encodeCanonical,
  entryCharter,
  entryHash,
  equalBytes,
  type FeedAuditContext,
  FeedChain,
  fromBase64url,
  isEquivocation,
  openWitnessed,
  parseRevocation,
  type Revocation,
  revocationFault,
  revocationIndex,
  type SignedCharter,
  toBase64url,
  toHex,
} from '@legation/protocol'
import { CliError } from '../errors.ts'
import { openCheckpoint } from './checkpoints.ts'
import type { AuditReport, Finding, FoundWithMaterial } from './report.ts'
import type { AuditedNode } from './sources.ts'

export const BUNDLE_TYPE = 'legation-evidence-bundle'

export interface BundleProof {
  readonly entries?: readonly string[]
  readonly revocations?: readonly string[]
  readonly checkpoints?: readonly string[]
  readonly feed?: { readonly origin: string; readonly entries: readonly string[] }
}

export interface Bundle {
  readonly type: typeof BUNDLE_TYPE
  readonly v: 1
  readonly bloc: string
  readonly createdAt: string
  readonly charter: string
  readonly report: AuditReport
  readonly findings: ReadonlyArray<{ readonly finding: Finding; readonly proof: BundleProof | null }>
}

/**
 * Builds a bundle from an audit's findings. The entries of a whole feed a finding rests on (a
 * checkpoint contradicted by its entries) are fetched now from the node that served them.
 */
export async function buildBundle(
  report: AuditReport,
  found: readonly FoundWithMaterial[],
  chain: readonly SignedCharter[],
  nodes: ReadonlyMap<string, AuditedNode>,
  now: () => number,
): Promise<Bundle> {
  const findings = []
  for (const { finding, material } of found) {
    if (!material) {
      findings.push({ finding, proof: null })
      continue
    }
    let feed: BundleProof['feed'] = material.feedEntries && {
      origin: material.feedEntries.origin,
      entries: material.feedEntries.entries.map(toBase64url),
    }
    if (material.feed) {
      const node = nodes.get(material.feed.source)
      if (node)
        feed = {
          origin: material.feed.origin,
          entries: await fetchFeed(node, material.feed.origin, material.feed.size),
        }
    }
    findings.push({
      finding,
      proof: {
        ...(material.entries ? { entries: material.entries.map(toBase64url) } : {}),
        ...(material.revocations
          ? { revocations: material.revocations.map((r) => toBase64url(encodeCanonical(r))) }
          : {}),
        ...(material.checkpoints ? { checkpoints: [...material.checkpoints] } : {}),
        ...(feed ? { feed } : {}),
      },
    })
  }
  return {
    type: BUNDLE_TYPE,
    v: 1,
    bloc: report.bloc,
    createdAt: new Date(now()).toISOString(),
    charter: toBase64url(encodeCanonical(chain)),
    report,
    findings,
  }
}

async function fetchFeed(node: AuditedNode, origin: string, size: number): Promise<string[]> {
  const out: string[] = []
  while (out.length < size) {
    const page = await node.entries(origin, out.length, Math.min(1000, size - out.length))
    if (page.length === 0) break
    out.push(...page.map(toBase64url))
  }
  return out
}

export type Verdict = 'proven' | 'shown' | 'observed' | 'unproven'

export interface CheckedFinding {
  readonly finding: Finding
  readonly verdict: Verdict
  readonly why: string
}

/** Parses a bundle file's JSON; every failure is BUNDLE_INVALID. */
export function parseBundle(text: string, path: string): Bundle {
  let b: Bundle
  try {
    b = JSON.parse(text) as Bundle
  } catch (cause) {
    throw new CliError('BUNDLE_INVALID', `${path} is not JSON`, { cause })
  }
  if (b?.type !== BUNDLE_TYPE || b.v !== 1 || !Array.isArray(b.findings) || typeof b.charter !== 'string') {
    throw new CliError('BUNDLE_INVALID', `${path} is not a Legation evidence bundle`)
  }
  return b
}

/**
 * Checks every finding of a bundle against its material, under the auditor's charter (extended
 * by the bundle's chain only where each amendment carries its quorum).
 */
export function verifyBundle(
  ed: Ed25519,
  trusted: readonly SignedCharter[],
  bundle: Bundle,
): CheckedFinding[] {
  let offered: SignedCharter[]
  try {
    offered = decodeCanonical(fromBase64url(bundle.charter), 64 * 1024 * 1024) as SignedCharter[]
  } catch (cause) {
    throw new CliError('BUNDLE_INVALID', 'the bundle’s charter chain does not decode', { cause })
  }
  let charters: readonly CharterView[]
  try {
    charters = auditCharter(ed, trusted, Array.isArray(offered) ? offered : []).views
  } catch (cause) {
    throw new CliError('BLOC_MISMATCH', 'the bundle is of another bloc than the charter', { cause })
  }
  const bloc = charters[0]!.bloc
  return bundle.findings.map(({ finding, proof }) => {
    try {
      const [verdict, why] = judge(ed, bloc, charters, finding, proof)
      return { finding, verdict, why }
    } catch (err) {
      return {
        finding,
        verdict: 'unproven' as const,
        why: `its material is malformed: ${err instanceof Error ? err.message : String(err)}`,
      }
    }
  })
}

function judge(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  f: Finding,
  proof: BundleProof | null,
): [Verdict, string] {
  const entries = (proof?.entries ?? []).map(fromBase64url)
  const revocations = (proof?.revocations ?? []).map(
    (r) => parseRevocation.parse(decodeCanonical(fromBase64url(r), 2048), 'revocation') as Revocation,
  )
  const index = revocationIndex(ed, bloc, charters, revocations)
  const ctx: FeedAuditContext = {
    ed,
    bloc,
    charters,
    revocation: index.revocation,
    verifiedCerts: new BoundedSet(),
  }
  const check = (bytes: Uint8Array) => checkEntry(ctx, bytes)
  switch (f.kind) {
    case 'entry-undecodable':
    case 'entry-signature':
    case 'entry-charter-unknown': {
      if (entries.length === 0) return ['observed', 'no entry given']
      const c = check(entries.at(-1)!)
      if (c.faults.some((x) => x.kind === f.kind)) return ['shown', 'the entry as served does not verify']
      return ['unproven', 'the entry given verifies']
    }
    case 'record-invalid':
    case 'record-revoked': {
      if (entries.length === 0) return ['observed', 'no entry given']
      const c = check(entries.at(-1)!)
      if (!c.signed) return ['observed', 'the entry carrying the record is not signed by its origin']
      if (c.faults.some((x) => x.kind === f.kind && x.record === f.record)) {
        return [
          'proven',
          `its origin signed an entry carrying record ${f.record}, which fails: ${AUDIT_WHY[f.kind]}`,
        ]
      }
      return ['unproven', 'the record in the entry given passes']
    }
    case 'entry-out-of-place':
    case 'chain-broken':
    case 'clock-not-increasing':
    case 'charter-went-back': {
      if (entries.length < 2) return ['observed', 'no earlier entry given']
      const [a, b] = [check(entries[0]!), check(entries[1]!)]
      if (!a.signed || !b.signed) return ['observed', 'the entries given are not both signed by their origin']
      if (pairFaults(charters, a, b).includes(f.kind))
        return ['proven', 'two entries signed by the origin, one after the other, show it']
      return ['unproven', 'the two entries given follow each other']
    }
    case 'equivocation':
    case 'nodes-disagree': {
      if (entries.length < 2) return ['observed', 'two entries are needed to show it']
      const [a, b] = [check(entries[0]!), check(entries[1]!)]
      if (a.signed && b.signed && a.entry && b.entry && isEquivocation(a.entry, b.entry)) {
        return ['proven', `its origin signed two different entries for ${a.entry.body.seq}`]
      }
      if (f.kind === 'nodes-disagree' && !equalBytes(entries[0]!, entries[1]!)) {
        return ['shown', 'the two nodes’ entries differ (not both signed by the origin)']
      }
      return ['unproven', 'the entries given are not two different signed entries of one place']
    }
    case 'revocation-invalid': {
      const r = revocations[0]
      if (!r) return ['observed', 'no revocation given']
      const why = revocationFault(ed, bloc, charters, r)
      return why ? ['shown', why] : ['unproven', 'the revocation given verifies']
    }
    case 'checkpoint-invalid': {
      const note = proof?.checkpoints?.[0]
      if (note === undefined || !f.feed) return ['observed', 'no checkpoint given']
      const opened = openWitnessed(ed, bloc, charters, f.feed, note)
      return typeof opened === 'string' ? ['shown', opened] : ['unproven', 'the checkpoint verifies']
    }
    case 'cosignature-quorum': {
      const note = proof?.checkpoints?.[0]
      if (note === undefined || !f.feed) return ['observed', 'no checkpoint given']
      const tree = openWitnessed(ed, bloc, charters, f.feed, note)
      if (typeof tree === 'string') return ['unproven', tree]
      if (tree.final)
        return ['unproven', `its cosigners’ states (${tree.states.join(', ')}) reach the quorum`]
      return ['shown', `cosigned by nodes of ${tree.states.join(', ') || 'no state'}: fewer than the quorum`]
    }
    case 'root-mismatch':
      return judgeCheckpointAgainstEntries(ed, bloc, charters, ctx, f, proof)
    case 'checkpoint-inconsistent':
      return judgeInconsistent(ed, bloc, charters, ctx, f, proof)
    default:
      return ['observed', 'what the audit saw; nothing signed shows it']
  }
}

const AUDIT_WHY: Partial<Record<Finding['kind'], string>> = {
  'record-invalid': 'it does not verify',
  'record-revoked':
    'its officer’s certificate was revoked, by a revocation its state signed, before the record’s time',
}

/** Faults between an entry and the next one of the same feed, both signed by their origin. */
function pairFaults(charters: readonly CharterView[], a: CheckedEntry, b: CheckedEntry): string[] {
  const [x, y] = [a.entry!.body, b.entry!.body]
  const out: string[] = []
  if (x.origin !== y.origin || y.seq !== x.seq + 1) out.push('entry-out-of-place')
  if (y.prev === null || !equalBytes(y.prev, entryHash(x))) out.push('chain-broken')
  if (y.hlc[0] < x.hlc[0] || (y.hlc[0] === x.hlc[0] && y.hlc[1] <= x.hlc[1])) out.push('clock-not-increasing')
  const [ix, iy] = [entryCharter(x, charters)?.index, entryCharter(y, charters)?.index]
  if (ix !== undefined && iy !== undefined && iy < ix) out.push('charter-went-back')
  return out
}

/**
 * The tree of a feed's entries 1..n, each signed by the origin at its place, or why they show
 * nothing. They need not chain: entries the origin signed are its word whatever they name, so a
 * root they give that its checkpoint does not is the origin's own contradiction.
 */
function rootOfFeed(
  ctx: FeedAuditContext,
  origin: string,
  entries: readonly string[],
  sizes: number[],
): FeedChain | string {
  const chain = new FeedChain(origin, ctx.charters, sizes)
  for (const [i, e] of entries.entries()) {
    const c = checkEntry(ctx, fromBase64url(e))
    const misplaced = chain.next(c).some((x) => x.kind === 'entry-out-of-place')
    if (!c.signed || misplaced)
      return `entry ${i + 1} of the feed given is not signed by its origin at that place`
  }
  return chain
}

function judgeCheckpointAgainstEntries(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  ctx: FeedAuditContext,
  f: Finding,
  proof: BundleProof | null,
): [Verdict, string] {
  const note = proof?.checkpoints?.[0]
  if (note === undefined || !proof?.feed || !f.feed) return ['observed', 'a root the node said, not signed']
  const cp = openWitnessed(ed, bloc, charters, f.feed, note)
  if (typeof cp === 'string') return ['unproven', cp]
  if (proof.feed.entries.length !== cp.size)
    return ['unproven', `the feed given has ${proof.feed.entries.length} entries, the checkpoint ${cp.size}`]
  const chain = rootOfFeed(ctx, f.feed, proof.feed.entries, [cp.size])
  if (typeof chain === 'string') return ['observed', chain]
  const root = chain.rootAt(cp.size)!
  if (equalBytes(root, cp.root)) return ['unproven', 'the entries give the checkpoint’s root']
  return [
    'proven',
    `the node signed a checkpoint of ${cp.size} entries with root ${toHex(cp.root)}; the ${cp.size} entries it signed give ${toHex(root)}`,
  ]
}

function judgeInconsistent(
  ed: Ed25519,
  bloc: string,
  charters: readonly CharterView[],
  ctx: FeedAuditContext,
  f: Finding,
  proof: BundleProof | null,
): [Verdict, string] {
  const notes = proof?.checkpoints ?? []
  if (notes.length < 2 || !f.feed) return ['unproven', 'two signed checkpoints are needed']
  const [before, after] = notes.map((n) => openCheckpoint(ed, bloc, charters, f.feed!, n))
  if (typeof before === 'string' || typeof after === 'string' || !before || !after) {
    return ['unproven', 'the checkpoints given do not verify']
  }
  if (after.size < before.size)
    return ['proven', `the node signed ${before.size} entries, then ${after.size}`]
  if (after.size === before.size && !equalBytes(after.root, before.root)) {
    return ['proven', `the node signed two different roots of ${after.size} entries`]
  }
  if (!proof?.feed) return ['observed', 'no entries given to recompute the earlier root']
  if (proof.feed.entries.length < before.size) {
    return ['observed', 'fewer entries given than the earlier checkpoint covers']
  }
  const chain = rootOfFeed(ctx, f.feed, proof.feed.entries.slice(0, before.size), [before.size])
  if (typeof chain === 'string') return ['observed', chain]
  if (equalBytes(chain.rootAt(before.size)!, before.root)) {
    return ['unproven', 'its entries give the root of the earlier checkpoint']
  }
  return [
    'proven',
    `the node signed a tree of ${before.size} entries; the first ${before.size} entries it signed, as it serves them now, give another root: it rewrote its history`,
  ]
}

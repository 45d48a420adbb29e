/**
 * The consular domain's vocabulary: case types and states and who may move a case, alert
 * severities, consent purposes, profile fields, and the privacy vocabulary (why a citizen's data
 * is erased, why an officer reads it, what a read showed). Re-exported by records.ts.
 */

export const CASE_TYPES = [
  'passport-renewal',
  'emergency-travel-document',
  'document-attestation',
  'birth-registration',
  'lost-passport',
] as const
export type CaseType = (typeof CASE_TYPES)[number]

export const CASE_STATES = [
  'submitted',
  'in-review',
  'needs-info',
  'approved',
  'rejected',
  'issued',
  'closed',
  'withdrawn',
] as const
export type CaseState = (typeof CASE_STATES)[number]

/** Allowed case transitions and who may make them. */
export const CASE_TRANSITIONS: Readonly<Record<string, { officer: boolean; citizen: boolean }>> = {
  'submitted>in-review': { officer: true, citizen: false },
  'submitted>withdrawn': { officer: false, citizen: true },
  'in-review>needs-info': { officer: true, citizen: false },
  'needs-info>in-review': { officer: true, citizen: true },
  'needs-info>withdrawn': { officer: false, citizen: true },
  'in-review>approved': { officer: true, citizen: false },
  'in-review>rejected': { officer: true, citizen: false },
  'approved>issued': { officer: true, citizen: false },
  'issued>closed': { officer: true, citizen: false },
  'rejected>closed': { officer: true, citizen: false },
}

/** Case types whose approval is reserved to officers of the citizen's nationality state. */
export const NATIONAL_APPROVAL: ReadonlySet<CaseType> = new Set(['passport-renewal', 'lost-passport'])

export const ALERT_SEVERITIES = ['advisory', 'warning', 'evacuation'] as const
/**
 * Why a citizen's personal data is erased (`citizen.erased`). The citizen may ask for it
 * themselves unless a case of theirs is open (a legal hold); an officer of the nationality state
 * may erase for any of these reasons.
 */
export const ERASURE_REASONS = [
  'citizen-request',
  'court-order',
  'deceased',
  'data-protection-authority',
] as const
/** Why an officer reads a citizen's personal data: stated with every read, and logged. */
export const ACCESS_PURPOSES = [
  'case-processing',
  'consular-assistance',
  'crisis-response',
  'identity-verification',
  'legal-obligation',
] as const
export type AccessPurpose = (typeof ACCESS_PURPOSES)[number]
/** What a logged read showed the officer of the citizen. */
export const ACCESS_SHOWN = ['file', 'search-hit', 'welfare-list', 'case', 'export'] as const
export type AccessShown = (typeof ACCESS_SHOWN)[number]
/** Case states that hold a citizen's data against their own erasure request. */
export const OPEN_CASE_STATES: ReadonlySet<CaseState> = new Set([
  'submitted',
  'in-review',
  'needs-info',
  'approved',
  'issued',
])
export const CONSENT_PURPOSES = ['consular-assistance', 'crisis-contact', 'next-of-kin-notification'] as const
export const PROFILE_FIELDS = ['names', 'birth', 'travelDocument', 'contact'] as const
export type ProfileField = (typeof PROFILE_FIELDS)[number]

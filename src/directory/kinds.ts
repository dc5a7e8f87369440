export const ORGANISATION_KINDS = [
  'acute_trust',
  'mental_health_trust',
  'ambulance_trust',
  'community_trust',
  'gp_practice',
  'care_home',
  'hospice',
  'dental_practice',
  'pharmacy',
  'other_provider',
] as const;
export type OrganisationKind = (typeof ORGANISATION_KINDS)[number];

export const SERVICE_KINDS = [
  'site',
  'department',
  'ward',
  'clinic',
  'unit',
  'team',
  'service',
  'station',
  'surgery',
] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

export const KIND_LABELS: Record<string, string> = {
  acute_trust: 'Acute trust',
  mental_health_trust: 'Mental health trust',
  ambulance_trust: 'Ambulance trust',
  community_trust: 'Community trust',
  gp_practice: 'GP practice',
  care_home: 'Care home',
  hospice: 'Hospice',
  dental_practice: 'Dental practice',
  pharmacy: 'Pharmacy',
  other_provider: 'Provider',
  organisation: 'Organisation',
  site: 'Hospital site',
  department: 'Department',
  ward: 'Ward',
  clinic: 'Clinic',
  unit: 'Unit',
  team: 'Team',
  service: 'Service',
  station: 'Station',
  surgery: 'Surgery',
};

export const isOrganisationKind = (k: string): k is OrganisationKind => (ORGANISATION_KINDS as readonly string[]).includes(k);
export const isServiceKind = (k: string): k is ServiceKind => (SERVICE_KINDS as readonly string[]).includes(k);

export const CODE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{1,31}$/;
export const HASHTAG_PATTERN = /^#?([A-Za-z][A-Za-z0-9_]{1,59})$/;

/** Splits a hashtags cell ("#Ward7LGI #LGIWard7", "a;b", "a|b") into tags without `#`. */
export function splitHashtags(cell: string): string[] {
  return cell
    .split(/[\s;|,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
}

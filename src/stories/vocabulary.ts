/**
 * The words of a story: tags in three groups, each with a polarity, the Friends and Family Test
 * rating, who the author is, and how a story reached us. Kept in one place so forms, the API and
 * the checks agree.
 */
export const TAG_GROUPS = {
  good: {
    label: 'What was good',
    tags: ['Kindness and compassion', 'Listened to', 'Clear information', 'Involved in decisions', 'Skilled staff', 'Quick treatment', 'Clean environment', 'Good food', 'Pain well managed', 'Privacy and dignity respected'],
  },
  improve: {
    label: 'What could be improved',
    tags: ['Waiting times', 'Communication', 'Staff attitude', 'Staffing levels', 'Cleanliness', 'Food and drink', 'Parking', 'Appointments', 'Discharge', 'Pain management', 'Medication', 'Noise at night', 'Privacy and dignity', 'Access and facilities'],
  },
  felt: {
    label: 'How I felt',
    tags: ['Grateful', 'Reassured', 'Safe', 'Respected', 'Listened to', 'Anxious', 'Frustrated', 'Ignored', 'Angry', 'Upset', 'Confused', 'Unsafe'],
  },
} as const;

export type TagGroup = keyof typeof TAG_GROUPS;
export const TAG_GROUP_NAMES = Object.keys(TAG_GROUPS) as TagGroup[];

const POSITIVE_FEELINGS = new Set(['Grateful', 'Reassured', 'Safe', 'Respected', 'Listened to']);

/** A tag's polarity: what was good is positive, what could be improved negative, feelings by word. */
export function tagPolarity(group: TagGroup, tag: string): 'positive' | 'negative' {
  if (group === 'good') return 'positive';
  if (group === 'improve') return 'negative';
  return POSITIVE_FEELINGS.has(tag) ? 'positive' : 'negative';
}

export const RATINGS = [
  { value: 1, key: 'very_good', label: 'Very good' },
  { value: 2, key: 'good', label: 'Good' },
  { value: 3, key: 'neither', label: 'Neither good nor poor' },
  { value: 4, key: 'poor', label: 'Poor' },
  { value: 5, key: 'very_poor', label: 'Very poor' },
] as const;

export const AUTHOR_ROLES = [
  { key: 'patient', label: 'A patient' },
  { key: 'carer', label: 'A carer' },
  { key: 'relative', label: 'A relative or friend' },
  { key: 'staff', label: 'A member of staff' },
  { key: 'other', label: 'Someone else' },
] as const;
export type AuthorRole = (typeof AUTHOR_ROLES)[number]['key'];

export const CHANNELS = ['web', 'api', 'paper', 'phone', 'fft', 'social'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Criticality, set by moderators, seen by staff only (PRODUCT.md). */
export const CRITICALITY = ['not critical', 'minimally critical', 'mildly critical', 'moderately critical', 'strongly critical', 'severely critical'] as const;

/** Reasons for rejecting a story, from the moderation rules. */
export const REJECTION_REASONS = {
  advert: 'It advertises a product or service.',
  abuse: 'It is abusive or offensive.',
  irrelevant: 'It is not about an experience of a health or care service.',
  too_old: 'It is about events more than 3 years ago.',
  duplicate: 'It repeats a story already told about the same episode.',
  legal: 'It is about a matter before a court, coroner or ombudsman.',
  identifying: 'It could not be published without identifying someone.',
} as const;
export type RejectionReason = keyof typeof REJECTION_REASONS;

export const PROGRESS_STEPS = [
  { key: 'unheard', label: 'Not yet read by staff' },
  { key: 'heard', label: 'Read by staff' },
  { key: 'responded', label: 'Staff responded' },
  { key: 'change_planned', label: 'Change planned' },
  { key: 'change_made', label: 'Change made' },
] as const;

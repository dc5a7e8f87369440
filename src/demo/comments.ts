// The real NHS comments shipped with the demo (data/comments.jsonl, see data/NOTICE.md), and how
// the demo reads each one: critical or not, the FFT rating its writer would have given, the
// moderator's criticality, its tags. The demo seeding and the benchmarks' data generator both use
// these, so the two data sets cannot drift apart.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TagGroup } from '../stories/vocabulary.ts';

/** One of the real NHS comments in data/comments.jsonl (the demo and the benchmarks draw on them). */
export interface Comment {
  text: string;
  /** phase1: coded acute-trust comments; ambulance: a patient transport service's FFT comments. */
  source: 'phase1' | 'ambulance';
  label?: string;
  /** phase1 only: -4 (very critical) .. 3 (praise). */
  criticality?: number;
  /** ambulance only: 1 (very positive) .. 5 (very negative). */
  sentiment?: number;
  /** ambulance only: the FFT answer, 1 (very good) .. 5 (very poor); other values mean unanswered. */
  rating?: number;
}

const FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'data', 'comments.jsonl');
let cached: Comment[] | undefined;

/** Every comment, read once per process. */
export function loadComments(): Comment[] {
  cached ??= fs
    .readFileSync(FILE, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Comment);
  return cached;
}

/** Whether the comment is critical of the service. */
export function isNegative(c: Comment): boolean {
  return c.source === 'phase1' ? (c.criticality ?? 0) < 0 : (c.sentiment ?? 3) >= 4;
}

/** The FFT rating (1 very good .. 5 very poor) the commenter would have given, or null. */
export function ratingOf(c: Comment): number | null {
  if (c.source === 'ambulance') return c.rating !== undefined && c.rating >= 1 && c.rating <= 5 ? c.rating : null;
  const critical = c.criticality ?? 0;
  if (isNegative(c)) return critical <= -3 ? 5 : 4;
  return critical >= 2 ? 1 : 2;
}

/** The moderator's criticality, 0 (none) .. 5. */
export function criticalityOf(c: Comment): number {
  if (c.source === 'phase1') return Math.max(0, Math.min(5, -(c.criticality ?? 0)));
  return isNegative(c) ? (c.sentiment === 5 ? 3 : 2) : 0;
}

const IMPROVE_BY_LABEL: Record<string, string> = {
  Access: 'Waiting times',
  Communication: 'Communication',
  'Environment/ facilities': 'Access and facilities',
  Staff: 'Staff attitude',
  'Care received': 'Pain management',
  Dignity: 'Privacy and dignity',
};
const GOOD_BY_LABEL: Record<string, string> = {
  Staff: 'Kindness and compassion',
  Communication: 'Clear information',
  'Care received': 'Skilled staff',
  Access: 'Quick treatment',
  'Environment/ facilities': 'Clean environment',
  Dignity: 'Privacy and dignity respected',
};

/** The tags its writer would have chosen: one from its coded theme, and sometimes how they felt. */
export function tagsFor(c: Comment, negative: boolean, random: () => number): Array<{ group: TagGroup; tag: string }> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const tags: Array<{ group: TagGroup; tag: string }> = [];
  const label = c.label ?? '';
  if (negative && IMPROVE_BY_LABEL[label]) tags.push({ group: 'improve', tag: IMPROVE_BY_LABEL[label] });
  if (!negative && GOOD_BY_LABEL[label]) tags.push({ group: 'good', tag: GOOD_BY_LABEL[label] });
  if (!negative && random() < 0.5) tags.push({ group: 'felt', tag: pick(['Grateful', 'Reassured', 'Respected']) });
  if (negative && random() < 0.5) tags.push({ group: 'felt', tag: pick(['Frustrated', 'Anxious', 'Ignored', 'Upset']) });
  return tags;
}

export const PSEUDONYMS = ['Grateful patient', 'A carer', 'Worried daughter', 'Leeds patient', 'Anonymous', 'Proud mum', 'Frequent visitor', 'A relative', 'First-time patient', 'Regular at the clinic'];

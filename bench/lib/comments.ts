// The real NHS comments shipped for the demo (src/demo/data/comments.jsonl, see its NOTICE.md):
// every benchmark draws its texts from them, so lengths, words and identifying details are real.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.ts';
import type { Comment } from '../../src/demo/stories.ts';

export type { Comment };

let cached: Comment[] | undefined;

export function loadComments(): Comment[] {
  cached ??= fs
    .readFileSync(path.join(ROOT, 'src/demo/data/comments.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Comment);
  return cached;
}

export const commentTexts = (): string[] => loadComments().map((c) => c.text);

// The three readings below are the ones the demo seeding makes (src/demo/stories.ts), so generated
// data and demo data agree on what a comment says.

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

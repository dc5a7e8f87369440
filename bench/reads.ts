// What people read: full-text search with the words the comments use (common ones that match a
// good share of all stories, middling ones, rare ones that match a handful), and the measures of a
// trust and of single services.
import { mulberry32 } from '../src/nlp/classifier/index.ts';
import { loadComments } from './lib/comments.ts';

// Words nobody searches for on their own; the rest are what people type.
const STOP = new Set(
  'that with were have they this from would been there what when could more about their them which will some just than also into only your because other very after before being does each even here much over such then these those while where'.split(' '),
);

/** Words of four letters or more by the number of comments that use them, most used first. */
function wordsByUse(): Array<[string, number]> {
  const df = new Map<string, number>();
  for (const c of loadComments()) {
    for (const w of new Set(c.text.toLowerCase().match(/[a-z]{4,}/g) ?? [])) if (!STOP.has(w)) df.set(w, (df.get(w) ?? 0) + 1);
  }
  return [...df].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/**
 * Search queries drawn from the comments, a quarter of each kind: common words, middling ones, rare
 * ones (used by two to four comments), and two-word queries (common and middling); interleaved, so
 * each stretch of requests has all kinds.
 */
export function searchQueries(count = 30, seed = 5): string[] {
  const random = mulberry32(seed);
  const words = wordsByUse();
  const draw = (from: Array<[string, number]>) => from[Math.floor(random() * from.length)]![0];
  const common = words.slice(0, 40);
  const middling = words.slice(200, 1200);
  const rare = words.filter(([, n]) => n >= 2 && n <= 4);
  const queries: string[] = [];
  for (let i = 0; queries.length < count; i++) {
    const kind = i % 4;
    queries.push(kind === 0 ? draw(common) : kind === 1 ? draw(middling) : kind === 2 ? draw(rare) : `${draw(common)} ${draw(middling)}`);
  }
  return queries;
}

export const searchPaths = (queries: readonly string[]): string[] => queries.map((q) => `/api/v1/stories?q=${encodeURIComponent(q)}`);

/** A trust's measures, alternating with those of its services, other trusts' and a practice's. */
export function measuresPaths(org: string, serviceCodes: readonly string[]): string[] {
  return serviceCodes.flatMap((code) => [`/api/v1/measures?org=${org}`, `/api/v1/measures?service=${encodeURIComponent(code)}`]);
}

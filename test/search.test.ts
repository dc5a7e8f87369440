import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { ftsQuery, listPublished } from '../src/stories/read.ts';
import { generateStories } from '../bench/generate.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

/** Matched by more stories than this, a word is "common" here: a page of them is found at once. */
const MANY = 400;

// A search on SQLite (listPublished in src/stories/read.ts) walks the published stories newest
// first and keeps those the full-text index matches, a page at a time from a cursor. Paged to the
// end, a word that matches many stories and one that matches few must give exactly what the index
// matches, newest first, each story once, with the other filters kept.
describe.runIf(TEST_DB === 'sqlite')('searching stories on SQLite', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await seedDemo(t.handle, { stories: 0 });
    await generateStories(t.handle, { count: 1500, seed: 7 });
    // Every fifth story taken down again (it keeps its publication date), another held for moderation:
    // a search must leave both out.
    await sql`UPDATE stories SET moderation = 'withdrawn' WHERE rowid % 5 = 0`.execute(t.handle.db);
    await sql`UPDATE stories SET moderation = 'pending', published_at = NULL WHERE rowid % 5 = 1`.execute(t.handle.db);
  }, 120_000);
  afterAll(async () => t.close());

  /** Every published story the index matches, newest first: worked out without the app's plan. */
  async function expected(q: string, since = ''): Promise<string[]> {
    const rows = await sql<{ id: string; published_at: string }>`SELECT id, published_at FROM stories WHERE moderation = 'published' AND published_at >= ${since} AND rowid IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ${ftsQuery(q)})`.execute(t.handle.db);
    return rows.rows.sort((a, b) => (a.published_at === b.published_at ? (a.id < b.id ? 1 : -1) : a.published_at < b.published_at ? 1 : -1)).map((r) => r.id);
  }

  async function everyPage(q: string, extra: { service?: string; since?: string } = {}): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await listPublished(t.handle, { q, limit: 37, cursor, ...extra });
      ids.push(...page.items.map((s) => s.id));
      if (!page.nextCursor) return ids;
      cursor = page.nextCursor;
    }
    throw new Error('more than 100 pages');
  }

  const matches = async (q: string) => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM stories_fts WHERE stories_fts MATCH ${ftsQuery(q)}`.execute(t.handle.db)).rows[0]!.n);

  it('pages through every story a word matches, whether it matches few stories or many', async () => {
    const words = ['staff', 'care', 'waiting', 'parking', 'food', 'discharge', 'kind', 'rude', 'pharmacy'];
    const counts = await Promise.all(words.map(matches));
    // Words that match many stories (a page is found at once) and few (the walk goes far back), and
    // two-word queries of each kind.
    expect(counts.some((n) => n > MANY)).toBe(true);
    expect(counts.filter((n) => n > 0 && n <= MANY).length).toBeGreaterThan(1);
    const pairs = ['staff and', 'staff care', 'staff parking', 'kind rude'];
    const pairCounts = await Promise.all(pairs.map(matches));
    expect(pairCounts.some((n) => n > MANY) && pairCounts.some((n) => n > 0 && n <= MANY)).toBe(true);
    for (const q of [...words, ...pairs]) {
      const want = await expected(q);
      const got = await everyPage(q);
      expect(got, q).toEqual(want);
      expect(new Set(got).size).toBe(got.length);
    }
  });

  it('keeps a date, both for a word that matches many stories and for one that matches few', async () => {
    const dates = (await sql<{ published_at: string }>`SELECT published_at FROM stories WHERE moderation = 'published' ORDER BY published_at`.execute(t.handle.db)).rows;
    const since = dates[Math.floor(dates.length / 2)]!.published_at.slice(0, 10);
    for (const q of ['staff', 'parking']) {
      const want = await expected(q, since);
      expect(want.length, q).toBeGreaterThan(0);
      expect(want.length).toBeLessThan((await expected(q)).length);
      expect(await everyPage(q, { since }), q).toEqual(want);
    }
  });

  it('keeps the other filters, and finds nothing for a word no story has', async () => {
    const q = 'parking';
    const ward = await t.handle.db.selectFrom('stories').innerJoin('story_services', 'story_services.story_id', 'stories.id').innerJoin('services', 'services.id', 'story_services.service_id').select('services.code').where('stories.moderation', '=', 'published').where(sql<boolean>`stories.rowid IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ${ftsQuery(q)})`).executeTakeFirstOrThrow();
    const inService = await everyPage(q, { service: ward.code });
    expect(inService.length).toBeGreaterThan(0);
    const all = await expected(q);
    expect(inService.every((id) => all.includes(id))).toBe(true);
    expect(inService.length).toBeLessThan(all.length);
    expect(await everyPage('zzyzzx')).toEqual([]);
  });
});

import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { ftsQuery, listPublished } from '../src/stories/read.ts';
import { generateStories } from '../bench/generate.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

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
  }, 120_000);
  afterAll(async () => t.close());

  /** Every published story the index matches, newest first: worked out without the app's plan. */
  async function expected(q: string): Promise<string[]> {
    const rows = await sql<{ id: string; published_at: string }>`SELECT id, published_at FROM stories WHERE moderation = 'published' AND rowid IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ${ftsQuery(q)})`.execute(t.handle.db);
    return rows.rows.sort((a, b) => (a.published_at === b.published_at ? (a.id < b.id ? 1 : -1) : a.published_at < b.published_at ? 1 : -1)).map((r) => r.id);
  }

  async function everyPage(q: string, extra: { service?: string } = {}): Promise<string[]> {
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
    // Words that match many stories (a page is found at once) and few (the walk goes far back).
    expect(counts.some((n) => n > 400)).toBe(true);
    expect(counts.filter((n) => n > 0 && n <= 400).length).toBeGreaterThan(1);
    for (const q of [...words, 'staff parking', 'kind rude']) {
      const want = await expected(q);
      const got = await everyPage(q);
      expect(got, q).toEqual(want);
      expect(new Set(got).size).toBe(got.length);
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

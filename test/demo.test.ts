import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { moderationQueue } from '../src/moderation/queue.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

describe(`the demo on ${TEST_DB}`, () => {
  it('publishes about 2,000 classified stories over the last 12 months and queues a few, once', async () => {
    const first = await seedDemo(t.handle);
    expect(first.stories).toBe(2000);
    expect((await seedDemo(t.handle)).stories).toBe(0);
    const published = await t.handle.db.selectFrom('stories').select(['published_at', 'themes', 'sentiment']).where('moderation', '=', 'published').execute();
    expect(published).toHaveLength(2000);
    const times = published.map((p) => Date.parse(p.published_at!));
    expect(Date.now() - Math.min(...times)).toBeGreaterThan(300 * 86_400_000);
    expect(Date.now() - Math.min(...times)).toBeLessThanOrEqual(366 * 86_400_000);
    expect(published.filter((p) => JSON.parse(p.themes).length > 0).length).toBeGreaterThan(1500);
    expect(published.every((p) => p.sentiment !== null)).toBe(true);
    const perOrg = await t.handle.db.selectFrom('story_services').innerJoin('organisations', 'organisations.id', 'story_services.org_id').select(['organisations.ods_code', (eb) => eb.fn.countAll().as('n')]).groupBy('organisations.ods_code').execute();
    expect(perOrg.length).toBeGreaterThanOrEqual(5);
    const queue = await moderationQueue(t.handle.db);
    expect(queue.length).toBe(6);
    expect(queue[0]!.urgent).toBe(true);
    expect(queue.some((q) => q.findings.some((f) => f.type === 'nhs_number'))).toBe(true);
  });

  it('has responses, changes and handling, so the measures look like a real organisation\'s', async () => {
    const m = (await t.app.inject({ url: '/api/v1/measures?org=RR8' })).json();
    expect(m.counts.stories).toBeGreaterThan(50);
    expect(m.responseRate).toBeGreaterThan(0.5);
    expect(m.responseRate).toBeLessThan(1);
    expect(m.medianHoursToFirstResponse).toBeGreaterThan(0);
    expect(m.readRate).toBeGreaterThan(m.responseRate);
    expect(m.changesMade).toBeGreaterThan(0);
    const none = (await t.app.inject({ url: '/api/v1/measures?org=B86903' })).json();
    expect(none.responseRate).toBe(0);
    const withChange = await t.handle.db.selectFrom('stories').select('id').where('progress', '=', 'change_made').limit(1).executeTakeFirstOrThrow();
    const story = (await t.app.inject({ url: `/api/v1/stories/${withChange.id}` })).json();
    expect(story.responses[0].change).toBe('made');
    expect(story.responses[0].changeDescription.length).toBeGreaterThan(20);
  });

  it('shows demo stories on service pages and in search', async () => {
    const page = await t.app.inject({ url: '/services/RR8', headers: { accept: 'text/html' } });
    expect(page.body).toContain('Recent stories');
    expect(page.body.match(/class="cv-story-item"/g)?.length).toBe(10);
    const search = (await t.app.inject({ url: '/api/v1/stories?q=parking' })).json();
    expect(search.items.length).toBeGreaterThan(0);
    expect(search.items.every((s: { body: string; title: string }) => /park/i.test(s.body + s.title))).toBe(true);
  });
});

describe(`improvement library on ${TEST_DB}`, () => {
  it('lists checked changes across organisations, searchable by words, theme and kind of service', async () => {
    const all = (await t.app.inject({ url: '/api/v1/library' })).json();
    expect(all.items.length).toBeGreaterThan(3);
    expect(new Set(all.items.map((e: { organisation: string }) => e.organisation)).size).toBeGreaterThan(1);
    const word = all.items[0].description.split(' ').find((w: string) => w.length > 6).toLowerCase().replace(/[^a-z]/g, '');
    const byWord = (await t.app.inject({ url: `/api/v1/library?q=${word}` })).json();
    expect(byWord.items.length).toBeGreaterThan(0);
    expect(byWord.items.every((e: { description: string }) => e.description.toLowerCase().includes(word))).toBe(true);
    const wards = (await t.app.inject({ url: '/api/v1/library?kind=ward' })).json();
    expect(wards.items.every((e: { serviceKind: string }) => e.serviceKind === 'ward')).toBe(true);
    expect((await t.app.inject({ url: '/api/v1/library?q=zzzyyyxxx' })).json().items).toEqual([]);
    const page = await t.app.inject({ url: '/library', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Change made');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo, DEMO_PASSWORD } from '../src/demo/seed.ts';
import { CookieJar, csrfFrom, checkTold, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
});
afterAll(async () => t.close());

const html = { accept: 'text/html' };
// Stories stored and stories still in the intake alike: a told story is in one or the other.
const countStories = async () => (await t.handle.db.selectFrom('stories').select('id').execute()).length + (await t.handle.db.selectFrom('story_intake').select('seq').execute()).length;
async function signIn(email: string) {
  const jar = new CookieJar();
  const res = await submitForm(t.app, jar, '/sign-in', '/sign-in', { email, password: DEMO_PASSWORD });
  expect(res.statusCode).toBe(303);
  return jar;
}

describe(`story pages on ${TEST_DB}`, () => {
  it('walks the question pages, keeps input on errors, and makes one story of a double submit', async () => {
    const jar = new CookieJar();
    const start = await t.app.inject({ url: '/tell?service=RR813-W07', headers: html });
    jar.take(start);
    expect(start.body).toContain('Ward 7 (Cardiology)');
    // Nothing chosen yet on a fresh draft: continuing is refused.
    const fresh = new CookieJar();
    expect((await submitForm(t.app, fresh, '/tell', '/tell/services', { action: 'continue' })).statusCode).toBe(400);

    const go = (page: string, action: string, fields: Record<string, string>) => submitForm(t.app, jar, page, action, fields);
    expect((await go('/tell', '/tell/services', { action: 'continue' })).headers.location).toBe('/tell/story');
    const empty = await go('/tell/story', '/tell/story', { title: 'Fish & chips <3 at lunch', body: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.body).toContain('Tell us what happened');
    expect(empty.body).toContain('value="Fish &amp; chips &lt;3 at lunch"');
    const long = await go('/tell/story', '/tell/story', { title: 'Too long', body: 'x'.repeat(200_000) });
    expect(long.statusCode).toBe(400);
    expect(long.body).toContain('20,000 characters or fewer');
    const script = await go('/tell/story', '/tell/story', { title: 'Hi', body: 'Lovely <script>alert(1)</script> staff on the ward today.' });
    expect(script.statusCode).toBe(400);
    expect(script.body).toContain('must not contain HTML tags');
    expect(script.body).not.toContain('<script>alert(1)</script>');
    expect(script.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const bot = await go('/tell/story', '/tell/story', { title: 'Buy cheap pills', body: 'Visit our shop for cheap pills and more today.', website: 'http://spam.example' });
    expect(bot.statusCode).toBe(400);
    expect((await go('/tell/story', '/tell/story', { title: 'Fish & chips <3 at lunch', body: 'The food on the ward was lovely, fish & chips on Friday. Nurses were kind.' })).headers.location).toBe('/tell/tags');
    expect((await go('/tell/tags', '/tell/tags', { good: 'Good food', rating: '1' })).headers.location).toBe('/tell/about');
    const badAbout = await go('/tell/about', '/tell/about', { authorRole: 'patient', pseudonym: 'Jane Smith', email: 'nope' });
    expect(badAbout.statusCode).toBe(400);
    expect(badAbout.body).toContain('value="Jane Smith"');
    expect(badAbout.body).toMatch(/email address in the right format/);
    expect((await go('/tell/about', '/tell/about', { authorRole: 'patient', pseudonym: 'Happy eater', email: '' })).headers.location).toBe('/tell/check');

    const before = await countStories();
    const check = await t.app.inject({ url: '/tell/check', headers: { ...html, cookie: jar.header() } });
    expect(check.body).toContain('Good food');
    const token = csrfFrom(check.body);
    const send = () => t.app.inject({ method: 'POST', url: '/tell/check', headers: { ...html, cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: `_csrf=${encodeURIComponent(token)}` });
    const [a, b] = await Promise.all([send(), send()]);
    expect(a.statusCode).toBe(303);
    expect(b.statusCode).toBe(303);
    expect(await countStories()).toBe(before + 1);
    const done = await t.app.inject({ url: '/tell/done', headers: { ...html, cookie: jar.header() } });
    expect(done.body).toMatch(/CV-[0-9A-Z]{8}/);
  });

  it('lets a responder add a story taken by phone, for their own services only', async () => {
    const responder = await signIn('responder@demo.carevoice');
    const form = await t.app.inject({ url: '/staff/stories/new', headers: { ...html, cookie: responder.header() } });
    expect(form.statusCode).toBe(200);
    expect(form.body).toContain('Ward 7 (Cardiology)');
    expect(form.body).not.toContain('Meanwood Green Surgery');
    const other = await submitForm(t.app, responder, '/staff/stories/new', '/staff/stories/new', { channel: 'phone', service: 'B86901', title: 'About the GP', body: 'A long story told over the phone about the practice.', authorRole: 'patient' });
    expect(other.statusCode).toBe(400);
    const ok = await submitForm(t.app, responder, '/staff/stories/new', '/staff/stories/new', { channel: 'phone', service: 'RR813-W12', title: 'Told by phone', body: 'The caller said the ward was noisy at night and they could not sleep.', authorRole: 'patient' });
    expect(ok.statusCode).toBe(200);
    await checkTold(t.handle);
    const row = await t.handle.db.selectFrom('stories').select(['channel', 'created_by']).where('title', '=', 'Told by phone').executeTakeFirstOrThrow();
    expect(row.channel).toBe('phone');
    expect(row.created_by).not.toBeNull();
    const leader = await signIn('leader@demo.carevoice');
    expect((await t.app.inject({ url: '/staff/stories/new', headers: { ...html, cookie: leader.header() } })).statusCode).toBe(403);
  });

  it('lets only moderators moderate; undoing a redaction changes what will be published', async () => {
    const leader = await signIn('leader@demo.carevoice');
    expect((await t.app.inject({ url: '/moderation', headers: { ...html, cookie: leader.header() } })).statusCode).toBe(403);
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Thanks to Dr Ahmed', body: 'Dr Ahmed on Ward 12 explained the operation clearly and my phone number 07700 900777 was kept on file.', services: ['RR813-W12'], authorRole: 'patient' } });
    const id = res.json().id as string;
    const mod = await signIn('moderator@demo.carevoice');
    const early = await t.app.inject({ url: `/moderation/stories/${id}`, headers: { ...html, cookie: mod.header() } });
    expect(early.statusCode).toBe(409);
    expect(early.body).toContain('still being checked');
    await checkTold(t.handle);
    const page = await t.app.inject({ url: `/moderation/stories/${id}`, headers: { ...html, cookie: mod.header() } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<mark class="cv-finding"');
    const findings = await t.handle.db.selectFrom('story_findings').select(['id', 'type', 'text']).where('story_id', '=', id).execute();
    const phone = findings.find((f) => f.type === 'phone')!;
    const undo = await submitForm(t.app, mod, `/moderation/stories/${id}`, `/moderation/stories/${id}/findings/${phone.id}`, { accepted: '0' });
    expect(undo.statusCode).toBe(303);
    expect((await t.handle.db.selectFrom('stories').select('body').where('id', '=', id).executeTakeFirstOrThrow()).body).toContain('07700 900777');
    await submitForm(t.app, mod, `/moderation/stories/${id}`, `/moderation/stories/${id}/findings/${phone.id}`, { accepted: '1' });
    const reject = await submitForm(t.app, mod, `/moderation/stories/${id}`, `/moderation/stories/${id}/decision`, { action: 'reject' });
    expect(reject.statusCode).toBe(400);
    expect(reject.body).toContain('Choose or write a reason');
    const publish = await submitForm(t.app, mod, `/moderation/stories/${id}`, `/moderation/stories/${id}/decision`, { action: 'publish', criticality: '0' });
    expect(publish.statusCode).toBe(303);
    const published = (await t.app.inject({ url: `/api/v1/stories/${id}` })).json();
    expect(published.body).not.toContain('07700 900777');
    const events = await t.handle.db.selectFrom('events').select('type').where('subject', '=', id).execute();
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['story.submitted', 'finding.undone', 'finding.accepted', 'story.approved', 'story.published']));
  });

  it('counts "I\'ve experienced this" once per person', async () => {
    const story = await t.handle.db.selectFrom('stories').select('id').where('moderation', '=', 'published').executeTakeFirstOrThrow();
    const jar = new CookieJar();
    for (let i = 0; i < 3; i++) {
      const res = await submitForm(t.app, jar, `/stories/${story.id}`, `/stories/${story.id}/experienced`, {});
      expect(res.statusCode).toBe(303);
    }
    const other = new CookieJar();
    await submitForm(t.app, other, `/stories/${story.id}`, `/stories/${story.id}/experienced`, {});
    expect((await t.handle.db.selectFrom('stories').select('experienced_count').where('id', '=', story.id).executeTakeFirstOrThrow()).experienced_count).toBe(2);
  });
});

describe(`provider review window on ${TEST_DB}`, () => {
  it('lets an organisation admin set 72 hours; an approved story then waits for it and a job publishes it', async () => {
    const responder = await signIn('responder@demo.carevoice');
    expect((await t.app.inject({ url: '/staff/organisations/RR8', headers: { ...html, cookie: responder.header() } })).statusCode).toBe(403);
    const admin = await signIn('trust.admin@demo.carevoice');
    expect((await t.app.inject({ url: '/staff/organisations/RX8', headers: { ...html, cookie: admin.header() } })).statusCode).toBe(403);
    const bad = await submitForm(t.app, admin, '/staff/organisations/RR8', '/staff/organisations/RR8', { reviewWindowHours: '5' });
    expect(bad.statusCode).toBe(400);
    const saved = await submitForm(t.app, admin, '/staff/organisations/RR8', '/staff/organisations/RR8', { reviewWindowHours: '72' });
    expect(saved.statusCode).toBe(200);
    expect(saved.body).toContain('Settings saved');

    const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Waiting for review', body: 'The ward was calm and the staff were welcoming to all of us.', services: ['RR813-W18'], authorRole: 'patient' } })).json().id as string;
    await checkTold(t.handle);
    const mod = await signIn('moderator@demo.carevoice');
    await submitForm(t.app, mod, `/moderation/stories/${id}`, `/moderation/stories/${id}/decision`, { action: 'publish', criticality: '0' });
    const row = await t.handle.db.selectFrom('stories').select(['moderation', 'publish_at']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.moderation).toBe('pending');
    const hours = (Date.parse(row.publish_at!) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(71.9);
    expect(hours).toBeLessThanOrEqual(72);
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).statusCode).toBe(404);
    // The window ends: the job that was queued for that moment publishes the story.
    const { JobWorker } = await import('../src/platform/jobs.ts');
    const { jobHandlers } = await import('../src/jobs.ts');
    const pino = (await import('pino')).default;
    await t.handle.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString() }).where('dedupe_key', '=', `publish:${id}`).execute();
    await new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) }).drain();
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).statusCode).toBe(200);
    await t.handle.db.updateTable('organisations').set({ review_window_hours: 0 }).where('ods_code', '=', 'RR8').execute();
  });
});

describe(`near-duplicate warning on ${TEST_DB}`, () => {
  it('warns the moderator of a similar story about the same service or by the same author in the last 30 days', async () => {
    const { nearDuplicates } = await import('../src/moderation/queue.ts');
    const tell = async (body: string, services: string[], email?: string) => {
      const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Broken toilet', body, services, authorRole: 'patient', email } })).json().id as string;
      await checkTold(t.handle);
      return id;
    };
    const first = await tell('The toilet on the ward has been broken for a week and smells terrible, nobody came to fix it.', ['RR801-J14']);
    const again = await tell('The toilet on the ward has been broken for a week and smells terrible. Still nobody came to fix it!', ['RR801-J14']);
    const sameAuthor = await tell('The toilet on the ward has been broken for a week and smells terrible, nobody came to fix it at all.', ['RGD-BEC-W1'], 'same@example.org');
    const byEmail = await tell('The toilet on the ward has been broken for a week and smells terrible, nobody came to fix it at all.', ['RX8-PTS'], 'same@example.org');
    const unrelated = await tell('The physiotherapist was brilliant and got me walking again after my hip operation.', ['RR801-J14']);
    const dups = await nearDuplicates(t.handle.db, again);
    expect(dups.map((d) => d.id)).toContain(first);
    expect(dups.map((d) => d.id)).not.toContain(unrelated);
    const author = await nearDuplicates(t.handle.db, byEmail);
    expect(author.find((d) => d.id === sameAuthor)?.sameAuthor).toBe(true);
    expect(await nearDuplicates(t.handle.db, unrelated)).toEqual([]);
    // Older than 30 days: no warning.
    await t.handle.db.updateTable('stories').set({ submitted_at: new Date(Date.now() - 40 * 86_400_000).toISOString() }).where('id', '=', first).execute();
    expect((await nearDuplicates(t.handle.db, again)).map((d) => d.id)).not.toContain(first);
    const mod = await signIn('moderator@demo.carevoice');
    const page = await t.app.inject({ url: `/moderation/stories/${byEmail}`, headers: { ...html, cookie: mod.header() } });
    expect(page.body).toContain('Possible duplicate');
    expect(page.body).toContain('same author');
  });
});

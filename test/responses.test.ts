import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { FAST_TRACK_AFTER } from '../src/responses/respond.ts';
import { checkTold, startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
const key: Record<string, string> = {};
const auth = (who: string) => ({ authorization: `Bearer ${key[who]}` });

async function publishedStory(title: string, criticality = 1): Promise<string> {
  const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: 'The toilets on the ward were dirty for two days and nobody cleaned them.', services: ['RR813-W07'], authorRole: 'patient', email: 'author@example.org', rating: 4 } })).json().id;
  await checkTold(t.handle);
  const res = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish', criticality }, headers: auth('moderator') });
  expect(res.statusCode).toBe(200);
  return id;
}

beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  for (const [who, email] of Object.entries({ responder: 'responder@demo.carevoice', gp: 'gp.responder@demo.carevoice', leader: 'leader@demo.carevoice', moderator: 'moderator@demo.carevoice' })) {
    const u = await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow();
    key[who] = await createApiKey(t.handle.db, u.id);
  }
});
afterAll(async () => t.close());

describe(`responses and change claims on ${TEST_DB}`, () => {
  it('takes responses only from responders of an organisation the story names', async () => {
    const id = await publishedStory('Dirty toilets on Ward 7');
    const body = { body: 'Thank you for telling us. We are sorry and have spoken to the cleaning team.' };
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: body })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: body, headers: auth('gp') })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: body, headers: auth('leader') })).statusCode).toBe(403);
    const noDescription = await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: { ...body, change: 'made' }, headers: auth('responder') });
    expect(noDescription.statusCode).toBe(400);
    expect(noDescription.json().error.code).toBe('invalid_response');
    const pending = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Not yet published', body: 'This story has not been moderated yet, so nobody can respond.', services: ['RR813-W07'], authorRole: 'patient' } })).json().id;
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/stories/${pending}/responses`, payload: body, headers: auth('responder') })).statusCode).toBe(404);
  });

  it('moderates a new responder\'s response and change claim, then shows "change made" and moves the measures', async () => {
    const id = await publishedStory('Toilets not cleaned');
    const before = (await t.app.inject({ url: '/api/v1/measures?service=RR813-W07' })).json();
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/stories/${id}/responses`,
      payload: { body: 'We are sorry. The ward manager has looked into this.', change: 'made', changeDescription: 'Toilets on Ward 7 are now checked and cleaned every two hours, with a signed log on the door.' },
      headers: auth('responder'),
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().moderation).toBe('pending');
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).json().responses).toEqual([]);
    const queue = (await t.app.inject({ url: '/api/v1/moderation/responses', headers: auth('moderator') })).json();
    expect(queue.items.map((i: { id: string }) => i.id)).toContain(res.json().id);
    expect((await t.app.inject({ url: '/api/v1/moderation/responses', headers: auth('responder') })).statusCode).toBe(403);
    const decision = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/responses/${res.json().id}/decision`, payload: { action: 'publish' }, headers: auth('moderator') });
    expect(decision.statusCode).toBe(200);
    expect(decision.json()).toMatchObject({ moderation: 'published', changeStatus: 'accepted' });
    const story = (await t.app.inject({ url: `/api/v1/stories/${id}` })).json();
    expect(story.progress).toBe('change_made');
    expect(story.responses[0]).toMatchObject({ change: 'made', changeDescription: expect.stringContaining('every two hours'), responder: 'Rachel Responder', organisation: 'Leeds Teaching Hospitals NHS Trust' });
    const after = (await t.app.inject({ url: '/api/v1/measures?service=RR813-W07' })).json();
    expect(after.counts.responded).toBe(before.counts.responded + 1);
    expect(after.changesMade).toBe(before.changesMade + 1);
    expect(after.responseRate).toBeGreaterThan(before.responseRate ?? 0);
    expect(after.medianHoursToFirstResponse).toBeGreaterThanOrEqual(0);
    expect(after.changeRate).toBeGreaterThan(0);
    const page = await t.app.inject({ url: `/stories/${id}`, headers: { accept: 'text/html' } });
    expect(page.body).toContain('Change made');
    await new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) }).drain();
    const mail = await t.handle.db.selectFrom('mail').select('subject').where('to_address', '=', 'author@example.org').where('subject', 'like', 'A response to your story%').execute();
    expect(mail.length).toBeGreaterThanOrEqual(1);
  });

  it(`fast-tracks a responder with ${FAST_TRACK_AFTER} published responses, except on strongly critical stories`, async () => {
    const ids: string[] = [];
    while ((await t.handle.db.selectFrom('responses').select('id').where('moderation', '=', 'published').execute()).length < FAST_TRACK_AFTER) {
      const id = await publishedStory(`Story ${ids.length}`);
      ids.push(id);
      const r = (await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: { body: 'Thank you for your feedback, we are looking into it.' }, headers: auth('responder') })).json();
      await t.app.inject({ method: 'POST', url: `/api/v1/moderation/responses/${r.id}/decision`, payload: { action: 'publish' }, headers: auth('moderator') });
    }
    const mild = await publishedStory('A mild story', 1);
    const fast = await t.app.inject({ method: 'POST', url: `/api/v1/stories/${mild}/responses`, payload: { body: 'Thank you, we have passed this on to the team.' }, headers: auth('responder') });
    expect(fast.json().moderation).toBe('published');
    const severe = await publishedStory('A severe story', 5);
    const slow = await t.app.inject({ method: 'POST', url: `/api/v1/stories/${severe}/responses`, payload: { body: 'Thank you, we are very sorry and will call you.' }, headers: auth('responder') });
    expect(slow.json().moderation).toBe('pending');
  });
});

describe(`helpful marks, the edit window, reminders and templates on ${TEST_DB}`, () => {
  it('counts "helpful" once per person, lets the author edit for 30 minutes only, and asks for an update 4 weeks after a planned change', async () => {
    const id = await publishedStory('Noise at night on Ward 7');
    const sent = (await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: { body: 'We are sorry about the noise and are looking at it.', change: 'planned', changeDescription: 'We will fit soft-close bins and dim the ward lights at 11pm from next month.' }, headers: auth('responder') })).json();
    // Editing: only the author, only within the window.
    expect((await t.app.inject({ method: 'PATCH', url: `/api/v1/responses/${sent.id}`, payload: { body: 'Someone else editing this response.' }, headers: auth('leader') })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'PATCH', url: `/api/v1/responses/${sent.id}`, payload: { body: 'We are sorry about the noise at night and are looking at it now.' }, headers: auth('responder') })).statusCode).toBe(200);
    await t.handle.db.updateTable('responses').set({ edit_until: new Date(Date.now() - 1000).toISOString() }).where('id', '=', sent.id).execute();
    const late = await t.app.inject({ method: 'PATCH', url: `/api/v1/responses/${sent.id}`, payload: { body: 'Too late to change this response now.' }, headers: auth('responder') });
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('edit_window_closed');
    await t.app.inject({ method: 'POST', url: `/api/v1/moderation/responses/${sent.id}/decision`, payload: { action: 'publish' }, headers: auth('moderator') });
    const story = (await t.app.inject({ url: `/api/v1/stories/${id}` })).json();
    expect(story.progress).toBe('change_planned');
    expect(story.responses[0].body).toContain('at night');

    // Helpful: once per visitor.
    const { CookieJar, submitForm } = await import('./helpers.ts');
    const jar = new CookieJar();
    for (let i = 0; i < 2; i++) expect((await submitForm(t.app, jar, `/stories/${id}`, `/responses/${sent.id}/helpful`, {})).statusCode).toBe(303);
    await submitForm(t.app, new CookieJar(), `/stories/${id}`, `/responses/${sent.id}/helpful`, {});
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).json().responses[0].helpful).toBe(2);

    // The reminder is queued for 4 weeks on; when it falls due the responder is mailed once.
    const job = await t.handle.db.selectFrom('jobs').select(['run_at']).where('dedupe_key', '=', `reminder:${sent.id}`).executeTakeFirstOrThrow();
    const days = (Date.parse(job.run_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(27.9);
    expect(days).toBeLessThanOrEqual(28);
    await t.handle.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString() }).where('dedupe_key', '=', `reminder:${sent.id}`).execute();
    const worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
    await worker.drain();
    await worker.drain();
    const reminders = await t.handle.db.selectFrom('mail').select(['to_address', 'text_body']).where('subject', 'like', 'Has the planned change been made%').execute();
    expect(reminders).toHaveLength(1);
    expect(reminders[0]!.to_address).toBe('responder@demo.carevoice');
    expect(reminders[0]!.text_body).toContain('soft-close bins');
  });

  it('lets an organisation admin add response templates that responders start from', async () => {
    const { CookieJar, submitForm } = await import('./helpers.ts');
    const { DEMO_PASSWORD } = await import('../src/demo/seed.ts');
    const admin = new CookieJar();
    await submitForm(t.app, admin, '/sign-in', '/sign-in', { email: 'trust.admin@demo.carevoice', password: DEMO_PASSWORD });
    const bad = await submitForm(t.app, admin, '/staff/organisations/RR8', '/staff/organisations/RR8/templates', { name: 'x', body: '' });
    expect(bad.statusCode).toBe(400);
    const ok = await submitForm(t.app, admin, '/staff/organisations/RR8', '/staff/organisations/RR8/templates', { name: 'Apology', body: 'Thank you for telling us about your experience, and I am sorry.' });
    expect(ok.statusCode).toBe(303);
    const tpl = await t.handle.db.selectFrom('response_templates').select('id').where('name', '=', 'Apology').executeTakeFirstOrThrow();
    const id = await publishedStory('A story to answer from a template');
    const responder = new CookieJar();
    await submitForm(t.app, responder, '/sign-in', '/sign-in', { email: 'responder@demo.carevoice', password: DEMO_PASSWORD });
    const page = await t.app.inject({ url: `/stories/${id}?template=${tpl.id}`, headers: { accept: 'text/html', cookie: responder.header() } });
    expect(page.body).toContain('Start from a template');
    expect(page.body).toMatch(/<textarea[^>]*id="response-body"[^>]*>Thank you for telling us about your experience, and I am sorry.<\/textarea>/);
  });
});

describe(`the storyteller replies on ${TEST_DB}`, () => {
  it('lets the author reply through the emailed link, moderated, so the story becomes a conversation', async () => {
    const { CookieJar, csrfFrom } = await import('./helpers.ts');
    const id = await publishedStory('Conversation story');
    const res = (await t.app.inject({ method: 'POST', url: `/api/v1/stories/${id}/responses`, payload: { body: 'Thank you, could you tell us which night this was?' }, headers: auth('responder') })).json();
    if (res.moderation === 'pending') await t.app.inject({ method: 'POST', url: `/api/v1/moderation/responses/${res.id}/decision`, payload: { action: 'publish' }, headers: auth('moderator') });
    await new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) }).drain();
    const mail = await t.handle.db.selectFrom('mail').select('text_body').where('to_address', '=', 'author@example.org').where('text_body', 'like', `%/stories/${id}/reply?token=%`).executeTakeFirstOrThrow();
    const link = new URL(/(http\S+\/reply\?token=\S+)/.exec(mail.text_body)![1]!);
    const token = link.searchParams.get('token')!;
    expect((await t.app.inject({ url: `/stories/${id}/reply?token=wrong`, headers: { accept: 'text/html' } })).statusCode).toBe(404);
    expect((await t.app.inject({ url: `/stories/${id}/reply`, headers: { accept: 'text/html' } })).statusCode).toBe(404);
    const jar = new CookieJar();
    const form = await t.app.inject({ url: `${link.pathname}${link.search}`, headers: { accept: 'text/html' } });
    expect(form.statusCode).toBe(200);
    jar.take(form);
    const post = (body: string) =>
      t.app.inject({ method: 'POST', url: `/stories/${id}/reply`, headers: { accept: 'text/html', cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrfFrom(form.body), token, body }).toString() });
    expect((await post('')).statusCode).toBe(400);
    expect((await post('It was last Tuesday night. Ring me on 07700 900999 if you need to.')).statusCode).toBe(200);
    const reply = await t.handle.db.selectFrom('author_replies').selectAll().where('story_id', '=', id).executeTakeFirstOrThrow();
    expect(reply.moderation).toBe('pending');
    expect(reply.body).not.toContain('07700 900999');
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).json().authorReplies).toEqual([]);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/moderation/replies/${reply.id}/decision`, payload: { action: 'publish' }, headers: auth('responder') })).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/moderation/replies/${reply.id}/decision`, payload: { action: 'publish' }, headers: auth('moderator') })).statusCode).toBe(200);
    const story = (await t.app.inject({ url: `/api/v1/stories/${id}` })).json();
    expect(story.authorReplies).toHaveLength(1);
    expect(story.authorReplies[0].body).toContain('last Tuesday night');
  });
});

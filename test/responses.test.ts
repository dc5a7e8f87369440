import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { FAST_TRACK_AFTER } from '../src/responses/respond.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
const key: Record<string, string> = {};
const auth = (who: string) => ({ authorization: `Bearer ${key[who]}` });

async function publishedStory(title: string, criticality = 1): Promise<string> {
  const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: 'The toilets on the ward were dirty for two days and nobody cleaned them.', services: ['RR813-W07'], authorRole: 'patient', email: 'author@example.org', rating: 4 } })).json().id;
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

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo, DEMO_PASSWORD } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { addWorkingDays } from '../src/responses/working-days.ts';
import { CookieJar, checkTold, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
let modKey: string;
const html = { accept: 'text/html' };

async function publish(title: string, service: string, criticality: number): Promise<string> {
  const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: `${title}: the staff on the ward were busy and we waited a long time.`, services: [service], authorRole: 'patient' } })).json().id;
  await checkTold(t.handle);
  await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish', criticality }, headers: { authorization: `Bearer ${modKey}` } });
  return id;
}
async function signIn(email: string) {
  const jar = new CookieJar();
  expect((await submitForm(t.app, jar, '/sign-in', '/sign-in', { email, password: DEMO_PASSWORD })).statusCode).toBe(303);
  return jar;
}

beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  const mod = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'moderator@demo.carevoice').executeTakeFirstOrThrow();
  modKey = await createApiKey(t.handle.db, mod.id);
});
afterAll(async () => t.close());

describe(`staff inbox on ${TEST_DB}`, () => {
  it('shows each organisation its own stories, most critical first, and lets staff read, take and note them', async () => {
    const mild = await publish('Mild story on Ward 12', 'RR813-W12', 1);
    const severe = await publish('Severe story on Ward J6', 'RR801-J06', 5);
    const gpStory = await publish('Story about the GP', 'B86901', 2);
    const responder = await signIn('responder@demo.carevoice');
    const page = await t.app.inject({ url: '/staff/inbox', headers: { ...html, cookie: responder.header() } });
    expect(page.statusCode).toBe(200);
    expect(page.body.indexOf('Severe story on Ward J6')).toBeGreaterThan(0);
    expect(page.body.indexOf('Severe story on Ward J6')).toBeLessThan(page.body.indexOf('Mild story on Ward 12'));
    expect(page.body).not.toContain('Story about the GP');
    expect((await t.app.inject({ url: `/staff/stories/${gpStory}`, headers: { ...html, cookie: responder.header() } })).statusCode).toBe(403);

    // Opening a story is reading it.
    expect((await t.app.inject({ url: `/api/v1/stories/${severe}` })).json().progress).toBe('unheard');
    expect((await t.app.inject({ url: `/staff/stories/${severe}`, headers: { ...html, cookie: responder.header() } })).statusCode).toBe(200);
    expect((await t.app.inject({ url: `/api/v1/stories/${severe}` })).json().progress).toBe('heard');

    const take = await submitForm(t.app, responder, `/staff/stories/${severe}`, `/staff/stories/${severe}/assign`, { assignee: 'me' });
    expect(take.statusCode).toBe(303);
    const h = await t.handle.db.selectFrom('story_handling').innerJoin('stories', 'stories.id', 'story_handling.story_id').select(['story_handling.due_at', 'stories.published_at']).where('story_id', '=', severe).executeTakeFirstOrThrow();
    expect(h.due_at).toBe(addWorkingDays(new Date(h.published_at!), 1).toISOString());
    await submitForm(t.app, responder, `/staff/stories/${mild}`, `/staff/stories/${mild}/assign`, { assignee: 'me' });
    const hm = await t.handle.db.selectFrom('story_handling').innerJoin('stories', 'stories.id', 'story_handling.story_id').select(['story_handling.due_at', 'stories.published_at']).where('story_id', '=', mild).executeTakeFirstOrThrow();
    expect(hm.due_at).toBe(addWorkingDays(new Date(hm.published_at!), 5).toISOString());

    // Overdue: the due date has passed and nobody answered.
    await t.handle.db.updateTable('story_handling').set({ due_at: new Date(Date.now() - 3_600_000).toISOString() }).where('story_id', '=', severe).execute();
    const overdue = await t.app.inject({ url: '/staff/inbox?overdue=1', headers: { ...html, cookie: responder.header() } });
    expect(overdue.body).toContain('Severe story on Ward J6');
    expect(overdue.body).toContain('Overdue');
    expect(overdue.body).not.toContain('Mild story on Ward 12');
    const mine = await t.app.inject({ url: '/staff/inbox?mine=1&criticality=4', headers: { ...html, cookie: responder.header() } });
    expect(mine.body).toContain('Severe story on Ward J6');
    expect(mine.body).not.toContain('Mild story on Ward 12');
    expect((await t.app.inject({ url: '/staff/inbox?criticality=9', headers: { ...html, cookie: responder.header() } })).statusCode).toBe(400);

    const note = await submitForm(t.app, responder, `/staff/stories/${severe}`, `/staff/stories/${severe}/notes`, { note: 'Called the ward manager; checking the rota for that night.' });
    expect(note.statusCode).toBe(303);
    const staffView = await t.app.inject({ url: `/staff/stories/${severe}`, headers: { ...html, cookie: responder.header() } });
    expect(staffView.body).toContain('checking the rota');
    const publicView = await t.app.inject({ url: `/stories/${severe}`, headers: html });
    expect(publicView.body).not.toContain('checking the rota');
    expect(JSON.stringify((await t.app.inject({ url: `/api/v1/stories/${severe}` })).json())).not.toContain('rota');

    // A leader sees the inbox but cannot assign; a colleague of another trust cannot be given the story.
    const leader = await signIn('leader@demo.carevoice');
    expect((await t.app.inject({ url: '/staff/inbox', headers: { ...html, cookie: leader.header() } })).body).toContain('Severe story on Ward J6');
    expect((await submitForm(t.app, leader, `/staff/stories/${mild}`, `/staff/stories/${mild}/assign`, { assignee: 'me' })).statusCode).toBe(403);
    const gp = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'gp.responder@demo.carevoice').executeTakeFirstOrThrow();
    expect((await submitForm(t.app, responder, `/staff/stories/${mild}`, `/staff/stories/${mild}/assign`, { assignee: gp.id })).statusCode).toBe(400);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey, loadActor } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { nextDigestAt, scheduleDigest, subscribe } from '../src/alerts/alerts.ts';
import { checkTold, startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
let worker: JobWorker;
const keys: Record<string, string> = {};
const actor = async (email: string) => (await loadActor(t.handle.db, (await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id))!;

async function publish(title: string, service: string, criticality: number) {
  const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: `${title}. We waited a long time and nobody explained what was happening.`, services: [service], authorRole: 'patient' } })).json().id as string;
  await checkTold(t.handle);
  await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish', criticality }, headers: { authorization: `Bearer ${keys.moderator}` } });
  return id;
}

beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  for (const [k, email] of Object.entries({ moderator: 'moderator@demo.carevoice', responder: 'responder@demo.carevoice', leader: 'leader@demo.carevoice' })) {
    keys[k] = await createApiKey(t.handle.db, (await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id);
  }
  worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
});
afterAll(async () => t.close());

describe(`alerts on ${TEST_DB}`, () => {
  it('refuses other organisations\' services and bad choices', async () => {
    const responder = await actor('responder@demo.carevoice');
    await expect(subscribe(t.handle, responder, { service: 'B86901', delivery: 'immediate' })).rejects.toMatchObject({ status: 403 });
    await expect(subscribe(t.handle, responder, { service: 'RR813', delivery: 'carrier pigeon' })).rejects.toMatchObject({ status: 400 });
    await expect(subscribe(t.handle, responder, { service: 'NOPE', delivery: 'immediate' })).rejects.toMatchObject({ status: 400 });
  });

  it('notifies once per person and story, emails at once or in the daily digest, and never twice', async () => {
    const responder = await actor('responder@demo.carevoice');
    const leader = await actor('leader@demo.carevoice');
    await subscribe(t.handle, responder, { service: 'RR813', minCriticality: 2, delivery: 'immediate' });
    await subscribe(t.handle, responder, { service: 'RR813-W07', minCriticality: 0, delivery: 'in_app' });
    await subscribe(t.handle, leader, { service: 'RR8', minCriticality: 0, delivery: 'digest' });
    const serious = await publish('Serious story on Ward 7', 'RR813-W07', 3);
    const mild = await publish('Mild story on Ward 7', 'RR813-W07', 1);
    const elsewhere = await publish('Story at St James', 'RR801-J06', 4);
    await worker.drain();
    await worker.drain();
    const notes = await t.handle.db.selectFrom('notifications').select(['user_id', 'story_id', 'delivery']).execute();
    const of = (userId: string) => notes.filter((n) => n.user_id === userId);
    // The responder: the serious story by email (their best matching subscription), the mild one in the app only.
    expect(of(responder.userId).map((n) => [n.story_id, n.delivery]).sort()).toEqual([[mild, 'in_app'], [serious, 'immediate']].sort());
    expect(of(responder.userId).some((n) => n.story_id === elsewhere)).toBe(false);
    expect(of(leader.userId)).toHaveLength(3);
    const alertMail = await t.handle.db.selectFrom('mail').select('subject').where('to_address', '=', 'responder@demo.carevoice').where('subject', 'like', 'New story:%').execute();
    expect(alertMail).toEqual([{ subject: expect.stringContaining('Serious story on Ward 7') }]);
    const me = (await t.app.inject({ url: '/api/v1/notifications', headers: { authorization: `Bearer ${keys.responder}` } })).json();
    expect(me.unread).toBe(2);

    // The digest goes at 07:00 with the leader's three stories, once, and the next one is scheduled.
    expect(nextDigestAt(new Date('2026-11-24T06:59:00Z')).toISOString()).toBe('2026-11-24T07:00:00.000Z');
    expect(nextDigestAt(new Date('2026-11-24T07:00:00Z')).toISOString()).toBe('2026-11-25T07:00:00.000Z');
    await scheduleDigest(t.handle, new Date(Date.now() - 86_400_000));
    await t.handle.db.updateTable('jobs').set({ run_at: new Date(Date.now() - 1000).toISOString(), payload: JSON.stringify({ at: new Date().toISOString() }) }).where('kind', '=', 'alerts.daily_digest').where('status', '=', 'queued').execute();
    await worker.drain();
    await worker.drain();
    const digests = await t.handle.db.selectFrom('mail').select(['subject', 'text_body']).where('to_address', '=', 'leader@demo.carevoice').where('subject', 'like', 'Your daily digest%').execute();
    expect(digests).toHaveLength(1);
    expect(digests[0]!.subject).toContain('3 new stories');
    const next = await t.handle.db.selectFrom('jobs').select('run_at').where('kind', '=', 'alerts.daily_digest').where('status', '=', 'queued').execute();
    expect(next.length).toBe(1);
    expect(Date.parse(next[0]!.run_at)).toBeGreaterThan(Date.now());
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type ReceivedMail } from './smtp.ts';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { checkTold, startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let smtp: Awaited<ReturnType<typeof startSmtp>>;
let inbox: ReceivedMail[];
let t: TestApp;
let worker: JobWorker;

beforeAll(async () => {
  smtp = await startSmtp();
  inbox = smtp.inbox;
  t = await startTestApp({ SMTP_URL: smtp.url, STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
});
afterAll(async () => {
  await t.close();
  await smtp.close();
});

const unfold = (raw: string) => raw.replace(/=\r?\n/g, '').replace(/\r?\n[ \t]+/g, ' ');

describe(`author mail over SMTP on ${TEST_DB}`, () => {
  it('acknowledges a story, then tells the author it is published (with the link) or rejected (with the reason)', async () => {
    const mod = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'moderator@demo.carevoice').executeTakeFirstOrThrow();
    const key = await createApiKey(t.handle.db, mod.id);
    const tell = async (title: string, email: string) =>
      (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: 'The staff on the ward were kind and explained everything clearly to us.', services: ['RR801-J06'], authorRole: 'patient', email } })).json() as { id: string; ref: string };
    const good = await tell('Kind staff on J6', 'good@example.org');
    const bad = await tell('Another story about J6', 'bad@example.org');
    await checkTold(t.handle);
    await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${good.id}/decision`, payload: { action: 'publish' }, headers: { authorization: `Bearer ${key}` } });
    await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${bad.id}/decision`, payload: { action: 'reject', reason: 'irrelevant' }, headers: { authorization: `Bearer ${key}` } });
    await worker.drain();
    const to = (address: string) => inbox.filter((m) => m.to.includes(address)).map((m) => unfold(m.raw));
    const goodMail = to('good@example.org');
    expect(goodMail).toHaveLength(2);
    expect(goodMail.some((m) => m.includes(`We have your story (${good.ref})`))).toBe(true);
    expect(goodMail.some((m) => m.includes('Your story is published') && m.includes(`http://localhost:3000/stories/${good.id}`))).toBe(true);
    const badMail = to('bad@example.org');
    expect(badMail.some((m) => m.includes('was not published') && m.includes('It is not about an experience of a health or care service.'))).toBe(true);
    const stored = await t.handle.db.selectFrom('mail').select('status').execute();
    expect(stored.every((m) => m.status === 'sent')).toBe(true);
    // Running the jobs again sends nothing twice.
    const before = inbox.length;
    await worker.drain();
    expect(inbox.length).toBe(before);
  });
});

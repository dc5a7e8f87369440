import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { CookieJar, csrfFrom, checkTold, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
let worker: JobWorker;
const html = { accept: 'text/html' };
beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
});
afterAll(async () => t.close());

describe(`the storyteller's data rights on ${TEST_DB}`, () => {
  it('mails a link to see, export and erase; erasure withdraws the stories and keeps only that it happened', async () => {
    const mod = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'moderator@demo.carevoice').executeTakeFirstOrThrow();
    const key = await createApiKey(t.handle.db, mod.id);
    const tell = async (title: string) => (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title, body: `${title}: my mum Margaret Wilson was on the ward and the nurses were kind.`, services: ['RR813-W07'], authorRole: 'relative', email: 'Teller_1@example.org' } })).json() as { id: string; ref: string };
    const a = await tell('First story');
    const b = await tell('Second story');
    await checkTold(t.handle);
    await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${a.id}/decision`, payload: { action: 'publish', title: 'First story edited' }, headers: { authorization: `Bearer ${key}` } });
    await worker.drain();

    // Asking never reveals whether an address has stories.
    const unknown = await submitForm(t.app, new CookieJar(), '/my-stories', '/my-stories', { email: 'nobody@example.org' });
    const known = await submitForm(t.app, new CookieJar(), '/my-stories', '/my-stories', { email: 'teller_1@example.org' });
    expect(unknown.statusCode).toBe(200);
    expect(known.statusCode).toBe(200);
    expect(unknown.body.replace(/nobody@example.org/g, 'X').replace(/name="_csrf" value="[^"]+"|nonce="[^"]+"/g, '')).toBe(known.body.replace(/teller_1@example.org/g, 'X').replace(/name="_csrf" value="[^"]+"|nonce="[^"]+"/g, ''));
    expect((await submitForm(t.app, new CookieJar(), '/my-stories', '/my-stories', { email: 'not an email' })).statusCode).toBe(400);
    await worker.drain();
    const mail = await t.handle.db.selectFrom('mail').select('text_body').where('subject', '=', 'Your stories on Carevoice').executeTakeFirstOrThrow();
    const token = /token=([\w-]+)/.exec(mail.text_body)![1]!;
    expect((await t.app.inject({ url: '/my-stories/manage?token=forged', headers: html })).statusCode).toBe(404);

    // Told just now, not yet stored (this app runs no job loop): it waits in the intake, and is
    // exported (and, below, erased) with the others.
    const c = await tell('Third story');
    // A story moving from the intake into stories while the export reads is seen in both places:
    // it is listed once. (Made here by giving b a row in the intake again, with the teller's payload.)
    const tellersPayload = (await t.handle.db.selectFrom('story_intake').select('payload').where('ref', '=', c.ref).executeTakeFirstOrThrow()).payload;
    await t.handle.db.insertInto('story_intake').values({ story_id: b.id, ref: b.ref, idempotency_key: null, payload: tellersPayload, received_at: new Date().toISOString(), last_error: null }).execute();
    const exported = await t.app.inject({ url: `/my-stories/export?token=${token}` });
    await t.handle.db.deleteFrom('story_intake').where('ref', '=', b.ref).execute();
    expect(exported.headers['content-disposition']).toContain('attachment');
    const data = exported.json();
    type Exported = { reference: string; story: string; status: string; services: Array<{ code: string; name: string }> };
    expect(data.stories.map((s: Exported) => s.reference).sort()).toEqual([a.ref, b.ref, c.ref].sort());
    expect(data.stories.find((s: Exported) => s.reference === a.ref).story).toContain('Margaret Wilson');
    const waiting = data.stories.find((s: Exported) => s.reference === c.ref) as Exported;
    expect(waiting.status).toBe('received');
    expect(waiting.story).toContain('Third story: my mum Margaret Wilson');
    expect(waiting.services).toEqual([{ code: 'RR813-W07', name: expect.not.stringMatching(/^RR813-W07$/) as unknown as string }]);

    const jar = new CookieJar();
    const manage = await t.app.inject({ url: `/my-stories/manage?token=${token}`, headers: html });
    jar.take(manage);
    const erase = (confirm: string) =>
      t.app.inject({ method: 'POST', url: '/my-stories/erase', headers: { ...html, cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrfFrom(manage.body), token, confirm }).toString() });
    expect((await erase('')).statusCode).toBe(400);
    expect((await t.app.inject({ url: `/api/v1/stories/${a.id}` })).statusCode).toBe(200);
    // The story still in the intake goes too; another teller's story beside it stays.
    const other = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Someone else', body: 'The ward was calm and clean.', services: ['RR813-W07'], authorRole: 'patient', email: 'other@example.org' } })).json() as { id: string };
    const intake = () => t.handle.db.selectFrom('story_intake').select(['story_id', 'payload']).execute();
    expect((await intake()).map((r) => r.story_id).sort()).toEqual([c.id, other.id].sort());
    const done = await erase('yes');
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('3 stories were withdrawn');
    expect((await intake()).map((r) => r.story_id)).toEqual([other.id]);

    expect((await t.app.inject({ url: `/api/v1/stories/${a.id}` })).statusCode).toBe(404);
    const rows = await t.handle.db.selectFrom('stories').selectAll().where('id', 'in', [a.id, b.id]).execute();
    expect(rows.every((r) => r.moderation === 'withdrawn' && r.author_email === null)).toBe(true);
    const everything = JSON.stringify(await intake()) + JSON.stringify(rows) + JSON.stringify(await t.handle.db.selectFrom('events').select('data').execute()) + JSON.stringify(await t.handle.db.selectFrom('story_findings').selectAll().execute()) + JSON.stringify(await t.handle.db.selectFrom('mail').selectAll().execute()) + JSON.stringify(await t.handle.db.selectFrom('jobs').select('payload').execute());
    expect(everything).not.toContain('Margaret Wilson');
    expect(everything.toLowerCase()).not.toContain('teller_1@example.org');
    const audit = await t.handle.db.selectFrom('events').select('data').where('type', '=', 'author.erased').execute();
    expect(audit.map((e) => JSON.parse(e.data))).toEqual([{ stories: 3 }]);
    // The link dies with the data.
    expect((await t.app.inject({ url: `/my-stories/manage?token=${token}`, headers: html })).statusCode).toBe(404);

    // Someone whose only story still waits in the intake can ask for it too.
    await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Only waiting', body: 'The clinic ran on time and the staff were kind.', services: ['RR813-W07'], authorRole: 'patient', email: 'only-waiting@example.org' } });
    await submitForm(t.app, new CookieJar(), '/my-stories', '/my-stories', { email: 'only-waiting@example.org' });
    const sent = await t.handle.db.selectFrom('jobs').select('payload').where('kind', '=', 'mail.send').execute();
    expect(sent.some((j) => j.payload.includes('only-waiting@example.org') && j.payload.includes('Your stories on Carevoice'))).toBe(true);
  });
});

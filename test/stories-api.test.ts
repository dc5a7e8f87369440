import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { jobHandlers } from '../src/jobs.ts';
import { checkTold, startTestApp, TEST_DB, type TestApp } from './helpers.ts';
import { openDatabase } from '../src/platform/db/index.ts';
import { intakeProblems, MAX_ATTEMPTS, processIntake, retryIntake, RETRY_AFTER_MS } from '../src/stories/intake.ts';

let t: TestApp;
let moderatorKey: string;
let leaderKey: string;
let worker: JobWorker;
beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  const mod = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'moderator@demo.carevoice').executeTakeFirstOrThrow();
  const leader = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'leader@demo.carevoice').executeTakeFirstOrThrow();
  moderatorKey = await createApiKey(t.handle.db, mod.id);
  leaderKey = await createApiKey(t.handle.db, leader.id);
  worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
});
afterAll(async () => t.close());

const story = {
  title: 'Kind nurses on Ward 7',
  body: 'My husband John Smith was on Ward 7 for 4 hours before a bed was found. Call me on 07700 900123. The nurses were very kind and explained everything.',
  services: ['RR813-W07'],
  authorRole: 'relative',
  email: 'teller@example.org',
  tags: { good: ['Kindness and compassion'], improve: ['Waiting times'], felt: ['Reassured'] },
  rating: 2,
};

async function post(body: unknown, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: body as object, headers });
}

describe(`stories through the API on ${TEST_DB}`, () => {
  let id: string;

  it('takes a story as pending and keeps it off the public API until published', async () => {
    const res = await post(story);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ id: expect.any(String), moderation: 'pending' });
    id = res.json().id;
    expect((await t.app.inject({ url: `/api/v1/stories/${id}` })).statusCode).toBe(404);
    const list = (await t.app.inject({ url: '/api/v1/stories?service=RR813' })).json();
    expect(list.items.map((s: { id: string }) => s.id)).not.toContain(id);
  });

  it('makes one story of a double submit with the same Idempotency-Key', async () => {
    const headers = { 'idempotency-key': 'double-submit-0001' };
    const a = await post({ ...story, title: 'Double submitted story' }, headers);
    const b = await post({ ...story, title: 'Double submitted story' }, headers);
    expect(a.statusCode).toBe(201);
    expect(b.json().id).toBe(a.json().id);
    await checkTold(t.handle);
    // Once the first is stored (it has left the intake), a third try still gets it back.
    const c = await post({ ...story, title: 'Double submitted story' }, headers);
    expect(c.statusCode).toBe(201);
    expect(c.json().id).toBe(a.json().id);
    await checkTold(t.handle);
    const n = await t.handle.db.selectFrom('stories').select('id').where('title', '=', 'Double submitted story').execute();
    expect(n).toHaveLength(1);
    expect(await t.handle.db.selectFrom('story_intake').select('story_id').execute()).toEqual([]);
  });

  it('keeps the others of stories told at the same moment when two share an Idempotency-Key', async () => {
    // Told in one turn, they reach the intake together (on SQLite, in one transaction of its writer
    // thread): the second with the key is refused there, and the stories after it are still kept.
    const key = { 'idempotency-key': 'same-moment-0001' };
    const [a, b, c] = await Promise.all([
      post({ ...story, title: 'Same moment, first' }, key),
      post({ ...story, title: 'Same moment, first' }, key),
      post({ ...story, title: 'Same moment, other' }),
    ]);
    expect([a!.statusCode, b!.statusCode, c!.statusCode]).toEqual([201, 201, 201]);
    expect(b!.json().id).toBe(a!.json().id);
    expect(c!.json().id).not.toBe(a!.json().id);
    await checkTold(t.handle);
    const kept = await t.handle.db.selectFrom('stories').select(['id', 'title']).where('title', 'like', 'Same moment, %').orderBy('title').execute();
    expect(kept).toEqual([
      { id: a!.json().id, title: 'Same moment, first' },
      { id: c!.json().id, title: 'Same moment, other' },
    ]);
  });

  it('keeps a story that cannot be stored in the intake with its error, tries it again later, and stores the others', async () => {
    const good = (await post({ ...story, title: 'Stored beside a bad one', email: undefined })).json().id as string;
    const row = await t.handle.db.selectFrom('story_intake').selectAll().where('story_id', '=', good).executeTakeFirstOrThrow();
    // A row whose service no longer exists: storing it breaks a foreign key.
    const payload = JSON.parse(row.payload) as { services: Array<{ id: string }> };
    const realService = payload.services[0]!.id;
    payload.services[0]!.id = 'no-such-service';
    await t.handle.db
      .insertInto('story_intake')
      .values({ story_id: 'bad-story-0001', ref: 'CV-BADBAD01', idempotency_key: null, payload: JSON.stringify(payload), received_at: row.received_at, last_error: null })
      .execute();
    const before = Date.now();
    await checkTold(t.handle);
    expect(await t.handle.db.selectFrom('stories').select('id').where('id', 'in', [good, 'bad-story-0001']).execute()).toEqual([{ id: good }]);
    const bad = () => t.handle.db.selectFrom('story_intake').select(['story_id', 'attempts', 'last_error', 'retry_at']).where('ref', '=', 'CV-BADBAD01').executeTakeFirstOrThrow();
    const first = await bad();
    expect(first).toMatchObject({ story_id: 'bad-story-0001', attempts: 1 });
    expect(first.last_error).toMatch(/foreign key/i);
    // Not at once: 30 s later, then twice as long after each failure.
    const wait1 = Date.parse(first.retry_at!) - before;
    expect(wait1).toBeGreaterThanOrEqual(RETRY_AFTER_MS);
    expect(wait1).toBeLessThan(RETRY_AFTER_MS + 10_000);
    expect(await processIntake(t.handle)).toBe(0);
    let at = Date.parse(first.retry_at!);
    for (let n = 2; n <= MAX_ATTEMPTS; n++) {
      expect(await processIntake(t.handle, { now: new Date(at) })).toBe(1);
      const next = await bad();
      expect(next.attempts).toBe(n);
      expect(Date.parse(next.retry_at!) - at).toBe(RETRY_AFTER_MS * 2 ** (n - 1));
      at = Date.parse(next.retry_at!);
    }
    // After the last attempt it waits for an operator, however long.
    expect(await processIntake(t.handle, { now: new Date(at + 86_400_000) })).toBe(0);
    expect(await intakeProblems(t.handle.db)).toEqual([
      { ref: 'CV-BADBAD01', storyId: 'bad-story-0001', receivedAt: row.received_at, attempts: MAX_ATTEMPTS, lastError: expect.stringMatching(/foreign key/i), retryAt: null },
    ]);
    // The operator mends the cause and asks for it to be tried again: it is stored.
    payload.services[0]!.id = realService;
    await t.handle.db.updateTable('story_intake').set({ payload: JSON.stringify(payload) }).where('ref', '=', 'CV-BADBAD01').execute();
    expect(await retryIntake(t.handle.db, { ref: 'cv-badbad01' })).toBe(1);
    expect(await retryIntake(t.handle.db, { ref: 'CV-NOSUCH1' })).toBe(0);
    await checkTold(t.handle);
    expect(await t.handle.db.selectFrom('stories').select('id').where('id', '=', 'bad-story-0001').execute()).toEqual([{ id: 'bad-story-0001' }]);
    expect(await intakeProblems(t.handle.db)).toEqual([]);
  });

  it.runIf(TEST_DB === 'postgres')('lets two servers take different stories from the intake at once, and stores every one once', async () => {
    await checkTold(t.handle);
    const told: string[] = [];
    for (let i = 0; i < 20; i++) told.push(((await post({ ...story, title: `Told at the same time ${i}` })).json() as { id: string }).id);
    const other = openDatabase(t.config.database);
    try {
      const taken = await Promise.all([processIntake(t.handle, { limit: 10 }), processIntake(other, { limit: 10 })]);
      // Each took its own ten: none was left for a later turn, and none was taken twice.
      expect(taken).toEqual([10, 10]);
      expect(await t.handle.db.selectFrom('story_intake').select('seq').execute()).toEqual([]);
      expect(await t.handle.db.selectFrom('stories').select('id').where('id', 'in', told).execute()).toHaveLength(20);
    } finally {
      await other.close();
    }
  });

  it('keeps a story that cannot even be checked with its error, and stores the others', async () => {
    const good = (await post({ ...story, title: 'Checked beside an unreadable one', email: undefined })).json().id as string;
    const row = await t.handle.db.selectFrom('story_intake').selectAll().where('story_id', '=', good).executeTakeFirstOrThrow();
    await t.handle.db
      .insertInto('story_intake')
      .values({ story_id: 'bad-story-0002', ref: 'CV-BADBAD02', idempotency_key: null, payload: '{"title": unreadable', received_at: row.received_at, last_error: null })
      .execute();
    await checkTold(t.handle);
    expect(await t.handle.db.selectFrom('stories').select('id').where('id', 'in', [good, 'bad-story-0002']).execute()).toEqual([{ id: good }]);
    const left = await t.handle.db.selectFrom('story_intake').select(['story_id', 'attempts', 'last_error']).execute();
    expect(left).toEqual([{ story_id: 'bad-story-0002', attempts: 1, last_error: expect.stringMatching(/JSON/) }]);
    await t.handle.db.deleteFrom('story_intake').where('story_id', '=', 'bad-story-0002').execute();
  });

  it('refuses bad stories with a clear 400 and stores nothing', async () => {
    const before = (await t.handle.db.selectFrom('stories').select('id').execute()).length;
    const bad: Array<[unknown, string]> = [
      [{}, 'invalid_story'],
      [{ ...story, title: '' }, 'invalid_story'],
      [{ ...story, body: 'x'.repeat(200_000) }, 'invalid_story'],
      [{ ...story, services: ['NOPE'] }, 'unknown_service'],
      [{ ...story, services: [] }, 'invalid_story'],
      [{ ...story, title: '<script>alert(1)</script>' }, 'invalid_story'],
      [{ ...story, body: `${story.body} <img src=x onerror=alert(1)>` }, 'invalid_story'],
      [{ ...story, authorRole: 'wizard' }, 'invalid_story'],
      [{ ...story, tags: ['Not a tag'] }, 'unknown_tag'],
      [{ ...story, rating: 9 }, 'invalid_story'],
      [{ ...story, email: 'not-an-email' }, 'invalid_story'],
      [{ ...story, pseudonym: 'John Smith' }, 'bad_pseudonym'],
      [{ ...story, extra: 1 }, 'invalid_story'],
      [[1, 2, 3], 'invalid_story'],
    ];
    for (const [body, code] of bad) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().error.code, JSON.stringify(body).slice(0, 80)).toBe(code);
    }
    const broken = await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: '{"title": ', headers: { 'content-type': 'application/json' } });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.code).toBe('invalid_json');
    expect((await t.handle.db.selectFrom('stories').select('id').execute()).length).toBe(before);
  });

  it('shows moderators the queue with findings and a suggested criticality; others get 401/403', async () => {
    expect((await t.app.inject({ url: '/api/v1/moderation/queue' })).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/api/v1/moderation/queue', headers: { authorization: `Bearer ${leaderKey}` } })).statusCode).toBe(403);
    // Told but not yet checked (in the intake, not yet stored): not in the queue, and it cannot be
    // published.
    const fresh = (await post({ ...story, title: 'Just told', email: undefined })).json().id as string;
    const queue = async () => t.app.inject({ url: '/api/v1/moderation/queue', headers: { authorization: `Bearer ${moderatorKey}` } });
    expect((await queue()).json().items.map((i: { id: string }) => i.id)).not.toContain(fresh);
    const early = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${fresh}/decision`, payload: { action: 'publish', criticality: 1 }, headers: { authorization: `Bearer ${moderatorKey}` } });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('not_checked');
    expect(await t.handle.db.selectFrom('stories').select('id').where('id', '=', fresh).executeTakeFirst()).toBeUndefined();
    expect((await t.handle.db.selectFrom('story_intake').select('story_id').execute()).map((r) => r.story_id)).toContain(fresh);
    await checkTold(t.handle);
    expect((await queue()).json().items.map((i: { id: string }) => i.id)).toContain(fresh);
    await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${fresh}/decision`, payload: { action: 'reject', reason: 'irrelevant' }, headers: { authorization: `Bearer ${moderatorKey}` } });
    expect(await t.handle.db.selectFrom('story_intake').select('story_id').execute()).toEqual([]);
    const res = await queue();
    expect(res.statusCode).toBe(200);
    const item = res.json().items.find((i: { id: string }) => i.id === id);
    expect(item.findings.map((f: { type: string }) => f.type)).toEqual(expect.arrayContaining(['name', 'phone']));
    expect(item.suggestedCriticality).toEqual(expect.any(Number));
  });

  it('puts an urgent story first and alerts moderators', async () => {
    const urgent = await post({ ...story, email: undefined, title: 'Worried about my dad', body: 'My dad was left in soiled sheets for hours and has bruises on his arms. I think he is being neglected on the ward.' });
    expect(urgent.statusCode).toBe(201);
    await checkTold(t.handle);
    const queue = (await t.app.inject({ url: '/api/v1/moderation/queue', headers: { authorization: `Bearer ${moderatorKey}` } })).json();
    expect(queue.items[0].id).toBe(urgent.json().id);
    expect(queue.items[0].urgent).toBe(true);
    await worker.drain();
    const alerts = await t.handle.db.selectFrom('mail').select(['to_address', 'subject']).where('subject', 'like', 'URGENT%').execute();
    expect(alerts.map((a) => a.to_address)).toEqual(expect.arrayContaining(['moderator@demo.carevoice', 'admin@demo.carevoice']));
  });

  it('publishes the redacted text when the decision has no body, and emails the author', async () => {
    const bad = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'reject' }, headers: { authorization: `Bearer ${moderatorKey}` } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('reason_required');
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish', criticality: 1 }, headers: { authorization: `Bearer ${moderatorKey}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json().moderation).toBe('published');
    const again = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish' }, headers: { authorization: `Bearer ${moderatorKey}` } });
    expect(again.statusCode).toBe(409);
    const pub = await t.app.inject({ url: `/api/v1/stories/${id}` });
    expect(pub.statusCode).toBe(200);
    const body = pub.json();
    expect(body.body).not.toContain('John Smith');
    expect(body.body).not.toContain('07700 900123');
    expect(body.body).toContain('Ward 7');
    expect(body.body).toContain('4 hours');
    expect(body.progress).toBe('unheard');
    expect(body.tags).toEqual({ good: ['Kindness and compassion'], improve: ['Waiting times'], felt: ['Reassured'] });
    for (const secret of ['criticality', 'original_body', 'originalBody', 'author_email', 'authorEmail', 'email', 'suggestedCriticality']) expect(body).not.toHaveProperty(secret);
    expect(JSON.stringify(body)).not.toContain('teller@example.org');
    await worker.drain();
    const mail = await t.handle.db.selectFrom('mail').select(['subject', 'text_body']).where('to_address', '=', 'teller@example.org').execute();
    expect(mail.map((m) => m.subject)).toEqual(expect.arrayContaining([expect.stringMatching(/^We have your story/), expect.stringMatching(/^Your story is published/)]));
  });

  it('finds published stories by text, service subtree, tag and date, paged by cursor', async () => {
    const ids = (r: { items: Array<{ id: string }> }) => r.items.map((s) => s.id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?q=kind%20nurses' })).json())).toContain(id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?q=John' })).json())).not.toContain(id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?service=RR8' })).json())).toContain(id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?service=RR801' })).json())).not.toContain(id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?tag=Waiting%20times' })).json())).toContain(id);
    expect(ids((await t.app.inject({ url: '/api/v1/stories?since=2999-01-01' })).json())).toEqual([]);
    expect((await t.app.inject({ url: '/api/v1/stories?since=yesterday-ish' })).statusCode).toBe(400);
    expect((await t.app.inject({ url: '/api/v1/stories?q=%22%28*%29' })).statusCode).toBe(200);
    expect((await t.app.inject({ url: '/api/v1/stories?service=NOPE' })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/api/v1/stories?cursor=garbage' })).statusCode).toBe(400);
  });

  it('classifies a story as it is stored: themes with confidence and a sentiment', async () => {
    await worker.drain();
    const row = await t.handle.db.selectFrom('stories').select(['themes', 'sentiment']).where('id', '=', id).executeTakeFirstOrThrow();
    const themes = JSON.parse(row.themes) as Array<{ label: string; score: number }>;
    expect(row.sentiment).toMatch(/^[1-5]$/);
    expect(themes.every((th) => th.score > 0 && th.score <= 1)).toBe(true);
    // Themes are a filter on the public list.
    await t.handle.db.updateTable('stories').set({ themes: JSON.stringify([{ label: 'Staff manner & personal attributes', score: 0.9 }]) }).where('id', '=', id).execute();
    const byTheme = (await t.app.inject({ url: `/api/v1/stories?theme=${encodeURIComponent('Staff manner & personal attributes')}` })).json();
    expect(byTheme.items.map((s: { id: string }) => s.id)).toContain(id);
    expect(byTheme.items[0].themes).toEqual([{ label: 'Staff manner & personal attributes', score: 0.9 }]);
    const wildcard = (await t.app.inject({ url: `/api/v1/stories?theme=${encodeURIComponent('Staff_manner%')}` })).json();
    expect(wildcard.items).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { sql } from 'kysely';
import { migrate } from '../src/platform/db/index.ts';
import { appendEvent, eventsAfter } from '../src/platform/events.ts';
import { enqueue, JobWorker } from '../src/platform/jobs.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

const silent = pino({ level: 'silent' });
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

describe(`data layer on ${TEST_DB}`, () => {
  it('runs the migrations a second time without change', async () => {
    expect(await migrate(t.handle)).toEqual([]);
    const tables = TEST_DB === 'postgres'
      ? (await sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`.execute(t.handle.db)).rows
      : (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`.execute(t.handle.db)).rows;
    expect(tables.map((r) => r.name)).toEqual(expect.arrayContaining(['organisations', 'services', 'users', 'events', 'jobs', 'sessions', 'api_keys']));
  });

  if (TEST_DB === 'sqlite') {
    it('uses WAL, full synchronous commits and foreign keys', () => {
      expect(t.handle.sqlite!.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(t.handle.sqlite!.pragma('synchronous', { simple: true })).toBe(2);
      expect(t.handle.sqlite!.pragma('foreign_keys', { simple: true })).toBe(1);
    });
  }

  it('gives events monotonic ids and keeps them only when their transaction commits', async () => {
    const a = await appendEvent(t.handle.db, t.handle.dialect, { type: 'test.a', data: { n: 1 } });
    await expect(
      t.handle.db.transaction().execute(async (trx) => {
        await appendEvent(trx, t.handle.dialect, { type: 'test.rolled_back' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const b = await appendEvent(t.handle.db, t.handle.dialect, { type: 'test.b', subject: 'x' });
    expect(b).toBeGreaterThan(a);
    const after = await eventsAfter(t.handle.db, { after: a - 1 });
    expect(after.map((e) => e.type)).toEqual(['test.a', 'test.b']);
    expect(after[0]!.data).toEqual({ n: 1 });
  });

  it('refuses to break a foreign key', async () => {
    await expect(
      t.handle.db.insertInto('memberships').values({ user_id: 'nobody', org_id: 'nowhere', role: 'admin', created_at: new Date().toISOString() }).execute(),
    ).rejects.toThrow();
  });
});

describe(`durable jobs on ${TEST_DB}`, () => {
  it('runs a job once, drops a duplicate enqueue, and retries a failure with back-off', async () => {
    const seen: string[] = [];
    let failures = 1;
    const worker = new JobWorker(t.handle, {
      log: silent,
      handlers: {
        'test.echo': async (p) => {
          seen.push((p as { v: string }).v);
        },
        'test.flaky': async () => {
          if (failures-- > 0) throw new Error('temporary failure');
        },
      },
    });
    await enqueue(t.handle.db, { kind: 'test.echo', payload: { v: 'one' }, dedupeKey: 'echo-1' });
    await enqueue(t.handle.db, { kind: 'test.echo', payload: { v: 'again' }, dedupeKey: 'echo-1' });
    await enqueue(t.handle.db, { kind: 'test.flaky', payload: {} });
    expect(await worker.drain()).toBe(2);
    expect(seen).toEqual(['one']);
    const flaky = await t.handle.db.selectFrom('jobs').selectAll().where('kind', '=', 'test.flaky').executeTakeFirstOrThrow();
    expect(flaky.status).toBe('queued');
    expect(flaky.attempts).toBe(1);
    expect(flaky.last_error).toBe('temporary failure');
    expect(flaky.run_at > new Date().toISOString()).toBe(true);
    // Make it due now: the retry succeeds.
    await t.handle.db.updateTable('jobs').set({ run_at: new Date(0).toISOString() }).where('id', '=', flaky.id).execute();
    expect(await worker.drain()).toBe(1);
    const done = await t.handle.db.selectFrom('jobs').select(['status', 'attempts']).where('id', '=', flaky.id).executeTakeFirstOrThrow();
    expect(done).toEqual({ status: 'done', attempts: 2 });
  });

  it('gives a batch handler its jobs together, and runs them one by one when the batch fails', async () => {
    const batches: number[][] = [];
    const alone: number[] = [];
    let failBatch = false;
    const handler = Object.assign(
      async (p: unknown) => {
        alone.push((p as { n: number }).n);
      },
      {
        batch: async (jobs: Array<{ payload: unknown; jobId: number }>) => {
          if (failBatch) throw new Error('the batch failed');
          batches.push(jobs.map((j) => (j.payload as { n: number }).n));
        },
      },
    );
    const worker = new JobWorker(t.handle, { log: silent, handlers: { 'test.batch': handler } });
    for (const n of [1, 2, 3]) await enqueue(t.handle.db, { kind: 'test.batch', payload: { n } });
    expect(await worker.drain()).toBe(3);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(alone).toEqual([]);
    failBatch = true;
    for (const n of [4, 5]) await enqueue(t.handle.db, { kind: 'test.batch', payload: { n } });
    expect(await worker.drain()).toBe(2);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(alone).toEqual([4, 5]);
    const statuses = await t.handle.db.selectFrom('jobs').select(['status', 'attempts']).where('kind', '=', 'test.batch').execute();
    expect(statuses).toEqual(Array.from({ length: 5 }, () => ({ status: 'done', attempts: 1 })));
  });

  it('takes back a job whose worker died (its lease ran out)', async () => {
    await enqueue(t.handle.db, { kind: 'test.lease', payload: {}, dedupeKey: 'lease-1' });
    await t.handle.db.updateTable('jobs').set({ status: 'running', attempts: 1, locked_until: new Date(Date.now() - 1000).toISOString() }).where('dedupe_key', '=', 'lease-1').execute();
    let ran = 0;
    const worker = new JobWorker(t.handle, { log: silent, handlers: { 'test.lease': async () => void ran++ } });
    expect(await worker.drain()).toBe(1);
    expect(ran).toBe(1);
  });

  it('gives up on a job whose workers keep dying, instead of taking it back forever', async () => {
    await enqueue(t.handle.db, { kind: 'test.deadly', payload: {}, dedupeKey: 'deadly-1', maxAttempts: 3 });
    await t.handle.db.updateTable('jobs').set({ status: 'running', attempts: 3, locked_until: new Date(Date.now() - 1000).toISOString() }).where('dedupe_key', '=', 'deadly-1').execute();
    let ran = 0;
    const worker = new JobWorker(t.handle, { log: silent, handlers: { 'test.deadly': async () => void ran++ } });
    await worker.drain();
    expect(ran).toBe(0);
    const row = await t.handle.db.selectFrom('jobs').select(['status', 'last_error']).where('dedupe_key', '=', 'deadly-1').executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
  });

  it('never gives one job to two workers at once', async () => {
    const n = 40;
    for (let i = 0; i < n; i++) await enqueue(t.handle.db, { kind: 'test.count', payload: { i } });
    const counts = new Map<number, number>();
    const handler = async (p: unknown) => {
      const i = (p as { i: number }).i;
      counts.set(i, (counts.get(i) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 2));
    };
    const workers = [1, 2, 3].map(() => new JobWorker(t.handle, { log: silent, handlers: { 'test.count': handler } }));
    const ran = await Promise.all(workers.map((w) => w.drain()));
    expect(ran.reduce((a, b) => a + b, 0)).toBe(n);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    expect(counts.size).toBe(n);
  });

  it('stops cleanly, leaving unclaimed work queued', async () => {
    const worker = new JobWorker(t.handle, { log: silent, pollMs: 20, handlers: { 'test.later': async () => {} } });
    worker.start();
    await worker.stop();
    await enqueue(t.handle.db, { kind: 'test.later', payload: {}, dedupeKey: 'later-1' });
    const row = await t.handle.db.selectFrom('jobs').select('status').where('dedupe_key', '=', 'later-1').executeTakeFirstOrThrow();
    expect(row.status).toBe('queued');
  });
});

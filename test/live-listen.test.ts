import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub } from '../src/platform/live.ts';
import { openDatabase, migrate, type DbHandle } from '../src/platform/db/index.ts';
import { freshDatabase, TEST_DB, type TestDatabase } from './helpers.ts';

// The live hub's LISTEN connection on PostgreSQL (src/platform/live.ts): when PostgreSQL ends it
// (a restart ends every connection), the hub lets it go once and listens again by itself; a hub
// stopped before, or one whose connection reports more than one error, must not release it twice
// (pg-pool throws, and nothing catches it: the server would stop).
describe.runIf(TEST_DB === 'postgres')('the live hub when PostgreSQL ends its connection', () => {
  let database: TestDatabase;
  let handle: DbHandle;
  beforeAll(async () => {
    database = await freshDatabase();
    handle = openDatabase({ kind: 'postgres', url: database.url });
    await migrate(handle);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  const listeners = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN carevoice_events'`.execute(handle.db)).rows[0]!.n);
  const endListeners = () => sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN carevoice_events'`.execute(handle.db);

  it('listens again after its connection is ended, and a stopped hub is left alone', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const hub = new LiveHub(handle, pino({ level: 'silent' }), { types: ['story.published'] });
      await hub.start();
      expect(await listeners()).toBe(1);
      await endListeners();
      const until = Date.now() + 5000;
      while ((await listeners()) < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await listeners()).toBe(1);
      // The client's 'error' listener reporting twice (a restart can end a connection with more than one error).
      const client = (hub as unknown as { client: { emit(e: string, err: Error): void } }).client;
      client.emit('error', new Error('terminating connection due to administrator command'));
      client.emit('error', new Error('Connection terminated unexpectedly'));
      await hub.stop();
      await new Promise((r) => setTimeout(r, 1500));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

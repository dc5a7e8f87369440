import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrate, openDatabase, type DbHandle } from '../src/platform/db/index.ts';
import { readRows } from '../src/platform/db/readers.ts';
import { TEST_DB } from './helpers.ts';

// The SQLite reader threads (src/platform/db/readers.ts): a query sent to them answers with what
// the event loop's connection has committed, and they never write.
describe.runIf(TEST_DB === 'sqlite')('SQLite reader threads', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-readers-'));
  let handle: DbHandle;

  beforeAll(async () => {
    handle = openDatabase({ kind: 'sqlite', file: path.join(dir, 'readers.db') });
    await migrate(handle);
    await handle.db.insertInto('organisations').values({ id: 'org-1', ods_code: 'RXX', name: 'A Trust', kind: 'trust', review_window_hours: 48, target_days_critical: 2, target_days_other: 10, created_at: new Date().toISOString() }).execute();
  });
  afterAll(async () => {
    await handle.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads what was committed on the main connection, also after later commits', async () => {
    const query = handle.db.selectFrom('organisations').select(['ods_code', 'name']).orderBy('ods_code').compile();
    expect(await readRows(handle, query)).toEqual([{ ods_code: 'RXX', name: 'A Trust' }]);
    await handle.db.updateTable('organisations').set({ name: 'Renamed Trust' }).where('id', '=', 'org-1').execute();
    expect(await readRows(handle, query)).toEqual([{ ods_code: 'RXX', name: 'Renamed Trust' }]);
  });

  it('refuses to write, and the database is unchanged', async () => {
    await expect(readRows(handle, sql`DELETE FROM organisations RETURNING id`.compile(handle.db))).rejects.toThrow(/readonly|read-only|query_only/i);
    expect(await handle.db.selectFrom('organisations').select('id').execute()).toHaveLength(1);
  });

  it('logs a slow query with SLOW_QUERY_MS, like the queries on the event loop, saying where it ran', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    process.env.SLOW_QUERY_MS = '0.000001';
    try {
      await readRows(handle, handle.db.selectFrom('organisations').select('ods_code').compile());
    } finally {
      delete process.env.SLOW_QUERY_MS;
      spy.mockRestore();
    }
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; where?: string; sql: string });
    expect(logged).toEqual([expect.objectContaining({ msg: 'slow query', where: 'reader thread', sql: expect.stringContaining('from "organisations"') as unknown as string })]);
  });

  it('answers on the event loop for an in-memory database', async () => {
    const memory = openDatabase({ kind: 'sqlite', file: ':memory:' });
    try {
      await migrate(memory);
      expect(await readRows(memory, sql<{ one: number }>`SELECT 1 AS one`.compile(memory.db))).toEqual([{ one: 1 }]);
    } finally {
      await memory.close();
    }
  });
});

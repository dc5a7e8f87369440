import { afterAll, describe, expect, it } from 'vitest';
import { insertRows, valuesOf } from './bulk.ts';
import { migrate, openDatabase } from './index.ts';

describe('insertRows', () => {
  const handle = openDatabase({ kind: 'sqlite', file: ':memory:' });
  afterAll(() => handle.close());
  const event = (i: number, data: string | null) => ({ type: `test.${i}`, org_id: null, subject: `s${i}`, actor_id: null, data: data ?? '{}', created_at: `2026-11-30T00:00:0${i}.000Z` });

  it('gathers the values in the order Kysely puts its parameters', () => {
    const rows = [event(1, '{"a":1}'), event(2, null), event(3, '{"b":[2]}')];
    const compiled = handle.db.insertInto('events').values(rows).compile();
    expect(valuesOf(rows, Object.keys(rows[0]!))).toEqual(compiled.parameters);
  });

  it('inserts the same rows through its kept statement as through Kysely, and refuses a row short of a column', async () => {
    await migrate(handle);
    await insertRows(handle.db, 'sqlite', 'events', [event(1, null), event(2, null)]);
    // The second time, with the same shape, the statement Kysely built the first time is used.
    await insertRows(handle.db, 'sqlite', 'events', [event(3, '{"x":3}'), event(4, null)]);
    const rows = await handle.db.selectFrom('events').select(['type', 'subject', 'data', 'created_at']).where('type', 'like', 'test.%').orderBy('type').execute();
    expect(rows).toEqual([1, 2, 3, 4].map((i) => ({ type: `test.${i}`, subject: `s${i}`, data: i === 3 ? '{"x":3}' : '{}', created_at: `2026-11-30T00:00:0${i}.000Z` })));

    const { subject: _, ...short } = event(6, null);
    await expect(insertRows(handle.db, 'sqlite', 'events', [event(5, null), short as ReturnType<typeof event>])).rejects.toThrow(/has no subject/);
    expect(await handle.db.selectFrom('events').select('id').where('type', 'in', ['test.5', 'test.6']).execute()).toEqual([]);
  });
});

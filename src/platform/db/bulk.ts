import { CompiledQuery, type Insertable } from 'kysely';
import type { Db, Dialect } from './index.ts';
import type { Database } from './schema.ts';

/**
 * Inserts many rows of one shape with one statement whose SQL Kysely built the first time that
 * shape (table, columns, number of rows) was seen: after that only the values are gathered, in the
 * order Kysely puts them (row by row, each row's columns in the order of the first row's keys).
 *
 * Decision: an FFT import inserts 500-row statements of 31 columns, and Kysely builds each from
 * its operation tree again, about 8 us a row, on the thread that is the import's bottleneck. The
 * statements' text is the same every time, so it is kept (the few most recent shapes: a 500-row
 * statement's SQL is some tens of kilobytes).
 *
 * Every row must have the first row's keys; a missing one throws before anything is written.
 */
export async function insertRows<T extends keyof Database & string>(
  db: Db,
  dialect: Dialect,
  table: T,
  rows: ReadonlyArray<Insertable<Database[T]>>,
  options: { onConflictDoNothing?: keyof Database[T] & string } = {},
): Promise<void> {
  const first = rows[0];
  if (!first) return;
  const columns = Object.keys(first);
  const values = valuesOf(rows as ReadonlyArray<Record<string, unknown>>, columns);
  const shape = `${dialect}|${table}|${options.onConflictDoNothing ?? ''}|${rows.length}|${columns.join(',')}`;
  const cached = statements.get(shape);
  if (cached === undefined) {
    // Typed loosely: the rows' type is checked by the signature above.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    let query = db.insertInto(table).values(rows as any);
    const conflict = options.onConflictDoNothing;
    if (conflict) query = query.onConflict((oc) => oc.column(conflict as never).doNothing());
    const compiled = query.compile();
    remember(shape, compiled.sql);
    await db.executeQuery(compiled);
    return;
  }
  await db.executeQuery(CompiledQuery.raw(cached, values));
}

/** The rows' values, row by row, in the order of `columns`. */
export function valuesOf(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): unknown[] {
  const values = new Array<unknown>(rows.length * columns.length);
  let n = 0;
  for (const row of rows) {
    for (const c of columns) {
      const v = row[c];
      if (v === undefined) throw new Error(`insertRows: a row has no ${c}, which the first row has`);
      values[n++] = v;
    }
  }
  return values;
}

const MAX_SHAPES = 16;
const statements = new Map<string, string>();
function remember(shape: string, sql: string): void {
  statements.set(shape, sql);
  if (statements.size > MAX_SHAPES) statements.delete(statements.keys().next().value!);
}

import os from 'node:os';
import type { CompiledQuery } from 'kysely';
import { Piscina } from 'piscina';
import { logIfSlow, type DbHandle } from './index.ts';

/**
 * Read-only queries that take milliseconds (full-text search) run on a thread of their own on
 * SQLite, with its own connection to the file (`reader.mjs`): better-sqlite3 is synchronous, so on
 * the event loop such a query holds every other request (a live wall's events, a story being told)
 * and requests that arrive together wait for one another. WAL lets the reader read beside the one
 * writer; it sees what was committed when its query began.
 *
 * SQLITE_READERS sets the threads: two unless told (no more than the cores). Measured on two cores
 * with a server alone on the benchmark's database, 300 searches four at a time (`sampleLatency` of
 * bench/lib/http.ts over the search queries of bench/reads.ts), the 95th percentile went from 34 ms
 * on the event loop to 31 ms with one reader and 25 ms with two; two cost about 40 MiB of memory
 * with a page cache of 8 MiB each (4 MiB now). 0 runs the queries on the event loop. PostgreSQL and
 * an in-memory database always answer through the handle.
 */
const pools = new WeakMap<DbHandle, Piscina>();

function readerThreads(): number {
  const n = Number(process.env.SQLITE_READERS ?? 2);
  return Math.min(Number.isInteger(n) && n >= 0 ? n : 2, os.availableParallelism());
}

export async function readRows<R>(handle: DbHandle, query: CompiledQuery<R>): Promise<R[]> {
  const file = handle.sqliteFile;
  const threads = readerThreads();
  if (!file || threads === 0) return (await handle.db.executeQuery(query)).rows;
  let pool = pools.get(handle);
  if (!pool) {
    const made = new Piscina({ filename: new URL('./reader.mjs', import.meta.url).href, minThreads: threads, maxThreads: threads, idleTimeout: 60_000, workerData: { file } });
    pools.set(handle, made);
    handle.onClose(() => made.destroy());
    pool = made;
  }
  const started = performance.now();
  const rows = (await pool.run({ sql: query.sql, parameters: query.parameters })) as R[];
  // From asking to answer: the time on the thread, and any wait for a free one.
  logIfSlow(query.sql, performance.now() - started, 'reader thread');
  return rows;
}

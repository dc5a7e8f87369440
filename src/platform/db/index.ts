import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, SqliteDialect, type Driver, type KyselyConfig, type MigrationProvider } from 'kysely';
import type { Config } from '../../config.ts';
import type { Database } from './schema.ts';
import { migrationsFor } from './migrations.ts';
import { secureRandomBytes } from '../auth/tokens.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

export interface DbHandle {
  db: Db;
  dialect: Dialect;
  /** The raw SQLite handle (backup, pragmas); absent on PostgreSQL. */
  sqlite?: SqliteDatabase.Database;
  /** The pg pool (LISTEN/NOTIFY needs its own client); absent on SQLite. */
  pool?: pg.Pool;
  /** The SQLite database file; absent on PostgreSQL and for an in-memory database. */
  sqliteFile?: string;
  /** Runs `fn` when the handle closes, before the database connection is (a thread of a feature, say). */
  onClose(fn: () => Promise<void>): void;
  close(): Promise<void>;
}

// PostgreSQL returns int8 (bigserial ids, count(*)) as strings by default; every id and count we
// keep fits in a double.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/**
 * SLOW_QUERY_MS=N logs, on stderr as a JSON line, every query that took N ms or more, with its SQL
 * (never its parameters, which hold people's words): how to find what holds the event loop.
 */
function slowQueryLog(): KyselyConfig['log'] {
  if (!(slowQueryMs() > 0)) return undefined;
  return (e) => logIfSlow(e.query.sql, e.queryDurationMillis);
}

const slowQueryMs = () => Number(process.env.SLOW_QUERY_MS ?? 0);

/** Logs the query as slow (see slowQueryLog) when SLOW_QUERY_MS is set and it took that long. */
export function logIfSlow(sqlText: string, ms: number, where?: string): void {
  const limit = slowQueryMs();
  if (limit > 0 && ms >= limit) process.stderr.write(`${JSON.stringify({ level: 'warn', msg: 'slow query', ms: Math.round(ms), ...(where ? { where } : {}), sql: sqlText.slice(0, 500) })}\n`);
}

export function openDatabase(config: Config['database']): DbHandle {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: config.url, max: 10, connectionTimeoutMillis: 5000 });
    // An idle client that loses its server (a PostgreSQL restart) must not crash the process.
    pool.on('error', () => {});
    // So must a client in use when its server goes away (a FATAL between statements): without a
    // listener that 'error' event would end the process. pg marks the client broken and the pool
    // drops it on release; the request in hand fails with 503.
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: slowQueryLog() });
    const closing = closeHooks();
    return { db, dialect: 'postgres', pool, onClose: closing.add, close: () => closing.run().then(() => db.destroy()) };
  }
  if (config.file !== ':memory:') fs.mkdirSync(path.dirname(config.file), { recursive: true });
  const sqlite = new SqliteDatabase(config.file);
  // WAL lets readers run beside the one writer. synchronous=FULL makes every commit durable on power
  // loss, not only on a process crash: a story acknowledged with 201 must survive both (the story
  // intake's writer thread commits the same way, off the event loop: see stories/intake-writer.ts).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // 64 MiB of page cache (the default is 2 MiB): the indexes that every story touches stay in memory.
  sqlite.pragma('cache_size = -65536');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }), log: slowQueryLog() });
  const file = config.file === ':memory:' ? undefined : config.file;
  const closing = closeHooks();
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    sqliteFile: file,
    onClose: closing.add,
    close: () => closing.run().then(() => db.destroy()),
  };
}

function closeHooks() {
  const hooks: Array<() => Promise<void>> = [];
  return {
    add: (fn: () => Promise<void>) => void hooks.push(fn),
    run: async () => {
      for (const fn of hooks.splice(0)) await fn();
    },
  };
}

/**
 * Transactions that take SQLite's write lock when they begin (BEGIN IMMEDIATE), waiting for it up to
 * busy_timeout. Another connection writes to the same file (the story intake's writer thread), and
 * a deferred transaction that read before that write and then tried to write itself would fail at
 * once (SQLITE_BUSY_SNAPSHOT) rather than wait.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

/**
 * Kysely's SQLite driver prepares every query afresh, and preparing (parsing, planning) cost more
 * than running most of ours: a third of the time a simple request spent in SQLite. The app's
 * queries come from a few hundred shapes, so prepared statements are kept by their SQL, the least
 * recently used dropped past `max`. A statement still being iterated (a stream) is busy and cannot
 * be shared: a second one is prepared for the moment.
 */
function withStatementCache(sqlite: SqliteDatabase.Database, max = 500): { prepare(sql: string): SqliteDatabase.Statement; close(): void } {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    prepare(text: string) {
      const hit = cache.get(text);
      if (hit && !hit.busy) {
        cache.delete(text);
        cache.set(text, hit);
        return hit;
      }
      const stmt = sqlite.prepare(text);
      if (!hit) {
        cache.set(text, stmt);
        if (cache.size > max) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
    close: () => {
      cache.clear();
      sqlite.close();
    },
  };
}

export async function migrate(handle: DbHandle): Promise<string[]> {
  const migrations = migrationsFor(handle.dialect);
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const migrator = new Migrator({ db: handle.db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export const now = () => new Date().toISOString();
/**
 * Row ids are UUIDv7: the first 48 bits are the time of creation in milliseconds, the other 74 are
 * random (from the pooled CSPRNG). Rows created together sit together in every index keyed by id
 * (stories, their services, findings, events, jobs), so a batch of new rows dirties a few pages at
 * the end of each index instead of one page per row scattered over all of it: an import of FFT
 * comments wrote about 2.5 times fewer pages per commit. An id therefore shows when its row was
 * created; nothing secret is an id (tokens, keys and story references are random throughout).
 */
export const newId = () => uuidv7({ random: secureRandomBytes(16) });

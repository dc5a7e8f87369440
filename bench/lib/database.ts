// A fresh, empty, migrated database for one benchmark run: a temporary SQLite file, or a PostgreSQL
// database created (after dropping any left by an earlier run) on the server DATABASE_URL names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate, openDatabase, type DbHandle } from '../../src/platform/db/index.ts';

export interface BenchDatabase {
  /** What the server under test gets as DATABASE_URL. */
  url: string;
  kind: 'sqlite' | 'postgres';
  /** Opens a handle on it (the caller closes it). */
  open(): DbHandle;
  /** Removes the database and everything in it. */
  drop(): Promise<void>;
}

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//.test(url);

export const BENCH_DATABASE_NAME = 'carevoice_bench';

/** The same server, another database: CREATE and DROP DATABASE must run from outside the target. */
function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function onServer(databaseUrl: string, statements: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabaseName(databaseUrl, 'postgres') });
  await admin.connect();
  try {
    for (const s of statements) await admin.query(s);
  } finally {
    await admin.end();
  }
}

async function freshPostgres(databaseUrl: string, name: string): Promise<BenchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
  // FORCE ends the sessions of a server left running by an interrupted run.
  await onServer(databaseUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]);
  const url = withDatabaseName(databaseUrl, name);
  return {
    url,
    kind: 'postgres',
    open: () => openDatabase({ kind: 'postgres', url }),
    drop: () => onServer(databaseUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]),
  };
}

function freshSqlite(): BenchDatabase {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-bench-'));
  const file = path.join(dir, 'bench.db');
  return {
    url: `sqlite:${file}`,
    kind: 'sqlite',
    // Opened as the app opens it (WAL, synchronous=FULL), so generation pays the same commit costs.
    open: () => openDatabase({ kind: 'sqlite', file }),
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Creates the database and brings its schema up to date with the app's own migrations. On
 * PostgreSQL it is `name` on the server `databaseUrl` names (each benchmark its own name, so two can
 * run at once); a sqlite: URL is not used as such, so a run never writes into someone's own file.
 */
export async function createBenchDatabase(databaseUrl?: string, name = BENCH_DATABASE_NAME): Promise<BenchDatabase> {
  if (databaseUrl && isPostgresUrl(databaseUrl)) return migrated(await freshPostgres(databaseUrl, name));
  return migrated(freshSqlite());
}

async function migrated(db: BenchDatabase): Promise<BenchDatabase> {
  const handle = db.open();
  try {
    await migrate(handle);
  } catch (err) {
    await handle.close();
    await db.drop();
    throw err;
  }
  await handle.close();
  return db;
}

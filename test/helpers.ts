import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../src/config.ts';
import { migrate, openDatabase, type DbHandle } from '../src/platform/db/index.ts';
import { createViews } from '../src/platform/views.ts';
import { buildApp } from '../src/app.ts';
import type { AppContext } from '../src/platform/context.ts';
import { drainIntake } from '../src/stories/intake.ts';

/** Which database the integration suite runs on: `TEST_DB=postgres` or the SQLite default. */
export const TEST_DB = process.env.TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
export const PG_ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new empty database: a temporary SQLite file, or a fresh PostgreSQL database dropped afterwards. */
export async function freshDatabase(): Promise<TestDatabase> {
  if (TEST_DB === 'postgres') {
    const name = `cv_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async drop() {
        const c = new pg.Client({ connectionString: PG_ADMIN_URL });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-test-'));
  return { url: `sqlite:${path.join(dir, 'test.db')}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface TestApp {
  app: FastifyInstance;
  ctx: AppContext;
  handle: DbHandle;
  config: Config;
  close(): Promise<void>;
}

export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await freshDatabase();
  // Its own data directory too: the secrets key file is made there.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-data-'));
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', PUBLIC_URL: 'http://localhost:3000', DATA_DIR: dataDir, ...env });
  const handle = openDatabase(config.database);
  await migrate(handle);
  const ctx: AppContext = { config, handle, log: pino({ level: 'silent' }), views: createViews(), secret: 'test-secret-test-secret-test-secret-1234' };
  const app = await buildApp(ctx);
  await app.ready();
  return {
    app,
    ctx,
    handle,
    config,
    async close() {
      await app.close();
      await handle.close();
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Checks and stores every story in the intake, as the job loop does in a running server (test apps
 * have no job loop): a story told is moderated, published and answered only once stored.
 */
export const checkTold: (handle: DbHandle) => Promise<void> = drainIntake;

/** Collects Set-Cookie values into a Cookie header, like a browser would. */
export class CookieJar {
  private readonly jar = new Map<string, string>();
  take(res: { headers: Record<string, string | string[] | number | undefined> }) {
    const set = res.headers['set-cookie'];
    for (const c of Array.isArray(set) ? set : set ? [String(set)] : []) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }
  get(name: string) {
    return this.jar.get(name);
  }
  header() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** The CSRF token of the first form on a page. */
export function csrfFrom(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1]!;
}

/** GETs a page and posts its form as a browser would (cookies and CSRF token carried along). */
export async function submitForm(app: FastifyInstance, jar: CookieJar, pageUrl: string, action: string, fields: Record<string, string>) {
  const page = await app.inject({ method: 'GET', url: pageUrl, headers: { cookie: jar.header(), accept: 'text/html' } });
  jar.take(page);
  const res = await app.inject({
    method: 'POST',
    url: action,
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    payload: new URLSearchParams({ _csrf: csrfFrom(page.body), ...fields }).toString(),
  });
  jar.take(res);
  return res;
}

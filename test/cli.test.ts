import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, TEST_DB, type TestDatabase } from './helpers.ts';
import { startServer } from './server.ts';

const BIN = path.resolve('bin/carevoice.js');
let database: TestDatabase;
beforeAll(async () => {
  database = await freshDatabase();
});
afterAll(async () => database.drop());

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe(`command line on ${TEST_DB}`, () => {
  it('prints help for every command', () => {
    for (const args of [['--help'], ['serve', '--help'], ['user', 'add', '--help'], ['apikey', 'create', '--help'], ['import', 'directory', '--help']]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: carevoice/);
    }
  });

  it('migrates and seeds twice without harm', () => {
    expect(run(['migrate']).code).toBe(0);
    expect(run(['migrate']).code).toBe(0);
    const first = run(['seed', '--demo']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/demo loaded: \d+ organisations/);
    const second = run(['seed', '--demo']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('demo loaded: 0 organisations, 0 services, 0 new users');
  });

  it('adds users and prints an API key alone on stdout', () => {
    const add = run(['user', 'add', '--email', 'New.Person@example.org', '--name', 'New Person', '--role', 'responder', '--org', 'RX8', '--password', 'a-long-enough-password']);
    expect(add.code, add.stderr).toBe(0);
    const key = run(['apikey', 'create', '--email', 'new.person@example.org']);
    expect(key.code).toBe(0);
    expect(key.stdout).toMatch(/^cvk_[\w-]{43}\n$/);
  });

  it('fails with a one-line reason on bad input', () => {
    const cases: Array<[string[], RegExp]> = [
      [['user', 'add', '--email', 'x@example.org', '--name', 'X', '--role', 'wizard'], /--role must be one of/],
      [['user', 'add', '--email', 'x@example.org', '--name', 'X', '--role', 'responder'], /needs --org/],
      [['user', 'add', '--email', 'x@example.org', '--name', 'X', '--role', 'leader', '--org', 'NOPE'], /no organisation has the ODS code NOPE/],
      [['user', 'add', '--email', 'x@example.org', '--name', 'X', '--role', 'moderator', '--password', 'short'], /at least 10 characters/],
      [['apikey', 'create', '--email', 'nobody@example.org'], /no user has the email/],
      [['import', 'directory', '--file', '/no/such/file.csv'], /no such file/],
      [['seed'], /--demo/],
    ];
    for (const [args, reason] of cases) {
      const r = run(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(reason);
    }
  });

  it('lists the stories that failed to be stored and refuses to retry one that is not there', () => {
    const list = run(['intake', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/every story told has been stored/);
    const retry = run(['intake', 'retry', '--ref', 'CV-NOSUCH01']);
    expect(retry.code).not.toBe(0);
    expect(retry.stderr.trim().split('\n')).toEqual([expect.stringMatching(/no story that failed to be stored has the reference CV-NOSUCH01/)]);
    const all = run(['intake', 'retry']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^0 stories will be tried again/);
  });

  it('reports each bad directory row by line and imports nothing', () => {
    const file = path.join(os.tmpdir(), `dir-${process.pid}.csv`);
    fs.writeFileSync(file, 'code,name,kind,parent_code,hashtags\nQQ1-A,Ward A,ward,RR813,#QQA\nQQ1-B,Ward B,ward,NOPE,\n');
    const r = run(['import', 'directory', '--file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 3: parent_code NOPE/);
    fs.writeFileSync(file, 'code,name,kind,parent_code,hashtags\nQQ1-A,Ward A,ward,RR813,#QQA\n');
    const ok = run(['import', 'directory', '--file', file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('imported 0 organisations and 1 services');
    fs.rmSync(file);
  });

  it('refuses to start on bad configuration, with one line', () => {
    const badConfigs: Array<Record<string, string>> = [{ PORT: 'eighty' }, { DATABASE_URL: 'mysql://x' }, { SMTP_URL: 'http://mail' }, { LOG_LEVEL: 'loud' }, { SQLITE_READERS: 'two' }];
    for (const env of badConfigs) {
      const r = run(['migrate'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^carevoice: bad configuration: \w+ /);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('runs two servers on one database and stops gracefully on SIGTERM', async () => {
    const a = await startServer({ DATABASE_URL: database.url });
    const b = await startServer({ DATABASE_URL: database.url });
    try {
      for (const s of [a, b]) expect(await (await fetch(`${s.url}/healthz`)).json()).toEqual({ status: 'ok' });
      // A key made through one process works on the other: the state is all in the database.
      const key = run(['apikey', 'create', '--email', 'leader@demo.carevoice']).stdout.trim();
      for (const s of [a, b]) {
        const me = await fetch(`${s.url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
        expect(me.status).toBe(200);
      }
      const slow = fetch(`${a.url}/api/v1/services?q=ward`);
      a.child.kill('SIGTERM');
      expect((await slow).status).toBe(200);
      expect(await a.exited).toBe(0);
      expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGTERM');
      await b.exited;
    }
  });
});

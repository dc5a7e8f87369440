import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/platform/db/index.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

const BIN = path.resolve('bin/carevoice.js');
const run = (args: string[], env: Record<string, string>) => spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 60_000 });

/** Like run, without blocking this process, so the app can keep working while the command runs. */
function runAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

let t: TestApp;
let dir: string;
beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-backup-'));
});
afterAll(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe(`backup and restore on ${TEST_DB}`, () => {
  if (TEST_DB === 'postgres') {
    it('points PostgreSQL users to pg_dump and pg_restore', () => {
      const url = t.config.database.kind === 'postgres' ? t.config.database.url : '';
      const r = run(['backup', '--out', path.join(dir, 'x.db')], { DATABASE_URL: url });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('pg_dump');
    });
    return;
  }

  it('copies the database while the app is using it, and restores the copy into a new place', async () => {
    await seedDemo(t.handle, { stories: 50 });
    const file = t.config.database.kind === 'sqlite' ? t.config.database.file : '';
    const env = { DATABASE_URL: `sqlite:${file}` };
    // Keep telling stories while the backup runs: the copy is a consistent snapshot.
    let telling = true;
    const told = (async () => {
      let n = 0;
      while (telling && n < 200) {
        await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: `During backup ${n}`, body: 'Told while the database was being copied to a backup file.', services: ['RR813-W07'], authorRole: 'patient' } });
        n++;
      }
      return n;
    })();
    const out = path.join(dir, 'copy.db');
    const backup = await runAsync(['backup', '--out', out], env);
    telling = false;
    const during = await told;
    expect(during).toBeGreaterThan(0);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/backed up .* \(\d+ stories\)/);
    expect(run(['backup', '--out', out], env).stderr).toContain('already exists');

    const restoredFile = path.join(dir, 'restored', 'carevoice.db');
    const restore = run(['restore', '--from', out], { DATABASE_URL: `sqlite:${restoredFile}` });
    expect(restore.status, restore.stderr).toBe(0);
    const copy = openDatabase(loadConfig({ DATABASE_URL: `sqlite:${restoredFile}` }).database);
    const stories = await copy.db.selectFrom('stories').select(['id', 'title']).execute();
    const inBackup = Number(/\((\d+) stories\)/.exec(backup.stdout)![1]);
    expect(stories.length).toBe(inBackup);
    expect(stories.length).toBeGreaterThanOrEqual(56);
    expect(copy.sqlite!.pragma('integrity_check', { simple: true })).toBe('ok');
    await copy.close();

    fs.writeFileSync(path.join(dir, 'junk.db'), 'not a database');
    const junk = run(['restore', '--from', path.join(dir, 'junk.db')], { DATABASE_URL: `sqlite:${restoredFile}` });
    expect(junk.status).toBe(1);
    // A refused restore leaves the database as it was.
    const again = openDatabase(loadConfig({ DATABASE_URL: `sqlite:${restoredFile}` }).database);
    expect((await again.db.selectFrom('stories').select('id').execute()).length).toBe(inBackup);
    await again.close();
  });
});

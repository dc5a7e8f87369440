import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { checkTold, startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
const keys: Record<string, string> = {};
let storyId: string;
beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  for (const email of ['responder@demo.carevoice', 'gp.responder@demo.carevoice', 'moderator@demo.carevoice']) {
    const u = await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow();
    keys[email] = await createApiKey(t.handle.db, u.id);
  }
  storyId = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: 'Nowhere to park', body: 'I drove round the car park for forty minutes and missed my appointment at the clinic.', services: ['RR813-OPD'], authorRole: 'patient' } })).json().id;
  await checkTold(t.handle);
});
afterAll(async () => t.close());

const correct = (email: string | undefined, themes: unknown) =>
  t.app.inject({ method: 'POST', url: `/api/v1/stories/${storyId}/themes`, payload: { themes }, headers: email ? { authorization: `Bearer ${keys[email]}` } : {} });

describe(`theme corrections on ${TEST_DB}`, () => {
  it('lets staff of the organisation (not others) correct a story\'s themes, and keeps the correction', async () => {
    expect((await correct(undefined, ['Parking'])).statusCode).toBe(401);
    expect((await correct('gp.responder@demo.carevoice', ['Parking'])).statusCode).toBe(403);
    const unknown = await correct('responder@demo.carevoice', ['Car parks on the moon']);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe('unknown_theme');
    const ok = await correct('responder@demo.carevoice', ['Parking', 'Appointment arrangements']);
    expect(ok.statusCode).toBe(200);
    const story = await t.handle.db.selectFrom('stories').select('themes').where('id', '=', storyId).executeTakeFirstOrThrow();
    expect(JSON.parse(story.themes)).toEqual([
      { label: 'Parking', score: 1, corrected: true },
      { label: 'Appointment arrangements', score: 1, corrected: true },
    ]);
    const kept = await t.handle.db.selectFrom('theme_corrections').selectAll().where('story_id', '=', storyId).execute();
    expect(kept).toHaveLength(1);
    expect(JSON.parse(kept[0]!.labels)).toEqual(['Parking', 'Appointment arrangements']);
  });

  it('adds the corrections to training with train --with-corrections', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-train-'));
    const rows = ['text,Parking,Appointment arrangements'];
    for (let i = 0; i < 20; i++) rows.push(`"No parking spaces again, round and round ${i}",1,0`, `"The appointment letter came late ${i}",0,1`);
    fs.writeFileSync(path.join(dir, 'data.csv'), rows.join('\n'));
    fs.writeFileSync(path.join(dir, 'labels.txt'), 'Parking\nAppointment arrangements\n');
    const run = (extra: string[]) =>
      spawnSync(process.execPath, [path.resolve('bin/carevoice.js'), 'train', '--data', path.join(dir, 'data.csv'), '--text', 'text', '--labels-file', path.join(dir, 'labels.txt'), '--out', path.join(dir, 'm.json.gz'), ...extra], {
        env: { ...process.env, DATABASE_URL: t.config.database.kind === 'postgres' ? t.config.database.url : `sqlite:${t.config.database.file}`, LOG_LEVEL: 'silent' },
        encoding: 'utf8',
      });
    const plain = run([]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/on 40 rows/);
    const withCorrections = run(['--with-corrections']);
    expect(withCorrections.status, withCorrections.stderr).toBe(0);
    expect(withCorrections.stdout).toContain('adding 1 corrected stories');
    expect(withCorrections.stdout).toMatch(/on 41 rows/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { importFftFile } from '../src/listening/fft.ts';
import { newStoryRef, tellStory } from '../src/stories/tell.ts';
import { processIntake } from '../src/stories/intake.ts';
import type * as Tell from '../src/stories/tell.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

// Story references are random: the import must draw again when one is taken, not fail the file.
vi.mock('../src/stories/tell.ts', async (importOriginal) => {
  const real = await importOriginal<typeof Tell>();
  return { ...real, newStoryRef: vi.fn(real.newStoryRef) };
});

describe(`FFT import and story references on ${TEST_DB}`, () => {
  let t: TestApp;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-fft-refs-'));
  beforeAll(async () => {
    t = await startTestApp();
    await seedDemo(t.handle, { stories: 0 });
  });
  afterAll(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const csv = (name: string, comments: string[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, ['date,service_code,rating,comment', ...comments.map((c) => `2026-11-02,RR813-W07,2,"${c}"`)].join('\n'));
    return file;
  };
  const refsOf = async () => (await t.handle.db.selectFrom('stories').select('ref').where('channel', '=', 'fft').execute()).map((r) => r.ref);

  it('draws another reference when one is taken by a stored story or by another row of the file', async () => {
    expect((await importFftFile(t.handle, { orgCode: 'RR8', file: csv('one.csv', ['The first comment, about the ward staff']) })).imported).toBe(1);
    const [taken] = await refsOf();
    // The next rows are given the stored story's reference, then one reference twice.
    vi.mocked(newStoryRef).mockReturnValueOnce(taken!).mockReturnValueOnce('CV-TWICE001').mockReturnValueOnce('CV-TWICE001');
    const r = await importFftFile(t.handle, { orgCode: 'RR8', file: csv('three.csv', ['A second comment about the food', 'A third comment about the parking', 'A fourth comment about the waiting room']) });
    expect(r.imported).toBe(3);
    const refs = await refsOf();
    expect(refs).toHaveLength(4);
    expect(new Set(refs).size).toBe(4);
    expect(refs.filter((ref) => ref === taken)).toHaveLength(1);
    expect(refs.filter((ref) => ref === 'CV-TWICE001')).toHaveLength(1);
  });

  it('leaves a story still in the intake its reference, so it is stored when its turn comes', async () => {
    const told = await tellStory(t.handle, { title: 'Kind nurses on the ward', body: 'The nurses on the ward were kind and explained everything to me.', services: ['RR813-W07'], authorRole: 'patient' }, { channel: 'api', publicUrl: 'http://localhost:3000' });
    expect(await t.handle.db.selectFrom('story_intake').select('ref').where('ref', '=', told.ref).executeTakeFirst()).toBeDefined();
    vi.mocked(newStoryRef).mockReturnValueOnce(told.ref);
    expect((await importFftFile(t.handle, { orgCode: 'RR8', file: csv('after-told.csv', ['A fifth comment, about the discharge lounge']) })).imported).toBe(1);
    expect(await refsOf()).not.toContain(told.ref);
    expect(await processIntake(t.handle)).toBe(1);
    const stored = await t.handle.db.selectFrom('stories').select(['id', 'ref']).where('ref', '=', told.ref).execute();
    expect(stored).toEqual([{ id: told.id, ref: told.ref }]);
  });
});

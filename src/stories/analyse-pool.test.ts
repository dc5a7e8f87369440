import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadComments } from '../demo/comments.ts';
import { analyseAll, asFinished, closeAnalysisPool, workerBundle, type AnalysisBatch } from './analyse-pool.ts';
import { analyseBatch, type Analysis } from './analyse.ts';
import { titleFrom } from './tell.ts';

const analysis = (body: string) => ({ body }) as unknown as Analysis;
const requireHere = createRequire(import.meta.url);

function later<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms));
}

describe('asFinished', () => {
  it('yields batches as they finish, not in the order given, several together when ready together', async () => {
    const batches: AnalysisBatch[] = [
      { start: 0, analyses: later(60, [analysis('a')]) },
      { start: 1, analyses: Promise.resolve([analysis('b')]) },
      { start: 2, analyses: Promise.resolve([analysis('c')]) },
    ];
    const turns: number[][] = [];
    for await (const finished of asFinished(batches)) turns.push(finished.map((f) => f.start));
    expect(turns.flat().sort()).toEqual([0, 1, 2]);
    expect(turns.at(-1)).toEqual([0]);
    expect(turns[0]).toEqual([1, 2]);
  });

  it('takes at most the given number of batches a turn', async () => {
    const batches: AnalysisBatch[] = [0, 1, 2, 3, 4].map((start) => ({ start, analyses: Promise.resolve([analysis(String(start))]) }));
    const turns: number[] = [];
    for await (const finished of asFinished(batches, 2)) turns.push(finished.length);
    expect(turns).toEqual([2, 2, 1]);
  });

  it('throws the first failure', async () => {
    const batches: AnalysisBatch[] = [
      { start: 0, analyses: later(50, [analysis('a')]) },
      { start: 1, analyses: Promise.reject(new Error('the models failed')) },
    ];
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const finished of asFinished(batches)) seen.push(...finished.map((f) => f.start));
      })(),
    ).rejects.toThrow('the models failed');
    expect(seen).toEqual([]);
  });
});

describe('workerBundle', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-bundle-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cache = path.join(dir, 'cache');
  const entry = path.join(dir, 'entry.ts');
  const part = path.join(dir, 'part.ts');
  fs.writeFileSync(entry, "import { answer } from './part.ts';\nexport const where: string = import.meta.url;\nexport default (n: number): string => `${answer} ${n}`;\n");
  // As piscina loads a worker's file: with require() (the bundle is CommonJS).
  const load = async (file: string) => {
    delete requireHere.cache[file];
    return requireHere(file) as { default: (n: number) => string; where: string };
  };

  it('builds plain JavaScript once, keeps each module its own import.meta.url, and builds again when an input changes', async () => {
    fs.writeFileSync(part, "export const answer: string = 'first';\n");
    const first = await workerBundle(entry, cache);
    expect(first.built).toBe(true);
    expect(path.dirname(first.file)).toBe(cache);
    const loaded = await load(first.file);
    expect(loaded.default(1)).toBe('first 1');
    expect(loaded.where).toBe(pathToFileURL(entry).href);

    const again = await workerBundle(entry, cache);
    expect(again).toEqual({ file: first.file, built: false });

    fs.writeFileSync(part, "export const answer: string = 'second';\n");
    const changed = await workerBundle(entry, cache);
    expect(changed.built).toBe(true);
    expect(changed.file).not.toBe(first.file);
    expect((await load(changed.file)).default(2)).toBe('second 2');
  });

  it('builds again when the bundle it names is gone or the manifest is unreadable', async () => {
    fs.writeFileSync(part, "export const answer: string = 'third';\n");
    const built = await workerBundle(entry, cache);
    fs.rmSync(built.file);
    expect((await workerBundle(entry, cache)).built).toBe(true);
    fs.writeFileSync(path.join(cache, 'entry.json'), '{ not json');
    expect((await workerBundle(entry, cache)).built).toBe(true);
    expect((await workerBundle(entry, cache)).built).toBe(false);
  });

  it('builds into a private temporary directory, every time, where the cache cannot be made', async () => {
    const blocked = path.join(dir, 'a-file');
    fs.writeFileSync(blocked, '');
    const first = await workerBundle(entry, path.join(blocked, 'cache'));
    expect(first.built).toBe(true);
    expect(first.file.startsWith(os.tmpdir())).toBe(true);
    expect((await load(first.file)).default(3)).toMatch(/ 3$/);
    const second = await workerBundle(entry, path.join(blocked, 'cache'));
    expect(second.built).toBe(true);
    expect(path.dirname(second.file)).not.toBe(path.dirname(first.file));
    for (const f of [first.file, second.file]) fs.rmSync(path.dirname(f), { recursive: true, force: true });
  });

  it('fails with the compiler\'s message for code that does not compile, and leaves no manifest naming it', async () => {
    const broken = path.join(dir, 'broken.ts');
    fs.writeFileSync(broken, 'export default (n: number => n;\n');
    await expect(workerBundle(broken, cache)).rejects.toThrow(/broken\.ts/);
    expect(fs.existsSync(path.join(cache, 'broken.json'))).toBe(false);
  });
});

describe('analyseAll on the worker threads', () => {
  afterAll(() => closeAnalysisPool());

  it('gives, from the bundled worker, exactly what the models give on this thread', async () => {
    const inputs = loadComments()
      .slice(0, 1200)
      .map((c, i) => ({ title: titleFrom(c.text), body: c.text, rating: (i % 5) + 1 }));
    const batches = analyseAll(inputs);
    expect(batches.length).toBeGreaterThan(1);
    const pooled: Analysis[] = [];
    for (const b of batches) pooled.push(...(await b.analyses));
    expect(pooled).toEqual(analyseBatch(inputs));
  });
});

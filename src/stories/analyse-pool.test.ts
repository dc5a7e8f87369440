import { describe, expect, it } from 'vitest';
import { asFinished, type AnalysisBatch } from './analyse-pool.ts';
import type { Analysis } from './analyse.ts';

const analysis = (body: string) => ({ body }) as unknown as Analysis;

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

import os from 'node:os';
import { Piscina } from 'piscina';
import { analyseBatch, type Analysis, type AnalysisInput } from './analyse.ts';

/**
 * Analyses many comments on every core (piscina's worker-thread pool): an import of thousands of
 * Friends and Family Test comments is bound by the language models, not by the database, and one
 * thread would use half of a two-core machine. Small jobs stay on this thread, where a worker's
 * start-up (loading the models) would cost more than it saves.
 */
const BATCH = 250;
const SMALL = 1000;

let pool: Piscina | undefined;
function thePool(): Piscina {
  const threads = Math.max(1, Math.min(4, os.availableParallelism()));
  // Every thread starts at once and loads the models as it starts (analyse-worker.mjs), about half
  // a second each: started before the work is ready (see startAnalysisPool), that is done by then.
  pool ??= new Piscina({
    filename: new URL('./analyse-worker.mjs', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 30_000,
  });
  return pool;
}

/**
 * Starts the threads for work about to come (an import reading its file, say), so that loading
 * the models overlaps with what the caller does first.
 */
export function startAnalysisPool(): void {
  thePool();
}

/** Consecutive inputs from `start`, and their analyses once done. */
export interface AnalysisBatch {
  start: number;
  analyses: Promise<Analysis[]>;
}

/**
 * Every input, in batches dispatched at once, so the caller can write one batch while later ones
 * run. Batches may finish in any order (the pool hands them to whichever thread is free), so a
 * caller that writes them should take each as it finishes.
 */
export function analyseAll(inputs: AnalysisInput[]): AnalysisBatch[] {
  if (inputs.length < SMALL) return [{ start: 0, analyses: Promise.resolve(analyseBatch(inputs)) }];
  const p = thePool();
  const out: AnalysisBatch[] = [];
  for (let i = 0; i < inputs.length; i += BATCH) out.push({ start: i, analyses: p.run(inputs.slice(i, i + BATCH)) as Promise<Analysis[]> });
  return out;
}

/**
 * The batches' analyses as they finish: each turn yields the batches finished since the last one
 * (at least one, at most `most`), so the caller writes them together. The first failure is thrown.
 */
export async function* asFinished(batches: readonly AnalysisBatch[], most = 8): AsyncGenerator<Array<{ start: number; analyses: Analysis[] }>> {
  const done: Array<{ start: number; analyses: Analysis[] }> = [];
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let outstanding = batches.length;
  for (const b of batches) {
    void b.analyses.then(
      (analyses) => done.push({ start: b.start, analyses }),
      (error: unknown) => (failure ??= { error }),
    ).finally(() => {
      outstanding--;
      wake?.();
    });
  }
  while (outstanding > 0 || done.length > 0) {
    if (failure) throw failure.error;
    if (done.length === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    yield done.splice(0, most);
  }
  if (failure) throw failure.error;
}

export async function closeAnalysisPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}

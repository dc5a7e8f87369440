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
  pool ??= new Piscina({
    filename: new URL('./analyse-worker.mjs', import.meta.url).href,
    maxThreads: Math.max(1, Math.min(4, os.availableParallelism())),
    idleTimeout: 30_000,
  });
  return pool;
}

/** Results in input order; batches are dispatched at once, so the caller can write batch k while later ones run. */
export function analyseAll(inputs: AnalysisInput[]): Array<Promise<Analysis[]>> {
  if (inputs.length < SMALL) return [Promise.resolve(analyseBatch(inputs))];
  const p = thePool();
  const out: Array<Promise<Analysis[]>> = [];
  for (let i = 0; i < inputs.length; i += BATCH) out.push(p.run(inputs.slice(i, i + BATCH)) as Promise<Analysis[]>);
  return out;
}

export async function closeAnalysisPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.destroy();
}

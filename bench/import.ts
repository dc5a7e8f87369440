// Friends and Family Test import throughput: a CSV of real comments about the services of one
// trust, imported (classified and indexed) through src/listening/fft.ts against the generated
// database, in this process.
import fs from 'node:fs';
import type { DbHandle } from '../src/platform/db/index.ts';
import { mulberry32 } from '../src/nlp/classifier/index.ts';
import { importFftFile } from '../src/listening/fft.ts';
import { closeAnalysisPool } from '../src/stories/analyse-pool.ts';
import { loadComments, ratingOf } from './lib/comments.ts';

/** A double-quoted CSV field: comments hold commas, quotes and line breaks. */
const csvField = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Writes `rows` distinct FFT rows (`date,service_code,rating,comment`) over the last year, about
 * the organisation's services; a comment without an FFT answer gets a rating from its tone, since
 * the FFT question is always answered.
 */
export function writeFftCsv(file: string, o: { rows: number; serviceCodes: readonly string[]; now?: Date; seed?: number }): void {
  const random = mulberry32(o.seed ?? 7);
  const comments = loadComments();
  const nowMs = (o.now ?? new Date()).getTime();
  const seen = new Set<string>();
  const lines = ['date,service_code,rating,comment'];
  while (lines.length <= o.rows) {
    const c = comments[Math.floor(random() * comments.length)]!;
    const date = new Date(nowMs - Math.floor(random() * 365) * 86_400_000).toISOString().slice(0, 10);
    const code = o.serviceCodes[Math.floor(random() * o.serviceCodes.length)]!;
    // Every row distinct, so the importer's duplicate check has nothing to drop.
    const key = `${date}|${code}|${c.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(`${date},${code},${ratingOf(c) ?? (random() < 0.7 ? 1 : 2)},${csvField(c.text)}`);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** Times one import of the file; the figure is comments imported per second. */
export async function timeFftImport(handle: DbHandle, o: { file: string; orgCode: string }) {
  const t0 = performance.now();
  try {
    const r = await importFftFile(handle, { orgCode: o.orgCode, file: o.file });
    const seconds = (performance.now() - t0) / 1000;
    return { ...r, seconds, perSecond: Math.round(r.imported / seconds) };
  } finally {
    // The importer analyses on worker threads; idle, they would hold their models in this process
    // through the rest of the run (`carevoice import fft` closes them too).
    await closeAnalysisPool();
  }
}

/** The codes of an organisation's services below its root (what FFT returns are filed against). */
export async function serviceCodesOf(handle: DbHandle, orgCode: string): Promise<string[]> {
  const rows = await handle.db
    .selectFrom('services')
    .innerJoin('organisations', 'organisations.id', 'services.org_id')
    .select('services.code')
    .where('organisations.ods_code', '=', orgCode)
    .where('services.kind', 'in', ['ward', 'department', 'clinic'])
    .execute();
  return rows.map((r) => r.code);
}

import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { insertRows } from '../platform/db/bulk.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';
import { enqueue } from '../platform/jobs.ts';
import { sha256 } from '../platform/auth/tokens.ts';
import { findingRows, type Analysis } from '../stories/analyse.ts';
import { analyseAll, asFinished, startAnalysisPool } from '../stories/analyse-pool.ts';
import { newStoryRef, titleFrom } from '../stories/tell.ts';

/**
 * Friends and Family Test exports (CSV: date, service code, rating 1-5, comment) become stories.
 *
 * Decisions:
 * - The whole file is checked before anything is written: one bad row stops the import with every
 *   bad line listed, and nothing changes. A half-imported export is harder to mend than a refused one.
 * - Each row gets a key from its content (organisation, date, service, rating, comment) and its
 *   occurrence number among identical rows, so re-importing the same or an overlapping export adds
 *   nothing twice while two identical comments on one day both count.
 * - FFT comments are stories like any other: redacted automatically, classified at once, then
 *   checked by a moderator (pending) before publication. Nothing identifying is published unread.
 * - Rows are written in batches inside one transaction each: a commit (and its fsync) per row would
 *   bound the import to the disk's sync rate.
 */
export interface FftImportResult {
  read: number;
  imported: number;
  duplicates: number;
  rejected: number;
}

interface FftRow {
  /** Its record number in the file (the header is 0): `FftFile.lineOf` finds its line. */
  record: number;
  date: string;
  serviceCode: string;
  rating: number | null;
  comment: string;
}

const HEADER_NAMES: Record<string, keyof Omit<FftRow, 'record'>> = {
  date: 'date',
  service_code: 'serviceCode',
  'service code': 'serviceCode',
  servicecode: 'serviceCode',
  service: 'serviceCode',
  rating: 'rating',
  comment: 'comment',
  comments: 'comment',
};

export const FFT_MAX_COMMENT = 20_000;
const BATCH = 500;
/** A transaction of the import is committed at this many rows, or this long after it began, whichever comes first. */
const COMMIT_ROWS = 2000;
const COMMIT_MS = 200;


/** Words for the FFT's five answers, 1 (very good) to 5 (very poor), as stories store a rating. */
export const FFT_RATING_WORDS = ['very good', 'good', 'neither good nor poor', 'poor', 'very poor'] as const;

/** One row of an FFT file as read, and what is wrong with it (nothing, mostly). */
interface ReadRow {
  row: FftRow;
  problems: string[];
}

const CSV_OPTIONS = { bom: true, skip_empty_lines: true, relax_column_count: true, trim: true } as const;

/**
 * The rows of an FFT file in order, each checked, with its record number (the header is 0). The
 * header is checked first; a file that is not CSV throws before any row is given.
 *
 * The file is parsed whole, at once (csv-parse's synchronous API): it is in memory already, and the
 * streaming parser's record-by-record iteration cost more than the parsing. Where each record
 * starts (for messages) is not asked of the parser here, see recordLines.
 */
function* fftRows(data: Buffer): Generator<ReadRow> {
  let records: string[][];
  try {
    records = parse(data, CSV_OPTIONS) as string[][];
  } catch (err) {
    throw new AppError('bad_csv', 400, `The file is not valid CSV: ${(err as Error).message}`);
  }
  const header = records[0];
  if (!header) return;
  const names = header.map((h) => HEADER_NAMES[h.trim().toLowerCase()]);
  const missing = (['date', 'serviceCode', 'comment'] as const).filter((f) => !names.includes(f));
  if (missing.length) throw new AppError('bad_fft_header', 400, `The CSV header must name date, service_code, rating and comment; missing ${missing.join(', ')}`);
  const columns = { date: names.indexOf('date'), serviceCode: names.indexOf('serviceCode'), rating: names.indexOf('rating'), comment: names.indexOf('comment') };
  // An export covers a few hundred days: each date is checked once.
  const dateProblems = new Map<string, string | null>();
  for (let r = 1; r < records.length; r++) {
    const record = records[r]!;
    const get = (at: number) => (at < 0 ? '' : (record[at] ?? '').trim());
    const problems: string[] = [];
    const date = get(columns.date);
    const serviceCode = get(columns.serviceCode).toUpperCase();
    const ratingText = get(columns.rating);
    const comment = get(columns.comment);
    const rating = ratingText === '' ? null : Number(ratingText);
    let dateProblem = dateProblems.get(date);
    if (dateProblem === undefined) dateProblems.set(date, (dateProblem = checkDate(date)));
    if (dateProblem) problems.push(dateProblem);
    if (!serviceCode) problems.push(`no service code`);
    if (rating !== null && !(Number.isInteger(rating) && rating >= 1 && rating <= 5)) problems.push(`rating must be 1 (very good) to 5 (very poor) or empty, got "${ratingText.slice(0, 20)}"`);
    if (comment.length > FFT_MAX_COMMENT) problems.push(`comment longer than ${FFT_MAX_COMMENT} characters`);
    if (comment.includes('\u0000')) problems.push(`comment holds a NUL character`);
    yield { row: { record: r, date, serviceCode, rating, comment }, problems };
  }
}

/** What is wrong with a row's date, or null. */
function checkDate(date: string): string | null {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(date) ? new Date(`${date}T12:00:00Z`) : null;
  if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== date) return `date must be YYYY-MM-DD, got "${date.slice(0, 40)}"`;
  if (d.getTime() > Date.now() + 86_400_000) return `date ${date} is in the future`;
  return null;
}

/** The export, read whole: the rows' line numbers come from their byte offsets in it (see lineFinder). */
async function readExport(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('no_file', 400, `No file at ${file}`);
    throw err;
  }
}

/** An FFT file's rows, and the line each starts on (by its record number), for messages. */
export interface FftFile {
  rows: FftRow[];
  lineOf(record: number): number;
}

/** Every row of an FFT file, or an error listing every bad row by its line. */
export async function readFftFile(file: string): Promise<FftFile> {
  const data = await readExport(file);
  const lineOf = recordLines(data);
  const rows: FftRow[] = [];
  const problems: Array<{ record: number; text: string }> = [];
  for (const { row, problems: p } of fftRows(data)) {
    for (const text of p) problems.push({ record: row.record, text });
    rows.push(row);
  }
  if (problems.length) throw fftProblems(problems.map((p) => `line ${lineOf(p.record)}: ${p.text}`));
  return { rows, lineOf };
}

/**
 * The line each record starts on, worked out when a message first asks (a file with a bad row or
 * an unknown service): csv-parse says where a record ends only with its `info` option, which made
 * the parse of 20,000 rows take 250-330 ms instead of 140-180 ms, for nothing when all is well.
 */
function recordLines(data: Buffer): (record: number) => number {
  let lines: number[] | undefined;
  return (record) => {
    if (!lines) {
      const records = parse(data, { ...CSV_OPTIONS, info: true }) as unknown as Array<{ info: { bytes: number } }>;
      const lineAfter = lineFinder(data);
      lines = [1];
      // csv-parse tells where a record ends; the next starts after it (the first row, after the header).
      for (let r = 1; r < records.length; r++) lines.push(lineAfter(records[r - 1]!.info.bytes));
    }
    return lines[record] ?? 0;
  };
}

/**
 * The line a row starts on, for messages, given where the previous record ended (the header's
 * end, for the first row). csv-parse reports where a record ends in bytes (its line count goes
 * wrong on comments holding CRLF line breaks), so a row starts at the first byte after the previous
 * record's end that is not a line break (empty lines are skipped). Asked in file order.
 */
function lineFinder(file: Buffer): (previousEnd: number) => number {
  let line = 1;
  let i = 0;
  const isBreak = (at: number) => file[at] === 0x0a || file[at] === 0x0d;
  // Past one line break (CRLF, LF or CR), counting it.
  const pastBreak = () => {
    i += file[i] === 0x0d && file[i + 1] === 0x0a ? 2 : 1;
    line++;
  };
  return (start) => {
    while (i < start) {
      if (isBreak(i)) pastBreak();
      else i++;
    }
    while (i < file.length && isBreak(i)) pastBreak();
    return line;
  };
}

function fftProblems(problems: string[]): AppError {
  const shown = problems.slice(0, 10).join('; ');
  const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
  return new AppError('bad_fft_rows', 400, `Nothing was imported: ${problems.length} bad ${problems.length === 1 ? 'row' : 'rows'}: ${shown}${more}`);
}

const fftTitle = (comment: string) => titleFrom(comment) || 'Friends and Family Test comment';

/** A file this large holds more comments than this thread should analyse alone (at ~150 bytes each). */
const POOL_FILE_BYTES = 64 * 1024;

export async function importFftFile(handle: DbHandle, opts: { orgCode: string; file: string; actorId?: string | null }): Promise<FftImportResult> {
  // The analysis threads load their models while this one reads and checks the file.
  if ((fs.statSync(opts.file, { throwIfNoEntry: false })?.size ?? 0) > POOL_FILE_BYTES) startAnalysisPool();
  const { rows, lineOf } = await readFftFile(opts.file);
  return importFftRows(handle, { ...opts, rows, lineOf });
}

async function importFftRows(handle: DbHandle, opts: { orgCode: string; rows: FftRow[]; lineOf: FftFile['lineOf']; file?: string; actorId?: string | null }): Promise<FftImportResult> {
  const db = handle.db;
  const org = await db.selectFrom('organisations').select(['id', 'ods_code']).where('ods_code', '=', opts.orgCode.toUpperCase()).executeTakeFirst();
  if (!org) throw new AppError('unknown_organisation', 400, `No organisation has the code ${opts.orgCode}`);
  const services = new Map((await db.selectFrom('services').select(['id', 'code']).where('org_id', '=', org.id).execute()).map((s) => [s.code, s.id]));
  const unknown = opts.rows.filter((r) => !services.has(r.serviceCode)).map((r) => `line ${opts.lineOf(r.record)}: ${r.serviceCode}`);
  if (unknown.length) throw fftProblems(unknown.map((u) => `${u} is not a service of ${org.ods_code}`));

  // Keys: identical rows are numbered in file order, so each keeps its own key on every import.
  const seen = new Map<string, number>();
  const keyed = opts.rows
    .filter((r) => r.comment !== '')
    .map((r) => {
      const base = sha256(JSON.stringify([org.id, r.date, r.serviceCode, r.rating, r.comment]));
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      return { row: r, key: `fft:${base}:${n}` };
    });

  // Rows already imported (by an earlier run of the same export) are left out first.
  const fresh: typeof keyed = [];
  for (let i = 0; i < keyed.length; i += BATCH) {
    const batch = keyed.slice(i, i + BATCH);
    const existing = new Set(
      (await db.selectFrom('stories').select('idempotency_key').where('idempotency_key', 'in', batch.map((b) => b.key)).execute()).map((r) => r.idempotency_key),
    );
    for (const b of batch) if (!existing.has(b.key)) fresh.push(b);
  }
  const duplicates = keyed.length - fresh.length;

  // The models run on every core while this thread writes what they have finished, as it finishes.
  // One transaction takes several of those writes, until COMMIT_ROWS rows or COMMIT_MS have gone
  // in: a commit writes out every page its rows touched, and rows scattered over the random indexes
  // (story references, import keys) touch about a page each, so fewer, larger commits write far
  // less: 20,000 rows in 14 commits instead of 45-49 took 6 % less processor time and went 7 %
  // faster (means of five alternating runs). The time limit bounds how long the import holds
  // SQLite's write lock from a server on the same file.
  const inputs = fresh.map(({ row }) => ({ title: fftTitle(row.comment), body: row.comment, rating: row.rating }));
  const batches = asFinished(analyseAll(inputs));
  const take = async () => {
    const next = await batches.next();
    return next.done ? undefined : next.value;
  };
  const write = async (trx: Db, finished: Array<{ start: number; analyses: Analysis[] }>) => {
    const t = now();
    const prepared = finished.flatMap(({ start, analyses }) =>
      analyses.map((a, j) => {
        const { row, key } = fresh[start + j]!;
        return prepare(row, inputs[start + j]!.title, key, a, services.get(row.serviceCode)!, org.id, t);
      }),
    );
    await writePrepared(trx, handle.dialect, prepared);
    return prepared.length;
  };
  let imported = 0;
  // A transaction begins once there is something to write: the write lock is not held while the
  // first comments are analysed.
  let finished = await take();
  while (finished) {
    let full = false;
    await db.transaction().execute(async (trx) => {
      const began = Date.now();
      let written = 0;
      while (finished && !full) {
        written += await write(trx, finished);
        full = written >= COMMIT_ROWS || Date.now() - began >= COMMIT_MS;
        if (!full) finished = await take();
      }
      imported += written;
    });
    if (full) finished = await take();
  }
  await appendEvent(db, handle.dialect, {
    type: 'fft.imported',
    orgId: org.id,
    actorId: opts.actorId ?? null,
    data: { file: opts.file ?? null, read: opts.rows.length, imported, duplicates, empty: opts.rows.length - keyed.length },
  });
  return { read: opts.rows.length, imported, duplicates, rejected: opts.rows.length - keyed.length };
}

/** One transaction's share of the import: stories, their service links, findings, and an alert for each urgent one. */
async function writePrepared(trx: Db, dialect: DbHandle['dialect'], prepared: Array<ReturnType<typeof prepare>>): Promise<void> {
  for (let i = 0; i < prepared.length; i += BATCH) {
    const part = prepared.slice(i, i + BATCH);
    await unclashedRefs(trx, part.map((p) => p.story));
    await insertRows(trx, dialect, 'stories', part.map((p) => p.story), { onConflictDoNothing: 'idempotency_key' });
    await insertRows(trx, dialect, 'story_services', part.map((p) => p.link));
  }
  const findings = prepared.flatMap((p) => p.findings);
  for (let f = 0; f < findings.length; f += 1000) await insertRows(trx, dialect, 'story_findings', findings.slice(f, f + 1000));
  for (const p of prepared.filter((x) => x.story.urgent === 1)) {
    await appendEvent(trx, dialect, { type: 'story.urgent', subject: p.story.id, data: { ref: p.story.ref, reasons: p.safeguarding } });
    await enqueue(trx, { kind: 'moderation.urgent_alert', payload: { storyId: p.story.id }, dedupeKey: `urgent:${p.story.id}` });
  }
}

/**
 * Draws another reference for each story whose reference is taken: by a stored story, by a story
 * told and still in the intake (its author already has that reference, and storing it would then
 * fail for good), or by another of these. A reference is 40 random bits, so at a million stories
 * one of 100,000 imported clashes about once in eleven imports; a clash failed the whole import
 * (found by the full benchmark).
 */
async function unclashedRefs(trx: Db, stories: Array<{ ref: string }>): Promise<void> {
  for (;;) {
    const refs = stories.map((s) => s.ref);
    const rows = await trx.selectFrom('stories').select('ref').where('ref', 'in', refs).union(trx.selectFrom('story_intake').select('ref').where('ref', 'in', refs)).execute();
    const taken = new Set(rows.map((r) => r.ref));
    const seen = new Set<string>();
    let drawn = false;
    for (const story of stories) {
      if (taken.has(story.ref) || seen.has(story.ref)) {
        story.ref = newStoryRef();
        drawn = true;
      }
      seen.add(story.ref);
    }
    if (!drawn) return;
  }
}

function prepare(row: FftRow, originalTitle: string, key: string, a: Analysis, serviceId: string, orgId: string, t: string) {
  const id = newId();
  const submitted = `${row.date}T12:00:00.000Z`;
  return {
    story: {
      id,
      ref: newStoryRef(),
      title: a.title,
      body: a.body,
      original_title: originalTitle,
      original_body: row.comment,
      author_pseudonym: 'Friends and Family Test',
      author_role: 'patient',
      author_email: null,
      author_token_hash: null,
      rating: row.rating,
      channel: 'fft',
      moderation: 'pending' as const,
      moderation_reason: null,
      urgent: a.urgent ? 1 : 0,
      safeguarding: JSON.stringify(a.safeguarding),
      suggested_criticality: a.suggestedCriticality,
      criticality: null,
      progress: 'unheard' as const,
      experienced_count: 0,
      sentiment: a.sentiment,
      themes: JSON.stringify(a.themes),
      topics: JSON.stringify(a.topics),
      idempotency_key: key,
      created_by: null,
      submitted_at: submitted,
      publish_at: null,
      published_at: null,
      decided_at: null,
      updated_at: t,
      checked_at: t,
    },
    link: { story_id: id, service_id: serviceId, org_id: orgId, position: 0 },
    safeguarding: a.safeguarding,
    findings: findingRows(id, a, newId),
  };
}

import { EventEmitter } from 'node:events';
import { sql, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../platform/db/schema.ts';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvents, type NewEvent } from '../platform/events.ts';
import { enqueueMany, type EnqueueOptions } from '../platform/jobs.ts';
import { mailJob } from '../platform/mail.ts';
import { analyse, findingRows, type Analysis } from './analyse.ts';
import type { TagGroup } from './vocabulary.ts';

/**
 * The story intake: how a story told is acknowledged fast and never lost.
 *
 * Telling a story (tellStory) validates it, then appends one row here (on SQLite through a writer
 * thread that commits the stories told at that moment together, see intake-writer.ts), and answers
 * 201 once that commit is durable. Storing a story for good costs far more: its checks (identifying details,
 * safeguarding, criticality, themes: the language models), the stories row and its full-text index,
 * its services, tags, findings, events and jobs, each with indexes keyed by random ids. The intake
 * processor (processIntake, run by the job loop) does that in batches and moves each story out of
 * the intake in the same transaction that stores it.
 *
 * So a story is in exactly one of two places, and a stored story has always been checked: it
 * reaches moderators with its redactions and safeguarding flags, never before. Normally a story is
 * stored within milliseconds; after a burst the processor catches up, yielding to requests (see
 * WorkerOptions.busy). A story whose storing fails is tried again after 30 s, then 1, 2 and 4
 * minutes; after the fifth failure it stays in the intake (attempts, last_error) until an operator
 * has mended the cause and runs `carevoice intake retry`: it is never dropped.
 */

export interface IntakePayload {
  title: string;
  body: string;
  pseudonym: string;
  authorRole: string;
  email: string | null;
  authorTokenHash: string | null;
  rating: number | null;
  channel: string;
  tags: Array<{ group: TagGroup; tag: string }>;
  services: Array<{ id: string; org_id: string; code: string }>;
  createdBy: string | null;
  publicUrl: string;
}

export interface Admission {
  storyId: string;
  ref: string;
  idempotencyKey: string | null;
  receivedAt: string;
  payload: IntakePayload;
}

/**
 * Told: 'story' is emitted, in this process, for each story appended to the intake, so that the job
 * loop that stores them (main.ts) starts at once rather than at its next poll, whoever told it.
 */
export const intakeAppended = new EventEmitter();
intakeAppended.setMaxListeners(0);

/** A story reference already given to a stored story: the caller draws another. */
export class RefTaken extends Error {
  constructor(ref: string) {
    super(`The story reference ${ref} is taken`);
  }
}

/** The message when an idempotency key was already used by a stored story (intake-writer.mjs says the same). */
export const IDEMPOTENCY_TAKEN = 'The idempotency key is taken by a stored story';

/**
 * Appends a told story to the intake, inside the caller's transaction. The intake's unique indexes
 * refuse a reference or idempotency key used by another story in the intake; those of a story
 * already stored are looked up here (a key's repeat would otherwise be admitted once the first story
 * had left the intake, and could then never be stored).
 */
export async function admitStory(trx: Transaction<Database>, a: Admission): Promise<void> {
  if (await trx.selectFrom('stories').select('id').where('ref', '=', a.ref).executeTakeFirst()) throw new RefTaken(a.ref);
  if (a.idempotencyKey !== null && (await trx.selectFrom('stories').select('id').where('idempotency_key', '=', a.idempotencyKey).executeTakeFirst())) {
    throw new Error(IDEMPOTENCY_TAKEN);
  }
  await trx
    .insertInto('story_intake')
    .values({ story_id: a.storyId, ref: a.ref, idempotency_key: a.idempotencyKey, payload: JSON.stringify(a.payload), received_at: a.receivedAt, last_error: null })
    .execute();
}

/**
 * Looks a story up where it is stored, then in the intake, then where it is stored again: on
 * PostgreSQL the intake processor may store it between the first two reads (each statement sees
 * what was committed when it began), so a story missed by both is read once more.
 */
export async function storedOrWaiting<T>(stored: () => Promise<T | undefined>, waiting: () => Promise<T | undefined>): Promise<T | undefined> {
  return (await stored()) ?? (await waiting()) ?? (await stored());
}

/** The story told with this idempotency key, wherever it is now. */
export function storyByIdempotencyKey(db: Db, key: string): Promise<{ id: string; ref: string } | undefined> {
  return storedOrWaiting(
    () => db.selectFrom('stories').select(['id', 'ref']).where('idempotency_key', '=', key).executeTakeFirst(),
    async () => {
      const w = await db.selectFrom('story_intake').select(['story_id', 'ref']).where('idempotency_key', '=', key).executeTakeFirst();
      return w && { id: w.story_id, ref: w.ref };
    },
  );
}

/** A story's reference and author email, stored or still in the intake (the "sent" page reads it). */
export function toldStory(db: Db, id: string): Promise<{ ref: string; authorEmail: string | null } | undefined> {
  return storedOrWaiting(
    async () => {
      const s = await db.selectFrom('stories').select(['ref', 'author_email']).where('id', '=', id).executeTakeFirst();
      return s && { ref: s.ref, authorEmail: s.author_email };
    },
    async () => {
      const w = await db.selectFrom('story_intake').select(['ref', 'payload']).where('story_id', '=', id).executeTakeFirst();
      return w && { ref: w.ref, authorEmail: (JSON.parse(w.payload) as IntakePayload).email };
    },
  );
}

/** True while the story is acknowledged but not yet checked and stored. */
export async function inIntake(db: Db, id: string): Promise<boolean> {
  return !!(await db.selectFrom('story_intake').select('seq').where('story_id', '=', id).executeTakeFirst());
}

/** After this many failed attempts a story stays in the intake untouched, for an operator. */
export const MAX_ATTEMPTS = 5;
/** The pause after the first failed attempt; it doubles after each one. */
export const RETRY_AFTER_MS = 30_000;
/**
 * The checks of a batch, a few stories at a time with a turn of the event loop between: each story
 * costs about half a millisecond of the models, and requests are served in between. (Not on the
 * analysis pool's threads: each thread holds its own copy of the models, over 100 MB, which would
 * take the server past its memory budget, and on two cores a thread of ours competes with the event
 * loop for the same CPU anyway.)
 */
const STEP = 16;
async function checkInSteps<T>(rows: readonly T[], check: (row: T) => Item): Promise<Array<Item | { row: T; error: unknown }>> {
  const out: Array<Item | { row: T; error: unknown }> = [];
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && i % STEP === 0) await new Promise((resolve) => setImmediate(resolve));
    try {
      out.push(check(rows[i]!));
    } catch (error) {
      out.push({ row: rows[i]!, error });
    }
  }
  return out;
}

interface Item {
  seq: number;
  attempts: number;
  storyId: string;
  ref: string;
  idempotencyKey: string | null;
  receivedAt: string;
  p: IntakePayload;
  a: Analysis;
}

/**
 * Checks and stores up to `limit` stories from the intake, oldest first; returns how many it took
 * from the intake (stored, or failed and left with their error).
 *
 * On PostgreSQL several servers run this at once. Each takes its rows with `FOR UPDATE SKIP LOCKED`
 * in a transaction that lasts through the checks and the storing, so each story is checked by one
 * server while the others take the next ones (before, every server read and checked the same
 * oldest rows, and all but one threw their work away). A server that dies mid-batch releases its
 * rows as its transaction ends. On SQLite the one writer runs it in turn; the rows are deleted in
 * the storing transaction, so a row another process has just stored is skipped.
 */
export async function processIntake(handle: DbHandle, o: { limit?: number; log?: Logger; now?: Date } = {}): Promise<number> {
  if (handle.dialect === 'postgres') return handle.db.transaction().execute((trx) => processRows(handle, o, trx));
  return processRows(handle, o);
}

/** processIntake's work, inside `held` when given (PostgreSQL), else in transactions of its own. */
async function processRows(handle: DbHandle, o: { limit?: number; log?: Logger; now?: Date }, held?: Transaction<Database>): Promise<number> {
  const db = held ?? handle.db;
  const dialect = handle.dialect;
  const at = o.now ?? new Date();
  let due = db
    .selectFrom('story_intake')
    .selectAll()
    .where('attempts', '<', MAX_ATTEMPTS)
    .where((eb) => eb.or([eb('retry_at', 'is', null), eb('retry_at', '<=', at.toISOString())]))
    .orderBy('seq')
    .limit(o.limit ?? 200);
  if (held) due = due.forUpdate().skipLocked();
  const rows = await due.execute();
  if (rows.length === 0) return 0;
  // A story keeps its row, with the error and a later time to try again, when it cannot be checked
  // or stored: one bad story must not hold back the rest.
  const failed = async (row: { seq: number; attempts: number; story_id: string }, error: unknown) => {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    o.log?.error({ err: message, story: row.story_id }, 'a story could not be stored; it stays in the intake');
    const retryAt = new Date(at.getTime() + RETRY_AFTER_MS * 2 ** row.attempts).toISOString();
    await db.updateTable('story_intake').set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: message, retry_at: retryAt })).where('seq', '=', row.seq).execute();
  };
  const checked = await checkInSteps(rows, (r): Item => {
    const p = JSON.parse(r.payload) as IntakePayload;
    const a = analyse({ title: p.title, body: p.body, rating: p.rating });
    return { seq: r.seq, attempts: r.attempts, storyId: r.story_id, ref: r.ref, idempotencyKey: r.idempotency_key, receivedAt: r.received_at, p, a };
  });
  const items: Item[] = [];
  for (const c of checked) {
    if ('error' in c) await failed(c.row, c.error);
    else items.push(c);
  }
  if (items.length === 0) return rows.length;
  // Stored together; if that fails, each is tried alone, so that only the one at fault keeps its
  // row. Inside the held transaction (PostgreSQL) a failure would end it: savepoints undo instead.
  const attempt = held ? (work: (trx: Transaction<Database>) => Promise<void>) => inSavepoint(held, work) : (work: (trx: Transaction<Database>) => Promise<void>) => db.transaction().execute(work);
  try {
    await attempt((trx) => storeItems(trx, dialect, items));
  } catch {
    for (const item of items) {
      try {
        await attempt((trx) => storeItems(trx, dialect, [item]));
      } catch (one) {
        await failed({ seq: item.seq, attempts: item.attempts, story_id: item.storyId }, one);
      }
    }
  }
  return rows.length;
}

/** Runs `work` in a savepoint of the transaction: kept if it succeeds, undone if it throws. */
async function inSavepoint(trx: Transaction<Database>, work: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
  await sql`SAVEPOINT intake_store`.execute(trx);
  try {
    await work(trx);
  } catch (err) {
    await sql`ROLLBACK TO SAVEPOINT intake_store`.execute(trx);
    await sql`RELEASE SAVEPOINT intake_store`.execute(trx);
    throw err;
  }
  await sql`RELEASE SAVEPOINT intake_store`.execute(trx);
}

/** Checks and stores everything in the intake that is due (tests, the demo seed and the CLI; servers run processIntake from their job loop). */
export async function drainIntake(handle: DbHandle): Promise<void> {
  while ((await processIntake(handle)) > 0);
}

/** A story that could not be stored yet, as an operator sees it (`carevoice intake list`). */
export interface IntakeProblem {
  ref: string;
  storyId: string;
  receivedAt: string;
  attempts: number;
  lastError: string | null;
  /** When it will be tried again; null once it has failed MAX_ATTEMPTS times. */
  retryAt: string | null;
}

/** The stories in the intake that have failed to be stored at least once, oldest first. */
export async function intakeProblems(db: Db): Promise<IntakeProblem[]> {
  const rows = await db.selectFrom('story_intake').select(['ref', 'story_id', 'received_at', 'attempts', 'last_error', 'retry_at']).where('attempts', '>', 0).orderBy('seq').execute();
  return rows.map((r) => ({ ref: r.ref, storyId: r.story_id, receivedAt: r.received_at, attempts: r.attempts, lastError: r.last_error, retryAt: r.attempts >= MAX_ATTEMPTS ? null : (r.retry_at ?? null) }));
}

/**
 * Sends stories that failed back to be tried at once (the one with `ref`, or every one that failed),
 * with their attempts counted from zero; their last error stays until they are stored. Returns how
 * many. For after the cause has been mended.
 */
export async function retryIntake(db: Db, o: { ref?: string } = {}): Promise<number> {
  let q = db.updateTable('story_intake').set({ attempts: 0, retry_at: null }).where('attempts', '>', 0);
  if (o.ref !== undefined) q = q.where('ref', '=', o.ref.trim().toUpperCase());
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

const CHUNK = 100;
async function insertChunked<T extends keyof Database & string>(trx: Transaction<Database>, table: T, rows: ReadonlyArray<Record<string, unknown>>): Promise<void> {
  // 100 stories of 33 columns stay below both databases' limits on parameters.
  for (let i = 0; i < rows.length; i += CHUNK) await trx.insertInto(table).values(rows.slice(i, i + CHUNK) as never).execute();
}

async function storeItems(trx: Transaction<Database>, dialect: DbHandle['dialect'], all: Item[]): Promise<void> {
  const taken = new Set((await trx.deleteFrom('story_intake').where('seq', 'in', all.map((i) => i.seq)).returning('seq').execute()).map((r) => r.seq));
  const items = all.filter((i) => taken.has(i.seq));
  if (items.length === 0) return;
  const t = now();
  await insertChunked(
    trx,
    'stories',
    items.map(({ storyId, ref, idempotencyKey, receivedAt, p, a }) => ({
      id: storyId,
      ref,
      title: a.title,
      body: a.body,
      original_title: p.title,
      original_body: p.body,
      author_pseudonym: p.pseudonym,
      author_role: p.authorRole,
      author_email: p.email,
      author_token_hash: p.authorTokenHash,
      rating: p.rating,
      channel: p.channel,
      moderation: 'pending',
      moderation_reason: null,
      urgent: a.urgent ? 1 : 0,
      safeguarding: JSON.stringify(a.safeguarding),
      suggested_criticality: a.suggestedCriticality,
      criticality: null,
      progress: 'unheard',
      experienced_count: 0,
      sentiment: a.sentiment,
      themes: JSON.stringify(a.themes),
      topics: JSON.stringify(a.topics),
      idempotency_key: idempotencyKey,
      created_by: p.createdBy,
      submitted_at: receivedAt,
      publish_at: null,
      published_at: null,
      decided_at: null,
      updated_at: t,
      checked_at: t,
    })),
  );
  await insertChunked(trx, 'story_services', items.flatMap((i) => i.p.services.map((s, position) => ({ story_id: i.storyId, service_id: s.id, org_id: s.org_id, position }))));
  await insertChunked(trx, 'story_tags', items.flatMap((i) => i.p.tags.map((x) => ({ story_id: i.storyId, tag_group: x.group, tag: x.tag }))));
  await insertChunked(trx, 'story_findings', items.flatMap((i) => findingRows(i.storyId, i.a, newId)));
  const events: NewEvent[] = [];
  const jobs: EnqueueOptions[] = [];
  for (const { storyId, ref, p, a } of items) {
    const findings = a.titleFindings.length + a.bodyFindings.length;
    events.push({ type: 'story.submitted', subject: storyId, actorId: p.createdBy, data: { ref, channel: p.channel, services: p.services.map((s) => s.code) } });
    events.push({ type: 'story.checked', subject: storyId, data: { ref, urgent: a.urgent, findings, themes: a.themes.map((x) => x.label), sentiment: a.sentiment } });
    if (a.urgent) {
      events.push({ type: 'story.urgent', subject: storyId, data: { ref, reasons: a.safeguarding } });
      jobs.push({ kind: 'moderation.urgent_alert', payload: { storyId }, dedupeKey: `urgent:${storyId}` });
    }
    if (p.email) {
      jobs.push(
        mailJob(
          {
            to: p.email,
            subject: `We have your story (${ref})`,
            text: `Thank you for telling your story "${p.title}".\n\nYour reference is ${ref}. A moderator checks every story before it is published, removing anything that could identify you or anyone else. We will email you when it is published.\n\nCarevoice\n${p.publicUrl}`,
          },
          `received:${storyId}`,
        ),
      );
    }
  }
  await appendEvents(trx, dialect, events);
  await enqueueMany(trx, jobs);
}

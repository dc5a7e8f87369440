// A realistic data set at any size: N published stories made from the real NHS comments, spread
// over the demo directory and the last two years, classified, tagged, read, answered and with
// changes claimed in the proportions the demo seeding uses (src/demo/stories.ts), inserted straight
// through Kysely in large transactions. The full-text index fills itself: SQLite's triggers write
// stories_fts, PostgreSQL's generated column the tsvector.
import type { Insertable, Transaction } from 'kysely';
import { sql } from 'kysely';
import type { DbHandle } from '../src/platform/db/index.ts';
import { newId } from '../src/platform/db/index.ts';
import type { Database } from '../src/platform/db/schema.ts';
import { classifyText } from '../src/stories/models.ts';
import { titleFrom } from '../src/demo/stories.ts';
import { mulberry32 } from '../src/nlp/classifier/index.ts';
import { AUTHOR_ROLES } from '../src/stories/vocabulary.ts';
import { PSEUDONYMS, tagsFor } from '../src/demo/comments.ts';
import { criticalityOf, isNegative, loadComments, ratingOf, type Comment } from './lib/comments.ts';

export interface GenerateOptions {
  count: number;
  /** Stories per transaction: large, since a commit costs an fsync. */
  batch?: number;
  now?: Date;
  seed?: number;
  log?: (line: string) => void;
}

export interface GenerateResult {
  stories: number;
  responses: number;
  seconds: number;
  perSecond: number;
  /** Mean characters in a story's body. */
  meanChars: number;
}

const HOUR = 3_600_000;
const SPAN_MS = 2 * 365 * 86_400_000;
/** Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMS = 30_000;

type Rows<T extends keyof Database> = Array<Insertable<Database[T]>>;
interface Batch {
  stories: Rows<'stories'>;
  story_services: Rows<'story_services'>;
  story_tags: Rows<'story_tags'>;
  story_handling: Rows<'story_handling'>;
  responses: Rows<'responses'>;
  events: Rows<'events'>;
}
const emptyBatch = (): Batch => ({ stories: [], story_services: [], story_tags: [], story_handling: [], responses: [], events: [] });

interface ServiceRow {
  id: string;
  org_id: string;
  code: string;
  name: string;
  kind: string;
  orgKind: string;
}

interface Directory {
  serviceFor(c: Comment): ServiceRow;
  responders: Map<string, string>;
}

const REPLIES = {
  positive: 'Thank you for taking the time to tell us about {service}. I have shared your kind words with the whole team, who were delighted to read them.',
  negative: 'Thank you for telling us about your experience with {service}, and I am sorry it fell short. I have shared your story with the team and we are looking at what we can do differently.',
};
const CHANGE = 'We have changed how the team works as a result of this story, and will check in three months that the change has stuck.';
const REF_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A unique reference per generated story (random ones would clash at a million). */
function refFor(i: number): string {
  let s = '';
  for (let n = i, k = 0; k < 8; k++, n = Math.floor(n / 32)) s = REF_ALPHABET[n % 32] + s;
  return `CV-${s}`;
}

/** Where a comment is about, as the demo decides: transport comments to the ambulance trust, the rest mostly acute. */
async function loadDirectory(handle: DbHandle, random: () => number): Promise<Directory> {
  const db = handle.db;
  const services: ServiceRow[] = await db
    .selectFrom('services')
    .innerJoin('organisations', 'organisations.id', 'services.org_id')
    .select(['services.id', 'services.org_id', 'services.code', 'services.name', 'services.kind', 'organisations.kind as orgKind'])
    .execute();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const acute = services.filter((s) => s.orgKind === 'acute_trust' && ['ward', 'department', 'clinic'].includes(s.kind));
  const mental = services.filter((s) => s.orgKind === 'mental_health_trust' && s.kind !== 'organisation');
  const ambulance = services.filter((s) => s.orgKind === 'ambulance_trust' && s.kind !== 'organisation');
  const primary = services.filter((s) => ['gp_practice', 'care_home'].includes(s.orgKind));
  const transport = ambulance.find((s) => s.code === 'RX8-PTS');
  if (!acute.length || !mental.length || !ambulance.length || !primary.length) throw new Error('the demo directory is not loaded: seed it first');
  const serviceFor = (c: Comment): ServiceRow => {
    if (c.source === 'ambulance') return transport && random() < 0.7 ? transport : pick(ambulance);
    const r = random();
    return r < 0.62 ? pick(acute) : r < 0.8 ? pick(mental) : pick(primary);
  };
  const responders = new Map(
    (await db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select(['memberships.org_id', 'users.id']).where('memberships.role', '=', 'responder').execute()).map((m) => [m.org_id, m.id]),
  );
  return { serviceFor, responders };
}

/** Themes and sentiment of each comment, computed once: a story reuses its comments' readings. */
function classifier(): (c: Comment) => ReturnType<typeof classifyText> {
  const cache = new Map<Comment, ReturnType<typeof classifyText>>();
  return (c) => {
    let r = cache.get(c);
    if (!r) cache.set(c, (r = classifyText(c.text)));
    return r;
  };
}

/** The union of the parts' themes (best score per theme), highest first. */
function mergeThemes(parts: Array<ReturnType<typeof classifyText>>): Array<{ label: string; score: number }> {
  const best = new Map<string, number>();
  for (const p of parts) for (const t of p.themes) best.set(t.label, Math.max(best.get(t.label) ?? 0, t.score));
  return [...best].map(([label, score]) => ({ label, score })).sort((a, b) => b.score - a.score);
}

/** The union of the parts' topics, the lead comment's first, three at most (as classifyText gives). */
function mergeTopics(parts: Array<ReturnType<typeof classifyText>>): string[] {
  return [...new Set(parts.flatMap((p) => p.topics))].slice(0, 3);
}

/** How many comments make one story: most are one comment long, some run to several paragraphs. */
function partsCount(random: () => number): number {
  const r = random();
  return r < 0.55 ? 1 : r < 0.8 ? 2 : r < 0.92 ? 3 : 4 + Math.floor(random() * 3);
}

interface StoryContext {
  random: () => number;
  directory: Directory;
  bySource: Record<Comment['source'], Comment[]>;
  classify: (c: Comment) => ReturnType<typeof classifyText>;
  startMs: number;
  slotMs: number;
  nowMs: number;
}

/** Story number i, its service, tags and publication event into `out`; returns its body length. */
function addStory(i: number, ctx: StoryContext, out: Batch): number {
  const { random } = ctx;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const all = ctx.bySource.phase1.length + ctx.bySource.ambulance.length;
  const source: Comment['source'] = random() * all < ctx.bySource.phase1.length ? 'phase1' : 'ambulance';
  const parts = Array.from({ length: partsCount(random) }, () => pick(ctx.bySource[source]));
  const lead = parts[0]!;
  const readings = parts.map(ctx.classify);
  const negative = isNegative(lead);
  const criticality = criticalityOf(lead);
  const service = ctx.directory.serviceFor(lead);
  // Published in order over two years, as they would have been told; submitted hours earlier.
  const publishedMs = Math.min(ctx.nowMs - 60_000, ctx.startMs + (i + random()) * ctx.slotMs);
  const published = new Date(publishedMs).toISOString();
  const submitted = new Date(publishedMs - (2 + random() * 46) * HOUR).toISOString();
  const id = newId();
  const ref = refFor(i);
  const title = titleFrom(lead.text);
  const body = parts.map((p) => p.text).join('\n\n');
  out.stories.push({
    id, ref, title, body, original_title: title, original_body: body,
    author_pseudonym: pick(PSEUDONYMS), author_role: pick(AUTHOR_ROLES).key, author_email: null, author_token_hash: null,
    rating: ratingOf(lead), channel: 'bench', moderation: 'published', moderation_reason: null, urgent: 0, safeguarding: '[]',
    suggested_criticality: criticality, criticality, progress: 'unheard', experienced_count: Math.floor(random() * random() * 12),
    sentiment: readings[0]!.sentiment, themes: JSON.stringify(mergeThemes(readings)), topics: JSON.stringify(mergeTopics(readings)), idempotency_key: null, created_by: null,
    submitted_at: submitted, publish_at: null, published_at: published, decided_at: published, updated_at: published, checked_at: submitted,
  });
  out.story_services.push({ story_id: id, service_id: service.id, org_id: service.org_id, position: 0 });
  out.story_tags.push(...tagsFor(lead, negative, random).map((t) => ({ story_id: id, tag_group: t.group, tag: t.tag })));
  out.events.push({ type: 'story.published', org_id: service.org_id, subject: id, actor_id: null, data: JSON.stringify({ ref, title, criticality, bench: true }), created_at: published });
  addHandling({ id, service, publishedMs, negative, criticality }, ctx, out);
  return body.length;
}

/**
 * Reading and answering, in the demo's proportions: nine in ten read, about three in four of those
 * answered (mostly within two days, with a long tail), a third of the critical ones with a change
 * claimed and checked. The story's progress follows.
 */
function addHandling(s: { id: string; service: ServiceRow; publishedMs: number; negative: boolean; criticality: number }, ctx: StoryContext, out: Batch): void {
  const { random } = ctx;
  const responder = ctx.directory.responders.get(s.service.org_id);
  const story = out.stories[out.stories.length - 1]!;
  const ageHours = (ctx.nowMs - s.publishedMs) / HOUR;
  if (!responder || (random() >= 0.9 && ageHours < 72)) return;
  const readAt = new Date(s.publishedMs + Math.min(ageHours * 0.5, 2 + random() * 30) * HOUR).toISOString();
  const answered = ageHours > 6 && random() < 0.78;
  story.progress = 'heard';
  out.story_handling.push({
    story_id: s.id, org_id: s.service.org_id, read_at: readAt, read_by: responder, assignee_id: answered || random() < 0.4 ? responder : null,
    assigned_at: readAt, due_at: new Date(s.publishedMs + (s.criticality >= 4 ? 1 : 5) * 1.4 * 86_400_000).toISOString(),
  });
  if (!answered) return;
  const at = new Date(s.publishedMs + Math.min(ageHours - 1, 1 + random() * random() * 160) * HOUR).toISOString();
  const claim = s.negative && random() < 0.35 ? (random() < 0.55 ? 'made' : 'planned') : null;
  const responseId = newId();
  out.responses.push({
    id: responseId, story_id: s.id, org_id: s.service.org_id, author_id: responder,
    body: (s.negative ? REPLIES.negative : REPLIES.positive).replace('{service}', s.service.name),
    change: claim, change_description: claim ? CHANGE : null, change_status: claim ? 'accepted' : null,
    moderation: 'published', moderation_reason: null, created_at: at, edit_until: at, published_at: at, updated_at: at,
  });
  out.events.push({ type: 'response.published', org_id: s.service.org_id, subject: s.id, actor_id: responder, data: JSON.stringify({ response: responseId, change: claim, bench: true }), created_at: at });
  story.progress = claim === 'made' ? 'change_made' : claim === 'planned' ? 'change_planned' : 'responded';
}

/** Inserts rows in statements as large as the databases' parameter limits allow. */
async function insertAll<T extends keyof Database & keyof Batch>(trx: Transaction<Database>, table: T, rows: Rows<T>): Promise<void> {
  if (rows.length === 0) return;
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / Object.keys(rows[0]!).length));
  for (let i = 0; i < rows.length; i += perStatement) {
    await trx.insertInto(table).values(rows.slice(i, i + perStatement) as never).execute();
  }
}

async function writeBatch(handle: DbHandle, b: Batch): Promise<void> {
  await handle.db.transaction().execute(async (trx) => {
    // Parents before children: the foreign keys are checked on SQLite too.
    await insertAll(trx, 'stories', b.stories);
    await insertAll(trx, 'story_services', b.story_services);
    await insertAll(trx, 'story_tags', b.story_tags);
    await insertAll(trx, 'story_handling', b.story_handling);
    await insertAll(trx, 'responses', b.responses);
    await insertAll(trx, 'events', b.events);
  });
}

/** Inserts `count` published stories (and their responses) into a database holding the demo directory. */
export async function generateStories(handle: DbHandle, o: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const random = mulberry32(o.seed ?? 20261124);
  const comments = loadComments();
  const nowMs = (o.now ?? new Date()).getTime();
  const ctx: StoryContext = {
    random,
    directory: await loadDirectory(handle, random),
    bySource: { phase1: comments.filter((c) => c.source === 'phase1'), ambulance: comments.filter((c) => c.source === 'ambulance') },
    classify: classifier(),
    startMs: nowMs - SPAN_MS,
    slotMs: SPAN_MS / Math.max(1, o.count),
    nowMs,
  };
  // Random UUID keys land all over every index: a large page cache for this connection keeps the
  // load from going to disk for each row. Setup only; the server opens the database its own way.
  handle.sqlite?.pragma('cache_size = -524288');
  const batchSize = o.batch ?? 5000;
  let chars = 0;
  let responses = 0;
  let nextLog = 0.1;
  // On PostgreSQL the next batch is built while the last one is written (the server works apart
  // from this process); SQLite's writes are synchronous in this thread, so there is nothing to overlap.
  const writers = handle.dialect === 'postgres' ? 2 : 1;
  const writing: Array<Promise<void>> = [];
  for (let i = 0; i < o.count; ) {
    const batch = emptyBatch();
    for (const end = Math.min(o.count, i + batchSize); i < end; i++) chars += addStory(i, ctx, batch);
    const written = writeBatch(handle, batch);
    // Awaited below, in order; this only keeps a failure from counting as unhandled meanwhile.
    written.catch(() => {});
    writing.push(written);
    if (writing.length >= writers) await writing.shift();
    responses += batch.responses.length;
    if (i / o.count >= nextLog) {
      o.log?.(`generated ${i.toLocaleString('en-GB')} of ${o.count.toLocaleString('en-GB')} stories (${Math.round(i / ((performance.now() - started) / 1000))}/s)`);
      nextLog += 0.1;
    }
  }
  for (const w of writing) await w;
  await settle(handle);
  const seconds = (performance.now() - started) / 1000;
  return { stories: o.count, responses, seconds, perSecond: Math.round(o.count / seconds), meanChars: Math.round(chars / Math.max(1, o.count)) };
}

/**
 * After a bulk load: PostgreSQL gets the statistics autovacuum would gather within a minute or so
 * (without them its first plans assume empty tables); SQLite's WAL is folded into the database so
 * the server does not start by checkpointing it. SQLite gets no ANALYZE: the app never runs one.
 */
async function settle(handle: DbHandle): Promise<void> {
  if (handle.dialect === 'postgres') await sql`ANALYZE`.execute(handle.db);
  else handle.sqlite?.pragma('wal_checkpoint(TRUNCATE)');
}

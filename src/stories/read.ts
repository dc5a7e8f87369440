import { sql, type ExpressionBuilder } from 'kysely';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { readRows } from '../platform/db/readers.ts';
import type { Database, StoryTable } from '../platform/db/schema.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { decodeCursor, encodeCursor } from '../platform/http.ts';
import { serviceByCode } from '../directory/directory.ts';
import { sentimentBand } from '../nlp/classifier/index.ts';
import { RATINGS, TAG_GROUP_NAMES, type TagGroup } from './vocabulary.ts';

/** What the public may see of a story. The one place staff-only fields are left out. */
export interface PublicStory {
  id: string;
  ref: string;
  title: string;
  body: string;
  authorPseudonym: string;
  authorRole: string;
  services: Array<{ code: string; name: string }>;
  tags: Record<TagGroup, string[]>;
  rating: string | null;
  progress: string;
  experiencedCount: number;
  themes: Array<{ label: string; score: number }>;
  sentiment: string | null;
  publishedAt: string;
  responses: PublicResponse[];
  /** The storyteller's published replies: with the responses, the conversation. */
  authorReplies: Array<{ id: string; body: string; publishedAt: string }>;
}

export interface PublicResponse {
  id: string;
  body: string;
  responder: string;
  organisation: string;
  /** Shown only once a moderator has checked the claim. */
  change: 'planned' | 'made' | null;
  changeDescription: string | null;
  helpful: number;
  publishedAt: string;
}

type StoryRow = Pick<StoryTable, 'id' | 'ref' | 'title' | 'body' | 'author_pseudonym' | 'author_role' | 'rating' | 'progress' | 'experienced_count' | 'themes' | 'sentiment' | 'published_at'>;
const PUBLIC_COLUMNS = ['stories.id', 'stories.ref', 'stories.title', 'stories.body', 'stories.author_pseudonym', 'stories.author_role', 'stories.rating', 'stories.progress', 'stories.experienced_count', 'stories.themes', 'stories.sentiment', 'stories.published_at'] as const;

async function present(db: Db, rows: StoryRow[]): Promise<PublicStory[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [services, tags] = await Promise.all([
    db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['story_services.story_id', 'services.code', 'services.name']).where('story_services.story_id', 'in', ids).orderBy('story_services.position').execute(),
    db.selectFrom('story_tags').select(['story_id', 'tag_group', 'tag']).where('story_id', 'in', ids).execute(),
  ]);
  return rows.map((r) => {
    const t = Object.fromEntries(TAG_GROUP_NAMES.map((g) => [g, tags.filter((x) => x.story_id === r.id && x.tag_group === g).map((x) => x.tag)])) as Record<TagGroup, string[]>;
    return {
      id: r.id,
      ref: r.ref,
      title: r.title,
      body: r.body,
      authorPseudonym: r.author_pseudonym,
      authorRole: r.author_role,
      services: services.filter((s) => s.story_id === r.id).map((s) => ({ code: s.code, name: s.name })),
      tags: t,
      rating: RATINGS.find((x) => x.value === r.rating)?.key ?? null,
      progress: r.progress,
      experiencedCount: r.experienced_count,
      themes: JSON.parse(r.themes) as Array<{ label: string; score: number }>,
      sentiment: r.sentiment ? sentimentBand(r.sentiment) : null,
      publishedAt: r.published_at!,
      responses: [],
      authorReplies: [],
    };
  });
}

export interface StoryQuery {
  service?: string;
  q?: string;
  theme?: string;
  tag?: string;
  since?: string;
  cursor?: string;
  limit?: number;
}

/**
 * "The story names one of these services" (or "one of this organisation's"), as a probe per story
 * (EXISTS on story_services' primary key) rather than `id IN (every story the scope ever had)`: the
 * caller's date range on stories then drives the query, so its cost follows the stories in the
 * window, not the scope's whole history.
 */
export function storyIn(scope: { serviceIds: string[] } | { orgId: string } | { orgIds: string[] }) {
  return (eb: ExpressionBuilder<Database, 'stories'>) =>
    eb.exists(
      eb
        .selectFrom('story_services')
        .select(sql.lit(1).as('one'))
        .whereRef('story_services.story_id', '=', 'stories.id')
        .where((x) =>
          'orgId' in scope
            ? x('story_services.org_id', '=', scope.orgId)
            : 'orgIds' in scope
              ? x('story_services.org_id', 'in', scope.orgIds.length ? scope.orgIds : [''])
              : x('story_services.service_id', 'in', scope.serviceIds.length ? scope.serviceIds : [''])),
    );
}

/** The ids of a service and everything under it (a handful to a few dozen rows). */
export async function subtreeServiceIds(db: Db, path: string): Promise<string[]> {
  return (await db.selectFrom('services').select('id').where('path', 'like', `${path}%`).execute()).map((r) => r.id);
}

/** A condition on a themes column (JSON, `stories.themes` unless told) naming the theme, with LIKE's wildcards escaped. */
export function hasTheme(theme: string, column: 'stories.themes' | 'mentions.themes' = 'stories.themes') {
  const pattern = `%"label":${JSON.stringify(theme)}%`.replace(/[\\%_]/g, (c, i: number, all: string) => (i === 0 || i === all.length - 1 ? c : `\\${c}`));
  return sql<boolean>`${sql.ref(column)} LIKE ${pattern} ESCAPE '\\'`;
}

export const isCursor = (v: unknown): v is { p: string; i: string } => typeof v === 'object' && v !== null && typeof (v as { p: unknown }).p === 'string' && typeof (v as { i: unknown }).i === 'string';

/**
 * Turns what a person typed into an FTS5 query of quoted terms (all must match): no syntax errors.
 * Each term must be one word to SQLite's tokenizer, as the index keeps no positions to match a
 * phrase with (detail=none, see the migrations): a term is letters and digits, less the few that
 * SQLite's Unicode tables (older than JavaScript's) take for separators. A test checks every
 * letter and digit against the SQLite this runs with.
 */
export function ftsQuery(q: string): string {
  const terms = q.toLowerCase().match(/(?:(?![\u19b0-\u19c9\u1cf2\u1cf3])[\p{L}\p{N}])+/gu) ?? [];
  return terms.slice(0, 12).map((t) => `"${t}"`).join(' ');
}

/** Published stories, newest first, paged by a (published_at, id) cursor. */
export async function listPublished(handle: DbHandle, query: StoryQuery): Promise<{ items: PublicStory[]; nextCursor: string | null }> {
  const db = handle.db;
  const limit = Math.min(100, Math.max(1, query.limit ?? 20));
  let q = db.selectFrom('stories').select([...PUBLIC_COLUMNS]).where('stories.moderation', '=', 'published');
  if (query.service) {
    const svc = await serviceByCode(db, query.service);
    if (!svc) throw new AppError('service_not_found', 404, `No service has the code ${query.service}`);
    q = q.where('stories.id', 'in', db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select('story_services.story_id').where('services.path', 'like', `${svc.path}%`));
  }
  // A full-text search on SQLite takes milliseconds: it runs off the event loop (readers.ts).
  let search = false;
  if (query.q) {
    if (handle.dialect === 'postgres') {
      q = q.where(sql<boolean>`stories.search @@ websearch_to_tsquery('english', ${query.q})`);
    } else {
      const match = ftsQuery(query.q);
      if (!match) return { items: [], nextCursor: null };
      q = q.where(sql<boolean>`stories.rowid IN (SELECT rowid FROM stories_fts WHERE stories_fts MATCH ${match})`);
      search = true;
    }
  }
  if (query.tag) q = q.where('stories.id', 'in', db.selectFrom('story_tags').select('story_id').where('tag', '=', query.tag));
  if (query.theme) q = q.where(hasTheme(query.theme));
  if (query.since) {
    const since = new Date(query.since);
    if (Number.isNaN(since.getTime())) throw new AppError('bad_since', 400, 'since must be a date like 2026-01-31');
    q = q.where('stories.published_at', '>=', since.toISOString());
  }
  const cursor = decodeCursor(query.cursor, isCursor);
  if (cursor) q = q.where((eb) => eb.or([eb('stories.published_at', '<', cursor.p), eb.and([eb('stories.published_at', '=', cursor.p), eb('stories.id', '<', cursor.i)])]));
  const newest = q.orderBy('stories.published_at', 'desc').orderBy('stories.id', 'desc').limit(limit + 1);
  const rows = search ? await readRows(handle, newest.compile()) : await newest.execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: await present(db, page), nextCursor: rows.length > limit && last ? encodeCursor({ p: last.published_at!, i: last.id }) : null };
}

/** One published story; anything else (pending, rejected, unknown) is a 404. */
export async function getPublished(db: Db, id: string): Promise<PublicStory> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw notFound('story', 'story_not_found');
  const row = await db.selectFrom('stories').select([...PUBLIC_COLUMNS]).where('stories.id', '=', id).where('stories.moderation', '=', 'published').executeTakeFirst();
  if (!row) throw notFound('story', 'story_not_found');
  const [story] = await present(db, [row]);
  const responses = await db
    .selectFrom('responses')
    .innerJoin('users', 'users.id', 'responses.author_id')
    .innerJoin('organisations', 'organisations.id', 'responses.org_id')
    .select(['responses.id', 'responses.body', 'responses.change', 'responses.change_description', 'responses.change_status', 'responses.published_at', 'responses.helpful_count', 'users.name', 'organisations.name as orgName'])
    .where('responses.story_id', '=', id)
    .where('responses.moderation', '=', 'published')
    .orderBy('responses.published_at')
    .execute();
  story!.responses = responses.map((r) => {
    const checked = r.change_status === 'accepted';
    return { id: r.id, body: r.body, responder: r.name, organisation: r.orgName, change: checked ? r.change : null, changeDescription: checked ? r.change_description : null, helpful: r.helpful_count, publishedAt: r.published_at! };
  });
  story!.authorReplies = (
    await db.selectFrom('author_replies').select(['id', 'body', 'published_at']).where('story_id', '=', id).where('moderation', '=', 'published').orderBy('published_at').execute()
  ).map((r) => ({ id: r.id, body: r.body, publishedAt: r.published_at! }));
  return story!;
}

/** "I've experienced this": counted once per person (a signed-in user, or a browser's visitor id). */
export async function markExperienced(handle: DbHandle, o: { storyId: string; voter: string }): Promise<{ counted: boolean; count: number }> {
  return handle.db.transaction().execute(async (trx) => {
    const story = await trx.selectFrom('stories').select(['id', 'experienced_count']).where('id', '=', o.storyId).where('moderation', '=', 'published').executeTakeFirst();
    if (!story) throw notFound('story', 'story_not_found');
    const res = await trx.insertInto('story_experienced').values({ story_id: o.storyId, voter: o.voter, created_at: new Date().toISOString() }).onConflict((oc) => oc.columns(['story_id', 'voter']).doNothing()).executeTakeFirst();
    const counted = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    if (!counted) return { counted, count: story.experienced_count };
    await trx.updateTable('stories').set((eb) => ({ experienced_count: eb('experienced_count', '+', 1) })).where('id', '=', o.storyId).execute();
    return { counted, count: story.experienced_count + 1 };
  });
}

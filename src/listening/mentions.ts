import { z } from 'zod';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';
import { enqueue } from '../platform/jobs.ts';
import { decodeCursor, encodeCursor, parseInput } from '../platform/http.ts';
import { classifyText } from '../stories/models.ts';
import { isCursor } from '../stories/read.ts';
import type { IncomingPost, Source } from './channels/types.ts';
import { isNegative } from './sentiment.ts';

/**
 * Mentions: posts from social channels that carry a service's hashtag. They are public already, so
 * they are not moderated, but they are matched to services, classified and shown to staff only.
 * A post deleted at its source loses its text, author and address at once (the row stays as a
 * tombstone, so a late backfill cannot bring it back); an edit replaces the text.
 */
export const MAX_MENTION_TEXT = 10_000;

/** Hashtags in plain text (for sources without structured tags, such as a webhook). */
export function hashtagsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/(?:^|[^\p{L}\p{N}_&])#([\p{L}\p{N}_]{1,100})/gu)].map((m) => m[1]!.toLowerCase()))];
}

async function matchServices(handle: DbHandle, orgId: string, tags: string[]): Promise<string[]> {
  if (!tags.length) return [];
  const rows = await handle.db
    .selectFrom('service_hashtags')
    .innerJoin('services', 'services.id', 'service_hashtags.service_id')
    .select('services.id')
    .where('services.org_id', '=', orgId)
    .where('service_hashtags.tag', 'in', tags.map((t) => t.toLowerCase()))
    .execute();
  return [...new Set(rows.map((r) => r.id))];
}

/**
 * The text the models read: hashtags are addresses (which ward), not what was said, and a tag like
 * #Ward7LGI alone was enough to turn the sentiment model's "positive" into "negative".
 */
export function withoutHashtags(text: string): string {
  return text.replace(/(^|\s)#[\p{L}\p{N}_]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

/** Only web addresses are kept as a post's link: a `javascript:` or `data:` one from a feed is dropped. */
export function safeUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString().slice(0, 500) : null;
  } catch {
    return null;
  }
}

export interface IngestResult {
  id: string;
  outcome: 'created' | 'updated' | 'unchanged' | 'ignored';
}

/** Stores (or updates) one post for one organisation; safe to call twice with the same post. */
export async function ingestMention(handle: DbHandle, post: IncomingPost, target: { orgId: string; channelId: string | null }): Promise<IngestResult> {
  const db = handle.db;
  const text = post.text.split('\u0000').join('').slice(0, MAX_MENTION_TEXT);
  const tags = [...new Set(post.tags.map((t) => t.replace(/^#/, '').toLowerCase()))];
  const url = safeUrl(post.url);
  const existing = await db
    .selectFrom('mentions')
    .select(['id', 'text', 'deleted_at'])
    .where('org_id', '=', target.orgId)
    .where('source', '=', post.source)
    .where('external_id', '=', post.externalId)
    .executeTakeFirst();
  if (existing?.deleted_at) return { id: existing.id, outcome: 'ignored' };
  if (existing && existing.text === text) return { id: existing.id, outcome: 'unchanged' };

  const serviceIds = await matchServices(handle, target.orgId, tags);
  const { themes, sentiment, topics } = classifyText(withoutHashtags(text) || text);
  const t = now();
  const id = existing?.id ?? newId();
  const negative = isNegative(sentiment);
  await db.transaction().execute(async (trx) => {
    if (existing) {
      await trx
        .updateTable('mentions')
        .set({ text, tags: JSON.stringify(tags), themes: JSON.stringify(themes), topics: JSON.stringify(topics), sentiment, edited_at: post.editedAt ?? t, url })
        .where('id', '=', id)
        .execute();
      await trx.deleteFrom('mention_services').where('mention_id', '=', id).execute();
    } else {
      const inserted = await trx
        .insertInto('mentions')
        .values({
          id,
          org_id: target.orgId,
          channel_id: target.channelId,
          source: post.source,
          external_id: post.externalId,
          url,
          author: post.author.slice(0, 200),
          text,
          tags: JSON.stringify(tags),
          themes: JSON.stringify(themes),
          topics: JSON.stringify(topics),
          sentiment,
          posted_at: post.postedAt,
          received_at: t,
          edited_at: post.editedAt ?? null,
          deleted_at: null,
          reply: null,
          replied_by: null,
          replied_at: null,
          story_id: null,
        })
        .onConflict((oc) => oc.columns(['org_id', 'source', 'external_id']).doNothing())
        .executeTakeFirst();
      // Two deliveries of one post racing: the other one stored it.
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return;
    }
    if (serviceIds.length) await trx.insertInto('mention_services').values(serviceIds.map((service_id) => ({ mention_id: id, service_id }))).execute();
    await appendEvent(trx, handle.dialect, {
      type: existing ? 'mention.updated' : 'mention.received',
      orgId: target.orgId,
      subject: id,
      data: { source: post.source, services: serviceIds.length, sentiment },
    });
    if (negative) await enqueue(trx, { kind: 'hotspot.check', payload: { kind: 'mention', id }, dedupeKey: `hotspot:mention:${id}:${existing ? t : 'new'}` });
  });
  return { id, outcome: existing ? 'updated' : 'created' };
}

/** The author deleted the post: its text, author and address go everywhere at once. */
export async function removeMention(handle: DbHandle, source: Source, externalId: string, orgId?: string): Promise<number> {
  const db = handle.db;
  let q = db.selectFrom('mentions').select(['id', 'org_id']).where('source', '=', source).where('external_id', '=', externalId).where('deleted_at', 'is', null);
  if (orgId) q = q.where('org_id', '=', orgId);
  const rows = await q.execute();
  for (const r of rows) {
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('mentions').set({ text: '', author: '', url: null, tags: '[]', themes: '[]', topics: '[]', sentiment: null, reply: null, deleted_at: now() }).where('id', '=', r.id).execute();
      await appendEvent(trx, handle.dialect, { type: 'mention.deleted', orgId: r.org_id, subject: r.id, data: { source } });
    });
  }
  return rows.length;
}

export interface MentionView {
  id: string;
  orgId: string;
  source: Source;
  url: string | null;
  author: string;
  text: string;
  tags: string[];
  themes: string[];
  sentiment: string | null;
  postedAt: string;
  receivedAt: string;
  editedAt: string | null;
  services: Array<{ code: string; name: string }>;
  reply: string | null;
  repliedAt: string | null;
  storyId: string | null;
}

const MentionQuery = z
  .object({
    org: z.string().trim().max(20).optional(),
    service: z.string().trim().max(40).optional(),
    sentiment: z.enum(['', 'positive', 'neutral', 'negative']).optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(100).optional(),
  })
  .strict();

/** Mentions for organisations the caller may see, newest first, by cursor. */
export async function listMentions(handle: DbHandle, orgIds: string[], raw: unknown): Promise<{ items: MentionView[]; nextCursor: string | null }> {
  const query = parseInput(MentionQuery, raw, 'bad_query');
  const db = handle.db;
  let orgs = orgIds;
  if (query.org) {
    const org = await db.selectFrom('organisations').select('id').where('ods_code', '=', query.org.toUpperCase()).executeTakeFirst();
    if (!org) throw new AppError('unknown_organisation', 404, `No organisation has the code ${query.org}`);
    if (!orgIds.includes(org.id)) throw new AppError('forbidden', 403, 'You are not a member of that organisation.');
    orgs = [org.id];
  }
  let q = db.selectFrom('mentions').selectAll().where('org_id', 'in', orgs.length ? orgs : ['']).where('deleted_at', 'is', null);
  if (query.service) {
    const svc = await db.selectFrom('services').select(['path']).where('code', '=', query.service.toUpperCase()).executeTakeFirst();
    if (!svc) throw new AppError('unknown_service', 404, `No service has the code ${query.service}`);
    q = q.where('id', 'in', db.selectFrom('mention_services').innerJoin('services', 'services.id', 'mention_services.service_id').select('mention_services.mention_id').where('services.path', 'like', `${svc.path}%`));
  }
  if (query.sentiment === 'positive') q = q.where('sentiment', 'in', ['1', '2']);
  if (query.sentiment === 'neutral') q = q.where('sentiment', '=', '3');
  if (query.sentiment === 'negative') q = q.where('sentiment', 'in', ['4', '5']);
  const cursor = decodeCursor(query.cursor, isCursor);
  if (cursor) q = q.where((eb) => eb.or([eb('received_at', '<', cursor.p), eb.and([eb('received_at', '=', cursor.p), eb('id', '<', cursor.i)])]));
  const limit = query.limit ?? 20;
  const rows = await q.orderBy('received_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const page = rows.slice(0, limit);
  const items = await presentMentions(handle, page);
  const last = page[page.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor({ p: last.received_at, i: last.id }) : null };
}

type MentionRow = Awaited<ReturnType<typeof loadMentionRows>>[number];
function loadMentionRows(handle: DbHandle, ids: string[]) {
  return handle.db.selectFrom('mentions').selectAll().where('id', 'in', ids.length ? ids : ['']).execute();
}

export async function presentMentions(handle: DbHandle, rows: MentionRow[]): Promise<MentionView[]> {
  const links = rows.length
    ? await handle.db
        .selectFrom('mention_services')
        .innerJoin('services', 'services.id', 'mention_services.service_id')
        .select(['mention_services.mention_id', 'services.code', 'services.name'])
        .where('mention_id', 'in', rows.map((r) => r.id))
        .execute()
    : [];
  return rows.map((r) => ({
    id: r.id,
    orgId: r.org_id,
    source: r.source,
    url: r.url,
    author: r.author,
    text: r.text,
    tags: JSON.parse(r.tags) as string[],
    themes: (JSON.parse(r.themes) as Array<{ label: string }>).map((t) => t.label),
    sentiment: r.sentiment,
    postedAt: r.posted_at,
    receivedAt: r.received_at,
    editedAt: r.edited_at,
    services: links.filter((l) => l.mention_id === r.id).map((l) => ({ code: l.code, name: l.name })),
    reply: r.reply,
    repliedAt: r.replied_at,
    storyId: r.story_id,
  }));
}

export async function getMention(handle: DbHandle, id: string): Promise<MentionView | null> {
  const rows = await loadMentionRows(handle, [id]);
  const row = rows[0];
  if (!row || row.deleted_at) return null;
  return (await presentMentions(handle, [row]))[0]!;
}

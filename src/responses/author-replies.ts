import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { Database } from '../platform/db/schema.ts';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup } from '../platform/http.ts';
import { randomToken, sha256 } from '../platform/auth/tokens.ts';
import { findIdentifyingDetails, applyRedactions } from '../nlp/redact/index.ts';

/** A new secret link for the author of a story, to put in an email. */
export async function authorLink(trx: Transaction<Database>, storyId: string, publicUrl: string): Promise<string> {
  const token = randomToken();
  await trx.insertInto('author_links').values({ token_hash: sha256(token), story_id: storyId, created_at: now() }).execute();
  return `${publicUrl}/stories/${storyId}/reply?token=${token}`;
}

/** The story a link token belongs to; a wrong, missing or foreign token is a 404 (it reveals nothing). */
export async function storyForToken(handle: DbHandle, storyId: string, token: string | undefined): Promise<{ id: string; title: string }> {
  if (!token || token.length > 100) throw notFound('story', 'story_not_found');
  const link = await handle.db.selectFrom('author_links').innerJoin('stories', 'stories.id', 'author_links.story_id').select(['stories.id', 'stories.title', 'stories.moderation']).where('token_hash', '=', sha256(token)).where('author_links.story_id', '=', storyId).executeTakeFirst();
  if (!link || link.moderation !== 'published') throw notFound('story', 'story_not_found');
  return { id: link.id, title: link.title };
}

const ReplyInput = z.object({ body: z.string().trim().min(5, 'Write a reply of at least 5 characters').max(5000, 'A reply must be 5,000 characters or fewer').refine(noMarkup, MARKUP_MESSAGE) });

/**
 * The author answers back through their emailed link, so a story becomes a conversation. Replies
 * are moderated like stories; identifying details are removed before a moderator sees the text
 * that would be published.
 */
export async function replyAsAuthor(handle: DbHandle, o: { storyId: string; token: string | undefined; body: unknown }): Promise<string> {
  const story = await storyForToken(handle, o.storyId, o.token);
  const parsed = ReplyInput.safeParse({ body: o.body });
  if (!parsed.success) throw new AppError('invalid_reply', 400, parsed.error.issues[0]!.message, { fields: [{ field: 'body', message: parsed.error.issues[0]!.message }] });
  const id = newId();
  const body = applyRedactions(parsed.data.body, findIdentifyingDetails(parsed.data.body));
  await handle.db.transaction().execute(async (trx) => {
    await trx.insertInto('author_replies').values({ id, story_id: story.id, body, moderation: 'pending', moderation_reason: null, created_at: now(), published_at: null }).execute();
    await appendEvent(trx, handle.dialect, { type: 'author_reply.submitted', subject: story.id, data: { reply: id } });
  });
  return id;
}

export async function decideAuthorReply(handle: DbHandle, o: { replyId: string; by: string; action: string; reason?: string }): Promise<void> {
  if (o.action !== 'publish' && o.action !== 'reject') throw new AppError('invalid_decision', 400, 'action must be publish or reject');
  if (o.action === 'reject' && !o.reason) throw new AppError('reason_required', 400, 'Give a reason for rejecting the reply');
  await handle.db.transaction().execute(async (trx) => {
    const r = await trx.selectFrom('author_replies').selectAll().where('id', '=', o.replyId).executeTakeFirst();
    if (!r) throw notFound('reply', 'reply_not_found');
    if (r.moderation !== 'pending') throw new AppError('already_decided', 409, `This reply is already ${r.moderation}.`);
    const t = now();
    await trx.updateTable('author_replies').set(o.action === 'publish' ? { moderation: 'published', published_at: t } : { moderation: 'rejected', moderation_reason: o.reason ?? null }).where('id', '=', r.id).execute();
    const orgs = await trx.selectFrom('story_services').select('org_id').where('story_id', '=', r.story_id).execute();
    for (const org of new Set(orgs.map((x) => x.org_id))) {
      await appendEvent(trx, handle.dialect, { type: o.action === 'publish' ? 'author_reply.published' : 'author_reply.rejected', orgId: org, subject: r.story_id, actorId: o.by, data: { reply: r.id } });
    }
  });
}

import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { Database, Progress } from '../platform/db/schema.ts';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, forbidden, notFound } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { queueMail } from '../platform/mail.ts';
import { enqueue } from '../platform/jobs.ts';
import { authorLink } from './author-replies.ts';
import { can, type Actor } from '../platform/auth/policy.ts';

/** Responses are moderated until their author has this many published (PRODUCT.md). */
export const FAST_TRACK_AFTER = 10;
/** A planned change is followed up after this many days. */
export const CHANGE_REMINDER_DAYS = 28;
/** A response may be edited for this long after it is written. */
export const EDIT_WINDOW_MINUTES = 30;


export const ResponseInput = z
  .object({
    body: z.string().trim().min(10, 'Write a response of at least 10 characters').max(5000, 'A response must be 5,000 characters or fewer').refine(noMarkup, MARKUP_MESSAGE),
    change: z.enum(['planned', 'made']).optional().nullable(),
    changeDescription: z.string().trim().max(2000).refine(noMarkup, MARKUP_MESSAGE).optional().nullable(),
    org: z.string().max(64).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    // A claim of change must say what changed: "change made" alone is not counted.
    if (v.change && (!v.changeDescription || v.changeDescription.length < 20)) {
      ctx.addIssue({ code: 'custom', path: ['changeDescription'], message: 'Describe the change in at least 20 characters' });
    }
    if (!v.change && v.changeDescription) ctx.addIssue({ code: 'custom', path: ['change'], message: 'Say whether the change is planned or made' });
  });


/** A story's progress from its published responses and their checked change claims. */
async function refreshProgress(trx: Transaction<Database>, storyId: string): Promise<Progress> {
  const rows = await trx.selectFrom('responses').select(['change', 'change_status']).where('story_id', '=', storyId).where('moderation', '=', 'published').execute();
  const story = await trx.selectFrom('stories').select('progress').where('id', '=', storyId).executeTakeFirstOrThrow();
  const accepted = (change: 'planned' | 'made') => rows.some((r) => r.change === change && r.change_status === 'accepted');
  // Without a published response a story stays unheard or heard (read by staff); with one it moves on.
  const progress: Progress = accepted('made')
    ? 'change_made'
    : accepted('planned')
      ? 'change_planned'
      : rows.length
        ? 'responded'
        : story.progress === 'unheard'
          ? 'unheard'
          : 'heard';
  await trx.updateTable('stories').set({ progress }).where('id', '=', storyId).execute();
  return progress;
}

async function publishResponse(trx: Transaction<Database>, dialect: DbHandle['dialect'], responseId: string, publicUrl: string): Promise<void> {
  const r = await trx.selectFrom('responses').selectAll().where('id', '=', responseId).executeTakeFirstOrThrow();
  const t = now();
  await trx.updateTable('responses').set({ moderation: 'published', published_at: t, updated_at: t }).where('id', '=', responseId).execute();
  const progress = await refreshProgress(trx, r.story_id);
  await appendEvent(trx, dialect, { type: 'response.published', orgId: r.org_id, subject: r.story_id, actorId: r.author_id, data: { response: responseId, change: r.change, progress } });
  const story = await trx.selectFrom('stories').select(['id', 'ref', 'title', 'author_email']).where('id', '=', r.story_id).executeTakeFirstOrThrow();
  if (story.author_email) {
    await queueMail(trx, {
      to: story.author_email,
      subject: `A response to your story (${story.ref})`,
      text: `Staff have responded to your story "${story.title}".\n\nRead the response: ${publicUrl}/stories/${story.id}\n\nTo reply to them, use this link (it is only for you): ${await authorLink(trx, story.id, publicUrl)}\n\nCarevoice`,
    }, `response:${responseId}`);
  }
}

/**
 * A responder answers a published story in public for one of the organisations it names. New
 * responders' answers are moderated; after FAST_TRACK_AFTER published ones they go out at once,
 * unless the story is strongly or severely critical (4-5). A change claim needs a description and
 * counts only once a moderator has checked it.
 */
export async function respondToStory(
  handle: DbHandle,
  o: { storyId: string; actor: Actor; input: unknown; publicUrl: string },
): Promise<{ id: string; moderation: 'pending' | 'published' }> {
  return handle.db.transaction().execute(async (trx) => {
    // Who may respond is checked before what they wrote: a refusal says nothing about the input.
    const story = await trx.selectFrom('stories').select(['id', 'moderation', 'criticality']).where('id', '=', o.storyId).executeTakeFirst();
    if (!story || story.moderation !== 'published') throw notFound('story', 'story_not_found');
    const named = await trx.selectFrom('story_services').innerJoin('organisations', 'organisations.id', 'story_services.org_id').select(['organisations.id', 'organisations.ods_code']).where('story_id', '=', o.storyId).execute();
    const mine = named.filter((n) => can(o.actor, 'respond', { orgIds: [n.id] }));
    if (mine.length === 0) throw forbidden('Only responders of an organisation this story names can respond to it.');
    const input = parseInput(ResponseInput, o.input, 'invalid_response');
    const org = input.org ? mine.find((m) => m.ods_code === input.org) : mine[0];
    if (!org) throw forbidden(`You cannot respond for ${input.org}.`);
    const published = await trx.selectFrom('responses').select((eb) => eb.fn.countAll().as('n')).where('author_id', '=', o.actor.userId).where('moderation', '=', 'published').executeTakeFirstOrThrow();
    const fastTrack = Number(published.n) >= FAST_TRACK_AFTER && (story.criticality ?? 0) < 4;
    const id = newId();
    const t = new Date();
    await trx
      .insertInto('responses')
      .values({
        id,
        story_id: o.storyId,
        org_id: org.id,
        author_id: o.actor.userId,
        body: input.body,
        change: input.change ?? null,
        change_description: input.change ? input.changeDescription! : null,
        change_status: null,
        moderation: 'pending',
        moderation_reason: null,
        created_at: t.toISOString(),
        edit_until: new Date(t.getTime() + EDIT_WINDOW_MINUTES * 60_000).toISOString(),
        published_at: null,
        updated_at: t.toISOString(),
      })
      .execute();
    await appendEvent(trx, handle.dialect, { type: 'response.submitted', orgId: org.id, subject: o.storyId, actorId: o.actor.userId, data: { response: id, change: input.change ?? null, fastTrack } });
    if (fastTrack) await publishResponse(trx, handle.dialect, id, o.publicUrl);
    return { id, moderation: fastTrack ? 'published' : 'pending' };
  });
}

export const ResponseDecision = z
  .object({ action: z.enum(['publish', 'reject']), reason: z.string().trim().max(500).optional(), changeAccepted: z.boolean().optional() })
  .strict();

/**
 * A moderator's decision on a response, and on its change claim: publishing accepts the claim
 * unless `changeAccepted: false`. A fast-tracked response's claim is checked the same way.
 */
export async function decideResponse(handle: DbHandle, o: { responseId: string; by: string; input: unknown; publicUrl: string }): Promise<{ moderation: string; changeStatus: string | null }> {
  const d = parseInput(ResponseDecision, o.input, 'invalid_response');
  return handle.db.transaction().execute(async (trx) => {
    const r = await trx.selectFrom('responses').selectAll().where('id', '=', o.responseId).executeTakeFirst();
    if (!r) throw notFound('response', 'response_not_found');
    const claimOpen = r.change !== null && r.change_status === null;
    if (r.moderation !== 'pending' && !claimOpen) throw new AppError('already_decided', 409, `This response is already ${r.moderation}.`);
    if (d.action === 'reject') {
      if (!d.reason) throw new AppError('reason_required', 400, 'Give a reason for rejecting the response', { fields: [{ field: 'reason', message: 'Give a reason' }] });
      if (r.moderation === 'published') {
        // Published already (fast-tracked): rejecting now rejects only its change claim.
        await trx.updateTable('responses').set({ change_status: 'rejected', moderation_reason: d.reason, updated_at: now() }).where('id', '=', r.id).execute();
        await refreshProgress(trx, r.story_id);
        await appendEvent(trx, handle.dialect, { type: 'change.rejected', orgId: r.org_id, subject: r.story_id, actorId: o.by, data: { response: r.id, reason: d.reason } });
        return { moderation: 'published', changeStatus: 'rejected' };
      }
      await trx.updateTable('responses').set({ moderation: 'rejected', moderation_reason: d.reason, change_status: r.change ? 'rejected' : null, updated_at: now() }).where('id', '=', r.id).execute();
      await appendEvent(trx, handle.dialect, { type: 'response.rejected', orgId: r.org_id, subject: r.story_id, actorId: o.by, data: { response: r.id, reason: d.reason } });
      return { moderation: 'rejected', changeStatus: r.change ? 'rejected' : null };
    }
    const changeStatus = r.change ? (d.changeAccepted === false ? 'rejected' : 'accepted') : null;
    await trx.updateTable('responses').set({ change_status: changeStatus, updated_at: now() }).where('id', '=', r.id).execute();
    if (r.change) await appendEvent(trx, handle.dialect, { type: changeStatus === 'accepted' ? 'change.accepted' : 'change.rejected', orgId: r.org_id, subject: r.story_id, actorId: o.by, data: { response: r.id, change: r.change } });
    if (r.change === 'planned' && changeStatus === 'accepted') {
      // Four weeks on, the responder is asked whether the planned change has been made.
      await enqueue(trx, { kind: 'change.update_reminder', payload: { responseId: r.id }, dedupeKey: `reminder:${r.id}`, runAt: new Date(Date.now() + CHANGE_REMINDER_DAYS * 86_400_000) });
    }
    if (r.moderation === 'pending') await publishResponse(trx, handle.dialect, r.id, o.publicUrl);
    else await refreshProgress(trx, r.story_id);
    return { moderation: 'published', changeStatus };
  });
}

/** "Helpful" on a public response, counted once per person (a user, or a browser's visitor id). */
export async function markHelpful(handle: DbHandle, o: { responseId: string; voter: string }): Promise<{ storyId: string; count: number }> {
  return handle.db.transaction().execute(async (trx) => {
    const r = await trx.selectFrom('responses').select(['id', 'story_id', 'helpful_count']).where('id', '=', o.responseId).where('moderation', '=', 'published').executeTakeFirst();
    if (!r) throw notFound('response', 'response_not_found');
    const res = await trx.insertInto('response_helpful').values({ response_id: o.responseId, voter: o.voter, created_at: now() }).onConflict((oc) => oc.columns(['response_id', 'voter']).doNothing()).executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) return { storyId: r.story_id, count: r.helpful_count };
    await trx.updateTable('responses').set((eb) => ({ helpful_count: eb('helpful_count', '+', 1) })).where('id', '=', o.responseId).execute();
    return { storyId: r.story_id, count: r.helpful_count + 1 };
  });
}

/** Its author may correct a response within EDIT_WINDOW_MINUTES of writing it; the edit is in the audit trail. */
export async function editResponse(handle: DbHandle, o: { responseId: string; actor: Actor; body: unknown }): Promise<void> {
  await handle.db.transaction().execute(async (trx) => {
    const r = await trx.selectFrom('responses').selectAll().where('id', '=', o.responseId).executeTakeFirst();
    if (!r) throw notFound('response', 'response_not_found');
    if (r.author_id !== o.actor.userId) throw forbidden('Only the person who wrote a response can edit it.');
    if (r.edit_until < now()) throw new AppError('edit_window_closed', 409, `A response can be edited for ${EDIT_WINDOW_MINUTES} minutes after it is written.`);
    const { body } = parseInput(ResponseInput, { body: o.body }, 'invalid_response');
    await trx.updateTable('responses').set({ body, updated_at: now() }).where('id', '=', r.id).execute();
    await appendEvent(trx, handle.dialect, { type: 'response.edited', orgId: r.org_id, subject: r.story_id, actorId: o.actor.userId, data: { response: r.id, before: r.body, after: body } });
  });
}

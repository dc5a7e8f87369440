import type { Transaction } from 'kysely';
import { z } from 'zod';
import type { Database } from '../platform/db/schema.ts';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { enqueue } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';
import { applyRedactions, type Finding } from '../nlp/redact/index.ts';
import { REJECTION_REASONS, type RejectionReason } from '../stories/vocabulary.ts';
import { MAX_STORY_LENGTH } from '../stories/tell.ts';
import { inIntake, storedOrWaiting } from '../stories/intake.ts';
import { canMove } from './states.ts';


export const DecisionInput = z
  .object({
    action: z.enum(['publish', 'reject']),
    criticality: z.coerce.number().int().min(0).max(5).optional(),
    title: z.string().trim().min(3).max(120).refine(noMarkup, MARKUP_MESSAGE).optional(),
    body: z.string().trim().min(20).max(MAX_STORY_LENGTH).refine(noMarkup, MARKUP_MESSAGE).optional(),
    reason: z.string().trim().max(500).optional(),
  })
  .strict();

/** The story text with every accepted finding replaced. */
async function redactedText(trx: Transaction<Database>, story: { id: string; original_title: string; original_body: string }) {
  const findings = await trx.selectFrom('story_findings').selectAll().where('story_id', '=', story.id).where('accepted', '=', 1).execute();
  const as = (field: 'title' | 'body'): Finding[] =>
    findings.filter((f) => f.field === field).map((f) => ({ type: f.type as Finding['type'], start: f.start, end: f.end, text: f.text, replacement: f.replacement }));
  return { title: applyRedactions(story.original_title, as('title')), body: applyRedactions(story.original_body, as('body')) };
}

async function orgIdsOf(trx: Transaction<Database>, storyId: string): Promise<string[]> {
  return [...new Set((await trx.selectFrom('story_services').select('org_id').where('story_id', '=', storyId).execute()).map((r) => r.org_id))];
}

/**
 * A moderator's decision. Publishing without a body publishes the text with every accepted finding
 * redacted; with a title or body, the moderator's edit (the original stays, moderators only, and the
 * edit is in the audit trail). When an organisation named has a review window, publication waits
 * for it (a job publishes at the end). Rejecting needs a reason: one of the rule templates or text.
 */
/** A story just told, still in the intake: its identifying details are not yet found. */
export const notCheckedYet = () => new AppError('not_checked', 409, 'This story has just been told and is still being checked for identifying details and safeguarding concerns. Try again in a moment.');

/** The stored story `read` finds; one still in the intake is a 409 `not_checked`, any other a 404. */
export async function storyToModerate<T>(db: Db | Transaction<Database>, id: string, read: () => Promise<T | undefined>): Promise<T> {
  const found = await storedOrWaiting<T | 'in the intake'>(read, async () => ((await inIntake(db, id)) ? 'in the intake' : undefined));
  if (found === 'in the intake') throw notCheckedYet();
  if (found === undefined) throw notFound('story', 'story_not_found');
  return found;
}

export async function decideStory(
  handle: DbHandle,
  o: { storyId: string; by: string; input: unknown; publicUrl: string },
): Promise<{ moderation: string; publishAt: string | null }> {
  const d = parseInput(DecisionInput, o.input, 'invalid_decision');
  return handle.db.transaction().execute(async (trx) => {
    const story = await storyToModerate(trx, o.storyId, () => trx.selectFrom('stories').selectAll().where('id', '=', o.storyId).executeTakeFirst());
    if (story.moderation !== 'pending' || story.decided_at) throw new AppError('already_decided', 409, `This story has already been ${story.decided_at && story.moderation === 'pending' ? 'approved and is waiting for the provider review window' : story.moderation}.`);
    const orgIds = await orgIdsOf(trx, story.id);
    const t = now();

    if (d.action === 'reject') {
      if (!d.reason) throw new AppError('reason_required', 400, 'Give a reason for rejecting the story', { fields: [{ field: 'reason', message: 'Choose or write a reason' }] });
      if (!canMove(story.moderation, 'rejected')) throw new AppError('bad_transition', 409, 'This story cannot be rejected now.');
      const template = Object.hasOwn(REJECTION_REASONS, d.reason) ? REJECTION_REASONS[d.reason as RejectionReason] : undefined;
      const reason = template ?? d.reason;
      await trx.updateTable('stories').set({ moderation: 'rejected', moderation_reason: reason, decided_at: t, updated_at: t }).where('id', '=', story.id).execute();
      await appendEvent(trx, handle.dialect, { type: 'story.rejected', subject: story.id, actorId: o.by, data: { ref: story.ref, reason } });
      if (story.author_email) {
        await queueMail(trx, {
          to: story.author_email,
          subject: `Your story (${story.ref}) was not published`,
          text: `Thank you for telling your story "${story.original_title}".\n\nWe could not publish it. ${reason}\n\nYou are welcome to tell your story again, keeping to the rules.\n\nCarevoice\n${o.publicUrl}`,
        }, `rejected:${story.id}`);
      }
      return { moderation: 'rejected', publishAt: null };
    }

    const criticality = d.criticality ?? story.suggested_criticality ?? 0;
    const redacted = await redactedText(trx, story);
    const title = d.title ?? redacted.title;
    const body = d.body ?? redacted.body;
    if (d.title !== undefined || d.body !== undefined) {
      await appendEvent(trx, handle.dialect, {
        type: 'story.edited',
        subject: story.id,
        actorId: o.by,
        data: { ref: story.ref, titleChanged: d.title !== undefined && d.title !== redacted.title, bodyChanged: d.body !== undefined && d.body !== redacted.body, before: { title: story.title, body: story.body }, after: { title, body } },
      });
    }
    const windowHours = orgIds.length
      ? Math.max(0, ...(await trx.selectFrom('organisations').select('review_window_hours').where('id', 'in', orgIds).execute()).map((r) => r.review_window_hours))
      : 0;
    await trx.updateTable('stories').set({ title, body, criticality, decided_at: t, updated_at: t }).where('id', '=', story.id).execute();
    await appendEvent(trx, handle.dialect, { type: 'story.approved', subject: story.id, actorId: o.by, data: { ref: story.ref, criticality, suggested: story.suggested_criticality } });
    if (windowHours > 0) {
      const publishAt = new Date(Date.now() + windowHours * 3_600_000).toISOString();
      await trx.updateTable('stories').set({ publish_at: publishAt }).where('id', '=', story.id).execute();
      await enqueue(trx, { kind: 'story.publish', payload: { storyId: story.id }, dedupeKey: `publish:${story.id}`, runAt: new Date(publishAt) });
      return { moderation: 'pending', publishAt };
    }
    await publishApproved(trx, handle.dialect, story.id, o.publicUrl);
    return { moderation: 'published', publishAt: null };
  });
}

/** Publishes an approved story (now, or when its review window ends). Idempotent. */
export async function publishApproved(trx: Transaction<Database>, dialect: DbHandle['dialect'], storyId: string, publicUrl: string): Promise<void> {
  const story = await trx.selectFrom('stories').selectAll().where('id', '=', storyId).executeTakeFirst();
  if (!story || story.moderation !== 'pending' || !story.decided_at) return;
  const t = now();
  await trx.updateTable('stories').set({ moderation: 'published', published_at: t, updated_at: t }).where('id', '=', storyId).execute();
  const orgIds = await orgIdsOf(trx, storyId);
  for (const orgId of orgIds) {
    await appendEvent(trx, dialect, { type: 'story.published', orgId, subject: storyId, data: { ref: story.ref, title: story.title, criticality: story.criticality } });
  }
  await enqueue(trx, { kind: 'alerts.story_published', payload: { storyId }, dedupeKey: `alerts:${storyId}` });
  // Negative stories may be part of a hotspot (src/listening/hotspots.ts judges).
  if (story.sentiment === '4' || story.sentiment === '5') await enqueue(trx, { kind: 'hotspot.check', payload: { kind: 'story', id: storyId }, dedupeKey: `hotspot:story:${storyId}` });
  if (story.author_email) {
    await queueMail(trx, {
      to: story.author_email,
      subject: `Your story is published (${story.ref})`,
      text: `Your story "${story.title}" is now published, and the staff of the services you named can read it and respond.\n\nRead it here: ${publicUrl}/stories/${story.id}\n\nCarevoice`,
    }, `published:${storyId}`);
  }
}

/** Accepts or undoes one redaction; the pending story's shown text follows. */
export async function setFindingAccepted(handle: DbHandle, o: { storyId: string; findingId: string; accepted: boolean; by: string }): Promise<void> {
  await handle.db.transaction().execute(async (trx) => {
    const story = await trx.selectFrom('stories').select(['id', 'moderation', 'decided_at', 'original_title', 'original_body', 'ref']).where('id', '=', o.storyId).executeTakeFirst();
    if (!story) throw notFound('story', 'story_not_found');
    if (story.moderation !== 'pending' || story.decided_at) throw new AppError('already_decided', 409, 'This story has already been decided.');
    const res = await trx.updateTable('story_findings').set({ accepted: o.accepted ? 1 : 0 }).where('id', '=', o.findingId).where('story_id', '=', o.storyId).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw notFound('finding', 'finding_not_found');
    const text = await redactedText(trx, story);
    await trx.updateTable('stories').set({ title: text.title, body: text.body, updated_at: now() }).where('id', '=', o.storyId).execute();
    await appendEvent(trx, handle.dialect, { type: o.accepted ? 'finding.accepted' : 'finding.undone', subject: o.storyId, actorId: o.by, data: { ref: story.ref, finding: o.findingId } });
  });
}

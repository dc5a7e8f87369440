import type { DbHandle } from '../platform/db/index.ts';
import type { JobHandler } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';
import { appendEvent } from '../platform/events.ts';
import { publishApproved } from '../moderation/decide.ts';
import { classifyText } from './models.ts';

/** Background work for stories; each handler is idempotent (at-least-once delivery). */
export function storyJobs(handle: DbHandle, publicUrl: string): Record<string, JobHandler> {
  const db = handle.db;
  return {
    // Themes and sentiment of a story told before the story intake, which now checks and classifies
    // every story before storing it (see intake.ts). Kept for jobs queued before it.
    'story.classify': async (payload) => {
      const { storyId } = payload as { storyId: string };
      const story = await db.selectFrom('stories').select(['id', 'original_title', 'original_body']).where('id', '=', storyId).executeTakeFirst();
      if (!story) return;
      const { themes, sentiment, topics } = classifyText(`${story.original_title}. ${story.original_body}`);
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('stories').set({ themes: JSON.stringify(themes), sentiment, topics: JSON.stringify(topics) }).where('id', '=', storyId).execute();
        await appendEvent(trx, handle.dialect, { type: 'story.classified', subject: storyId, data: { themes: themes.map((t) => t.label), sentiment } });
      });
    },

    // An urgent story alerts every moderator at once, by email (the queue shows it first too).
    'moderation.urgent_alert': async (payload) => {
      const { storyId } = payload as { storyId: string };
      const story = await db.selectFrom('stories').select(['id', 'ref', 'safeguarding', 'moderation']).where('id', '=', storyId).executeTakeFirst();
      if (!story) return;
      const moderators = await db.selectFrom('users').select(['email']).where('platform_role', 'in', ['moderator', 'admin']).execute();
      const reasons = (JSON.parse(story.safeguarding) as string[]).map((r) => r.replace(/_/g, ' ')).join(', ');
      await db.transaction().execute(async (trx) => {
        for (const m of moderators) {
          await queueMail(trx, {
            to: m.email,
            subject: `URGENT story to moderate: ${story.ref}`,
            text: `A story was flagged as a possible safeguarding concern (${reasons}). It is at the top of the moderation queue.\n\n${publicUrl}/moderation/stories/${story.id}`,
          }, `urgent:${storyId}:${m.email}`);
        }
      });
    },

    // Four weeks after a checked "change planned": ask the responder for an update, unless a later
    // response of theirs on the same story already claims the change made.
    'change.update_reminder': async (payload) => {
      const { responseId } = payload as { responseId: string };
      const r = await db.selectFrom('responses').innerJoin('users', 'users.id', 'responses.author_id').innerJoin('stories', 'stories.id', 'responses.story_id').select(['responses.story_id', 'responses.author_id', 'responses.change_description', 'users.email', 'stories.ref', 'stories.title']).where('responses.id', '=', responseId).executeTakeFirst();
      if (!r) return;
      const made = await db.selectFrom('responses').select('id').where('story_id', '=', r.story_id).where('change', '=', 'made').where('moderation', '!=', 'rejected').executeTakeFirst();
      if (made) return;
      await db.transaction().execute(async (trx) => {
        await queueMail(trx, {
          to: r.email,
          subject: `Has the planned change been made? (${r.ref})`,
          text: `Four weeks ago you planned a change in response to "${r.title}":\n\n${r.change_description}\n\nIf it has been made, tell the storyteller and everyone else by responding with "change made":\n${publicUrl}/stories/${r.story_id}#respond\n\nCarevoice`,
        }, `reminder-mail:${responseId}`);
        await appendEvent(trx, handle.dialect, { type: 'change.reminder_sent', subject: r.story_id, actorId: null, data: { response: responseId } });
      });
    },

    // The end of an organisation's review window: publish what the moderator approved.
    'story.publish': async (payload) => {
      const { storyId } = payload as { storyId: string };
      await db.transaction().execute((trx) => publishApproved(trx, handle.dialect, storyId, publicUrl));
    },
  };
}

import { z } from 'zod';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { parseInput } from '../platform/http.ts';
import { enqueue, type JobHandler } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';
import { orgsWhere, type Actor } from '../platform/auth/policy.ts';

export const DELIVERIES = ['immediate', 'digest', 'in_app'] as const;

export const SubscriptionInput = z
  .object({
    service: z.string().trim().min(1, 'Give a service code').max(64),
    minCriticality: z.coerce.number().int().min(0).max(5).default(0),
    themes: z.array(z.string().max(100)).max(20).default([]),
    delivery: z.enum(DELIVERIES, { message: 'Choose immediate email, a daily digest or in the app only' }),
  })
  .strict();

/** Staff watch a service (with everything under it) of one of their organisations. */
export async function subscribe(handle: DbHandle, actor: Actor, raw: unknown): Promise<string> {
  // Whose service it is is checked before the rest of the form: a refusal says nothing about the input.
  const code = typeof (raw as { service?: unknown } | null)?.service === 'string' ? ((raw as { service: string }).service.trim().slice(0, 64)) : '';
  const svc = code ? await handle.db.selectFrom('services').select(['id', 'org_id']).where('code', '=', code).executeTakeFirst() : undefined;
  if (!svc) throw new AppError('service_not_found', 400, code ? `No service has the code ${code}` : 'Give a service code', { fields: [{ field: 'service', message: 'No service has that code' }] });
  if (!orgsWhere(actor, ['responder', 'leader', 'admin']).includes(svc.org_id)) throw new AppError('forbidden', 403, 'You can only watch the services of your own organisations.');
  const s = parseInput(SubscriptionInput, raw, 'invalid_subscription');
  const id = newId();
  await handle.db.insertInto('alert_subscriptions').values({ id, user_id: actor.userId, service_id: svc.id, min_criticality: s.minCriticality, themes: JSON.stringify(s.themes), delivery: s.delivery, created_at: now() }).execute();
  return id;
}

export async function unsubscribe(handle: DbHandle, actor: Actor, id: string): Promise<void> {
  const res = await handle.db.deleteFrom('alert_subscriptions').where('id', '=', id).where('user_id', '=', actor.userId).executeTakeFirst();
  if (Number(res.numDeletedRows) === 0) throw notFound('subscription', 'subscription_not_found');
}

export async function unreadCount(handle: DbHandle, userId: string): Promise<number> {
  const r = await handle.db.selectFrom('notifications').select((eb) => eb.fn.countAll().as('n')).where('user_id', '=', userId).where('read_at', 'is', null).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The first 07:00 UTC after a moment: when the daily digest goes out. */
export function nextDigestAt(after: Date): Date {
  const d = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate(), 7));
  if (d <= after) d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

export async function scheduleDigest(handle: DbHandle, after = new Date()): Promise<void> {
  const at = nextDigestAt(after);
  await enqueue(handle.db, { kind: 'alerts.daily_digest', payload: { at: at.toISOString() }, dedupeKey: `digest:${at.toISOString().slice(0, 10)}`, runAt: at });
}

/**
 * Alert jobs. A published story makes at most one notification per person (a unique key), whatever
 * the number of matching subscriptions or job retries; an immediate email is keyed the same way, so
 * none is sent twice. The digest marks what it sent, then schedules the next day's.
 */
export function alertJobs(handle: DbHandle, publicUrl: string): Record<string, JobHandler> {
  const db = handle.db;
  return {
    'alerts.story_published': async (payload) => {
      const { storyId } = payload as { storyId: string };
      const story = await db.selectFrom('stories').select(['id', 'ref', 'title', 'criticality', 'themes', 'moderation']).where('id', '=', storyId).executeTakeFirst();
      if (!story || story.moderation !== 'published') return;
      const paths = (await db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select('services.path').where('story_id', '=', storyId).execute()).map((r) => r.path);
      const ancestorIds = [...new Set(paths.flatMap((p) => p.split('/').filter(Boolean)))];
      if (ancestorIds.length === 0) return;
      const subs = await db
        .selectFrom('alert_subscriptions')
        .innerJoin('users', 'users.id', 'alert_subscriptions.user_id')
        .select(['alert_subscriptions.id', 'alert_subscriptions.user_id', 'alert_subscriptions.min_criticality', 'alert_subscriptions.themes', 'alert_subscriptions.delivery', 'users.email'])
        .where('alert_subscriptions.service_id', 'in', ancestorIds)
        .execute();
      const themes = (JSON.parse(story.themes) as Array<{ label: string }>).map((t) => t.label);
      const rank = { immediate: 0, digest: 1, in_app: 2 } as const;
      const best = new Map<string, (typeof subs)[number]>();
      for (const s of subs) {
        if ((story.criticality ?? 0) < s.min_criticality) continue;
        const wanted = JSON.parse(s.themes) as string[];
        if (wanted.length && !wanted.some((w) => themes.includes(w))) continue;
        const prev = best.get(s.user_id);
        if (!prev || rank[s.delivery] < rank[prev.delivery]) best.set(s.user_id, s);
      }
      for (const s of best.values()) {
        await db.transaction().execute(async (trx) => {
          const inserted = await trx
            .insertInto('notifications')
            .values({ id: newId(), user_id: s.user_id, story_id: storyId, subscription_id: s.id, delivery: s.delivery, text: `New story (criticality ${story.criticality ?? 0}): ${story.title}`, created_at: now(), read_at: null, digested_at: null })
            .onConflict((oc) => oc.columns(['user_id', 'story_id']).doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 && s.delivery === 'immediate') {
            await queueMail(trx, { to: s.email, subject: `New story: ${story.title} (${story.ref})`, text: `A story about a service you watch has been published.\n\n${story.title}\n${publicUrl}/staff/stories/${storyId}\n\nCarevoice` }, `alert:${s.user_id}:${storyId}`);
          }
        });
      }
    },

    'alerts.daily_digest': async (payload) => {
      const { at } = payload as { at: string };
      const due = await db.selectFrom('notifications').innerJoin('users', 'users.id', 'notifications.user_id').innerJoin('stories', 'stories.id', 'notifications.story_id').select(['notifications.id', 'notifications.user_id', 'users.email', 'stories.title', 'stories.id as storyId']).where('notifications.delivery', '=', 'digest').where('notifications.digested_at', 'is', null).where('notifications.created_at', '<=', at).execute();
      const byUser = new Map<string, typeof due>();
      for (const n of due) byUser.set(n.user_id, [...(byUser.get(n.user_id) ?? []), n]);
      for (const [userId, items] of byUser) {
        await db.transaction().execute(async (trx) => {
          await queueMail(trx, {
            to: items[0]!.email,
            subject: `Your daily digest: ${items.length} new ${items.length === 1 ? 'story' : 'stories'}`,
            text: `${items.map((i) => `- ${i.title}\n  ${publicUrl}/staff/stories/${i.storyId}`).join('\n')}\n\nCarevoice`,
          }, `digest:${userId}:${at}`);
          await trx.updateTable('notifications').set({ digested_at: now() }).where('id', 'in', items.map((i) => i.id)).execute();
        });
      }
      await scheduleDigest(handle, new Date(Date.parse(at) + 1000));
    },
  };
}

import type { DbHandle } from '../platform/db/index.ts';
import { enqueue, type JobHandler } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';

/**
 * Praise: strongly positive stories and mentions naming a service. They reach that service's team
 * on the live wall (a tile) and in a weekly "pass it on" email to the organisation's responders and
 * leaders, grouped by service, every Monday at 08:00 UTC.
 */
export interface PraiseItem {
  kind: 'story' | 'mention';
  id: string;
  text: string;
  at: string;
  orgId: string;
  service: { code: string; name: string };
  href: string;
}

const excerpt = (s: string, n = 240) => (s.length > n ? `${s.slice(0, n - 1).replace(/\s+\S*$/, '')}…` : s);

export async function recentPraise(handle: DbHandle, orgIds: string[], opts: { since: string; limit?: number }): Promise<PraiseItem[]> {
  if (!orgIds.length) return [];
  const db = handle.db;
  const limit = opts.limit ?? 10;
  const [stories, mentions] = await Promise.all([
    db
      .selectFrom('stories')
      .innerJoin('story_services', 'story_services.story_id', 'stories.id')
      .innerJoin('services', 'services.id', 'story_services.service_id')
      .select(['stories.id', 'stories.body', 'stories.published_at', 'services.code', 'services.name', 'services.org_id'])
      .where('stories.moderation', '=', 'published')
      .where('stories.sentiment', '=', '1')
      .where('stories.published_at', '>=', opts.since)
      .where('services.org_id', 'in', orgIds)
      .orderBy('stories.published_at', 'desc')
      .limit(limit)
      .execute(),
    db
      .selectFrom('mentions')
      .innerJoin('mention_services', 'mention_services.mention_id', 'mentions.id')
      .innerJoin('services', 'services.id', 'mention_services.service_id')
      .select(['mentions.id', 'mentions.text', 'mentions.received_at', 'services.code', 'services.name', 'services.org_id'])
      .where('mentions.deleted_at', 'is', null)
      .where('mentions.sentiment', '=', '1')
      .where('mentions.received_at', '>=', opts.since)
      .where('mentions.org_id', 'in', orgIds)
      .orderBy('mentions.received_at', 'desc')
      .limit(limit)
      .execute(),
  ]);
  return [
    ...stories.map((s) => ({ kind: 'story' as const, id: s.id, text: excerpt(s.body), at: s.published_at!, orgId: s.org_id, service: { code: s.code, name: s.name }, href: `/staff/stories/${s.id}` })),
    ...mentions.map((m) => ({ kind: 'mention' as const, id: m.id, text: excerpt(m.text), at: m.received_at, orgId: m.org_id, service: { code: m.code, name: m.name }, href: `/staff/mentions/${m.id}` })),
  ]
    .sort((a, b) => b.at.localeCompare(a.at))
    .slice(0, limit);
}

/** The next Monday 08:00 UTC strictly after `after`. */
export function nextPraiseDigestAt(after: Date): Date {
  const d = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate(), 8));
  d.setUTCDate(d.getUTCDate() + ((1 - d.getUTCDay() + 7) % 7));
  if (d <= after) d.setUTCDate(d.getUTCDate() + 7);
  return d;
}

export async function schedulePraiseDigest(handle: DbHandle, after = new Date()): Promise<void> {
  const at = nextPraiseDigestAt(after);
  await enqueue(handle.db, { kind: 'praise.weekly_digest', payload: { at: at.toISOString() }, dedupeKey: `praise:${at.toISOString().slice(0, 10)}`, runAt: at });
}

export function praiseJobs(handle: DbHandle, publicUrl: string): Record<string, JobHandler> {
  const db = handle.db;
  return {
    'praise.weekly_digest': async (payload) => {
      const { at } = payload as { at: string };
      const since = new Date(Date.parse(at) - 7 * 86_400_000).toISOString();
      const orgs = await db.selectFrom('organisations').select(['id', 'name']).execute();
      for (const org of orgs) {
        const items = await recentPraise(handle, [org.id], { since, limit: 50 });
        if (!items.length) continue;
        const byService = new Map<string, PraiseItem[]>();
        for (const i of items) byService.set(i.service.name, [...(byService.get(i.service.name) ?? []), i]);
        const text = [...byService]
          .map(([name, list]) => `${name}\n${list.map((i) => `  - "${i.text}"\n    ${publicUrl}${i.href}`).join('\n')}`)
          .join('\n\n');
        const people = await db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select(['users.id', 'users.email']).where('memberships.org_id', '=', org.id).where('memberships.role', 'in', ['leader', 'responder']).execute();
        await db.transaction().execute(async (trx) => {
          for (const p of new Map(people.map((x) => [x.id, x])).values()) {
            await queueMail(
              trx,
              {
                to: p.email,
                subject: `Pass it on: ${items.length} ${items.length === 1 ? 'compliment' : 'compliments'} for ${org.name} this week`,
                text: `Patients said these good things about your teams this week. Please pass them on.\n\n${text}\n\nCarevoice`,
              },
              `praise:${org.id}:${p.id}:${at}`,
            );
          }
        });
      }
      await schedulePraiseDigest(handle, new Date(Date.parse(at) + 1000));
    },
  };
}

export const praiseSince = (days = 7) => new Date(Date.now() - days * 86_400_000).toISOString();

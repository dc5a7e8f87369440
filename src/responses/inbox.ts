import { sql } from 'kysely';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, forbidden, notFound } from '../platform/errors.ts';
import { orgsWhere, type Actor } from '../platform/auth/policy.ts';
import { addWorkingDays } from './working-days.ts';
import { hasTheme } from '../stories/read.ts';

export interface InboxFilters {
  service?: string;
  minCriticality?: number;
  theme?: string;
  tag?: string;
  unanswered?: boolean;
  overdue?: boolean;
  mine?: boolean;
  limit?: number;
}

export interface InboxItem {
  id: string;
  ref: string;
  title: string;
  excerpt: string;
  criticality: number | null;
  themes: Array<{ label: string; score: number }>;
  progress: string;
  publishedAt: string;
  services: string[];
  orgId: string;
  read: boolean;
  assignee: string | null;
  dueAt: string | null;
  responded: boolean;
  overdue: boolean;
}

export const STAFF_ROLES = ['responder', 'leader', 'admin'] as const;

/** The organisations whose stories this person handles. */
export const inboxOrgs = (actor: Actor) => orgsWhere(actor, [...STAFF_ROLES]);

/**
 * Stories for the services in the person's scope, most critical first, then newest: each with its
 * handling by the person's organisation (read, owner, due date) and whether it is answered or late.
 */
export async function inbox(handle: DbHandle, actor: Actor, f: InboxFilters = {}): Promise<InboxItem[]> {
  const db = handle.db;
  const orgIds = inboxOrgs(actor);
  if (orgIds.length === 0) return [];
  const t = now();
  const answered = db.selectFrom('responses').select('responses.story_id').where('responses.moderation', '=', 'published');
  let q = db
    .selectFrom('story_services')
    .innerJoin('stories', 'stories.id', 'story_services.story_id')
    .leftJoin('story_handling', (j) => j.onRef('story_handling.story_id', '=', 'story_services.story_id').onRef('story_handling.org_id', '=', 'story_services.org_id'))
    .leftJoin('users', 'users.id', 'story_handling.assignee_id')
    .select(['stories.id', 'stories.ref', 'stories.title', 'stories.body', 'stories.criticality', 'stories.themes', 'stories.progress', 'stories.published_at', 'story_services.org_id', 'story_handling.read_at', 'story_handling.due_at', 'users.name as assignee'])
    .select((eb) => eb('stories.id', 'in', answered).as('answered'))
    .where('stories.moderation', '=', 'published')
    .where('story_services.org_id', 'in', orgIds)
    .where('story_services.position', '=', sql<number>`(SELECT min(ss.position) FROM story_services ss WHERE ss.story_id = story_services.story_id AND ss.org_id = story_services.org_id)`);
  if (f.service) {
    const svc = await db.selectFrom('services').select('path').where('code', '=', f.service).executeTakeFirst();
    if (!svc) throw new AppError('service_not_found', 404, `No service has the code ${f.service}`);
    q = q.where('stories.id', 'in', db.selectFrom('story_services as s2').innerJoin('services', 'services.id', 's2.service_id').select('s2.story_id').where('services.path', 'like', `${svc.path}%`));
  }
  if (f.minCriticality !== undefined) q = q.where('stories.criticality', '>=', f.minCriticality);
  if (f.theme) q = q.where(hasTheme(f.theme));
  if (f.tag) q = q.where('stories.id', 'in', db.selectFrom('story_tags').select('story_id').where('tag', '=', f.tag));
  if (f.unanswered || f.overdue) q = q.where('stories.id', 'not in', answered);
  if (f.overdue) q = q.where('story_handling.due_at', '<', t);
  if (f.mine) q = q.where('story_handling.assignee_id', '=', actor.userId);
  const rows = await q.orderBy('stories.criticality', 'desc').orderBy('stories.published_at', 'desc').limit(f.limit ?? 50).execute();
  const ids = rows.map((r) => r.id);
  const services = ids.length ? await db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['story_services.story_id', 'services.name']).where('story_services.story_id', 'in', ids).execute() : [];
  return rows.map((r) => {
    const responded = Boolean(r.answered);
    return {
      id: r.id,
      ref: r.ref,
      title: r.title,
      excerpt: r.body.length > 200 ? `${r.body.slice(0, 197)}…` : r.body,
      criticality: r.criticality,
      themes: JSON.parse(r.themes) as Array<{ label: string; score: number }>,
      progress: r.progress,
      publishedAt: r.published_at!,
      services: services.filter((s) => s.story_id === r.id).map((s) => s.name),
      orgId: r.org_id,
      read: r.read_at !== null,
      assignee: r.assignee,
      dueAt: r.due_at,
      responded,
      overdue: !responded && r.due_at !== null && r.due_at < t,
    };
  });
}

/** The organisation (one the person handles) through which they act on a story. */
export async function handlingOrg(handle: DbHandle, actor: Actor, storyId: string): Promise<string> {
  const named = await handle.db.selectFrom('story_services').innerJoin('stories', 'stories.id', 'story_services.story_id').select(['story_services.org_id', 'stories.moderation']).where('story_id', '=', storyId).execute();
  if (named.length === 0 || named[0]!.moderation !== 'published') throw notFound('story', 'story_not_found');
  const mine = inboxOrgs(actor);
  const org = named.find((n) => mine.includes(n.org_id));
  if (!org) throw forbidden('This story is not about one of your organisations.');
  return org.org_id;
}

async function ensureHandling(handle: DbHandle, storyId: string, orgId: string) {
  await handle.db.insertInto('story_handling').values({ story_id: storyId, org_id: orgId, read_at: null, read_by: null, assignee_id: null, assigned_at: null, due_at: null }).onConflict((oc) => oc.columns(['story_id', 'org_id']).doNothing()).execute();
}

/** Marks a story read by the organisation: its progress moves from unheard to heard. */
export async function markRead(handle: DbHandle, actor: Actor, storyId: string): Promise<void> {
  const orgId = await handlingOrg(handle, actor, storyId);
  await ensureHandling(handle, storyId, orgId);
  await handle.db.transaction().execute(async (trx) => {
    const res = await trx.updateTable('story_handling').set({ read_at: now(), read_by: actor.userId }).where('story_id', '=', storyId).where('org_id', '=', orgId).where('read_at', 'is', null).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return;
    await trx.updateTable('stories').set({ progress: 'heard' }).where('id', '=', storyId).where('progress', '=', 'unheard').execute();
    await appendEvent(trx, handle.dialect, { type: 'story.read', orgId, subject: storyId, actorId: actor.userId });
  });
}

/**
 * Gives a story to one person of the organisation (the fixer), with a due date from the
 * organisation's response targets in working days, counted from publication.
 */
export async function assignStory(handle: DbHandle, actor: Actor, o: { storyId: string; assigneeId: string }): Promise<{ dueAt: string }> {
  const orgId = await handlingOrg(handle, actor, o.storyId);
  if (!orgsWhere(actor, ['responder', 'admin']).includes(orgId)) throw forbidden('Only responders and admins can assign stories.');
  const member = await handle.db.selectFrom('memberships').select('user_id').where('user_id', '=', o.assigneeId).where('org_id', '=', orgId).where('role', 'in', ['responder', 'admin']).executeTakeFirst();
  if (!member) throw new AppError('bad_assignee', 400, 'Assign the story to a responder of your organisation.', { fields: [{ field: 'assignee', message: 'Choose a responder of your organisation' }] });
  const [story, org] = await Promise.all([
    handle.db.selectFrom('stories').select(['criticality', 'published_at']).where('id', '=', o.storyId).executeTakeFirstOrThrow(),
    handle.db.selectFrom('organisations').select(['target_days_critical', 'target_days_other']).where('id', '=', orgId).executeTakeFirstOrThrow(),
  ]);
  const days = (story.criticality ?? 0) >= 4 ? org.target_days_critical : org.target_days_other;
  const dueAt = addWorkingDays(new Date(story.published_at!), days).toISOString();
  await ensureHandling(handle, o.storyId, orgId);
  await handle.db.transaction().execute(async (trx) => {
    await trx.updateTable('story_handling').set({ assignee_id: o.assigneeId, assigned_at: now(), due_at: dueAt }).where('story_id', '=', o.storyId).where('org_id', '=', orgId).execute();
    await appendEvent(trx, handle.dialect, { type: 'story.assigned', orgId, subject: o.storyId, actorId: actor.userId, data: { assignee: o.assigneeId, dueAt } });
  });
  return { dueAt };
}

/** An internal note: seen by the organisation's staff only, never on a public page. */
export async function addNote(handle: DbHandle, actor: Actor, o: { storyId: string; body: string }): Promise<void> {
  const orgId = await handlingOrg(handle, actor, o.storyId);
  const body = o.body.trim();
  if (body.length < 2 || body.length > 5000) throw new AppError('invalid_note', 400, 'A note must be 2 to 5,000 characters', { fields: [{ field: 'note', message: 'Write a note of 2 to 5,000 characters' }] });
  await handle.db.transaction().execute(async (trx) => {
    await trx.insertInto('story_notes').values({ id: newId(), story_id: o.storyId, org_id: orgId, author_id: actor.userId, body, created_at: now() }).execute();
    await appendEvent(trx, handle.dialect, { type: 'story.note_added', orgId, subject: o.storyId, actorId: actor.userId });
  });
}

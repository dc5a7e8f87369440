import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, forbidden, notFound, unauthorised } from '../platform/errors.ts';
import { parseInput } from '../platform/http.ts';
import { can } from '../platform/auth/policy.ts';
import { requireStaffPage } from '../people/routes.ts';
import { addNote, assignStory, handlingOrg, inbox, markRead } from './inbox.ts';
import { themeLabels } from '../stories/models.ts';
import { CRITICALITY } from '../stories/vocabulary.ts';

const InboxQuery = z
  .object({
    service: z.string().max(64).optional(),
    criticality: z.enum(['', '0', '1', '2', '3', '4', '5']).optional(),
    theme: z.string().max(100).optional(),
    tag: z.string().max(60).optional(),
    unanswered: z.enum(['', '1']).optional(),
    overdue: z.enum(['', '1']).optional(),
    mine: z.enum(['', '1']).optional(),
  })
  .strict();
const IdParam = z.object({ id: z.string().min(1).max(64) });

const filtersFrom = (q: z.infer<typeof InboxQuery>) => ({
  service: q.service || undefined,
  minCriticality: q.criticality ? Number(q.criticality) : undefined,
  theme: q.theme || undefined,
  tag: q.tag || undefined,
  unanswered: q.unanswered === '1',
  overdue: q.overdue === '1',
  mine: q.mine === '1',
});

export function inboxRoutes(ctx: AppContext) {
  const { handle } = ctx;
  const db = handle.db;
  return async function (app: FastifyInstance) {
    app.get('/api/v1/inbox', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'read-inbox', { orgIds: [...req.actor.orgRoles.keys()] })) throw forbidden('The inbox is for staff of an organisation.');
      return { items: await inbox(handle, req.actor, filtersFrom(parseInput(InboxQuery, req.query))), nextCursor: null };
    });

    app.get('/staff/inbox', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const q = parseInput(InboxQuery, req.query);
      const items = await inbox(handle, req.actor!, filtersFrom(q));
      return reply.page('responses/views/inbox.njk', { title: 'Inbox', items, values: q, themes: themeLabels().sort(), criticality: CRITICALITY, now: new Date().toISOString(), breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.get('/staff/stories/:id', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const orgId = await handlingOrg(handle, req.actor!, id);
      // Opening a story in the staff view is reading it: progress moves to "heard".
      await markRead(handle, req.actor!, id);
      const story = await db.selectFrom('stories').selectAll().where('id', '=', id).executeTakeFirst();
      if (!story) throw notFound('story', 'story_not_found');
      const [handling, notes, colleagues] = await Promise.all([
        db.selectFrom('story_handling').leftJoin('users', 'users.id', 'story_handling.assignee_id').select(['story_handling.due_at', 'story_handling.read_at', 'users.name as assignee']).where('story_id', '=', id).where('org_id', '=', orgId).executeTakeFirst(),
        db.selectFrom('story_notes').innerJoin('users', 'users.id', 'story_notes.author_id').select(['story_notes.body', 'story_notes.created_at', 'users.name']).where('story_id', '=', id).where('org_id', '=', orgId).orderBy('story_notes.created_at').execute(),
        db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select(['users.id', 'users.name']).where('org_id', '=', orgId).where('role', 'in', ['responder', 'admin']).distinct().orderBy('users.name').execute(),
      ]);
      return reply.page('responses/views/staff-story.njk', {
        title: story.title,
        story: { ...story, themes: JSON.parse(story.themes) as Array<{ label: string; score: number }> },
        handling,
        notes,
        colleagues,
        criticality: CRITICALITY,
        canAssign: can(req.actor, 'respond', { orgIds: [orgId] }),
        breadcrumbs: [{ href: '/staff', text: 'Staff home' }, { href: '/staff/inbox', text: 'Inbox' }],
      });
    });

    app.post('/staff/stories/:id/assign', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const assignee = String((req.body as Record<string, unknown>)?.assignee ?? '');
      await assignStory(handle, req.actor!, { storyId: id, assigneeId: assignee === 'me' ? req.actor!.userId : assignee });
      return reply.redirect(`/staff/stories/${id}`, 303);
    });

    app.post('/staff/stories/:id/notes', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const body = String((req.body as Record<string, unknown>)?.note ?? '');
      try {
        await addNote(handle, req.actor!, { storyId: id, body });
      } catch (err) {
        if (err instanceof AppError && err.status === 400) return reply.redirect(`/staff/stories/${id}?noteError=1#notes`, 303);
        throw err;
      }
      return reply.redirect(`/staff/stories/${id}#notes`, 303);
    });
  };
}

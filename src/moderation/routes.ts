import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { errorFields, parseInput } from '../platform/http.ts';
import { can } from '../platform/auth/policy.ts';
import { requireStaffPage } from '../people/routes.ts';
import { moderationQueue, nearDuplicates } from './queue.ts';
import { decideStory, setFindingAccepted, storyToModerate } from './decide.ts';
import { CRITICALITY, REJECTION_REASONS } from '../stories/vocabulary.ts';
import { correctThemes } from '../stories/themes.ts';
import { themeLabels } from '../stories/models.ts';

const IdParam = z.object({ id: z.string().min(1).max(64) });
const FindingParam = z.object({ id: z.string().min(1).max(64), findingId: z.string().min(1).max(64) });

/** Splits a text into plain and highlighted pieces, one per finding, for the moderator's view. */
function highlight(text: string, findings: Array<{ id: string; start: number; end: number; type: string; accepted: boolean }>) {
  const parts: Array<{ text: string; finding?: { id: string; type: string; accepted: boolean } }> = [];
  let at = 0;
  for (const f of [...findings].sort((a, b) => a.start - b.start)) {
    if (f.start < at || f.end > text.length) continue;
    if (f.start > at) parts.push({ text: text.slice(at, f.start) });
    parts.push({ text: text.slice(f.start, f.end), finding: { id: f.id, type: f.type, accepted: f.accepted } });
    at = f.end;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

export function moderationRoutes(ctx: AppContext) {
  const { handle } = ctx;
  const db = handle.db;

  const requireModerator = (req: FastifyRequest, reply: FastifyReply) => {
    const stop = requireStaffPage(req, reply);
    if (stop) return stop;
    if (!can(req.actor, 'moderate')) throw new AppError('forbidden', 403, 'Only moderators can see the moderation queue.');
    return undefined;
  };

  const storyPage = async (id: string, extra: Record<string, unknown> = {}) => {
    const story = await storyToModerate(db, id, () => db.selectFrom('stories').selectAll().where('id', '=', id).executeTakeFirst());
    const [services, findings, duplicates, events] = await Promise.all([
      db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').innerJoin('organisations', 'organisations.id', 'story_services.org_id').select(['services.code', 'services.name', 'organisations.name as orgName', 'organisations.review_window_hours']).where('story_id', '=', id).orderBy('position').execute(),
      db.selectFrom('story_findings').selectAll().where('story_id', '=', id).orderBy('field').orderBy('start').execute(),
      nearDuplicates(db, id),
      db.selectFrom('events').leftJoin('users', 'users.id', 'events.actor_id').select(['events.type', 'events.created_at', 'users.name as actorName']).where('subject', '=', id).orderBy('events.id').execute(),
    ]);
    const mapped = findings.map((f) => ({ id: f.id, field: f.field, type: f.type, start: f.start, end: f.end, text: f.text, accepted: f.accepted === 1 }));
    return {
      title: `Moderate ${story.ref}`,
      story: { ...story, safeguarding: JSON.parse(story.safeguarding) as string[], themes: JSON.parse(story.themes) as Array<{ label: string; score: number }> },
      services,
      findings: mapped,
      titleParts: highlight(story.original_title, mapped.filter((f) => f.field === 'title')),
      bodyParts: highlight(story.original_body, mapped.filter((f) => f.field === 'body')),
      duplicates,
      events,
      criticality: CRITICALITY,
      reasons: REJECTION_REASONS,
      allThemes: themeLabels(),
      reviewWindow: Math.max(0, ...services.map((s) => s.review_window_hours)),
      breadcrumbs: [{ href: '/staff', text: 'Staff home' }, { href: '/moderation', text: 'Moderation queue' }],
      values: { title: story.title, body: story.body, criticality: story.suggested_criticality ?? 0 },
      ...extra,
    };
  };

  return async function (app: FastifyInstance) {
    app.get('/moderation', async (req, reply) => {
      const stop = requireModerator(req, reply);
      if (stop) return stop;
      const items = await moderationQueue(db, { limit: 100 });
      const awaiting = await db.selectFrom('stories').select(['id', 'ref', 'title', 'publish_at']).where('moderation', '=', 'pending').where('decided_at', 'is not', null).orderBy('publish_at').limit(50).execute();
      return reply.page('moderation/views/queue.njk', { title: 'Moderation queue', items, awaiting, criticality: CRITICALITY, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.get('/moderation/stories/:id', async (req, reply) => {
      const stop = requireModerator(req, reply);
      if (stop) return stop;
      return reply.page('moderation/views/story.njk', await storyPage(parseInput(IdParam, req.params).id));
    });

    app.post('/moderation/stories/:id/findings/:findingId', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireModerator(req, reply);
      if (stop) return stop;
      const { id, findingId } = parseInput(FindingParam, req.params);
      const accepted = (req.body as Record<string, unknown>)?.accepted === '1';
      await setFindingAccepted(handle, { storyId: id, findingId, accepted, by: req.actor!.userId });
      return reply.redirect(`/moderation/stories/${id}#findings`, 303);
    });

    app.post('/moderation/stories/:id/themes', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireModerator(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const v = (req.body as Record<string, unknown> | undefined)?.themes;
      const labels = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
      await correctThemes(handle, { storyId: id, labels, by: req.actor!.userId });
      return reply.redirect(`/moderation/stories/${id}#themes`, 303);
    });

    app.post('/moderation/stories/:id/decision', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireModerator(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const form = (req.body ?? {}) as Record<string, string>;
      const current = await db.selectFrom('stories').select(['title', 'body']).where('id', '=', id).executeTakeFirst();
      if (!current) throw notFound('story', 'story_not_found');
      // Only an edit the moderator actually made is sent as title/body; otherwise the redacted text is published.
      const norm = (s: string | undefined) => (s ?? '').replace(/\r\n/g, '\n').trim();
      const input: Record<string, unknown> = { action: form.action };
      if (form.action === 'publish') {
        if (form.criticality !== undefined && form.criticality !== '') input.criticality = form.criticality;
        if (typeof form.title === 'string' && norm(form.title) !== norm(current.title)) input.title = form.title;
        if (typeof form.body === 'string' && norm(form.body) !== norm(current.body)) input.body = norm(form.body);
      } else if (form.action === 'reject') {
        input.reason = form.reason === 'other' ? form.otherReason : form.reason;
      }
      try {
        const r = await decideStory(handle, { storyId: id, by: req.actor!.userId, input, publicUrl: ctx.config.publicUrl });
        ctx.worker?.wake();
        const message = r.moderation === 'published' ? 'Story published.' : r.moderation === 'rejected' ? 'Story rejected; the author has been told why.' : `Approved; it will be published after the provider review window (${r.publishAt}).`;
        return reply.redirect(`/moderation?done=${encodeURIComponent(message)}`, 303);
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        const fields = errorFields(err);
        const errors = (fields.length ? fields : [{ field: '', message: err.message }]).map((f) => ({ text: `${f.field ? `${f.field}: ` : ''}${f.message}`, href: f.field ? `#${f.field}` : '#decision' }));
        return reply.page('moderation/views/story.njk', await storyPage(id, { errors, values: { title: form.title, body: form.body, criticality: Number(form.criticality) } }), 400);
      }
    });
  };
}

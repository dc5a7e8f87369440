import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, forbidden, unauthorised } from '../platform/errors.ts';
import { errorFields, parseInput } from '../platform/http.ts';
import { can } from '../platform/auth/policy.ts';
import { requireStaffPage } from '../people/routes.ts';
import { decideResponse, editResponse, markHelpful, respondToStory } from './respond.ts';
import { decideAuthorReply, replyAsAuthor, storyForToken } from './author-replies.ts';
import { voterId } from '../stories/routes.ts';
import { computeMeasures } from '../insights/measures.ts';

const IdParam = z.object({ id: z.string().min(1).max(64) });
const MeasuresQuery = z.object({ org: z.string().max(64).optional(), service: z.string().max(64).optional() }).strict();

/** Responses pending moderation, and published responses whose change claim is not yet checked. */
async function responseQueue(ctx: AppContext) {
  return ctx.handle.db
    .selectFrom('responses')
    .innerJoin('stories', 'stories.id', 'responses.story_id')
    .innerJoin('users', 'users.id', 'responses.author_id')
    .innerJoin('organisations', 'organisations.id', 'responses.org_id')
    .select(['responses.id', 'responses.story_id', 'responses.body', 'responses.change', 'responses.change_description', 'responses.moderation', 'responses.created_at', 'stories.ref', 'stories.title', 'stories.criticality', 'users.name as responder', 'organisations.name as organisation'])
    .where((eb) => eb.or([eb('responses.moderation', '=', 'pending'), eb.and([eb('responses.change', 'is not', null), eb('responses.change_status', 'is', null), eb('responses.moderation', '=', 'published')])]))
    .orderBy('responses.created_at')
    .limit(200)
    .execute();
}

export function responseRoutes(ctx: AppContext) {
  const { handle } = ctx;
  return async function (app: FastifyInstance) {
    app.post('/api/v1/stories/:id/responses', async (req, reply) => {
      if (!req.actor) throw unauthorised();
      const { id } = parseInput(IdParam, req.params);
      const r = await respondToStory(handle, { storyId: id, actor: req.actor, input: req.body, publicUrl: ctx.config.publicUrl });
      ctx.worker?.wake();
      return reply.code(201).send(r);
    });

    app.get('/api/v1/moderation/responses', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'moderate')) throw forbidden('Only moderators can see the response queue.');
      const rows = await responseQueue(ctx);
      return { items: rows.map((r) => ({ id: r.id, storyId: r.story_id, storyRef: r.ref, body: r.body, change: r.change, changeDescription: r.change_description, moderation: r.moderation, responder: r.responder, organisation: r.organisation, createdAt: r.created_at })), nextCursor: null };
    });

    app.post('/api/v1/moderation/responses/:id/decision', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'moderate')) throw forbidden('Only moderators can decide on responses.');
      const { id } = parseInput(IdParam, req.params);
      const r = await decideResponse(handle, { responseId: id, by: req.actor.userId, input: req.body, publicUrl: ctx.config.publicUrl });
      ctx.worker?.wake();
      return { id, ...r };
    });

    app.patch('/api/v1/responses/:id', async (req) => {
      if (!req.actor) throw unauthorised();
      const { id } = parseInput(IdParam, req.params);
      const { body } = parseInput(z.object({ body: z.string().max(10_000) }).strict(), req.body);
      await editResponse(handle, { responseId: id, actor: req.actor, body });
      return { id, edited: true };
    });

    app.post('/responses/:id/helpful', { preHandler: app.csrfProtection }, async (req, reply) => {
      const { id } = parseInput(IdParam, req.params);
      const r = await markHelpful(handle, { responseId: id, voter: voterId(req, reply, ctx.config.publicUrl.startsWith('https://')) });
      return reply.redirect(`/stories/${r.storyId}#response-${id}`, 303);
    });

    // The storyteller's replies, through the secret link in their email.
    app.get('/stories/:id/reply', async (req, reply) => {
      const { id } = parseInput(IdParam, req.params);
      const token = typeof (req.query as Record<string, unknown>).token === 'string' ? String((req.query as Record<string, unknown>).token) : undefined;
      const story = await storyForToken(handle, id, token);
      return reply.page('responses/views/author-reply.njk', { title: 'Reply to the staff', story, token, values: { body: '' } });
    });
    app.post('/stories/:id/reply', { preHandler: app.csrfProtection }, async (req, reply) => {
      const { id } = parseInput(IdParam, req.params);
      const f = (req.body ?? {}) as Record<string, string>;
      const story = await storyForToken(handle, id, f.token);
      try {
        await replyAsAuthor(handle, { storyId: id, token: f.token, body: f.body ?? '' });
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        return reply.page('responses/views/author-reply.njk', { title: 'Reply to the staff', story, token: f.token, values: { body: f.body ?? '' }, errors: [{ text: err.message, href: '#body' }] }, 400);
      }
      return reply.page('responses/views/author-reply.njk', { title: 'Reply sent', story, sent: true });
    });
    app.post('/api/v1/moderation/replies/:id/decision', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'moderate')) throw forbidden('Only moderators can decide on replies.');
      const { id } = parseInput(IdParam, req.params);
      const d = parseInput(z.object({ action: z.enum(['publish', 'reject']), reason: z.string().max(500).optional() }).strict(), req.body);
      await decideAuthorReply(handle, { replyId: id, by: req.actor.userId, action: d.action, reason: d.reason });
      return { id, moderation: d.action === 'publish' ? 'published' : 'rejected' };
    });
    app.post('/moderation/replies/:id/decision', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      if (!can(req.actor, 'moderate')) throw new AppError('forbidden', 403, 'Only moderators can decide on replies.');
      const { id } = parseInput(IdParam, req.params);
      const f = (req.body ?? {}) as Record<string, string>;
      await decideAuthorReply(handle, { replyId: id, by: req.actor!.userId, action: f.action ?? '', reason: f.reason || undefined });
      return reply.redirect('/moderation/responses', 303);
    });

    app.get('/api/v1/measures', async (req) => computeMeasures(handle.db, parseInput(MeasuresQuery, req.query)));

    // Pages: the responder's form on a story, and the moderators' response queue.
    app.post('/stories/:id/responses', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params);
      const f = (req.body ?? {}) as Record<string, string>;
      try {
        const r = await respondToStory(handle, {
          storyId: id,
          actor: req.actor!,
          input: { body: f.body ?? '', change: f.change || undefined, changeDescription: f.changeDescription || undefined },
          publicUrl: ctx.config.publicUrl,
        });
        ctx.worker?.wake();
        return reply.redirect(`/stories/${id}?responded=${r.moderation}#responses`, 303);
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        const fields = errorFields(err, 'body');
        const q = new URLSearchParams({ error: fields.map((x) => x.message).join('. ') });
        // The page shows the error beside the form; what was typed is carried back in the address.
        q.set('body', (f.body ?? '').slice(0, 1500));
        if (f.change) q.set('change', f.change);
        if (f.changeDescription) q.set('changeDescription', f.changeDescription.slice(0, 1000));
        return reply.redirect(`/stories/${id}?${q.toString()}#respond`, 303);
      }
    });

    app.get('/moderation/responses', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      if (!can(req.actor, 'moderate')) throw new AppError('forbidden', 403, 'Only moderators can see the response queue.');
      const replies = await ctx.handle.db.selectFrom('author_replies').innerJoin('stories', 'stories.id', 'author_replies.story_id').select(['author_replies.id', 'author_replies.body', 'stories.ref', 'stories.title']).where('author_replies.moderation', '=', 'pending').orderBy('author_replies.created_at').limit(200).execute();
      return reply.page('responses/views/queue.njk', { title: 'Responses to check', items: await responseQueue(ctx), replies, breadcrumbs: [{ href: '/moderation', text: 'Moderation queue' }] });
    });

    app.post('/moderation/responses/:id/decision', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      if (!can(req.actor, 'moderate')) throw new AppError('forbidden', 403, 'Only moderators can decide on responses.');
      const { id } = parseInput(IdParam, req.params);
      const f = (req.body ?? {}) as Record<string, string>;
      await decideResponse(handle, {
        responseId: id,
        by: req.actor!.userId,
        input: { action: f.action, ...(f.reason ? { reason: f.reason } : {}), ...(f.changeAccepted ? { changeAccepted: f.changeAccepted === 'yes' } : {}) },
        publicUrl: ctx.config.publicUrl,
      });
      ctx.worker?.wake();
      return reply.redirect('/moderation/responses', 303);
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, forbidden, unauthorised } from '../platform/errors.ts';
import { parseInput } from '../platform/http.ts';
import { can } from '../platform/auth/policy.ts';
import { tellStory } from './tell.ts';
import { getPublished, listPublished } from './read.ts';
import { moderationQueue } from '../moderation/queue.ts';
import { decideStory } from '../moderation/decide.ts';
import { correctThemes } from './themes.ts';
import { decodeCursor, encodeCursor } from '../platform/http.ts';

const ListQuery = z
  .object({
    service: z.string().max(64).optional(),
    q: z.string().max(200).optional(),
    theme: z.string().max(100).optional(),
    tag: z.string().max(60).optional(),
    since: z.string().max(40).optional(),
    cursor: z.string().max(300).optional(),
    limit: z.coerce.number().int().min(1).max(100).optional(),
  })
  .strict();
const IdParam = z.object({ id: z.string().min(1).max(64) });
const QueueQuery = z.object({ cursor: z.string().max(300).optional(), limit: z.coerce.number().int().min(1).max(100).optional() }).strict();
const isQueueCursor = (v: unknown): v is { u: number; s: string; i: string } =>
  typeof v === 'object' && v !== null && ((v as { u: unknown }).u === 0 || (v as { u: unknown }).u === 1) && typeof (v as { s: unknown }).s === 'string' && typeof (v as { i: unknown }).i === 'string';

export function storyApiRoutes(ctx: AppContext) {
  const { handle } = ctx;
  return async function (app: FastifyInstance) {
    app.post(
      '/api/v1/stories',
      { config: ctx.config.storyRateLimit ? { rateLimit: { max: ctx.config.storyRateLimit, timeWindow: '1 minute' } } : {} },
      async (req, reply) => {
        const key = req.headers['idempotency-key'];
        if (key !== undefined && (typeof key !== 'string' || !/^[\w-]{8,100}$/.test(key))) throw new AppError('bad_idempotency_key', 400, 'Idempotency-Key must be 8 to 100 letters, digits, _ or -');
        const viaStaff = req.actor && can(req.actor, 'use-staff-pages');
        const result = await tellStory(handle, req.body, {
          idempotencyKey: key ? `api:${key}` : undefined,
          createdBy: viaStaff ? req.actor!.userId : undefined,
          channel: 'api',
          publicUrl: ctx.config.publicUrl,
        });
        return reply.code(201).send({ id: result.id, ref: result.ref, moderation: result.moderation });
      },
    );

    app.get('/api/v1/stories', async (req) => listPublished(handle, parseInput(ListQuery, req.query)));
    app.get('/api/v1/stories/:id', async (req) => getPublished(handle.db, parseInput(IdParam, req.params).id));

    app.post('/api/v1/stories/:id/themes', async (req) => {
      if (!req.actor) throw unauthorised();
      const { id } = parseInput(IdParam, req.params);
      const { themes } = parseInput(z.object({ themes: z.array(z.string().max(100)).max(20) }).strict(), req.body);
      const orgIds = (await handle.db.selectFrom('story_services').select('org_id').where('story_id', '=', id).execute()).map((r) => r.org_id);
      if (orgIds.length === 0) throw new AppError('story_not_found', 404, 'No story was found.');
      if (!can(req.actor, 'correct-themes', { orgIds })) throw forbidden('Only staff of an organisation the story names, or moderators, can correct its themes.');
      await correctThemes(handle, { storyId: id, labels: themes, by: req.actor.userId });
      return { id, themes };
    });

    app.get('/api/v1/moderation/queue', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'moderate')) throw forbidden('Only moderators can see the queue.');
      const q = parseInput(QueueQuery, req.query);
      const after = decodeCursor(q.cursor, isQueueCursor);
      const limit = q.limit ?? 50;
      const items = await moderationQueue(handle.db, { limit: limit + 1, after: after ? { urgent: after.u, submittedAt: after.s, id: after.i } : undefined });
      const page = items.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((i) => ({ ...i, findings: i.findings.map((f) => ({ id: f.id, field: f.field, type: f.type, start: f.start, end: f.end, accepted: f.accepted })) })),
        nextCursor: items.length > limit && last ? encodeCursor({ u: last.urgent ? 1 : 0, s: last.submittedAt, i: last.id }) : null,
      };
    });

    app.post('/api/v1/moderation/stories/:id/decision', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'moderate')) throw forbidden('Only moderators can decide on stories.');
      const { id } = parseInput(IdParam, req.params);
      const r = await decideStory(handle, { storyId: id, by: req.actor.userId, input: req.body, publicUrl: ctx.config.publicUrl });
      ctx.worker?.wake();
      return { id, moderation: r.moderation, publishAt: r.publishAt };
    });
  };
}

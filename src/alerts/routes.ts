import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, unauthorised } from '../platform/errors.ts';
import { errorFields, parseInput } from '../platform/http.ts';
import { requireStaffPage } from '../people/routes.ts';
import { now } from '../platform/db/index.ts';
import { subscribe, unreadCount, unsubscribe, DELIVERIES } from './alerts.ts';
import { CRITICALITY } from '../stories/vocabulary.ts';
import { themeLabels } from '../stories/models.ts';

const IdParam = z.object({ id: z.string().min(1).max(64) });

export function alertRoutes(ctx: AppContext) {
  const { handle } = ctx;
  const db = handle.db;
  const list = (userId: string) =>
    db.selectFrom('alert_subscriptions').innerJoin('services', 'services.id', 'alert_subscriptions.service_id').select(['alert_subscriptions.id', 'alert_subscriptions.min_criticality', 'alert_subscriptions.themes', 'alert_subscriptions.delivery', 'services.name', 'services.code']).where('user_id', '=', userId).orderBy('services.name').execute();
  const page = async (userId: string, extra: Record<string, unknown> = {}) => ({
    title: 'Alerts',
    subscriptions: (await list(userId)).map((s) => ({ ...s, themes: JSON.parse(s.themes) as string[] })),
    criticality: CRITICALITY,
    deliveries: DELIVERIES,
    themes: themeLabels().sort(),
    values: { delivery: 'in_app', minCriticality: '0' },
    breadcrumbs: [{ href: '/staff', text: 'Staff home' }],
    ...extra,
  });

  return async function (app: FastifyInstance) {
    app.get('/staff/alerts', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      return reply.page('alerts/views/alerts.njk', await page(req.actor!.userId));
    });
    app.post('/staff/alerts', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const f = (req.body ?? {}) as Record<string, unknown>;
      const themes = Array.isArray(f.themes) ? f.themes.map(String) : typeof f.themes === 'string' && f.themes ? [f.themes] : [];
      try {
        await subscribe(handle, req.actor!, { service: String(f.service ?? ''), minCriticality: String(f.minCriticality ?? '0'), themes, delivery: String(f.delivery ?? '') });
      } catch (err) {
        if (!(err instanceof AppError) || (err.status !== 400 && err.status !== 403)) throw err;
        const errors = errorFields(err, 'service').map((x) => ({ text: x.message, href: `#${x.field.split('.')[0] || 'service'}` }));
        return reply.page('alerts/views/alerts.njk', await page(req.actor!.userId, { errors, values: f }), err.status);
      }
      return reply.redirect('/staff/alerts', 303);
    });
    app.post('/staff/alerts/:id/delete', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      await unsubscribe(handle, req.actor!, parseInput(IdParam, req.params).id);
      return reply.redirect('/staff/alerts', 303);
    });

    app.get('/staff/notifications', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const items = await db.selectFrom('notifications').select(['id', 'story_id', 'text', 'created_at', 'read_at']).where('user_id', '=', req.actor!.userId).orderBy('created_at', 'desc').limit(100).execute();
      return reply.page('alerts/views/notifications.njk', { title: 'Notifications', items, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });
    app.post('/staff/notifications/read', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      await db.updateTable('notifications').set({ read_at: now() }).where('user_id', '=', req.actor!.userId).where('read_at', 'is', null).execute();
      return reply.redirect('/staff/notifications', 303);
    });
    app.get('/api/v1/notifications', async (req) => {
      if (!req.actor) throw unauthorised();
      const items = await db.selectFrom('notifications').select(['id', 'story_id as storyId', 'text', 'created_at as createdAt', 'read_at as readAt']).where('user_id', '=', req.actor.userId).orderBy('created_at', 'desc').limit(100).execute();
      return { items, unread: await unreadCount(handle, req.actor.userId), nextCursor: null };
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { can } from '../platform/auth/policy.ts';
import { appendEvent } from '../platform/events.ts';
import { requireStaffPage } from '../people/routes.ts';
import { newId, now } from '../platform/db/index.ts';

const CodeParam = z.object({ code: z.string().min(1).max(64) });
const SettingsForm = z.object({ reviewWindowHours: z.enum(['0', '24', '48', '72']) });

/** Organisation settings for its admins (and platform admins): for now the provider review window. */
export function organisationAdminRoutes(ctx: AppContext) {
  const db = ctx.handle.db;
  return async function (app: FastifyInstance) {
    const load = async (code: string) => {
      const org = await db.selectFrom('organisations').selectAll().where('ods_code', '=', code).executeTakeFirst();
      if (!org) throw notFound(`organisation ${code}`, 'organisation_not_found');
      return org;
    };

    app.get('/staff/organisations/:code', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await load(parseInput(CodeParam, req.params).code);
      if (!can(req.actor, 'manage-organisation', { orgIds: [org.id] })) throw new AppError('forbidden', 403, 'Only admins of this organisation can change its settings.');
      const templates = await db.selectFrom('response_templates').selectAll().where('org_id', '=', org.id).orderBy('name').execute();
      return reply.page('directory/views/org-settings.njk', { title: `${org.name}: settings`, org, templates, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.post('/staff/organisations/:code/templates', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await load(parseInput(CodeParam, req.params).code);
      if (!can(req.actor, 'manage-organisation', { orgIds: [org.id] })) throw new AppError('forbidden', 403, 'Only admins of this organisation can change its settings.');
      const t = parseInput(z.object({ _csrf: z.string(), name: z.string().trim().min(2, 'Give the template a name').max(80), body: z.string().trim().min(10, 'Write the template text').max(5000).refine(noMarkup, MARKUP_MESSAGE) }).strict(), req.body, 'invalid_template');
      await db.insertInto('response_templates').values({ id: newId(), org_id: org.id, name: t.name, body: t.body, created_at: now() }).execute();
      await appendEvent(db, ctx.handle.dialect, { type: 'organisation.template_added', orgId: org.id, subject: org.ods_code, actorId: req.actor!.userId, data: { name: t.name } });
      return reply.redirect(`/staff/organisations/${encodeURIComponent(org.ods_code)}#templates`, 303);
    });

    app.post('/staff/organisations/:code', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await load(parseInput(CodeParam, req.params).code);
      if (!can(req.actor, 'manage-organisation', { orgIds: [org.id] })) throw new AppError('forbidden', 403, 'Only admins of this organisation can change its settings.');
      const form = SettingsForm.safeParse(req.body ?? {});
      if (!form.success) {
        return reply.page('directory/views/org-settings.njk', { title: `${org.name}: settings`, org, errors: [{ text: 'Choose a review window', href: '#reviewWindowHours' }] }, 400);
      }
      const hours = Number(form.data.reviewWindowHours);
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('organisations').set({ review_window_hours: hours }).where('id', '=', org.id).execute();
        await appendEvent(trx, ctx.handle.dialect, { type: 'organisation.settings_changed', orgId: org.id, subject: org.ods_code, actorId: req.actor!.userId, data: { reviewWindowHours: { from: org.review_window_hours, to: hours } } });
      });
      const templates = await db.selectFrom('response_templates').selectAll().where('org_id', '=', org.id).orderBy('name').execute();
      return reply.page('directory/views/org-settings.njk', { title: `${org.name}: settings`, org: { ...org, review_window_hours: hours }, templates, saved: true, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });
  };
}

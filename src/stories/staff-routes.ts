import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../platform/context.ts';
import { errorFields } from '../platform/http.ts';
import { AppError } from '../platform/errors.ts';
import { can, orgsWhere } from '../platform/auth/policy.ts';
import { requireStaffPage } from '../people/routes.ts';
import { tellStory } from './tell.ts';
import { AUTHOR_ROLES, RATINGS } from './vocabulary.ts';
import type { Actor } from '../platform/auth/policy.ts';

/** Stories taken down by staff from paper forms or phone calls; the channel and the member of staff are recorded. */
export function staffStoryRoutes(ctx: AppContext) {
  const db = ctx.handle.db;

  const servicesFor = async (actor: Actor) => {
    let q = db.selectFrom('services').innerJoin('organisations', 'organisations.id', 'services.org_id').select(['services.code', 'services.name', 'organisations.name as orgName']);
    if (!can(actor, 'moderate')) {
      const orgs = orgsWhere(actor, ['responder', 'admin']);
      q = q.where('services.org_id', 'in', orgs.length ? orgs : ['']);
    }
    return q.orderBy('organisations.name').orderBy('services.path').execute();
  };

  const allowed = (actor: Actor) => can(actor, 'moderate') || orgsWhere(actor, ['responder', 'admin']).length > 0;

  return async function (app: FastifyInstance) {
    app.get('/staff/stories/new', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      if (!allowed(req.actor!)) throw new AppError('forbidden', 403, 'Only responders, organisation admins and moderators can take stories by hand.');
      return reply.page('stories/views/staff-new.njk', { title: 'Add a story from paper or phone', services: await servicesFor(req.actor!), roles: AUTHOR_ROLES, ratings: RATINGS, values: { channel: 'paper' }, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.post('/staff/stories/new', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const actor = req.actor!;
      if (!allowed(actor)) throw new AppError('forbidden', 403, 'Only responders, organisation admins and moderators can take stories by hand.');
      const f = (req.body ?? {}) as Record<string, string>;
      const services = await servicesFor(actor);
      const values = { service: f.service ?? '', channel: f.channel === 'phone' ? 'phone' : 'paper', title: f.title ?? '', body: f.body ?? '', authorRole: f.authorRole ?? '', rating: f.rating ?? '', email: f.email ?? '' };
      if (!services.some((s) => s.code === values.service)) {
        return reply.page('stories/views/staff-new.njk', { title: 'Add a story from paper or phone', services, roles: AUTHOR_ROLES, ratings: RATINGS, values, errors: [{ text: 'Choose one of your services', href: '#service' }] }, 400);
      }
      try {
        const r = await tellStory(
          ctx.handle,
          { title: values.title, body: values.body, services: [values.service], authorRole: values.authorRole, email: values.email || undefined, rating: values.rating ? Number(values.rating) : undefined, channel: values.channel },
          { createdBy: actor.userId, publicUrl: ctx.config.publicUrl },
        );
        return reply.page('stories/views/staff-added.njk', { title: 'Story added', ref: r.ref, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        const fields = errorFields(err, '');
        return reply.page('stories/views/staff-new.njk', { title: 'Add a story from paper or phone', services, roles: AUTHOR_ROLES, ratings: RATINGS, values, errors: fields.map((x) => ({ text: x.message, href: `#${x.field || 'title'}` })) }, 400);
      }
    });
  };
}

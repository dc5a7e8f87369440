import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { checkCredentials, createSession, destroySession, LOCKOUT_MINUTES, SESSION_COOKIE, SESSION_DAYS } from '../platform/auth/index.ts';
import { can } from '../platform/auth/policy.ts';
import { AppError, unauthorised } from '../platform/errors.ts';
import { appendEvent } from '../platform/events.ts';

const SignInForm = z.object({
  email: z.string().trim().max(320).default(''),
  password: z.string().max(200).default(''),
  next: z.string().max(500).optional(),
});

/** Only local paths may follow a sign-in: no open redirect to another site. */
const safeNext = (next: string | undefined) => (next && /^\/(?![/\\])[\w\-./?=&%~]*$/.test(next) ? next : '/staff');

export function requireStaffPage(req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (!req.actor) return reply.redirect(`/sign-in?next=${encodeURIComponent(req.url)}`, 303);
  if (!can(req.actor, 'use-staff-pages')) throw new AppError('forbidden', 403, 'This page is for staff of an organisation using Carevoice.');
  return undefined;
}

export function peopleRoutes(ctx: AppContext) {
  const db = ctx.handle.db;
  const secure = ctx.config.publicUrl.startsWith('https://');
  return async function (app: FastifyInstance) {
    app.get('/sign-in', async (req, reply) => {
      const next = typeof (req.query as { next?: unknown }).next === 'string' ? (req.query as { next: string }).next : undefined;
      return reply.page('people/views/sign-in.njk', { title: 'Sign in', values: { next: safeNext(next) } });
    });

    app.post(
      '/sign-in',
      {
        preHandler: app.csrfProtection,
        config: { rateLimit: { max: 20, timeWindow: '1 minute', errorResponseBuilder: () => new AppError('rate_limited', 429, 'Too many sign-in attempts from your network. Wait a minute and try again.') } },
      },
      async (req, reply) => {
        const form = SignInForm.safeParse(req.body ?? {});
        const values = form.success ? form.data : { email: '', password: '', next: undefined };
        const errors: Array<{ text: string; href: string }> = [];
        if (!values.email) errors.push({ text: 'Enter your email address', href: '#email' });
        if (!values.password) errors.push({ text: 'Enter your password', href: '#password' });
        if (errors.length === 0) {
          const result = await checkCredentials(db, values.email, values.password);
          if (result.ok) {
            // A new session on every sign-in, and the old one ended: no session fixation.
            if (req.sessionToken) await destroySession(db, req.sessionToken);
            const token = await createSession(db, result.userId);
            await appendEvent(db, ctx.handle.dialect, { type: 'user.signed_in', actorId: result.userId, subject: result.userId, data: { ip: req.ip } });
            reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: SESSION_DAYS * 86_400 });
            return reply.redirect(safeNext(values.next), 303);
          }
          errors.push(
            result.reason === 'locked'
              ? { text: `This account is locked for ${LOCKOUT_MINUTES} minutes after too many failed attempts. Try again later.`, href: '#email' }
              : { text: 'The email address or password is not right', href: '#email' },
          );
        }
        return reply.page('people/views/sign-in.njk', { title: 'Sign in', errors, values: { email: values.email, next: safeNext(values.next) } }, 400);
      },
    );

    app.get('/sign-out', async (req, reply) => {
      if (!req.actor) return reply.redirect('/', 303);
      return reply.page('people/views/sign-out.njk', { title: 'Sign out' });
    });

    app.post('/sign-out', { preHandler: app.csrfProtection }, async (req, reply) => {
      if (req.sessionToken) await destroySession(db, req.sessionToken);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.redirect('/', 303);
    });

    app.get('/staff', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const actor = req.actor!;
      const orgIds = [...actor.orgRoles.keys()];
      const orgs = orgIds.length ? await db.selectFrom('organisations').select(['id', 'ods_code', 'name', 'kind']).where('id', 'in', orgIds).orderBy('name').execute() : [];
      const memberships = orgs.map((o) => ({ ...o, roles: [...actor.orgRoles.get(o.id)!].sort() }));
      const unreadHotspots = await db.selectFrom('hotspot_notifications').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', actor.userId).where('read_at', 'is', null).executeTakeFirst();
      return reply.page('people/views/staff-home.njk', { title: 'Staff home', memberships, platformRole: actor.platformRole, newHotspots: Number(unreadHotspots?.n ?? 0) });
    });

    app.get('/api/v1/me', async (req) => {
      const actor = req.actor;
      if (!actor) throw unauthorised();
      const orgIds = [...actor.orgRoles.keys()];
      const orgs = orgIds.length ? await db.selectFrom('organisations').select(['id', 'ods_code', 'name']).where('id', 'in', orgIds).execute() : [];
      return {
        email: actor.email,
        name: actor.name,
        platformRole: actor.platformRole,
        organisations: orgs.map((o) => ({ code: o.ods_code, name: o.name, roles: [...actor.orgRoles.get(o.id)!].sort() })),
      };
    });
  };
}

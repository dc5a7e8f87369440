import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../platform/context.ts';
import { AppError } from '../platform/errors.ts';
import { emailForToken, eraseStories, exportStories, requestAccess } from './rights.ts';

/** Data rights for storytellers: see, download and erase what they told, through an emailed link. */
export function rightsRoutes(ctx: AppContext) {
  const { handle } = ctx;
  const token = (q: unknown) => (typeof (q as Record<string, unknown>)?.token === 'string' ? String((q as Record<string, unknown>).token) : undefined);
  return async function (app: FastifyInstance) {
    app.get('/my-stories', async (_req, reply) => reply.page('rights/views/request.njk', { title: 'Your stories and your data', values: { email: '' } }));

    app.post('/my-stories', { preHandler: app.csrfProtection, config: { rateLimit: { max: 10, timeWindow: '1 minute' } } }, async (req, reply) => {
      const email = String((req.body as Record<string, unknown>)?.email ?? '');
      try {
        await requestAccess(handle, email, ctx.config.publicUrl);
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        return reply.page('rights/views/request.njk', { title: 'Your stories and your data', values: { email }, errors: [{ text: err.message, href: '#email' }] }, 400);
      }
      ctx.worker?.wake();
      return reply.page('rights/views/request.njk', { title: 'Check your email', sent: true, values: { email } });
    });

    app.get('/my-stories/manage', async (req, reply) => {
      const t = token(req.query);
      const email = await emailForToken(handle, t);
      const data = await exportStories(handle, email);
      return reply.page('rights/views/manage.njk', { title: 'Your stories', data, token: t });
    });

    app.get('/my-stories/export', async (req, reply) => {
      const email = await emailForToken(handle, token(req.query));
      const data = await exportStories(handle, email);
      return reply.header('content-disposition', 'attachment; filename="carevoice-my-stories.json"').type('application/json').send(JSON.stringify(data, null, 2));
    });

    app.post('/my-stories/erase', { preHandler: app.csrfProtection }, async (req, reply) => {
      const f = (req.body ?? {}) as Record<string, string>;
      const email = await emailForToken(handle, f.token);
      if (f.confirm !== 'yes') {
        const data = await exportStories(handle, email);
        return reply.page('rights/views/manage.njk', { title: 'Your stories', data, token: f.token, errors: [{ text: 'Tick the box to confirm that you want your stories erased', href: '#confirm' }] }, 400);
      }
      const n = await eraseStories(handle, email);
      return reply.page('rights/views/erased.njk', { title: 'Your stories have been erased', count: n });
    });
  };
}

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../platform/context.ts';

export function homeRoutes(ctx: AppContext) {
  return async function (app: FastifyInstance) {
    app.get('/', async (_req, reply) => {
      const organisations = await ctx.handle.db
        .selectFrom('organisations')
        .select(['ods_code as code', 'name', 'kind'])
        .orderBy('name')
        .limit(50)
        .execute();
      return reply.page('home/views/home.njk', { title: 'Tell us about your care', organisations });
    });
  };
}

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { parseInput } from '../platform/http.ts';
import { searchLibrary } from './library.ts';
import { themeLabels } from '../stories/models.ts';
import { SERVICE_KINDS } from '../directory/kinds.ts';

const LibraryQuery = z.object({ q: z.string().max(200).optional(), theme: z.string().max(100).optional(), kind: z.string().max(40).optional() }).strict();

export function insightRoutes(ctx: AppContext) {
  const db = ctx.handle.db;
  return async function (app: FastifyInstance) {
    app.get('/api/v1/library', async (req) => {
      const q = parseInput(LibraryQuery, req.query);
      return { items: await searchLibrary(db, { q: q.q, theme: q.theme || undefined, kind: q.kind || undefined }), nextCursor: null };
    });
    app.get('/library', async (req, reply) => {
      const q = parseInput(LibraryQuery, req.query);
      const entries = await searchLibrary(db, { q: q.q, theme: q.theme || undefined, kind: q.kind || undefined });
      return reply.page('insights/views/library.njk', { title: 'Improvement library', entries, values: q, themes: themeLabels().sort(), kinds: SERVICE_KINDS, breadcrumbs: [{ href: '/', text: 'Home' }] });
    });
  };
}

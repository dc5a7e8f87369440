import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { notFound } from '../platform/errors.ts';
import { decodeCursor, encodeCursor, parseInput } from '../platform/http.ts';
import { listPublished } from '../stories/read.ts';
import { computeMeasures } from '../insights/measures.ts';
import { ancestorsOf, childrenOf, presentServices, searchServices, serviceByCode } from './directory.ts';

const SearchQuery = z.object({
  q: z.string().max(100, 'must be 100 characters or fewer').optional().default(''),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional().default(20),
});
const CodeParam = z.object({ code: z.string().min(1).max(64) });
const isOffset = (v: unknown): v is { o: number } => typeof v === 'object' && v !== null && Number.isInteger((v as { o: unknown }).o) && (v as { o: number }).o >= 0 && (v as { o: number }).o < 10_000;

export function directoryRoutes(ctx: AppContext) {
  const db = ctx.handle.db;
  return async function (app: FastifyInstance) {
    app.get('/api/v1/services', async (req) => {
      const q = parseInput(SearchQuery, req.query);
      const offset = decodeCursor(q.cursor, isOffset)?.o ?? 0;
      // Fetch one more than asked to know whether there is a next page.
      const rows = (await searchServices(db, q.q, offset + q.limit + 1)).slice(offset);
      const page = rows.slice(0, q.limit);
      return { items: await presentServices(db, page), nextCursor: rows.length > q.limit ? encodeCursor({ o: offset + q.limit }) : null };
    });

    app.get('/api/v1/services/:code', async (req) => {
      const { code } = parseInput(CodeParam, req.params);
      const row = await serviceByCode(db, code);
      if (!row) throw notFound(`service with the code ${code}`, 'service_not_found');
      const [view] = await presentServices(db, [row]);
      const children = await presentServices(db, await childrenOf(db, row.id));
      return { ...view, children: children.map((c) => ({ code: c.code, name: c.name, kind: c.kind, hashtags: c.hashtags })) };
    });

    app.get('/services', async (req, reply) => {
      const q = parseInput(SearchQuery, req.query);
      const results = q.q ? await presentServices(db, await searchServices(db, q.q, 50)) : [];
      return reply.page('directory/views/search.njk', {
        title: q.q ? `Services matching "${q.q}"` : 'Find a service',
        q: q.q,
        results,
        breadcrumbs: [{ href: '/', text: 'Home' }],
      });
    });

    app.get('/services/:code', async (req, reply) => {
      const { code } = parseInput(CodeParam, req.params);
      const row = await serviceByCode(db, code);
      if (!row) throw notFound(`service with the code ${code}`, 'service_not_found');
      const [view] = await presentServices(db, [row]);
      const ancestors = await ancestorsOf(db, row);
      const children = await presentServices(db, await childrenOf(db, row.id));
      const stories = await listPublished(ctx.handle, { service: row.code, limit: 10 });
      return reply.page('directory/views/service.njk', {
        stories: stories.items,
        measures: await computeMeasures(db, { service: row.code }),
        moreStories: stories.nextCursor !== null,
        title: row.name,
        service: view,
        children,
        breadcrumbs: [{ href: '/', text: 'Home' }, ...ancestors.map((a) => ({ href: `/services/${encodeURIComponent(a.code)}`, text: a.name }))],
      });
    });
  };
}

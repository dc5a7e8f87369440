import type { Db } from '../platform/db/index.ts';
import { sql } from 'kysely';

export interface LibraryEntry {
  responseId: string;
  change: 'planned' | 'made';
  description: string;
  organisation: string;
  service: string;
  serviceKind: string;
  story: { id: string; ref: string; title: string };
  themes: string[];
  publishedAt: string;
}

/**
 * The improvement library: every change claim a moderator has checked, across all organisations,
 * searchable by words, theme and kind of service, each linked to the story that prompted it, so a
 * team can copy what worked elsewhere.
 */
export async function searchLibrary(db: Db, o: { q?: string; theme?: string; kind?: string; limit?: number } = {}): Promise<LibraryEntry[]> {
  let q = db
    .selectFrom('responses')
    .innerJoin('stories', 'stories.id', 'responses.story_id')
    .innerJoin('organisations', 'organisations.id', 'responses.org_id')
    .innerJoin('story_services', (j) => j.onRef('story_services.story_id', '=', 'stories.id').on('story_services.position', '=', 0))
    .innerJoin('services', 'services.id', 'story_services.service_id')
    .select(['responses.id', 'responses.change', 'responses.change_description', 'responses.published_at', 'organisations.name as orgName', 'services.name as serviceName', 'services.kind as serviceKind', 'stories.id as storyId', 'stories.ref', 'stories.title', 'stories.themes'])
    .where('responses.moderation', '=', 'published')
    .where('responses.change_status', '=', 'accepted')
    .where('stories.moderation', '=', 'published');
  const escape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
  for (const word of (o.q ?? '').toLowerCase().split(/\s+/).filter(Boolean).slice(0, 6)) {
    q = q.where(sql<boolean>`lower(responses.change_description) LIKE ${`%${escape(word)}%`} ESCAPE '\\'`);
  }
  if (o.theme) q = q.where(sql<boolean>`stories.themes LIKE ${`%${escape(JSON.stringify(o.theme))}%`} ESCAPE '\\'`);
  if (o.kind) q = q.where('services.kind', '=', o.kind);
  const rows = await q.orderBy('responses.published_at', 'desc').limit(o.limit ?? 50).execute();
  return rows.map((r) => ({
    responseId: r.id,
    change: r.change!,
    description: r.change_description!,
    organisation: r.orgName,
    service: r.serviceName,
    serviceKind: r.serviceKind,
    story: { id: r.storyId, ref: r.ref, title: r.title },
    themes: (JSON.parse(r.themes) as Array<{ label: string }>).map((t) => t.label),
    publishedAt: r.published_at!,
  }));
}

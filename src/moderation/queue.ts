import type { Db } from '../platform/db/index.ts';

export interface QueueItem {
  id: string;
  ref: string;
  title: string;
  bodyPreview: string;
  urgent: boolean;
  safeguarding: string[];
  suggestedCriticality: number | null;
  submittedAt: string;
  channel: string;
  services: Array<{ code: string; name: string }>;
  findings: Array<{ id: string; field: string; type: string; start: number; end: number; text: string; accepted: boolean }>;
}

/** Pending stories not yet decided (every stored story has been checked): urgent first, then oldest first. */
export async function moderationQueue(db: Db, opts: { limit?: number; after?: { urgent: number; submittedAt: string; id: string } } = {}): Promise<QueueItem[]> {
  let q = db
    .selectFrom('stories')
    .select(['id', 'ref', 'title', 'body', 'urgent', 'safeguarding', 'suggested_criticality', 'submitted_at', 'channel'])
    .where('moderation', '=', 'pending')
    .where('decided_at', 'is', null);
  if (opts.after) {
    const a = opts.after;
    q = q.where((eb) =>
      eb.or([
        eb('urgent', '<', a.urgent),
        eb.and([eb('urgent', '=', a.urgent), eb('submitted_at', '>', a.submittedAt)]),
        eb.and([eb('urgent', '=', a.urgent), eb('submitted_at', '=', a.submittedAt), eb('id', '>', a.id)]),
      ]),
    );
  }
  const rows = await q.orderBy('urgent', 'desc').orderBy('submitted_at').orderBy('id').limit(opts.limit ?? 50).execute();
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [services, findings] = await Promise.all([
    db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['story_services.story_id', 'services.code', 'services.name']).where('story_services.story_id', 'in', ids).orderBy('story_services.position').execute(),
    db.selectFrom('story_findings').selectAll().where('story_id', 'in', ids).orderBy('field').orderBy('start').execute(),
  ]);
  return rows.map((r) => ({
    id: r.id,
    ref: r.ref,
    title: r.title,
    bodyPreview: r.body.length > 280 ? `${r.body.slice(0, 277)}…` : r.body,
    urgent: r.urgent === 1,
    safeguarding: JSON.parse(r.safeguarding) as string[],
    suggestedCriticality: r.suggested_criticality,
    submittedAt: r.submitted_at,
    channel: r.channel,
    services: services.filter((s) => s.story_id === r.id).map((s) => ({ code: s.code, name: s.name })),
    findings: findings.filter((f) => f.story_id === r.id).map((f) => ({ id: f.id, field: f.field, type: f.type, start: f.start, end: f.end, text: f.text, accepted: f.accepted === 1 })),
  }));
}

/** Word 3-shingles: robust to small edits, cheap to compare. */
function shingles(text: string): Set<string> {
  const words = text.toLowerCase().replace(/[^a-z0-9\s]/g, ' ').split(/\s+/).filter(Boolean);
  const out = new Set<string>();
  for (let i = 0; i + 2 < words.length; i++) out.add(`${words[i]} ${words[i + 1]} ${words[i + 2]}`);
  if (words.length < 3 && words.length) out.add(words.join(' '));
  return out;
}

export function similarity(a: string, b: string): number {
  const x = shingles(a);
  const y = shingles(b);
  if (x.size === 0 || y.size === 0) return 0;
  let shared = 0;
  for (const s of x) if (y.has(s)) shared++;
  return shared / (x.size + y.size - shared);
}

export const NEAR_DUPLICATE_THRESHOLD = 0.35;

/**
 * Other stories from the last 30 days by the same author (email) or about the same services whose
 * text is alike: a warning for the moderator, who decides whether it is the same episode.
 */
export async function nearDuplicates(db: Db, storyId: string): Promise<Array<{ id: string; ref: string; title: string; similarity: number; sameAuthor: boolean; moderation: string }>> {
  const story = await db.selectFrom('stories').select(['id', 'original_body', 'author_email', 'submitted_at']).where('id', '=', storyId).executeTakeFirst();
  if (!story) return [];
  const since = new Date(Date.parse(story.submitted_at) - 30 * 86_400_000).toISOString();
  const serviceIds = (await db.selectFrom('story_services').select('service_id').where('story_id', '=', storyId).execute()).map((r) => r.service_id);
  const candidates = await db
    .selectFrom('stories')
    .select(['id', 'ref', 'title', 'original_body', 'author_email', 'moderation'])
    .where('id', '!=', storyId)
    .where('submitted_at', '>=', since)
    .where((eb) =>
      eb.or([
        ...(story.author_email ? [eb('author_email', '=', story.author_email)] : []),
        eb('id', 'in', eb.selectFrom('story_services').select('story_id').where('service_id', 'in', serviceIds.length ? serviceIds : [''])),
      ]),
    )
    .orderBy('submitted_at', 'desc')
    .limit(300)
    .execute();
  return candidates
    .map((c) => ({ id: c.id, ref: c.ref, title: c.title, moderation: c.moderation, sameAuthor: !!story.author_email && c.author_email === story.author_email, similarity: similarity(story.original_body, c.original_body) }))
    .filter((c) => c.similarity >= NEAR_DUPLICATE_THRESHOLD)
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, 5);
}

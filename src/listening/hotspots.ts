import { sql, type ExpressionBuilder } from 'kysely';
import type { Database } from '../platform/db/schema.ts';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { enqueue, type JobHandler } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';
import { NEAR_DUPLICATE_THRESHOLD, similarity } from '../moderation/queue.ts';
import { isNegative } from './sentiment.ts';
import { storyIn, subtreeServiceIds } from '../stories/read.ts';

/**
 * Hotspots: the same problem told several times at one place, soon enough to act on it ("three
 * complaints about the same toilet in 24 hours").
 *
 * When a negative story is published or a negative mention arrives, for each of its themes and
 * each service it names, from the most specific (the ward) up to the organisation, the negative
 * items with that theme in that service's subtree over the last 24 hours are counted and set
 * against that service's usual rate for the theme (the 28 days before, per 24 hours). A hotspot is
 * raised when the count reaches MIN_COUNT and is unusual for the place: at least
 * expected + 3·√expected + 1 (a Poisson-style margin, so a busy emergency department does not
 * raise one for its ordinary share of complaints about waiting).
 *
 * Separately, near-duplicate texts (word-shingle similarity, as moderation uses) at one service
 * across channels and themes, MIN_COUNT or more in 24 hours, raise a "duplicate" hotspot: the same
 * broken toilet told three ways.
 *
 * One problem raises one hotspot: while a hotspot cools down (COOL_DOWN_HOURS), later items about
 * the same theme at that service, its parents or its children join it as evidence instead.
 */
export const WINDOW_HOURS = 24;
export const BASELINE_DAYS = 28;
export const MIN_COUNT = 3;
export const COOL_DOWN_HOURS = 24;

interface Item {
  kind: 'story' | 'mention';
  id: string;
  text: string;
  themes: string[];
  at: string;
  services: Array<{ id: string; orgId: string; path: string }>;
}

export function threshold(expected: number): number {
  return Math.max(MIN_COUNT, Math.ceil(expected + 3 * Math.sqrt(expected) + 1));
}

async function loadItem(handle: DbHandle, kind: 'story' | 'mention', id: string): Promise<Item | null> {
  const db = handle.db;
  if (kind === 'story') {
    const s = await db.selectFrom('stories').select(['id', 'title', 'body', 'topics', 'sentiment', 'moderation', 'published_at']).where('id', '=', id).executeTakeFirst();
    if (!s || s.moderation !== 'published' || !isNegative(s.sentiment)) return null;
    const services = await db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['services.id', 'services.org_id as orgId', 'services.path']).where('story_id', '=', id).execute();
    return { kind, id, text: `${s.title}. ${s.body}`, themes: topics(s.topics), at: s.published_at!, services };
  }
  const m = await db.selectFrom('mentions').select(['id', 'text', 'topics', 'sentiment', 'deleted_at', 'received_at', 'org_id']).where('id', '=', id).executeTakeFirst();
  if (!m || m.deleted_at || !isNegative(m.sentiment)) return null;
  const services = await db.selectFrom('mention_services').innerJoin('services', 'services.id', 'mention_services.service_id').select(['services.id', 'services.org_id as orgId', 'services.path']).where('mention_id', '=', id).execute();
  return { kind, id, text: m.text, themes: topics(m.topics), at: m.received_at, services };
}

const topics = (json: string): string[] => JSON.parse(json) as string[];

/** A condition on a topics column (a JSON array of labels) holding the theme; LIKE's wildcards escaped. */
function hasTopic(theme: string, column: 'stories.topics' | 'mentions.topics') {
  const pattern = `%${JSON.stringify(theme).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<boolean>`${sql.ref(column)} LIKE ${pattern} ESCAPE '\\'`;
}

/** Negative items in a service's subtree between two instants, optionally about one theme. */
async function negativeItems(handle: DbHandle, path: string, from: string, to: string, theme?: string): Promise<Array<{ kind: 'story' | 'mention'; id: string; text: string; topics: string[] }>> {
  const db = handle.db;
  const serviceIds = await subtreeServiceIds(db, path);
  let stories = db
    .selectFrom('stories')
    .select(['stories.id', 'stories.title', 'stories.body', 'stories.topics'])
    .where('stories.moderation', '=', 'published')
    .where('stories.sentiment', 'in', ['4', '5'])
    .where('stories.published_at', '>=', from)
    .where('stories.published_at', '<=', to)
    .where(storyIn({ serviceIds }));
  if (theme) stories = stories.where(hasTopic(theme, 'stories.topics'));
  let mentions = db
    .selectFrom('mentions')
    .select(['mentions.id', 'mentions.text', 'mentions.topics'])
    .where('mentions.deleted_at', 'is', null)
    .where('mentions.sentiment', 'in', ['4', '5'])
    .where('mentions.received_at', '>=', from)
    .where('mentions.received_at', '<=', to)
    .where(mentionIn(serviceIds));
  if (theme) mentions = mentions.where(hasTopic(theme, 'mentions.topics'));
  const [s, m] = await Promise.all([stories.execute(), mentions.execute()]);
  return [
    ...s.map((x) => ({ kind: 'story' as const, id: x.id, text: `${x.title}. ${x.body}`, topics: topics(x.topics) })),
    ...m.map((x) => ({ kind: 'mention' as const, id: x.id, text: x.text, topics: topics(x.topics) })),
  ];
}

/** "The post names one of these services", as a probe per post (see storyIn). */
function mentionIn(serviceIds: string[]) {
  return (eb: ExpressionBuilder<Database, 'mentions'>) =>
    eb.exists(eb.selectFrom('mention_services').select(sql.lit(1).as('one')).whereRef('mention_services.mention_id', '=', 'mentions.id').where('mention_services.service_id', 'in', serviceIds.length ? serviceIds : ['']));
}

/** How many negative items there were: ids only, so the partial index `stories_negative` answers it. */
async function countNegative(handle: DbHandle, path: string, from: string, to: string, theme: string): Promise<number> {
  const db = handle.db;
  const serviceIds = await subtreeServiceIds(db, path);
  const [s, m] = await Promise.all([
    db
      .selectFrom('stories')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      // Written out, not bound: the planner uses a partial index only when it can see these values.
      .where(sql<boolean>`stories.moderation = 'published' AND stories.sentiment IN ('4', '5')`)
      .where('stories.published_at', '>=', from)
      .where('stories.published_at', '<=', to)
      .where(hasTopic(theme, 'stories.topics'))
      .where(storyIn({ serviceIds }))
      .executeTakeFirst(),
    db
      .selectFrom('mentions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('mentions.deleted_at', 'is', null)
      .where('mentions.sentiment', 'in', ['4', '5'])
      .where('mentions.received_at', '>=', from)
      .where('mentions.received_at', '<=', to)
      .where(hasTopic(theme, 'mentions.topics'))
      .where(mentionIn(serviceIds))
      .executeTakeFirst(),
  ]);
  return Number(s?.n ?? 0) + Number(m?.n ?? 0);
}

/**
 * A service's usual rate of negative items about a theme (per 24 hours over the 28 days before the
 * window). It moves slowly, and reading four weeks of stories is the dearest part of a check, so each
 * is kept for ten minutes: a burst of complaints is judged against one reading.
 */
const RATE_MS = 10 * 60_000;
const rates = new WeakMap<DbHandle, Map<string, { at: number; value: number }>>();
async function usualRate(handle: DbHandle, path: string, theme: string, from: string, to: string): Promise<number> {
  let c = rates.get(handle);
  if (!c) rates.set(handle, (c = new Map()));
  const key = `${path}|${theme}`;
  const hit = c.get(key);
  if (hit && Date.now() - hit.at < RATE_MS) return hit.value;
  const value = (await countNegative(handle, path, from, to, theme)) / BASELINE_DAYS;
  c.set(key, { at: Date.now(), value });
  return value;
}

const hours = (h: number, from = Date.now()) => new Date(from - h * 3_600_000).toISOString();

export interface CheckResult {
  raised: string[];
  joined: string[];
}

/** Looks at one new negative item; raises at most one hotspot per theme, and one for duplicates. */
export async function checkItem(handle: DbHandle, kind: 'story' | 'mention', id: string): Promise<CheckResult> {
  const item = await loadItem(handle, kind, id);
  const result: CheckResult = { raised: [], joined: [] };
  if (!item || !item.services.length) return result;
  const t = Date.now();
  const windowStart = hours(WINDOW_HOURS, t);
  const nowIso = new Date(t).toISOString();
  const baselineStart = hours(WINDOW_HOURS + BASELINE_DAYS * 24, t);
  // An item told (or checked) after its day is over is history, not part of a hotspot now.
  if (item.at < windowStart) return result;

  // Told in other words but about the same thing as a hotspot cooling here or above (three of its
  // content words, or most of them, already in that hotspot's evidence): it joins that one.
  const words = contentWords(item.text);
  // The item's services and their ancestors, deepest first.
  const chain = chainOf(item.services);
  for (const svc of chain) {
    for (const h of await coolingAt(handle, svc.orgId, svc.path)) {
      const evidence = new Set((await hotspotEvidence(handle, h)).flatMap((e) => [...contentWords(e.text)]));
      const shared = [...words].filter((w) => evidence.has(w)).length;
      if (shared >= 3 || (words.size > 0 && shared / words.size >= 0.4 && shared >= 2)) {
        await joinHotspot(handle, h, item);
        result.joined.push(h);
        return result;
      }
    }
  }

  // The item's topics, most shared first among the recent negative items where it was told: four
  // ways of saying "dirty toilets" are grouped under the theme most of them have in common.
  const votes = new Map<string, number>();
  for (const svc of item.services) {
    for (const other of await negativeItems(handle, svc.path, windowStart, nowIso)) other.topics.forEach((t, rank) => votes.set(t, (votes.get(t) ?? 0) + 3 - rank));
  }
  const ordered = [...item.themes].sort((a, b) => (votes.get(b) ?? 0) - (votes.get(a) ?? 0));
  for (const theme of ordered) {
    const key = `theme:${theme}`;
    // Most specific first: a problem on one ward is that ward's hotspot, not the whole trust's.
    let settled = false;
    for (const svc of chain) {
      const here = await coolingHotspot(handle, svc.orgId, key, svc.path, 'here-or-below');
      if (here) {
        await joinHotspot(handle, here, item);
        result.joined.push(here);
        settled = true;
        break;
      }
      const count = await countNegative(handle, svc.path, windowStart, nowIso, theme);
      if (count < MIN_COUNT) continue;
      const expected = await usualRate(handle, svc.path, theme, baselineStart, windowStart);
      if (count < threshold(expected)) continue;
      const evidence = await negativeItems(handle, svc.path, windowStart, nowIso, theme);
      // Above the places the item names (a site, a trust), a theme alone groups unrelated complaints
      // told on different wards: there the items must also share their words, as one problem would.
      const own = item.services.some((s) => s.path === svc.path);
      if (!own && sharedWords(evidence.map((e) => e.text)).length < 2) continue;
      const raised = await raise(handle, { orgId: svc.orgId, serviceId: svc.id, path: svc.path, kind: 'theme', theme, count, expected, evidence });
      if (raised) {
        result.raised.push(raised);
        settled = true;
        break;
      }
    }
    if (settled) continue;
    // Not enough here for a hotspot of its own: a wider one still cooling (the site's, the trust's) takes it.
    for (const svc of chain) {
      const above = await coolingHotspot(handle, svc.orgId, key, svc.path, 'above');
      if (above) {
        await joinHotspot(handle, above, item);
        result.joined.push(above);
        break;
      }
    }
  }

  // The same text told several ways, whatever the themes, at the services the item names.
  for (const svc of item.services) {
    const cooling = await coolingHotspot(handle, svc.orgId, 'duplicate', svc.path, 'any');
    const recent = (await negativeItems(handle, svc.path, windowStart, nowIso)).filter((x) => !(x.kind === item.kind && x.id === item.id));
    const alike = recent.filter((x) => similarity(x.text, item.text) >= NEAR_DUPLICATE_THRESHOLD);
    if (!alike.length) continue;
    if (cooling) {
      await joinHotspot(handle, cooling, item);
      result.joined.push(cooling);
      continue;
    }
    if (alike.length + 1 < MIN_COUNT) continue;
    const raised = await raise(handle, { orgId: svc.orgId, serviceId: svc.id, path: svc.path, kind: 'duplicate', theme: null, count: alike.length + 1, expected: 0, evidence: [...alike, item] });
    if (raised) result.raised.push(raised);
  }
  return result;
}

/** The item's services and their ancestors, deepest first, once each. */
function chainOf(services: Item['services']): Array<{ id: string; orgId: string; path: string }> {
  const seen = new Map<string, { id: string; orgId: string; path: string }>();
  for (const s of services) {
    const ids = s.path.split('/').filter(Boolean);
    ids.forEach((id, i) => seen.set(id, { id, orgId: s.orgId, path: `/${ids.slice(0, i + 1).join('/')}/` }));
  }
  return [...seen.values()].sort((a, b) => b.path.length - a.path.length);
}

/** Every hotspot still cooling down at exactly this service. */
async function coolingAt(handle: DbHandle, orgId: string, path: string): Promise<string[]> {
  const rows = await handle.db
    .selectFrom('hotspots')
    .innerJoin('services', 'services.id', 'hotspots.service_id')
    .select('hotspots.id')
    .where('hotspots.org_id', '=', orgId)
    .where('services.path', '=', path)
    .where('hotspots.cooldown_until', '>', now())
    .execute();
  return rows.map((r) => r.id);
}

/** A hotspot still cooling down for the same kind of problem at this service or below it, above it, or either. */
async function coolingHotspot(handle: DbHandle, orgId: string, keyKind: string, path: string, where: 'here-or-below' | 'above' | 'any'): Promise<string | null> {
  const rows = await handle.db
    .selectFrom('hotspots')
    .innerJoin('services', 'services.id', 'hotspots.service_id')
    .select(['hotspots.id', 'services.path'])
    .where('hotspots.org_id', '=', orgId)
    .where('hotspots.key', 'like', `%|${keyKind}`)
    .where('hotspots.cooldown_until', '>', now())
    .orderBy('hotspots.detected_at', 'desc')
    .execute();
  const below = (p: string) => p.startsWith(path);
  const above = (p: string) => path.startsWith(p) && p !== path;
  const hit = rows.find((r) => (where === 'here-or-below' ? below(r.path) : where === 'above' ? above(r.path) : below(r.path) || above(r.path)));
  return hit?.id ?? null;
}

async function joinHotspot(handle: DbHandle, hotspotId: string, item: Item): Promise<void> {
  await handle.db.transaction().execute(async (trx) => {
    const added = await trx.insertInto('hotspot_items').values({ hotspot_id: hotspotId, item_kind: item.kind, item_id: item.id }).onConflict((oc) => oc.columns(['hotspot_id', 'item_kind', 'item_id']).doNothing()).executeTakeFirst();
    if (Number(added.numInsertedOrUpdatedRows ?? 0) > 0) await trx.updateTable('hotspots').set((eb) => ({ count: eb('count', '+', 1) })).where('id', '=', hotspotId).execute();
  });
}

async function raise(
  handle: DbHandle,
  h: { orgId: string; serviceId: string; path: string; kind: 'theme' | 'duplicate'; theme: string | null; count: number; expected: number; evidence: Array<{ kind: 'story' | 'mention'; id: string }> },
): Promise<string | null> {
  const keyKind = h.kind === 'theme' ? `theme:${h.theme}` : 'duplicate';
  const id = newId();
  const t = new Date();
  return handle.db.transaction().execute(async (trx) => {
    // Two servers judging two items of one problem at once: the lock makes the second see the first's hotspot.
    if (handle.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext(${`${h.orgId}|${keyKind}`}))`.execute(trx);
    const open = await trx
      .selectFrom('hotspots')
      .innerJoin('services', 'services.id', 'hotspots.service_id')
      .select(['hotspots.id', 'services.path'])
      .where('hotspots.org_id', '=', h.orgId)
      .where('hotspots.key', 'like', `%|${keyKind}`)
      .where('hotspots.cooldown_until', '>', t.toISOString())
      .execute();
    // A hotspot for this problem here or below (raised meanwhile by another server) wins; a wider one
    // does not stop this more specific one.
    if (open.some((o) => o.path.startsWith(h.path))) return null;
    // One problem, one hotspot: if most of this evidence already stands behind an open hotspot
    // here or below (raised under another theme, or as duplicates), no second one is raised.
    const overlap = await trx
      .selectFrom('hotspot_items')
      .innerJoin('hotspots', 'hotspots.id', 'hotspot_items.hotspot_id')
      .innerJoin('services', 'services.id', 'hotspots.service_id')
      .select(['hotspots.id', 'services.path', 'hotspot_items.item_id'])
      .where('hotspots.org_id', '=', h.orgId)
      .where('hotspots.cooldown_until', '>', t.toISOString())
      .where('hotspot_items.item_id', 'in', h.evidence.map((e) => e.id))
      .execute();
    const shared = new Map<string, number>();
    for (const o of overlap) if (o.path.startsWith(h.path)) shared.set(o.id, (shared.get(o.id) ?? 0) + 1);
    const best = [...shared].sort((a, b) => b[1] - a[1])[0];
    if (best && best[1] * 2 >= h.evidence.length) return null;
    await trx
      .insertInto('hotspots')
      .values({
        id,
        org_id: h.orgId,
        service_id: h.serviceId,
        key: `${h.serviceId}|${keyKind}`,
        kind: h.kind,
        theme: h.theme,
        count: h.count,
        expected: Math.round(h.expected * 1000) / 1000,
        detected_at: t.toISOString(),
        cooldown_until: new Date(t.getTime() + COOL_DOWN_HOURS * 3_600_000).toISOString(),
      })
      .execute();
    const evidence = [...new Map(h.evidence.map((e) => [`${e.kind}:${e.id}`, e])).values()];
    if (evidence.length) await trx.insertInto('hotspot_items').values(evidence.map((e) => ({ hotspot_id: id, item_kind: e.kind, item_id: e.id }))).execute();
    await appendEvent(trx, handle.dialect, { type: 'hotspot.detected', orgId: h.orgId, subject: id, data: { service: h.serviceId, kind: h.kind, theme: h.theme, count: h.count, expected: h.expected } });
    await enqueue(trx, { kind: 'hotspot.alert', payload: { hotspotId: id }, dedupeKey: `hotspot-alert:${id}` });
    return id;
  });
}

export interface HotspotView {
  id: string;
  kind: 'theme' | 'duplicate';
  theme: string | null;
  count: number;
  expected: number;
  detectedAt: string;
  coolingUntil: string;
  service: { code: string; name: string };
  orgId: string;
  title: string;
}

export function hotspotTitle(h: { kind: string; theme: string | null; count: number }, serviceName: string): string {
  return h.kind === 'duplicate' ? `The same problem told ${h.count} times at ${serviceName}` : `${h.count} negative items about ${h.theme} at ${serviceName}`;
}

function hotspotViews(handle: DbHandle, orgIds: string[]) {
  return handle.db
    .selectFrom('hotspots')
    .innerJoin('services', 'services.id', 'hotspots.service_id')
    .select(['hotspots.id', 'hotspots.kind', 'hotspots.theme', 'hotspots.count', 'hotspots.expected', 'hotspots.detected_at', 'hotspots.cooldown_until', 'hotspots.org_id', 'services.code', 'services.name'])
    .where('hotspots.org_id', 'in', orgIds.length ? orgIds : ['']);
}

/** One hotspot, if it belongs to one of these organisations. */
export async function getHotspot(handle: DbHandle, orgIds: string[], id: string): Promise<HotspotView | null> {
  const row = await hotspotViews(handle, orgIds).where('hotspots.id', '=', id).executeTakeFirst();
  return row ? toView(row) : null;
}

export async function recentHotspots(handle: DbHandle, orgIds: string[], opts: { days?: number; limit?: number } = {}): Promise<HotspotView[]> {
  if (!orgIds.length) return [];
  const rows = await hotspotViews(handle, orgIds)
    .where('hotspots.detected_at', '>=', hours((opts.days ?? 7) * 24))
    .orderBy('hotspots.detected_at', 'desc')
    .limit(opts.limit ?? 20)
    .execute();
  return rows.map(toView);
}

function toView(r: Awaited<ReturnType<ReturnType<typeof hotspotViews>['execute']>>[number]): HotspotView {
  return {
    id: r.id,
    kind: r.kind,
    theme: r.theme,
    count: r.count,
    expected: r.expected,
    detectedAt: r.detected_at,
    coolingUntil: r.cooldown_until,
    service: { code: r.code, name: r.name },
    orgId: r.org_id,
    title: hotspotTitle(r, r.name),
  };
}

export async function hotspotEvidence(handle: DbHandle, hotspotId: string) {
  const db = handle.db;
  const items = await db.selectFrom('hotspot_items').select(['item_kind', 'item_id']).where('hotspot_id', '=', hotspotId).execute();
  const storyIds = items.filter((i) => i.item_kind === 'story').map((i) => i.item_id);
  const mentionIds = items.filter((i) => i.item_kind === 'mention').map((i) => i.item_id);
  const [stories, mentions] = await Promise.all([
    // Filtered here, not in SQL: with `moderation = ?` beside `id IN (…)` SQLite walked the whole
    // (moderation, published_at) index instead of looking the few ids up.
    storyIds.length ? db.selectFrom('stories').select(['id', 'title', 'body', 'published_at', 'moderation', 'sentiment']).where('id', 'in', storyIds).execute().then((rows) => rows.filter((r) => r.moderation === 'published')) : [],
    mentionIds.length ? db.selectFrom('mentions').select(['id', 'text', 'author', 'source', 'url', 'received_at', 'sentiment']).where('id', 'in', mentionIds).where('deleted_at', 'is', null).execute() : [],
  ]);
  return [
    ...stories.map((s) => ({ kind: 'story' as const, id: s.id, title: s.title, text: s.body, at: s.published_at!, href: `/staff/stories/${s.id}`, source: 'story', url: null as string | null })),
    ...mentions.map((m) => ({ kind: 'mention' as const, id: m.id, title: `${m.author} on ${m.source}`, text: m.text, at: m.received_at, href: `/staff/mentions/${m.id}`, source: m.source, url: m.url })),
  ].sort((a, b) => b.at.localeCompare(a.at));
}

/** Jobs: judge a new item; tell the organisation's leaders and responders about a new hotspot. */
export function hotspotJobs(handle: DbHandle, publicUrl: string): Record<string, JobHandler> {
  const db = handle.db;
  return {
    'hotspot.check': async (payload) => {
      const { kind, id } = payload as { kind: 'story' | 'mention'; id: string };
      await checkItem(handle, kind, id);
    },
    'hotspot.alert': async (payload) => {
      const { hotspotId } = payload as { hotspotId: string };
      const h = await db.selectFrom('hotspots').innerJoin('services', 'services.id', 'hotspots.service_id').select(['hotspots.id', 'hotspots.org_id', 'hotspots.kind', 'hotspots.theme', 'hotspots.count', 'services.name']).where('hotspots.id', '=', hotspotId).executeTakeFirst();
      if (!h) return;
      const people = await db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select(['users.id', 'users.email']).where('memberships.org_id', '=', h.org_id).where('memberships.role', 'in', ['leader', 'responder']).execute();
      const title = hotspotTitle(h, h.name);
      const unique = [...new Map(people.map((p) => [p.id, p])).values()];
      await db.transaction().execute(async (trx) => {
        for (const p of unique) {
          const added = await trx.insertInto('hotspot_notifications').values({ hotspot_id: h.id, user_id: p.id, created_at: now(), read_at: null }).onConflict((oc) => oc.columns(['hotspot_id', 'user_id']).doNothing()).executeTakeFirst();
          if (Number(added.numInsertedOrUpdatedRows ?? 0) === 0) continue;
          await queueMail(trx, { to: p.email, subject: `Hotspot: ${title}`, text: `${title} in the last ${WINDOW_HOURS} hours.\n\nSee the evidence and act on it:\n${publicUrl}/staff/hotspots/${h.id}\n\nCarevoice` }, `hotspot:${h.id}:${p.id}`);
        }
      });
    },
  };
}

const STOPWORDS = new Set('about after again also always because been before being could didn does doing done during each even every from have having here into just like made make more most much never nothing only other over really same should some still such than that their them then there these they this those through told took very want wasn were what when where which while with without would your ward hospital staff nurse doctor care patient time today night visit visited people'.split(' '));

/** Lower-case words of four letters or more, less common ones and endings (-s, -ed, -ing): "cleaned" meets "cleans". */
export function contentWords(text: string): Set<string> {
  const out = new Set<string>();
  for (const w of text.replace(/(^|\s)#[\p{L}\p{N}_]+/gu, ' ').toLowerCase().match(/[a-z]{4,}/g) ?? []) {
    if (STOPWORDS.has(w)) continue;
    const stem = w.replace(/(ing|ed|es|s)$/, '');
    if (stem.length >= 3 && !STOPWORDS.has(stem)) out.add(stem);
  }
  return out;
}

/**
 * The words several items of a hotspot share ("toilets", "filthy", "cleaned"): what people say in
 * their own words, beside the theme the model chose, which can be vague on short posts.
 */
export function sharedWords(texts: string[], n = 5): string[] {
  const df = new Map<string, number>();
  for (const t of texts) for (const w of contentWords(t)) df.set(w, (df.get(w) ?? 0) + 1);
  return [...df].filter(([, c]) => c >= 2).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n).map(([w]) => w);
}

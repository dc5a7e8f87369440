import type { Db } from '../platform/db/index.ts';
import { storyIn, subtreeServiceIds } from '../stories/read.ts';
import { appended } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';

export interface Measures {
  scope: { organisation: string | null; service: string | null; from: string; to: string };
  /** Share of stories published in the window with at least one published response. */
  responseRate: number | null;
  /** Median hours from a story's publication to its first published response. */
  medianHoursToFirstResponse: number | null;
  /** Share of stories published in the window that staff have read (progress past "unheard"). */
  readRate: number | null;
  /** Share of published responses to non-positive stories that claim a change. */
  changeRate: number | null;
  /** Checked "change made" claims on stories published in the window. */
  changesMade: number;
  counts: { stories: number; responded: number; responses: number; changesPlanned: number; changesMade: number };
}

const WINDOW_DAYS = 30;
const round = (x: number, places = 3) => Math.round(x * 10 ** places) / 10 ** places;

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A story is positive when its sentiment (1-2) or, without one, its rating (very good, good) says so. */
const isPositive = (s: { sentiment: string | null; rating: number | null }) => (s.sentiment ? s.sentiment === '1' || s.sentiment === '2' : s.rating !== null && s.rating <= 2);

/**
 * The measures shown everywhere (PRODUCT.md), for the stories published in the last 30 days about
 * a service with its subtree, an organisation, or everything.
 */
/**
 * Measures are 30-day aggregates, asked for on every service page and by dashboards polling the API:
 * each answer is kept for up to 30 seconds per scope, and forgotten at once when anything is
 * recorded in this process (an event appended), so what a person just did shows straight away.
 * Another app server's change shows within the 30 seconds.
 */
const CACHE_MS = 30_000;
const cache = new WeakMap<Db, Map<string, { at: number; generation: number; value: Promise<Measures> }>>();
/** Bumped by every event appended in this process: an answer from an older generation is stale. */
let generation = 0;
appended.on('event', () => generation++);

export function computeMeasures(db: Db, o: { org?: string; service?: string; now?: Date } = {}): Promise<Measures> {
  if (o.now) return measure(db, o);
  let c = cache.get(db);
  if (!c) {
    c = new Map();
    cache.set(db, c);
  }
  const key = `${o.org ?? ''}|${o.service ?? ''}`;
  const hit = c.get(key);
  if (hit && hit.generation === generation && Date.now() - hit.at < CACHE_MS) return hit.value;
  const value = measure(db, o);
  c.set(key, { at: Date.now(), generation, value });
  // A failed computation (an unknown code, the database away) is not kept.
  value.catch(() => c.delete(key));
  return value;
}

async function measure(db: Db, o: { org?: string; service?: string; now?: Date }): Promise<Measures> {
  const to = o.now ?? new Date();
  const from = new Date(to.getTime() - WINDOW_DAYS * 86_400_000);
  let q = db
    .selectFrom('stories')
    .select(['stories.id', 'stories.published_at', 'stories.progress', 'stories.sentiment', 'stories.rating'])
    .where('stories.moderation', '=', 'published')
    .where('stories.published_at', '>=', from.toISOString())
    .where('stories.published_at', '<=', to.toISOString());
  let orgCode: string | null = null;
  let serviceCode: string | null = null;
  if (o.service) {
    const svc = await db.selectFrom('services').select(['path', 'code']).where('code', '=', o.service).executeTakeFirst();
    if (!svc) throw new AppError('service_not_found', 404, `No service has the code ${o.service}`);
    serviceCode = svc.code;
    q = q.where(storyIn({ serviceIds: await subtreeServiceIds(db, svc.path) }));
  } else if (o.org) {
    const org = await db.selectFrom('organisations').select(['id', 'ods_code']).where('ods_code', '=', o.org).executeTakeFirst();
    if (!org) throw new AppError('organisation_not_found', 404, `No organisation has the ODS code ${o.org}`);
    orgCode = org.ods_code;
    q = q.where(storyIn({ orgId: org.id }));
  }
  const stories = await q.execute();
  const ids = stories.map((s) => s.id);
  const responses: Array<{ story_id: string; published_at: string | null; change: string | null; change_status: string | null }> = [];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    responses.push(...(await db.selectFrom('responses').select(['story_id', 'published_at', 'change', 'change_status']).where('story_id', 'in', chunk).where('moderation', '=', 'published').execute()));
  }
  const byStory = new Map<string, typeof responses>();
  for (const r of responses) {
    if (!byStory.has(r.story_id)) byStory.set(r.story_id, []);
    byStory.get(r.story_id)!.push(r);
  }
  const hours: number[] = [];
  let toNonPositive = 0;
  let claimsOnNonPositive = 0;
  for (const s of stories) {
    const rs = byStory.get(s.id);
    if (!rs) continue;
    const first = Math.min(...rs.map((r) => Date.parse(r.published_at!)));
    hours.push((first - Date.parse(s.published_at!)) / 3_600_000);
    if (!isPositive(s)) {
      toNonPositive += rs.length;
      claimsOnNonPositive += rs.filter((r) => r.change).length;
    }
  }
  const n = stories.length;
  const changesMade = responses.filter((r) => r.change === 'made' && r.change_status === 'accepted').length;
  const med = median(hours);
  return {
    scope: { organisation: orgCode, service: serviceCode, from: from.toISOString(), to: to.toISOString() },
    responseRate: n ? round(byStory.size / n) : null,
    medianHoursToFirstResponse: med === null ? null : round(med, 1),
    readRate: n ? round(stories.filter((s) => s.progress !== 'unheard').length / n) : null,
    changeRate: toNonPositive ? round(claimsOnNonPositive / toNonPositive) : null,
    changesMade,
    counts: {
      stories: n,
      responded: byStory.size,
      responses: responses.length,
      changesPlanned: responses.filter((r) => r.change === 'planned' && r.change_status === 'accepted').length,
      changesMade,
    },
  };
}

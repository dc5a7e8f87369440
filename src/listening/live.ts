import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { DbHandle } from '../platform/db/index.ts';
import { eventsAfter, type StoredEvent } from '../platform/events.ts';
import { LiveHub } from '../platform/live.ts';
import { band, isNegative, isPraise, SENTIMENT_WORDS } from './sentiment.ts';
import { hotspotEvidence, sharedWords } from './hotspots.ts';

/**
 * The live wall's feed: the events leaders watch, each turned once into a card (what it is, where,
 * its themes and sentiment) and sent to every connection that may see it and asked for it.
 * A card is always read from the current rows, never from the event's payload: a mention deleted
 * at its source, or a story withdrawn, is not shown again by a replay.
 */
export const LIVE_TYPES = ['story.published', 'response.published', 'mention.received', 'mention.updated', 'mention.deleted', 'hotspot.detected'] as const;

export interface LiveCard {
  kind: 'story' | 'response' | 'mention' | 'hotspot';
  id: string;
  title: string;
  text: string;
  url: string;
  source: string | null;
  author: string | null;
  services: Array<{ code: string; name: string }>;
  themes: string[];
  sentiment: string | null;
  sentimentWord: string | null;
  negative: boolean;
  praise: boolean;
  at: string;
}

export interface LiveMessage {
  id: number;
  type: string;
  orgId: string | null;
  subject: string | null;
  at: string;
  /** Absent for a deletion: the card with `subject` goes. */
  item?: LiveCard;
  /** Service paths the item is about: filters match on them (not sent). */
  paths: string[];
}

export interface LiveFilter {
  orgIds: Set<string>;
  servicePath?: string;
  theme?: string;
  sentiment?: 'positive' | 'neutral' | 'negative';
}

export function passes(m: LiveMessage, f: LiveFilter): boolean {
  if (!m.orgId || !f.orgIds.has(m.orgId)) return false;
  if (!m.item) return true;
  if (f.servicePath && !m.paths.some((p) => p.startsWith(f.servicePath!))) return false;
  if (m.item.kind === 'hotspot') return !f.theme || m.item.themes.includes(f.theme);
  if (f.theme && !m.item.themes.includes(f.theme)) return false;
  if (f.sentiment && band(m.item.sentiment) !== f.sentiment) return false;
  return true;
}

const excerpt = (s: string, n = 280) => (s.length > n ? `${s.slice(0, n - 1).replace(/\s+\S*$/, '')}…` : s);
const themeLabels = (json: string) => (JSON.parse(json) as Array<{ label: string }>).map((t) => t.label);

/** Turns events into messages, with one query per kind of item for the whole batch. */
export async function toMessages(handle: DbHandle, events: StoredEvent[]): Promise<LiveMessage[]> {
  const db = handle.db;
  const ids = (types: string[]) => [...new Set(events.filter((e) => types.includes(e.type) && e.subject).map((e) => e.subject!))];
  const storyIds = ids(['story.published', 'response.published']);
  const mentionIds = ids(['mention.received', 'mention.updated']);
  const hotspotIds = ids(['hotspot.detected']);
  const none = [''];
  const [stories, storyServices, mentions, mentionServices, hotspots] = await Promise.all([
    storyIds.length ? db.selectFrom('stories').select(['id', 'title', 'body', 'themes', 'sentiment', 'moderation', 'published_at']).where('id', 'in', storyIds).execute() : [],
    storyIds.length
      ? db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['story_services.story_id as owner', 'services.code', 'services.name', 'services.path', 'services.org_id']).where('story_id', 'in', storyIds).execute()
      : [],
    mentionIds.length ? db.selectFrom('mentions').selectAll().where('id', 'in', mentionIds).execute() : [],
    mentionIds.length
      ? db.selectFrom('mention_services').innerJoin('services', 'services.id', 'mention_services.service_id').select(['mention_services.mention_id as owner', 'services.code', 'services.name', 'services.path', 'services.org_id']).where('mention_id', 'in', mentionIds).execute()
      : [],
    hotspotIds.length
      ? db.selectFrom('hotspots').innerJoin('services', 'services.id', 'hotspots.service_id').select(['hotspots.id', 'hotspots.theme', 'hotspots.kind', 'hotspots.count', 'hotspots.detected_at', 'services.code', 'services.name', 'services.path']).where('hotspots.id', 'in', hotspotIds.length ? hotspotIds : none).execute()
      : [],
  ]);
  const responseIds = events.filter((e) => e.type === 'response.published').map((e) => String(e.data.response ?? ''));
  const responses = responseIds.length ? await db.selectFrom('responses').select(['id', 'body', 'change']).where('id', 'in', responseIds).execute() : [];

  const out: LiveMessage[] = [];
  for (const e of events) {
    const base = { id: e.id, type: e.type, orgId: e.orgId, subject: e.subject, at: e.createdAt };
    if (e.type === 'mention.deleted') {
      out.push({ ...base, paths: [] });
      continue;
    }
    if (e.type === 'story.published' || e.type === 'response.published') {
      const s = stories.find((x) => x.id === e.subject);
      if (!s || s.moderation !== 'published') continue;
      const svcs = storyServices.filter((x) => x.owner === s.id && x.org_id === e.orgId);
      const r = e.type === 'response.published' ? responses.find((x) => x.id === e.data.response) : undefined;
      if (e.type === 'response.published' && !r) continue;
      const card: LiveCard = {
        kind: r ? 'response' : 'story',
        id: s.id,
        title: r ? `Response to "${s.title}"` : s.title,
        text: excerpt(r ? r.body : s.body),
        url: `/staff/stories/${s.id}`,
        source: r ? (r.change ? `change ${r.change}` : 'response') : 'story',
        author: null,
        services: svcs.map((x) => ({ code: x.code, name: x.name })),
        themes: themeLabels(s.themes),
        sentiment: r ? null : s.sentiment,
        sentimentWord: r ? null : (SENTIMENT_WORDS[s.sentiment ?? ''] ?? null),
        negative: !r && isNegative(s.sentiment),
        praise: !r && isPraise(s.sentiment),
        at: e.createdAt,
      };
      out.push({ ...base, item: card, paths: svcs.map((x) => x.path) });
      continue;
    }
    if (e.type === 'mention.received' || e.type === 'mention.updated') {
      const m = mentions.find((x) => x.id === e.subject);
      if (!m) continue;
      if (m.deleted_at) {
        out.push({ ...base, type: 'mention.deleted', paths: [] });
        continue;
      }
      const svcs = mentionServices.filter((x) => x.owner === m.id);
      out.push({
        ...base,
        paths: svcs.map((x) => x.path),
        item: {
          kind: 'mention',
          id: m.id,
          title: `${m.author} on ${m.source}`,
          text: excerpt(m.text),
          url: `/staff/mentions/${m.id}`,
          source: m.source,
          author: m.author,
          services: svcs.map((x) => ({ code: x.code, name: x.name })),
          themes: themeLabels(m.themes),
          sentiment: m.sentiment,
          sentimentWord: SENTIMENT_WORDS[m.sentiment ?? ''] ?? null,
          negative: isNegative(m.sentiment),
          praise: isPraise(m.sentiment),
          at: m.received_at,
        },
      });
      continue;
    }
    if (e.type === 'hotspot.detected') {
      const h = hotspots.find((x) => x.id === e.subject);
      if (!h) continue;
      const words = sharedWords((await hotspotEvidence(handle, h.id)).map((x) => x.text));
      out.push({
        ...base,
        paths: [h.path],
        item: {
          kind: 'hotspot',
          id: h.id,
          title: h.kind === 'duplicate' ? `The same problem told ${h.count} times at ${h.name}` : `${h.count} negative items about ${h.theme} at ${h.name}`,
          text: '',
          url: `/staff/hotspots/${h.id}`,
          source: null,
          author: null,
          services: [{ code: h.code, name: h.name }],
          ...(words.length ? { text: `People mention: ${words.join(', ')}` } : {}),
          themes: h.theme ? [h.theme] : [],
          sentiment: null,
          sentimentWord: null,
          negative: true,
          praise: false,
          at: h.detected_at,
        },
      });
    }
  }
  return out;
}

/** One server-sent event; the data never holds a raw newline, so one `data:` line carries it. */
export function sse(m: LiveMessage): string {
  const { paths: _paths, ...wire } = m;
  return `id: ${m.id}\nevent: ${m.type}\ndata: ${JSON.stringify(wire)}\n\n`;
}

/** Each message is serialised once, however many walls it goes to. */
const wireCache = new WeakMap<LiveMessage, string>();
function wire(m: LiveMessage): string {
  let s = wireCache.get(m);
  if (s === undefined) {
    s = sse(m);
    wireCache.set(m, s);
  }
  return s;
}

interface Client {
  res: ServerResponse;
  filter: LiveFilter;
  /** Messages that arrived while this client was still being replayed its backlog. */
  buffer: LiveMessage[] | null;
  lastSent: number;
}

const MAX_BUFFERED_BYTES = 1_000_000;
const REPLAY_LIMIT = 10_000;

export class LiveFeed {
  readonly hub: LiveHub;
  private readonly clients = new Set<Client>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly handle: DbHandle,
    private readonly log: Logger,
  ) {
    this.hub = new LiveHub(handle, log, { types: LIVE_TYPES });
    this.hub.subscribe((events) => void this.broadcast(events));
  }

  get size(): number {
    return this.clients.size;
  }

  async start(): Promise<void> {
    await this.hub.start();
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.res.write(': keep-alive\n\n');
    }, 15_000);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.hub.stop();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private async broadcast(events: StoredEvent[]): Promise<void> {
    if (!this.clients.size) return;
    let messages: LiveMessage[];
    try {
      messages = await toMessages(this.handle, events);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'live: could not read the items of new events');
      return;
    }
    for (const c of this.clients) {
      if (c.buffer) c.buffer.push(...messages);
      else this.send(c, messages);
    }
  }

  private send(c: Client, messages: LiveMessage[]): void {
    let chunk = '';
    for (const m of messages) {
      if (m.id <= c.lastSent || !passes(m, c.filter)) continue;
      chunk += wire(m);
      c.lastSent = m.id;
    }
    if (!chunk) return;
    c.res.write(chunk);
    // A client that does not read is let go; it reconnects with Last-Event-ID and misses nothing.
    if (c.res.writableLength > MAX_BUFFERED_BYTES) {
      this.log.info('live: dropping a client that does not keep up');
      c.res.destroy();
    }
  }

  /** Serves one connection: the backlog after `lastEventId` first, then everything new. */
  async attach(res: ServerResponse, filter: LiveFilter, lastEventId: number | null): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res, filter, buffer: [], lastSent: lastEventId ?? 0 };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    if (lastEventId === null) {
      // A first connection starts from now (the page already shows what came before).
      client.lastSent = this.hub.position;
    } else {
      let after = lastEventId;
      let replayed = 0;
      for (;;) {
        const batch = await eventsAfter(this.handle.db, { after, orgIds: [...filter.orgIds], types: [...LIVE_TYPES], limit: 500 });
        if (!batch.length) break;
        this.send(client, await toMessages(this.handle, batch));
        after = batch[batch.length - 1]!.id;
        client.lastSent = Math.max(client.lastSent, after);
        replayed += batch.length;
        if (replayed >= REPLAY_LIMIT) break;
      }
    }
    const buffered = client.buffer ?? [];
    client.buffer = null;
    this.send(client, buffered);
  }
}

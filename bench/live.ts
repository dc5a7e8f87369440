// Live updates under a thousand listeners: that many staff clients hold GET /api/v1/live open
// (Server-Sent Events) while a moderator publishes stories one at a time; each client notes when
// the story.published event for each story reaches it. The delay counts from the moment the
// moderator's decision request returned 200.
import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { keepAliveAgent, request } from './lib/http.ts';
import { summarise } from './lib/stats.ts';

export interface LiveOptions {
  baseUrl: string;
  /** An API key of a staff member of the organisation the stories are about. */
  listenerKey: string;
  moderatorKey: string;
  clients: number;
  /** Request bodies of POST /api/v1/stories (JSON), each naming a service of that organisation. */
  stories: readonly string[];
  spacingMs: number;
  /** A receipt later than this after publication counts as missed. */
  deadlineMs: number;
  log: (line: string) => void;
}

export type LiveOutcome =
  | { ok: true; clients: number; connectErrors: number; connectSeconds: number; p50: number; p99: number; max: number; missed: number; early: number; malformed: number; receipts: number }
  | { ok: false; reason: string };

class LiveStatusError extends Error {
  constructor(readonly status: number) {
    super(`GET /api/v1/live answered ${status}`);
  }
}

/** One listener: an open event stream and the first time each published story reached it. */
class LiveClient {
  readonly received = new Map<string, number>();
  malformed = 0;
  private req: http.ClientRequest | undefined;

  connect(url: string, agent: http.Agent, key: string): Promise<void> {
    const parser = createParser({ onEvent: (ev) => this.onEvent(ev) });
    return new Promise((resolve, reject) => {
      this.req = http.get(url, { agent, headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new LiveStatusError(res.statusCode ?? 0));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => parser.feed(chunk));
        // A stream the server ends is noticed as missed events, not as an error here.
        res.on('error', () => {});
        resolve();
      });
      this.req.on('error', reject);
    });
  }

  /** The contract: an id line, an event line, and JSON data with at least id, type and subject. */
  private onEvent(ev: EventSourceMessage): void {
    const at = performance.now();
    let data: { id?: unknown; type?: unknown; subject?: unknown };
    try {
      data = JSON.parse(ev.data) as typeof data;
    } catch {
      this.malformed++;
      return;
    }
    if (!ev.id || !ev.event || data.id === undefined || typeof data.type !== 'string' || typeof data.subject !== 'string') this.malformed++;
    if (ev.event === 'story.published' && typeof data.subject === 'string' && !this.received.has(data.subject)) this.received.set(data.subject, at);
  }

  close(): void {
    this.req?.destroy();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` for 0..count-1 with at most `width` at once (a thousand SYNs at once overflow backlogs). */
async function inPool(count: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, count) }, async () => {
    while (next < count) await fn(next++);
  }));
}

async function connectAll(o: LiveOptions, agent: http.Agent): Promise<{ clients: LiveClient[]; errors: number }> {
  const url = `${o.baseUrl}/api/v1/live`;
  const clients = Array.from({ length: o.clients }, () => new LiveClient());
  // One first, alone: a missing endpoint or a refused key should say so once, not a thousand times.
  await clients[0]!.connect(url, agent, o.listenerKey);
  let errors = 0;
  await inPool(o.clients - 1, 50, async (i) => {
    await clients[i + 1]!.connect(url, agent, o.listenerKey).catch(() => errors++);
  });
  return { clients, errors };
}

/** Tells and publishes the stories one at a time (once checked); returns when each decision returned 200. */
async function publishStories(o: LiveOptions): Promise<Map<string, number>> {
  const agent = keepAliveAgent(2);
  const published = new Map<string, number>();
  try {
    for (const body of o.stories) {
      const tick = performance.now();
      const told = await request(`${o.baseUrl}/api/v1/stories`, { agent, method: 'POST', json: JSON.parse(body) });
      if (told.status !== 201) throw new Error(`POST /api/v1/stories answered ${told.status}: ${told.body.slice(0, 200)}`);
      const { id } = JSON.parse(told.body) as { id: string };
      // A story is checked just after it is told (a job); until then the decision is refused (409
      // not_checked), as it would be for a moderator who clicked that fast.
      const decide = () => request(`${o.baseUrl}/api/v1/moderation/stories/${id}/decision`, { agent, method: 'POST', headers: { authorization: `Bearer ${o.moderatorKey}` }, json: { action: 'publish' } });
      let decided = await decide();
      for (const until = performance.now() + 10_000; decided.status === 409 && decided.body.includes('not_checked') && performance.now() < until; decided = await decide()) await sleep(5);
      const at = performance.now();
      if (decided.status !== 200) throw new Error(`publishing ${id} answered ${decided.status}: ${decided.body.slice(0, 200)}`);
      if ((JSON.parse(decided.body) as { moderation?: string }).moderation !== 'published') throw new Error(`publishing ${id} did not publish it now (a review window?): ${decided.body}`);
      published.set(id, at);
      await sleep(Math.max(0, o.spacingMs - (performance.now() - tick)));
    }
  } finally {
    agent.destroy();
  }
  return published;
}

/** Waits until every client has every story, or the deadline after the last publication passes. */
async function awaitReceipts(clients: readonly LiveClient[], published: Map<string, number>, deadlineMs: number): Promise<void> {
  const last = Math.max(...published.values());
  const ids = [...published.keys()];
  // Counted, not searched for: this runs every 50 ms on the cores the server is measured on.
  const all = () => clients.reduce((n, c) => n + c.received.size, 0) >= clients.length * ids.length && clients.every((c) => ids.every((id) => c.received.has(id)));
  while (performance.now() < last + deadlineMs && !all()) await sleep(50);
}

function tally(clients: readonly LiveClient[], published: Map<string, number>, o: LiveOptions) {
  const delays: number[] = [];
  let missed = 0;
  let early = 0;
  let idx = 0;
  for (const [id, at] of published) {
    if (process.env.LIVE_DEBUG) {
      const ds = clients.map((c) => (c.received.get(id) ?? NaN) - at).filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
      process.stderr.write(`story ${idx++}: min ${ds[0]?.toFixed(0)} p50 ${ds[Math.floor(ds.length / 2)]?.toFixed(0)} max ${ds[ds.length - 1]?.toFixed(0)}\n`);
    }
    for (const c of clients) {
      const got = c.received.get(id);
      if (got === undefined || got - at > o.deadlineMs) {
        missed++;
        continue;
      }
      // The event may overtake the decision's own answer; that is no delay at all.
      if (got < at) early++;
      delays.push(Math.max(0, got - at));
    }
  }
  return { delays, missed, early };
}

export async function measureLive(o: LiveOptions): Promise<LiveOutcome> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.clients + 10 });
  const t0 = performance.now();
  let clients: LiveClient[] = [];
  try {
    const connected = await connectAll(o, agent);
    clients = connected.clients;
    const connectSeconds = (performance.now() - t0) / 1000;
    o.log(`live: ${o.clients - connected.errors} of ${o.clients} listeners connected in ${connectSeconds.toFixed(1)} s; publishing ${o.stories.length} stories`);
    // Give the server a moment to register the last streams before the first publication.
    await sleep(500);
    const published = await publishStories(o);
    await awaitReceipts(clients, published, o.deadlineMs);
    const { delays, missed, early } = tally(clients, published, o);
    const s = summarise(delays);
    const malformed = clients.reduce((a, c) => a + c.malformed, 0);
    return { ok: true, clients: o.clients, connectErrors: connected.errors, connectSeconds, p50: s.p50, p99: s.p99, max: s.max, missed, early, malformed, receipts: delays.length };
  } catch (err) {
    if (err instanceof LiveStatusError) return { ok: false, reason: err.message };
    throw err;
  } finally {
    for (const c of clients) c.close();
    agent.destroy();
  }
}

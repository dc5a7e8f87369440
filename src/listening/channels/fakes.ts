/**
 * Local stand-ins for Mastodon, Bluesky's Jetstream and the X API v2, speaking the same
 * protocols with payloads in the real formats, for the connectors' tests and any integration
 * test that wants a social network without the network. Each listens on 127.0.0.1 (port 0),
 * keeps its posts in memory, keeps streams open until told to drop them, and records what it
 * was asked so that tests can check the requests as well as the deliveries.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { ConnectorSink, IncomingPost, Source } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Shared plumbing
// ---------------------------------------------------------------------------------------------

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

async function shutDown(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function byIdDescending<T extends { id: string }>(a: T, b: T): number {
  const difference = BigInt(b.id) - BigInt(a.id);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

/** A snowflake of the kind Mastodon and X use: milliseconds shifted left, then a sequence. */
function snowflakeNow(): bigint {
  return BigInt(Date.now()) << 16n;
}

/** Request headers the fake saw, one entry per request, `''` when absent. */
function authorizationOf(req: IncomingMessage): string {
  return req.headers.authorization ?? '';
}

// ---------------------------------------------------------------------------------------------
// A sink that remembers what it was given
// ---------------------------------------------------------------------------------------------

export interface RecordingSink extends ConnectorSink {
  upserts: IncomingPost[];
  removes: Array<{ source: Source; externalId: string }>;
  cursors: string[];
  /** Every call, in order, for "nothing happened after stop()" checks. */
  calls: number;
  /** Make the next `count` upserts throw, as a database outage would. */
  failNextUpserts(count: number): void;
}

export function createRecordingSink(): RecordingSink {
  let failuresLeft = 0;
  const sink: RecordingSink = {
    upserts: [],
    removes: [],
    cursors: [],
    calls: 0,
    failNextUpserts(count) {
      failuresLeft = count;
    },
    async upsert(post) {
      sink.calls += 1;
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw new Error('sink unavailable');
      }
      sink.upserts.push(post);
    },
    async remove(source, externalId) {
      sink.calls += 1;
      sink.removes.push({ source, externalId });
    },
    async saveCursor(cursor) {
      sink.calls += 1;
      sink.cursors.push(cursor);
    },
  };
  return sink;
}

// ---------------------------------------------------------------------------------------------
// Mastodon
// ---------------------------------------------------------------------------------------------

export interface MastodonAccountJson {
  id: string;
  username: string;
  acct: string;
  display_name: string;
  locked: boolean;
  bot: boolean;
  group: boolean;
  created_at: string;
  note: string;
  url: string;
  uri: string;
  avatar: string;
  avatar_static: string;
  followers_count: number;
  following_count: number;
  statuses_count: number;
  emojis: unknown[];
  fields: unknown[];
}

export interface MastodonStatusJson {
  id: string;
  created_at: string;
  in_reply_to_id: string | null;
  in_reply_to_account_id: string | null;
  sensitive: boolean;
  spoiler_text: string;
  visibility: 'public';
  language: string;
  uri: string;
  url: string;
  replies_count: number;
  reblogs_count: number;
  favourites_count: number;
  edited_at: string | null;
  content: string;
  reblog: null;
  application: { name: string; website: string | null } | null;
  account: MastodonAccountJson;
  media_attachments: unknown[];
  mentions: unknown[];
  tags: Array<{ name: string; url: string }>;
  emojis: unknown[];
  card: null;
  poll: null;
}

export interface FakeStatusInput {
  /** Plain text; a blank line starts a new paragraph, a newline becomes `<br />`. */
  text: string;
  /** Hashtags as the author typed them (`Ward7LGI`), appended to the text as Mastodon links. */
  tags: string[];
  /** `alice` for a local account, `bob@other.example` for a remote one. */
  acct?: string;
  spoilerText?: string;
  /** Normally the next snowflake. */
  id?: string;
}

export interface FakeMastodonOptions {
  token?: string;
  /** The instance's public domain, used in status and account URLs. */
  domain?: string;
  /** The first status id handed out (then +1 each); a snowflake from the clock by default. */
  firstId?: bigint;
  /** Serve streaming from a second server (another origin) and redirect there, as big instances do. */
  separateStreamingHost?: boolean;
  /** Send `:thump` on every stream this often; 0 for never (tests call `heartbeat()`). */
  heartbeatMs?: number;
}

export interface FakeMastodon {
  url: string;
  token: string;
  /** The streaming host's URL when `separateStreamingHost` is set, else the same as `url`. */
  streamingUrl: string;
  /** Stores a status (visible to timeline requests) without telling any stream. */
  addStatus(input: FakeStatusInput): MastodonStatusJson;
  /** Stores a status and sends it as `update` to every open stream of one of its tags. */
  publish(input: FakeStatusInput): MastodonStatusJson;
  /** Replaces a status's text, sets `edited_at`, and sends it as `status.update`. */
  edit(id: string, text: string): MastodonStatusJson;
  /** Deletes a status and sends `delete` with its bare id. */
  remove(id: string): void;
  /** Sends the `:thump` heartbeat comment to every open stream. */
  heartbeat(): void;
  /** Cuts every open stream connection abruptly. */
  dropStreams(): void;
  openStreamCount(): number;
  statuses(): MastodonStatusJson[];
  seen: {
    /** The Authorization header of every request, in order (`''` when missing). */
    authorizations: string[];
    /** The query string (without `?`) of every timeline request that was answered. */
    backfillQueries: string[];
    /** The `tag` of every stream that was opened. */
    streamTags: string[];
    /** Requests answered 401. */
    unauthorized: number;
    /** Stream requests answered with a redirect to the streaming host. */
    redirects: number;
  };
  close(): Promise<void>;
}

interface OpenSseStream {
  tag: string;
  res: ServerResponse;
}

function hashtagLink(domain: string, tag: string): string {
  return `<a href="https://${domain}/tags/${encodeURIComponent(tag)}" class="mention hashtag" rel="tag">#<span>${escapeHtml(tag)}</span></a>`;
}

/** The HTML Mastodon would render for this text and these hashtags. */
export function mastodonContent(domain: string, text: string, tags: string[]): string {
  const paragraphs = text.split(/\n{2,}/).map((paragraph) => escapeHtml(paragraph).replace(/\n/g, '<br />'));
  const links = tags.map((tag) => hashtagLink(domain, tag)).join(' ');
  if (links) paragraphs[paragraphs.length - 1] = `${paragraphs.at(-1) ?? ''} ${links}`.trim();
  return paragraphs.map((paragraph) => `<p>${paragraph}</p>`).join('');
}

function mastodonAccount(domain: string, acct: string): MastodonAccountJson {
  const [username = acct, host = domain] = acct.split('@');
  const profile = `https://${host}/@${username}`;
  return {
    id: String(100_000 + [...acct].reduce((sum, char) => sum + char.charCodeAt(0), 0)),
    username,
    acct,
    display_name: username,
    locked: false,
    bot: false,
    group: false,
    created_at: '2023-01-05T00:00:00.000Z',
    note: '<p></p>',
    url: profile,
    uri: `https://${host}/users/${username}`,
    avatar: `https://${domain}/avatars/original/missing.png`,
    avatar_static: `https://${domain}/avatars/original/missing.png`,
    followers_count: 12,
    following_count: 30,
    statuses_count: 57,
    emojis: [],
    fields: [],
  };
}

export async function startFakeMastodon(options: FakeMastodonOptions = {}): Promise<FakeMastodon> {
  const token = options.token ?? 'mastodon-test-token';
  const domain = options.domain ?? 'm.example';
  let nextId = options.firstId ?? snowflakeNow();
  const store = new Map<string, MastodonStatusJson>();
  const streams = new Set<OpenSseStream>();
  const seen: FakeMastodon['seen'] = { authorizations: [], backfillQueries: [], streamTags: [], unauthorized: 0, redirects: 0 };

  const statusHasTag = (status: MastodonStatusJson, tag: string): boolean =>
    status.tags.some((candidate) => candidate.name.toLowerCase() === tag.toLowerCase());

  function refuse(res: ServerResponse): void {
    seen.unauthorized += 1;
    sendJson(res, 401, { error: 'The access token is invalid' }, {
      'www-authenticate': 'Bearer realm="Doorkeeper", error="invalid_token", error_description="The access token is invalid"',
    });
  }

  /** Mastodon's paging: max_id/since_id cut the range, min_id pages forward from just after it. */
  function timelinePage(tag: string, query: URLSearchParams): MastodonStatusJson[] {
    const limit = Math.min(40, Math.max(1, Number(query.get('limit') ?? 20) || 20));
    let list = [...store.values()].filter((status) => statusHasTag(status, tag)).sort(byIdDescending);
    const maxId = query.get('max_id');
    const sinceId = query.get('since_id');
    const minId = query.get('min_id');
    if (maxId) list = list.filter((status) => BigInt(status.id) < BigInt(maxId));
    if (sinceId) list = list.filter((status) => BigInt(status.id) > BigInt(sinceId));
    if (minId) {
      // The `limit` statuses right after min_id, still answered newest first.
      return list.filter((status) => BigInt(status.id) > BigInt(minId)).slice(-limit);
    }
    return list.slice(0, limit);
  }

  function serveTimeline(res: ServerResponse, url: URL, tag: string): void {
    seen.backfillQueries.push(url.search.replace(/^\?/, ''));
    const page = timelinePage(tag, url.searchParams);
    const headers: Record<string, string> = {};
    const newest = page[0];
    const oldest = page.at(-1);
    if (newest && oldest) {
      const base = `${baseUrl}/api/v1/timelines/tag/${encodeURIComponent(tag)}`;
      headers.link = `<${base}?max_id=${oldest.id}>; rel="next", <${base}?min_id=${newest.id}>; rel="prev"`;
    }
    sendJson(res, 200, page, headers);
  }

  function openStream(res: ServerResponse, tag: string): void {
    seen.streamTags.push(tag);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'transfer-encoding': 'chunked' });
    // Mastodon's streaming server greets with a comment before any event.
    res.write(':)\n');
    const stream = { tag, res };
    streams.add(stream);
    res.on('close', () => streams.delete(stream));
  }

  function handle(req: IncomingMessage, res: ServerResponse, isStreamingHost: boolean): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    seen.authorizations.push(authorizationOf(req));
    if (url.pathname === '/api/v1/streaming/hashtag' && options.separateStreamingHost && !isStreamingHost) {
      seen.redirects += 1;
      res.writeHead(302, { location: `${streamingUrl}${url.pathname}${url.search}` });
      res.end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) return refuse(res);
    const timeline = /^\/api\/v1\/timelines\/tag\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && timeline?.[1]) return serveTimeline(res, url, decodeURIComponent(timeline[1]));
    if (req.method === 'GET' && url.pathname === '/api/v1/streaming/hashtag') {
      const tag = url.searchParams.get('tag');
      if (!tag) return sendJson(res, 400, { error: 'Missing tag name' });
      return openStream(res, tag);
    }
    sendJson(res, 404, { error: 'Record not found' });
  }

  function sendEvent(event: string, data: string, status: MastodonStatusJson | null): void {
    for (const stream of streams) {
      if (status && !statusHasTag(status, stream.tag)) continue;
      stream.res.write(`event: ${event}\ndata: ${data}\n\n`);
    }
  }

  function makeStatus(input: FakeStatusInput): MastodonStatusJson {
    const id = input.id ?? String(nextId++);
    const acct = input.acct ?? 'alice';
    const account = mastodonAccount(domain, acct);
    return {
      id,
      created_at: new Date().toISOString(),
      in_reply_to_id: null,
      in_reply_to_account_id: null,
      sensitive: Boolean(input.spoilerText),
      spoiler_text: input.spoilerText ?? '',
      visibility: 'public',
      language: 'en',
      uri: `${account.uri}/statuses/${id}`,
      url: `${account.url}/${id}`,
      replies_count: 0,
      reblogs_count: 0,
      favourites_count: 0,
      edited_at: null,
      content: mastodonContent(domain, input.text, input.tags),
      reblog: null,
      application: acct.includes('@') ? null : { name: 'Web', website: null },
      account,
      media_attachments: [],
      mentions: [],
      tags: input.tags.map((tag) => ({ name: tag, url: `https://${domain}/tags/${encodeURIComponent(tag.toLowerCase())}` })),
      emojis: [],
      card: null,
      poll: null,
    };
  }

  const server = http.createServer((req, res) => handle(req, res, false));
  const baseUrl = await listen(server);
  const streamingServer = options.separateStreamingHost ? http.createServer((req, res) => handle(req, res, true)) : null;
  const streamingUrl = streamingServer ? await listen(streamingServer) : baseUrl;
  const heartbeat = (): void => {
    for (const stream of streams) stream.res.write(':thump\n');
  };
  const heartbeatTimer = options.heartbeatMs ? setInterval(heartbeat, options.heartbeatMs) : null;
  heartbeatTimer?.unref();

  const addStatus = (input: FakeStatusInput): MastodonStatusJson => {
    const status = makeStatus(input);
    store.set(status.id, status);
    return status;
  };

  return {
    url: baseUrl,
    token,
    streamingUrl,
    seen,
    addStatus,
    publish(input) {
      const status = addStatus(input);
      sendEvent('update', JSON.stringify(status), status);
      return status;
    },
    edit(id, text) {
      const previous = store.get(id);
      if (!previous) throw new Error(`no status ${id}`);
      const tags = previous.tags.map((tag) => tag.name);
      const edited = { ...previous, content: mastodonContent(domain, text, tags), edited_at: new Date().toISOString() };
      store.set(id, edited);
      sendEvent('status.update', JSON.stringify(edited), edited);
      return edited;
    },
    remove(id) {
      const status = store.get(id) ?? null;
      store.delete(id);
      sendEvent('delete', id, status);
    },
    heartbeat,
    dropStreams() {
      for (const stream of streams) stream.res.destroy();
      streams.clear();
    },
    openStreamCount: () => streams.size,
    statuses: () => [...store.values()].sort(byIdDescending),
    async close() {
      if (heartbeatTimer) clearInterval(heartbeatTimer);
      for (const stream of streams) stream.res.destroy();
      await shutDown(server);
      if (streamingServer) await shutDown(streamingServer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Bluesky Jetstream
// ---------------------------------------------------------------------------------------------

export interface JetstreamFacet {
  index: { byteStart: number; byteEnd: number };
  features: Array<{ $type: 'app.bsky.richtext.facet#tag'; tag: string }>;
}

export interface JetstreamPostRecord {
  $type: 'app.bsky.feed.post';
  createdAt: string;
  langs: string[];
  text: string;
  facets?: JetstreamFacet[];
}

export type JetstreamEvent =
  | {
      did: string;
      time_us: number;
      kind: 'commit';
      commit:
        | {
            rev: string;
            operation: 'create' | 'update';
            collection: string;
            rkey: string;
            record: JetstreamPostRecord;
            cid: string;
          }
        | { rev: string; operation: 'delete'; collection: string; rkey: string };
    }
  | { did: string; time_us: number; kind: 'identity'; identity: { did: string; handle: string; seq: number; time: string } }
  | { did: string; time_us: number; kind: 'account'; account: { active: boolean; did: string; seq: number; time: string } };

export interface FakePostInput {
  did?: string;
  rkey?: string;
  /** The text as typed; every tag in `tags` is appended as `#tag` and marked by a tag facet. */
  text: string;
  tags?: string[];
  createdAt?: string;
}

export interface FakeJetstream {
  /** The `ws://…/subscribe` endpoint. */
  url: string;
  /** Emits a `create` commit of an app.bsky.feed.post. */
  post(input: FakePostInput): JetstreamEvent & { kind: 'commit' };
  /** Emits an `update` commit replacing the post's record. */
  update(did: string, rkey: string, input: Omit<FakePostInput, 'did' | 'rkey'>): JetstreamEvent & { kind: 'commit' };
  /** Emits a `delete` commit (which, as in Jetstream, carries no record). */
  deletePost(did: string, rkey: string): JetstreamEvent & { kind: 'commit' };
  identity(did: string, handle: string): JetstreamEvent;
  account(did: string, active: boolean): JetstreamEvent;
  /** Sends any event to every client whose filter wants it, and keeps it for cursor replays. */
  emit(event: JetstreamEvent): void;
  /** Terminates every client connection. */
  dropConnections(): void;
  clientCount(): number;
  events(): JetstreamEvent[];
  seen: {
    /** The query string (without `?`) of every websocket connection. */
    connectionQueries: string[];
  };
  close(): Promise<void>;
}

const BASE32_SORTABLE = '234567abcdefghijklmnopqrstuvwxyz';
const BASE32_LOWER = 'abcdefghijklmnopqrstuvwxyz234567';

/** An atproto TID (record keys, revisions): 53 bits of microseconds and 10 of clock id, base32-sortable. */
function tid(timeUs: number): string {
  let value = (BigInt(timeUs) << 10n) | BigInt(Math.floor(Math.random() * 1024));
  let text = '';
  for (let index = 0; index < 13; index += 1) {
    text = BASE32_SORTABLE.charAt(Number(value & 31n)) + text;
    value >>= 5n;
  }
  return text;
}

function randomBase32(length: number): string {
  return [...randomBytes(length)].map((byte) => BASE32_LOWER.charAt(byte % 32)).join('');
}

export function randomDid(): string {
  return `did:plc:${randomBase32(24)}`;
}

/** The text with `#tag` appended for each tag, and facets giving their UTF-8 byte ranges. */
export function textWithTagFacets(text: string, tags: string[]): { text: string; facets: JetstreamFacet[] } {
  let full = text;
  const facets: JetstreamFacet[] = [];
  for (const tag of tags) {
    const prefix = full ? `${full} ` : '';
    const byteStart = Buffer.byteLength(prefix);
    full = `${prefix}#${tag}`;
    facets.push({
      index: { byteStart, byteEnd: Buffer.byteLength(full) },
      features: [{ $type: 'app.bsky.richtext.facet#tag', tag }],
    });
  }
  return { text: full, facets };
}

export async function startFakeJetstream(): Promise<FakeJetstream> {
  const server = http.createServer((_req, res) => sendJson(res, 404, { error: 'not found' }));
  const wss = new WebSocketServer({ server, path: '/subscribe' });
  const clients = new Map<WebSocket, { collections: string[] }>();
  const log: JetstreamEvent[] = [];
  const seen: FakeJetstream['seen'] = { connectionQueries: [] };
  let lastTimeUs = 0;
  let seq = 1_000_000;

  const nextTimeUs = (): number => {
    lastTimeUs = Math.max(Date.now() * 1000, lastTimeUs + 1);
    return lastTimeUs;
  };

  const wants = (collections: string[], event: JetstreamEvent): boolean =>
    event.kind !== 'commit' || collections.length === 0 || collections.includes(event.commit.collection);

  wss.on('connection', (socket, req) => {
    const url = new URL(req.url ?? '/', 'ws://fake');
    seen.connectionQueries.push(url.search.replace(/^\?/, ''));
    const collections = url.searchParams.getAll('wantedCollections');
    const cursor = url.searchParams.get('cursor');
    clients.set(socket, { collections });
    socket.on('close', () => clients.delete(socket));
    // With a cursor Jetstream first replays everything from that time, then goes live.
    if (cursor !== null) {
      for (const event of log) {
        if (event.time_us >= Number(cursor) && wants(collections, event)) socket.send(JSON.stringify(event));
      }
    }
  });

  const emit = (event: JetstreamEvent): void => {
    log.push(event);
    const text = JSON.stringify(event);
    for (const [socket, filter] of clients) {
      if (socket.readyState === socket.OPEN && wants(filter.collections, event)) socket.send(text);
    }
  };

  function record(input: Omit<FakePostInput, 'did' | 'rkey'>, timeUs: number): JetstreamPostRecord {
    const { text, facets } = textWithTagFacets(input.text, input.tags ?? []);
    return {
      $type: 'app.bsky.feed.post',
      createdAt: input.createdAt ?? new Date(Math.floor(timeUs / 1000)).toISOString(),
      langs: ['en'],
      text,
      ...(facets.length > 0 ? { facets } : {}),
    };
  }

  function commit(
    did: string,
    rkey: string | undefined,
    operation: 'create' | 'update',
    input: Omit<FakePostInput, 'did' | 'rkey'>,
  ): JetstreamEvent & { kind: 'commit' } {
    const timeUs = nextTimeUs();
    const event = {
      did,
      time_us: timeUs,
      kind: 'commit' as const,
      commit: {
        rev: tid(timeUs),
        operation,
        collection: 'app.bsky.feed.post',
        // A new post's key is a TID of its time, unique because the fake's clock never repeats.
        rkey: rkey ?? tid(timeUs),
        record: record(input, timeUs),
        cid: `bafyrei${randomBase32(52)}`,
      },
    };
    emit(event);
    return event;
  }

  const baseUrl = await listen(server);

  return {
    url: `${baseUrl.replace(/^http/, 'ws')}/subscribe`,
    seen,
    emit,
    post(input) {
      return commit(input.did ?? randomDid(), input.rkey, 'create', input);
    },
    update(did, rkey, input) {
      return commit(did, rkey, 'update', input);
    },
    deletePost(did, rkey) {
      const timeUs = nextTimeUs();
      const event = {
        did,
        time_us: timeUs,
        kind: 'commit' as const,
        commit: { rev: tid(timeUs), operation: 'delete' as const, collection: 'app.bsky.feed.post', rkey },
      };
      emit(event);
      return event;
    },
    identity(did, handle) {
      const timeUs = nextTimeUs();
      const event: JetstreamEvent = {
        did,
        time_us: timeUs,
        kind: 'identity',
        identity: { did, handle, seq: seq++, time: new Date().toISOString() },
      };
      emit(event);
      return event;
    },
    account(did, active) {
      const timeUs = nextTimeUs();
      const event: JetstreamEvent = {
        did,
        time_us: timeUs,
        kind: 'account',
        account: { active, did, seq: seq++, time: new Date().toISOString() },
      };
      emit(event);
      return event;
    },
    dropConnections() {
      for (const socket of clients.keys()) socket.terminate();
      clients.clear();
    },
    clientCount: () => clients.size,
    events: () => [...log],
    async close() {
      for (const socket of clients.keys()) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await shutDown(server);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// X API v2
// ---------------------------------------------------------------------------------------------

export interface XRule {
  id: string;
  value: string;
  tag?: string;
}

export interface XTweetJson {
  id: string;
  text: string;
  created_at?: string;
  author_id?: string;
  entities?: { hashtags: Array<{ start: number; end: number; tag: string }> };
  edit_history_tweet_ids: string[];
}

export interface XUserJson {
  id: string;
  name: string;
  username: string;
}

export interface FakeTweetInput {
  /** Unescaped text; hashtags are found in it as X does (`#word`). */
  text: string;
  username?: string;
  /** Write the stream line in two pieces 20 ms apart, as TCP may split it. */
  splitAcrossWrites?: boolean;
}

export interface FakeXOptions {
  token?: string;
  firstId?: bigint;
  /** Send the `\r\n` keep-alive this often; 0 for never (tests call `keepAlive()`). */
  keepAliveMs?: number;
}

export interface FakeX {
  url: string;
  token: string;
  /** Adds a rule directly, as another tool using the same app would. */
  addRule(value: string, tag?: string): XRule;
  rules(): XRule[];
  /** Posts a tweet: stored for recent search, streamed to open streams if one of the rules matches. */
  tweet(input: FakeTweetInput): XTweetJson;
  /** Edits a tweet: a new tweet whose edit history starts with the original's id. */
  edit(id: string, text: string): XTweetJson;
  /** Writes the blank `\r\n` keep-alive line to every open stream. */
  keepAlive(): void;
  /** Cuts every open stream connection abruptly. */
  dropStreams(): void;
  /** The next `count` stream requests are answered 429, with `x-rate-limit-reset` if given (epoch s). */
  rateLimitStreams(count: number, resetEpochSeconds: number | null): void;
  openStreamCount(): number;
  seen: {
    authorizations: string[];
    ruleReads: number;
    /** The JSON bodies POSTed to the rules endpoint, in order. */
    rulePosts: unknown[];
    /** Query strings (without `?`) of recent-search requests that were answered. */
    searchQueries: string[];
    /** Query strings of stream requests, answered or not. */
    streamQueries: string[];
    /** Stream connections that were opened (answered 200). */
    streamConnections: number;
    rateLimited: number;
    unauthorized: number;
  };
  close(): Promise<void>;
}

interface StoredTweet {
  tweet: Required<XTweetJson>;
  user: XUserJson;
  /** Replaced by a later edit: recent search only returns the latest version. */
  superseded: boolean;
}

interface OpenXStream {
  res: ServerResponse;
  /** A line is half written: keep-alives wait, since X only sends them between messages. */
  midLine: boolean;
  fields: Set<string>;
  expandAuthor: boolean;
}

/** X escapes these three characters in tweet text. */
function escapeTweetText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Hashtag entities with code-point offsets into the unescaped text, as X computes them. */
function hashtagEntities(text: string): Array<{ start: number; end: number; tag: string }> {
  const entities: Array<{ start: number; end: number; tag: string }> = [];
  for (const match of text.matchAll(/#([\p{L}\p{N}_]+)/gu)) {
    const tag = match[1] ?? '';
    const start = [...text.slice(0, match.index)].length;
    entities.push({ start, end: start + 1 + [...tag].length, tag });
  }
  return entities;
}

/** The hashtags a rule such as `#a`, `(#a OR #b)` asks for; other operators are not modelled. */
function ruleHashtags(value: string): string[] {
  return [...value.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((match) => (match[1] ?? '').toLowerCase());
}

export async function startFakeX(options: FakeXOptions = {}): Promise<FakeX> {
  const token = options.token ?? 'x-test-bearer';
  let nextId = options.firstId ?? snowflakeNow() << 6n;
  let nextRuleId = 1_790_000_000_000_000_000n;
  const rules: XRule[] = [];
  const tweets: StoredTweet[] = [];
  const streams = new Set<OpenXStream>();
  let rateLimitsLeft = 0;
  let rateLimitReset: number | null = null;
  const seen: FakeX['seen'] = {
    authorizations: [],
    ruleReads: 0,
    rulePosts: [],
    searchQueries: [],
    streamQueries: [],
    streamConnections: 0,
    rateLimited: 0,
    unauthorized: 0,
  };
  const meta = (): { sent: string } => ({ sent: new Date().toISOString() });

  /** Shapes a tweet the way the request's fields ask: X leaves out whatever was not requested. */
  function shape(stored: StoredTweet, fields: Set<string>): XTweetJson {
    const { tweet } = stored;
    return {
      id: tweet.id,
      text: tweet.text,
      edit_history_tweet_ids: tweet.edit_history_tweet_ids,
      ...(fields.has('created_at') ? { created_at: tweet.created_at } : {}),
      ...(fields.has('author_id') ? { author_id: tweet.author_id } : {}),
      ...(fields.has('entities') && tweet.entities.hashtags.length > 0 ? { entities: tweet.entities } : {}),
    };
  }

  function matchingRules(stored: StoredTweet): XRule[] {
    const tags = new Set(stored.tweet.entities.hashtags.map((hashtag) => hashtag.tag.toLowerCase()));
    return rules.filter((rule) => ruleHashtags(rule.value).some((tag) => tags.has(tag)));
  }

  function streamTweet(stored: StoredTweet, split: boolean): void {
    const matched = matchingRules(stored);
    if (matched.length === 0) return;
    for (const stream of streams) {
      const message = {
        data: shape(stored, stream.fields),
        ...(stream.expandAuthor ? { includes: { users: [stored.user] } } : {}),
        matching_rules: matched.map((rule) => ({ id: rule.id, tag: rule.tag ?? '' })),
      };
      const line = `${JSON.stringify(message)}\r\n`;
      if (!split) {
        stream.res.write(line);
        continue;
      }
      const middle = Math.floor(line.length / 2);
      stream.res.write(line.slice(0, middle));
      stream.midLine = true;
      setTimeout(() => {
        stream.res.write(line.slice(middle));
        stream.midLine = false;
      }, 20);
    }
  }

  function refuse(res: ServerResponse): void {
    seen.unauthorized += 1;
    sendJson(res, 401, { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
  }

  function requestedFields(url: URL): { fields: Set<string>; expandAuthor: boolean } {
    return {
      fields: new Set((url.searchParams.get('tweet.fields') ?? '').split(',').filter(Boolean)),
      expandAuthor: (url.searchParams.get('expansions') ?? '').split(',').includes('author_id'),
    };
  }

  function serveRules(res: ServerResponse): void {
    seen.ruleReads += 1;
    const data = rules.map((rule) => ({ ...rule }));
    sendJson(res, 200, data.length > 0 ? { data, meta: { ...meta(), result_count: data.length } } : { meta: { ...meta(), result_count: 0 } });
  }

  function changeRules(res: ServerResponse, text: string): void {
    let body: { add?: Array<{ value?: unknown; tag?: unknown }>; delete?: { ids?: unknown } };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return sendJson(res, 400, { title: 'Invalid Request', detail: 'The request body is not JSON', type: 'https://api.twitter.com/2/problems/invalid-request' });
    }
    seen.rulePosts.push(body);
    if (body.add && body.delete) {
      return sendJson(res, 400, { title: 'Invalid Request', detail: 'Either add or delete, not both', type: 'https://api.twitter.com/2/problems/invalid-request' });
    }
    if (body.delete) {
      const ids = Array.isArray(body.delete.ids) ? body.delete.ids.map(String) : [];
      const before = rules.length;
      for (const id of ids) {
        const index = rules.findIndex((rule) => rule.id === id);
        if (index >= 0) rules.splice(index, 1);
      }
      const deleted = before - rules.length;
      return sendJson(res, 200, { meta: { ...meta(), summary: { deleted, not_deleted: ids.length - deleted } } });
    }
    const created: XRule[] = [];
    const errors: unknown[] = [];
    for (const item of body.add ?? []) {
      const value = String(item.value ?? '');
      const existing = rules.find((rule) => rule.value === value);
      if (existing) {
        errors.push({ value, id: existing.id, title: 'DuplicateRule', type: 'https://api.twitter.com/2/problems/duplicate-rules' });
        continue;
      }
      const rule: XRule = { id: String(nextRuleId++), value, ...(typeof item.tag === 'string' ? { tag: item.tag } : {}) };
      rules.push(rule);
      created.push(rule);
    }
    const summary = { created: created.length, not_created: errors.length, valid: created.length, invalid: 0 };
    sendJson(res, 201, {
      ...(created.length > 0 ? { data: created } : {}),
      meta: { ...meta(), summary },
      ...(errors.length > 0 ? { errors } : {}),
    });
  }

  function serveSearch(res: ServerResponse, url: URL): void {
    seen.searchQueries.push(url.search.replace(/^\?/, ''));
    const wanted = new Set(ruleHashtags(url.searchParams.get('query') ?? ''));
    const sinceId = url.searchParams.get('since_id');
    const pageSize = Math.min(100, Math.max(10, Number(url.searchParams.get('max_results') ?? 10) || 10));
    const offset = Number(url.searchParams.get('next_token') ?? 0) || 0;
    const { fields, expandAuthor } = requestedFields(url);
    const found = tweets
      .filter((stored) => !stored.superseded)
      .filter((stored) => stored.tweet.entities.hashtags.some((hashtag) => wanted.has(hashtag.tag.toLowerCase())))
      .filter((stored) => sinceId === null || BigInt(stored.tweet.id) > BigInt(sinceId))
      .sort((a, b) => byIdDescending(a.tweet, b.tweet));
    const page = found.slice(offset, offset + pageSize);
    const newest = page[0];
    const oldest = page.at(-1);
    if (!newest || !oldest) return sendJson(res, 200, { meta: { result_count: 0 } });
    const users = [...new Map(page.map((stored) => [stored.user.id, stored.user])).values()];
    const more = offset + pageSize < found.length;
    sendJson(res, 200, {
      data: page.map((stored) => shape(stored, fields)),
      ...(expandAuthor ? { includes: { users } } : {}),
      meta: {
        newest_id: newest.tweet.id,
        oldest_id: oldest.tweet.id,
        result_count: page.length,
        ...(more ? { next_token: String(offset + pageSize) } : {}),
      },
    });
  }

  function openStream(res: ServerResponse, url: URL): void {
    if (rateLimitsLeft > 0) {
      rateLimitsLeft -= 1;
      seen.rateLimited += 1;
      return sendJson(res, 429, { title: 'Too Many Requests', detail: 'Too Many Requests', type: 'about:blank', status: 429 }, {
        'x-rate-limit-limit': '50',
        'x-rate-limit-remaining': '0',
        ...(rateLimitReset !== null ? { 'x-rate-limit-reset': String(rateLimitReset) } : {}),
      });
    }
    seen.streamConnections += 1;
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'transfer-encoding': 'chunked' });
    res.write('\r\n');
    const stream: OpenXStream = { res, midLine: false, ...requestedFields(url) };
    streams.add(stream);
    res.on('close', () => streams.delete(stream));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    seen.authorizations.push(authorizationOf(req));
    if (url.pathname === '/2/tweets/search/stream') seen.streamQueries.push(url.search.replace(/^\?/, ''));
    if (req.headers.authorization !== `Bearer ${token}`) return refuse(res);
    if (url.pathname === '/2/tweets/search/stream/rules' && req.method === 'GET') return serveRules(res);
    if (url.pathname === '/2/tweets/search/stream/rules' && req.method === 'POST') return changeRules(res, await readBody(req));
    if (url.pathname === '/2/tweets/search/stream' && req.method === 'GET') return openStream(res, url);
    if (url.pathname === '/2/tweets/search/recent' && req.method === 'GET') return serveSearch(res, url);
    sendJson(res, 404, { title: 'Not Found Error', type: 'https://api.twitter.com/2/problems/resource-not-found' });
  }

  function store(text: string, username: string, history: string[]): StoredTweet {
    const id = String(nextId);
    // Snowflakes grow by millisecond steps, not by one.
    nextId += 4_194_304n;
    const user: XUserJson = {
      id: String(10_000_000 + [...username].reduce((sum, char) => sum * 31 + char.charCodeAt(0), 7) % 90_000_000),
      name: username,
      username,
    };
    const stored: StoredTweet = {
      tweet: {
        id,
        text: escapeTweetText(text),
        created_at: new Date().toISOString(),
        author_id: user.id,
        entities: { hashtags: hashtagEntities(text) },
        edit_history_tweet_ids: [...history, id],
      },
      user,
      superseded: false,
    };
    tweets.push(stored);
    return stored;
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  const url = await listen(server);
  const keepAlive = (): void => {
    for (const stream of streams) if (!stream.midLine) stream.res.write('\r\n');
  };
  const keepAliveTimer = options.keepAliveMs ? setInterval(keepAlive, options.keepAliveMs) : null;
  keepAliveTimer?.unref();

  return {
    url,
    token,
    seen,
    addRule(value, tag) {
      const rule: XRule = { id: String(nextRuleId++), value, ...(tag === undefined ? {} : { tag }) };
      rules.push(rule);
      return rule;
    },
    rules: () => rules.map((rule) => ({ ...rule })),
    tweet(input) {
      const stored = store(input.text, input.username ?? 'ward_watcher', []);
      streamTweet(stored, input.splitAcrossWrites ?? false);
      return { ...stored.tweet };
    },
    edit(id, text) {
      const previous = tweets.find((stored) => stored.tweet.id === id && !stored.superseded);
      if (!previous) throw new Error(`no current tweet ${id}`);
      previous.superseded = true;
      const stored = store(text, previous.user.username, previous.tweet.edit_history_tweet_ids);
      streamTweet(stored, false);
      return { ...stored.tweet };
    },
    keepAlive,
    dropStreams() {
      for (const stream of streams) stream.res.destroy();
      streams.clear();
    },
    rateLimitStreams(count, resetEpochSeconds) {
      rateLimitsLeft = count;
      rateLimitReset = resetEpochSeconds;
    },
    openStreamCount: () => streams.size,
    async close() {
      if (keepAliveTimer) clearInterval(keepAliveTimer);
      for (const stream of streams) stream.res.destroy();
      await shutDown(server);
    },
  };
}

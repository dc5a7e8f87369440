/**
 * X (Twitter) API v2 filtered stream. The stream delivers whatever matches the app's rules, so
 * start-up first makes the rules say what Carevoice follows (one `#tag` rule per hashtag, labelled
 * `carevoice:TAG`, leaving any other rules of the app alone). On every reconnect the recent-search
 * endpoint fills in what was posted while the stream was down, from the highest tweet id seen.
 *
 * Deletes: the filtered stream never says that a tweet was deleted. X publishes deletions on its
 * separate compliance stream (and expects apps to honour them); this connector does not read it,
 * so `sink.remove` is never called from here.
 */
import { z } from 'zod';
import type { Connector, ConnectorOptions, IncomingPost, XConfig } from './types.ts';
import {
  Backoff,
  ChannelHttpError,
  DEFAULT_IDLE_TIMEOUT_MS,
  compareSnowflakes,
  decodeEntities,
  describeError,
  isSnowflake,
  keepReconnecting,
  maxSnowflake,
  normaliseTags,
  parseJsonMessage,
  rateLimitWaitMs,
  startIdleWatchdog,
} from './text.ts';

export const RULE_TAG_PREFIX = 'carevoice:';
const TWEET_FIELDS = 'created_at,entities,author_id,edit_history_tweet_ids';
/** The largest page recent search serves. */
const SEARCH_PAGE_SIZE = 100;
/** A backfill longer than this is an outage of days; recent search only reaches back 7 anyway. */
const MAX_SEARCH_PAGES = 50;

const ruleSchema = z.object({ id: z.string(), value: z.string(), tag: z.string().optional() });
type StreamRule = z.infer<typeof ruleSchema>;
const rulesResponseSchema = z.object({ data: z.array(ruleSchema).optional() });
const ruleChangeResponseSchema = z.object({
  errors: z.array(z.object({ title: z.string().optional(), value: z.string().optional() })).optional(),
});

const tweetSchema = z.object({
  id: z.string().regex(/^[0-9]+$/),
  text: z.string(),
  created_at: z.string().optional(),
  author_id: z.string().optional(),
  entities: z.object({ hashtags: z.array(z.object({ tag: z.string() })).optional() }).optional(),
  edit_history_tweet_ids: z.array(z.string()).optional(),
});
export type Tweet = z.infer<typeof tweetSchema>;

const includesSchema = z.object({ users: z.array(z.object({ id: z.string(), username: z.string() })).optional() });

const streamMessageSchema = z.object({
  data: tweetSchema.optional(),
  includes: includesSchema.optional(),
  errors: z.array(z.unknown()).optional(),
});

const searchResponseSchema = z.object({
  data: z.array(tweetSchema).optional(),
  includes: includesSchema.optional(),
  meta: z.object({ next_token: z.string().optional() }).optional(),
});

type Includes = z.infer<typeof includesSchema>;

function usernamesById(includes: Includes | undefined): Map<string, string> {
  return new Map((includes?.users ?? []).map((user) => [user.id, user.username]));
}

export function tweetHashtags(tweet: Tweet): string[] {
  return normaliseTags((tweet.entities?.hashtags ?? []).map((hashtag) => hashtag.tag));
}

/**
 * An edited tweet arrives as a new tweet with a new id; its edit history starts with the
 * original's id, which is the identity Carevoice keeps, so the edit replaces the first version.
 */
export function tweetToPost(tweet: Tweet, usernames: Map<string, string>): IncomingPost {
  const history = tweet.edit_history_tweet_ids ?? [];
  const originalId = history[0] ?? tweet.id;
  const username = tweet.author_id === undefined ? undefined : usernames.get(tweet.author_id);
  // For an edit, created_at is when the edit was made: the original's time is not in the payload.
  const createdAt = tweet.created_at ? new Date(tweet.created_at).toISOString() : new Date().toISOString();
  return {
    source: 'x',
    externalId: originalId,
    url: username ? `https://x.com/${username}/status/${tweet.id}` : `https://x.com/i/web/status/${tweet.id}`,
    author: username ? `@${username}` : (tweet.author_id ?? 'unknown'),
    // X escapes &, < and > in tweet text as entities.
    text: decodeEntities(tweet.text),
    tags: tweetHashtags(tweet),
    postedAt: createdAt,
    editedAt: history.length > 1 ? createdAt : null,
  };
}

export function ruleTag(tag: string): string {
  return `${RULE_TAG_PREFIX}${tag}`;
}

/** What to change so that the app's rules follow exactly `tags`, touching only Carevoice's own. */
export function planRuleChanges(
  existing: StreamRule[],
  tags: string[],
): { add: Array<{ value: string; tag: string }>; deleteIds: string[] } {
  const wantedValueByTag = new Map(tags.map((tag) => [ruleTag(tag), `#${tag}`]));
  const ours = existing.filter((rule) => rule.tag?.startsWith(RULE_TAG_PREFIX));
  const isCurrent = (rule: StreamRule): boolean =>
    rule.tag !== undefined && wantedValueByTag.get(rule.tag) === rule.value;
  const present = new Set(ours.filter(isCurrent).map((rule) => rule.tag));
  return {
    add: tags.filter((tag) => !present.has(ruleTag(tag))).map((tag) => ({ value: `#${tag}`, tag: ruleTag(tag) })),
    deleteIds: ours.filter((rule) => !isCurrent(rule)).map((rule) => rule.id),
  };
}

async function httpError(response: Response, what: string): Promise<ChannelHttpError> {
  const detail = (await response.text().catch(() => '')).slice(0, 200);
  const hint =
    response.status === 401 || response.status === 403 ? ': X refused the bearer token, check the channel settings' : '';
  return new ChannelHttpError(
    response.status,
    `${what} answered HTTP ${response.status}${hint}${detail ? ` (${detail})` : ''}`,
    response.status === 429 ? rateLimitWaitMs(response.headers.get('x-rate-limit-reset')) : null,
  );
}

export function createXConnector(opts: ConnectorOptions<XConfig>): Connector {
  const { config, sink, log } = opts;
  const fetchImpl = opts.fetch ?? fetch;
  const apiBase = config.apiBase.replace(/\/+$/, '');
  const tags = normaliseTags(config.tags);
  const wanted = new Set(tags);
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const headers = { authorization: `Bearer ${config.bearerToken}` };

  let highestSeen = opts.cursor !== null && isSnowflake(opts.cursor) ? opts.cursor : null;
  if (opts.cursor !== null && highestSeen === null) {
    log.warn({ cursor: opts.cursor }, 'x: ignoring a saved cursor that is not a tweet id');
  }
  let rulesSynced = false;
  let streaming = false;
  let controller: AbortController | null = null;
  let running: Promise<void> | null = null;

  async function requestJson(path: string, signal: AbortSignal, what: string, init: RequestInit = {}): Promise<unknown> {
    const response = await fetchImpl(`${apiBase}${path}`, {
      ...init,
      headers: { ...headers, ...(init.body ? { 'content-type': 'application/json' } : {}) },
      signal,
    });
    if (response.status < 200 || response.status >= 300) throw await httpError(response, what);
    return response.json();
  }

  async function changeRules(body: object, signal: AbortSignal): Promise<void> {
    const answer = ruleChangeResponseSchema.parse(
      await requestJson('/2/tweets/search/stream/rules', signal, 'changing the stream rules', {
        method: 'POST',
        body: JSON.stringify(body),
      }),
    );
    // A duplicate means another of the app's rules already says the same: the tweets still come.
    const problems = (answer.errors ?? []).filter((error) => error.title !== 'DuplicateRule');
    if (problems.length > 0) log.warn({ problems }, 'x: some stream rule changes were refused');
  }

  async function syncRules(signal: AbortSignal): Promise<void> {
    const existing = rulesResponseSchema.parse(
      await requestJson('/2/tweets/search/stream/rules', signal, 'reading the stream rules'),
    );
    const plan = planRuleChanges(existing.data ?? [], tags);
    // Deleting first frees a value whose label changed, so the add is not refused as a duplicate.
    if (plan.deleteIds.length > 0) await changeRules({ delete: { ids: plan.deleteIds } }, signal);
    if (plan.add.length > 0) await changeRules({ add: plan.add }, signal);
    log.info({ added: plan.add.length, deleted: plan.deleteIds.length }, 'x: stream rules in sync');
  }

  async function deliver(tweet: Tweet, usernames: Map<string, string>): Promise<void> {
    // The app's other rules feed the same stream; only tweets with our hashtags are ours.
    if (!tweetHashtags(tweet).some((tag) => wanted.has(tag))) return;
    await sink.upsert(tweetToPost(tweet, usernames));
    const next = maxSnowflake(highestSeen, tweet.id);
    if (next !== highestSeen) {
      highestSeen = next;
      await sink.saveCursor(next);
    }
  }

  function searchPath(sinceId: string, nextToken: string | null): string {
    const query = new URLSearchParams({
      query: `(${tags.map((tag) => `#${tag}`).join(' OR ')})`,
      since_id: sinceId,
      'tweet.fields': TWEET_FIELDS,
      expansions: 'author_id',
      'user.fields': 'username',
      max_results: String(SEARCH_PAGE_SIZE),
    });
    if (nextToken) query.set('next_token', nextToken);
    return `/2/tweets/search/recent?${query.toString()}`;
  }

  /** Everything since the highest id seen, all pages, delivered oldest first. */
  async function backfill(signal: AbortSignal): Promise<void> {
    if (highestSeen === null) return;
    const found: Array<{ tweet: Tweet; usernames: Map<string, string> }> = [];
    let nextToken: string | null = null;
    for (let page = 0; page < MAX_SEARCH_PAGES; page += 1) {
      const answer = searchResponseSchema.parse(
        await requestJson(searchPath(highestSeen, nextToken), signal, 'recent search'),
      );
      const usernames = usernamesById(answer.includes);
      for (const tweet of answer.data ?? []) found.push({ tweet, usernames });
      nextToken = answer.meta?.next_token ?? null;
      if (!nextToken) break;
    }
    found.sort((a, b) => compareSnowflakes(a.tweet.id, b.tweet.id));
    for (const { tweet, usernames } of found) await deliver(tweet, usernames);
  }

  async function openStream(signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const query = new URLSearchParams({
      'tweet.fields': TWEET_FIELDS,
      expansions: 'author_id',
      'user.fields': 'username',
    });
    const response = await fetchImpl(`${apiBase}/2/tweets/search/stream?${query.toString()}`, { headers, signal });
    if (response.status !== 200) throw await httpError(response, 'the filtered stream');
    if (!response.body) throw new Error('the filtered stream has no body');
    return response.body;
  }

  async function handleLine(line: string): Promise<void> {
    const value = parseJsonMessage(line, log, 'x');
    if (value === undefined) return;
    const message = streamMessageSchema.safeParse(value);
    if (!message.success) {
      log.warn({ issues: message.error.issues }, 'x: skipping a malformed stream message');
      return;
    }
    // X sends errors in the stream before an operational disconnect; the reconnect follows.
    if (message.data.errors) log.warn({ errors: message.data.errors }, 'x: the stream reported errors');
    if (message.data.data) await deliver(message.data.data, usernamesById(message.data.includes));
  }

  /** Newline-delimited JSON; the blank `\r\n` lines are keep-alives that only feed the watchdog. */
  async function readMessages(
    body: ReadableStream<Uint8Array>,
    signal: AbortSignal,
    watchdog: { touch(): void },
  ): Promise<void> {
    const decoder = new TextDecoder();
    const reader = body.getReader();
    let buffered = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        watchdog.touch();
        buffered += decoder.decode(value, { stream: true });
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          // After stop() nothing more reaches the sink; the next backfill finds what was left.
          if (signal.aborted) return;
          const trimmed = line.trim();
          if (trimmed) await handleLine(trimmed);
        }
        watchdog.touch();
      }
    } finally {
      reader.releaseLock();
    }
  }

  async function connectOnce(signal: AbortSignal, backoff: Backoff): Promise<void> {
    if (!rulesSynced) {
      await syncRules(signal);
      rulesSynced = true;
    }
    const connection = new AbortController();
    const connectionSignal = AbortSignal.any([signal, connection.signal]);
    const watchdog = startIdleWatchdog(idleTimeoutMs, () =>
      connection.abort(new Error(`the filtered stream was silent for ${idleTimeoutMs} ms`)),
    );
    try {
      const body = await openStream(connectionSignal);
      // Backfill once the stream is open, so tweets posted meanwhile wait in its buffer.
      await backfill(connectionSignal);
      streaming = true;
      backoff.reset();
      log.info({ sinceId: highestSeen }, 'x: streaming');
      await readMessages(body, connectionSignal, watchdog);
    } catch (error) {
      if (connection.signal.aborted && !signal.aborted) throw new Error(describeError(connection.signal.reason));
      throw error;
    } finally {
      streaming = false;
      watchdog.stop();
      connection.abort();
    }
  }

  return {
    start() {
      if (running) return;
      if (tags.length === 0) {
        log.warn('x: no hashtags configured; not connecting');
        return;
      }
      controller = new AbortController();
      const signal = controller.signal;
      const backoff = new Backoff(opts.minBackoffMs, opts.maxBackoffMs);
      running = keepReconnecting({ name: 'x', signal, backoff, log, connectOnce: () => connectOnce(signal, backoff) });
    },
    async stop() {
      controller?.abort();
      await running;
      running = null;
      controller = null;
    },
    get connected() {
      return streaming;
    },
  };
}

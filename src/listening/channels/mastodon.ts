/**
 * Mastodon: one server-sent-events stream per followed hashtag, with a backfill from the tag's
 * timeline on every (re)connect so that nothing posted while the stream was down is missed.
 *
 * Streaming:  GET {instance}/api/v1/streaming/hashtag?tag=TAG   (events: update, status.update, delete)
 * Backfill:   GET {instance}/api/v1/timelines/tag/TAG?min_id=LAST&limit=40
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { z } from 'zod';
import type { Connector, ConnectorOptions, IncomingPost, MastodonConfig } from './types.ts';
import {
  Backoff,
  ChannelHttpError,
  DEFAULT_IDLE_TIMEOUT_MS,
  compareSnowflakes,
  describeError,
  htmlToText,
  isSnowflake,
  keepReconnecting,
  maxSnowflake,
  normaliseTags,
  startIdleWatchdog,
} from './text.ts';

/** The largest page Mastodon serves from a timeline. */
const PAGE_LIMIT = 40;

const statusSchema = z.object({
  id: z.string().regex(/^[0-9]+$/),
  uri: z.string(),
  url: z.string().nullish(),
  created_at: z.string(),
  edited_at: z.string().nullish(),
  content: z.string(),
  spoiler_text: z.string().nullish(),
  reblog: z.unknown().nullish(),
  account: z.object({ acct: z.string() }),
  tags: z.array(z.object({ name: z.string() })).default([]),
});
export type MastodonStatus = z.infer<typeof statusSchema>;

/**
 * Reduces a Status to what Carevoice keeps. A local account's `acct` has no domain, so the
 * instance's host is added: the handle then means the same thing wherever it is shown. (An
 * instance whose handles use another domain than its web address would need /api/v2/instance.)
 */
export function statusToPost(status: MastodonStatus, instanceHost: string): IncomingPost {
  const acct = status.account.acct.includes('@') ? status.account.acct : `${status.account.acct}@${instanceHost}`;
  const body = htmlToText(status.content);
  // A content warning is part of what the author wrote, and often the gist of it. Unlike
  // content it is plain text already.
  const warning = status.spoiler_text?.trim() ?? '';
  return {
    source: 'mastodon',
    externalId: status.id,
    url: status.url ?? status.uri,
    author: `@${acct}`,
    text: warning ? `${warning}\n\n${body}` : body,
    tags: normaliseTags(status.tags.map((tag) => tag.name)),
    postedAt: new Date(status.created_at).toISOString(),
    editedAt: status.edited_at ? new Date(status.edited_at).toISOString() : null,
  };
}

/** Mastodon's `X-RateLimit-Reset` is an ISO-8601 time (unlike X's epoch seconds). */
function mastodonRateLimitWaitMs(header: string | null): number | null {
  if (header === null) return null;
  const resetAt = Date.parse(header);
  return Number.isNaN(resetAt) ? null : Math.max(0, resetAt - Date.now());
}

async function httpError(response: Response, what: string): Promise<ChannelHttpError> {
  const detail = (await response.text().catch(() => '')).slice(0, 200);
  const hint =
    response.status === 401 || response.status === 403
      ? ': the instance refused the access token, check the channel settings'
      : '';
  return new ChannelHttpError(
    response.status,
    `${what} answered HTTP ${response.status}${hint}${detail ? ` (${detail})` : ''}`,
    response.status === 429 ? mastodonRateLimitWaitMs(response.headers.get('x-ratelimit-reset')) : null,
  );
}

/** What each followed tag remembers between connections. */
interface TagState {
  tag: string;
  /**
   * The highest status id delivered for this tag (or the saved cursor): its backfill resumes
   * there. Kept per tag because another tag's newer posts say nothing about what this one missed.
   */
  resumeFrom: string | null;
}

export function createMastodonConnector(opts: ConnectorOptions<MastodonConfig>): Connector {
  const { config, sink, log } = opts;
  const fetchImpl = opts.fetch ?? fetch;
  const instance = config.instance.replace(/\/+$/, '');
  const instanceHost = new URL(instance).host;
  const tags = normaliseTags(config.tags);
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const authorization = `Bearer ${config.token}`;

  let highestSeen = validCursor(opts.cursor);
  let cursorSaves: Promise<void> = Promise.resolve();
  const liveTags = new Set<string>();
  let controller: AbortController | null = null;
  let running: Promise<unknown> | null = null;

  function validCursor(cursor: string | null): string | null {
    if (cursor === null || isSnowflake(cursor)) return cursor;
    log.warn({ cursor }, 'mastodon: ignoring a saved cursor that is not a status id');
    return null;
  }

  /**
   * The saved cursor is the highest id seen on any tag. Saves are chained so that two tags
   * advancing at once cannot land out of order and move the cursor backwards.
   */
  function advanceCursor(id: string): Promise<void> {
    const next = maxSnowflake(highestSeen, id);
    if (next === highestSeen) return cursorSaves;
    highestSeen = next;
    // A failed save is reported to the caller that awaited it; the next save still runs.
    cursorSaves = cursorSaves.catch(() => undefined).then(() => sink.saveCursor(next));
    return cursorSaves;
  }

  async function deliver(status: MastodonStatus, state: TagState): Promise<void> {
    // The tag timeline does not carry boosts, but a boost is not a new post if one ever appears.
    if (status.reblog) return;
    await sink.upsert(statusToPost(status, instanceHost));
    state.resumeFrom = maxSnowflake(state.resumeFrom, status.id);
    await advanceCursor(status.id);
  }

  function parseStatus(json: string, context: string): MastodonStatus | null {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch {
      log.warn({ context }, 'mastodon: skipping a status that is not JSON');
      return null;
    }
    const parsed = statusSchema.safeParse(value);
    if (!parsed.success) {
      log.warn({ context, issues: parsed.error.issues }, 'mastodon: skipping a malformed status');
      return null;
    }
    return parsed.data;
  }

  async function fetchTimelinePage(tag: string, minId: string | null, signal: AbortSignal): Promise<MastodonStatus[]> {
    const query = new URLSearchParams();
    if (minId !== null) query.set('min_id', minId);
    query.set('limit', String(PAGE_LIMIT));
    const url = `${instance}/api/v1/timelines/tag/${encodeURIComponent(tag)}?${query.toString()}`;
    const response = await fetchImpl(url, { headers: { authorization, accept: 'application/json' }, signal });
    if (response.status !== 200) throw await httpError(response, `the #${tag} timeline`);
    const body: unknown = await response.json();
    if (!Array.isArray(body)) throw new Error(`the #${tag} timeline did not answer with a list`);
    const statuses = body
      .map((item: unknown) => statusSchema.safeParse(item))
      .flatMap((parsed) => (parsed.success ? [parsed.data] : []));
    // Mastodon answers newest first even when paging forward with min_id; deliver oldest first.
    return statuses.sort((a, b) => compareSnowflakes(a.id, b.id));
  }

  /**
   * Catches up on the tag's timeline. Without any cursor only the latest page is read: the
   * history before Carevoice started listening is not ours to import in bulk.
   */
  async function backfill(state: TagState, signal: AbortSignal): Promise<void> {
    if (state.resumeFrom === null) {
      for (const status of await fetchTimelinePage(state.tag, null, signal)) await deliver(status, state);
      return;
    }
    let minId = state.resumeFrom;
    for (;;) {
      const page = await fetchTimelinePage(state.tag, minId, signal);
      const newest = page.at(-1);
      if (!newest) return;
      for (const status of page) await deliver(status, state);
      // A server that ignores min_id would hand back the same page for ever.
      if (compareSnowflakes(newest.id, minId) <= 0) {
        log.warn({ tag: state.tag, minId }, 'mastodon: the timeline did not move forward; ending backfill');
        return;
      }
      minId = newest.id;
    }
  }

  /**
   * Opens the stream, following one redirect by hand: an instance with a separate streaming host
   * redirects there, and fetch drops the Authorization header on a cross-origin redirect.
   */
  async function openStream(tag: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    let url = `${instance}/api/v1/streaming/hashtag?tag=${encodeURIComponent(tag)}`;
    for (let hop = 0; ; hop += 1) {
      const response = await fetchImpl(url, {
        headers: { authorization, accept: 'text/event-stream' },
        redirect: 'manual',
        signal,
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location && hop === 0) {
        const target = new URL(location, url);
        // Never follow a downgrade to clear text with the token.
        if (new URL(url).protocol === 'https:' && target.protocol !== 'https:') {
          throw new Error(`the #${tag} stream redirected to an insecure address ${target.origin}`);
        }
        await response.body?.cancel();
        url = target.toString();
        continue;
      }
      if (response.status !== 200) throw await httpError(response, `the #${tag} stream`);
      if (!response.body) throw new Error(`the #${tag} stream has no body`);
      return response.body;
    }
  }

  async function handleEvent(event: EventSourceMessage, state: TagState): Promise<void> {
    switch (event.event) {
      case 'update':
      case 'status.update': {
        const status = parseStatus(event.data, event.event);
        if (status) await deliver(status, state);
        return;
      }
      case 'delete': {
        // The payload is the bare status id, not JSON.
        const id = event.data.trim();
        if (isSnowflake(id)) await sink.remove('mastodon', id);
        return;
      }
      default:
        // notification, filters_changed, announcement...: not posts, and not sent on a tag stream.
        return;
    }
  }

  async function readEvents(
    body: ReadableStream<Uint8Array>,
    state: TagState,
    signal: AbortSignal,
    watchdog: { touch(): void },
  ): Promise<void> {
    const pending: EventSourceMessage[] = [];
    // Heartbeats (`:thump`) are comments: the parser drops them, the watchdog still counts them.
    const parser = createParser({
      onEvent: (event) => pending.push(event),
      onError: (error) => log.warn({ err: error, tag: state.tag }, 'mastodon: unreadable event'),
    });
    const decoder = new TextDecoder();
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        watchdog.touch();
        parser.feed(decoder.decode(value, { stream: true }));
        // Handled one at a time, in stream order: a delete must not overtake its update.
        for (const event of pending.splice(0)) {
          // After stop() nothing more reaches the sink; the backfill will find what was left.
          if (signal.aborted) return;
          await handleEvent(event, state);
        }
        watchdog.touch();
      }
    } finally {
      reader.releaseLock();
    }
  }

  async function connectOnce(state: TagState, signal: AbortSignal, backoff: Backoff): Promise<void> {
    const connection = new AbortController();
    const connectionSignal = AbortSignal.any([signal, connection.signal]);
    const watchdog = startIdleWatchdog(idleTimeoutMs, () =>
      connection.abort(new Error(`the #${state.tag} stream was silent for ${idleTimeoutMs} ms`)),
    );
    try {
      const body = await openStream(state.tag, connectionSignal);
      // Backfill only once the stream is open: whatever is posted meanwhile waits in the stream's
      // buffer, so there is no gap between the two (at worst a post arrives twice).
      await backfill(state, connectionSignal);
      liveTags.add(state.tag);
      backoff.reset();
      log.info({ tag: state.tag, resumeFrom: state.resumeFrom }, 'mastodon: streaming');
      await readEvents(body, state, connectionSignal, watchdog);
    } catch (error) {
      // Report why the watchdog cut the connection rather than a bare "aborted".
      if (connection.signal.aborted && !signal.aborted) throw new Error(describeError(connection.signal.reason));
      throw error;
    } finally {
      liveTags.delete(state.tag);
      watchdog.stop();
      connection.abort();
    }
  }

  function followTag(tag: string, signal: AbortSignal): Promise<void> {
    const state: TagState = { tag, resumeFrom: highestSeen };
    const backoff = new Backoff(opts.minBackoffMs, opts.maxBackoffMs);
    return keepReconnecting({
      name: `mastodon #${tag}`,
      signal,
      backoff,
      log,
      connectOnce: () => connectOnce(state, signal, backoff),
    });
  }

  return {
    start() {
      if (running) return;
      if (tags.length === 0) log.warn('mastodon: no hashtags configured; nothing to follow');
      controller = new AbortController();
      const signal = controller.signal;
      running = Promise.all(tags.map((tag) => followTag(tag, signal)));
    },
    async stop() {
      controller?.abort();
      await running;
      // A failed save is logged by whoever awaited it; stop only waits for it to settle.
      await cursorSaves.catch(() => undefined);
      running = null;
      controller = null;
    },
    get connected() {
      return tags.length > 0 && liveTags.size === tags.length;
    },
  };
}

/**
 * Bluesky through Jetstream: a websocket carrying every post committed on the network as JSON.
 * Hashtags are matched from the post's tag facets only (what the Bluesky app links as a tag),
 * never from the raw text. Jetstream can replay from a time cursor, so resuming is
 * `?cursor=TIME_US` and needs no separate backfill.
 */
import WebSocket from 'ws';
import { z } from 'zod';
import type { BlueskyConfig, Connector, ConnectorOptions, IncomingPost } from './types.ts';
import {
  Backoff,
  DEFAULT_IDLE_TIMEOUT_MS,
  describeError,
  keepReconnecting,
  normaliseTags,
  parseJsonMessage,
  startIdleWatchdog,
} from './text.ts';

const POST_COLLECTION = 'app.bsky.feed.post';
const TAG_FACET = 'app.bsky.richtext.facet#tag';
/** Resume this far before the saved cursor: events near the seam may have been half handled. */
const RESUME_OVERLAP_US = 5_000_000;
/** The cursor is saved at most this often: the firehose moves many times a second. */
const CURSOR_SAVE_INTERVAL_MS = 1_000;
/** Stop reading the socket while this many messages wait for the sink, resume below the low mark. */
const QUEUE_HIGH_WATER = 1_000;
const QUEUE_LOW_WATER = 100;

const envelopeSchema = z.object({
  did: z.string(),
  time_us: z.number().int().nonnegative(),
  kind: z.string(),
});

const commitSchema = z.object({
  operation: z.enum(['create', 'update', 'delete']),
  collection: z.string(),
  rkey: z.string(),
  record: z.unknown().optional(),
});

const postRecordSchema = z.object({
  text: z.string(),
  createdAt: z.string(),
  facets: z
    .array(
      z.object({
        features: z.array(z.object({ $type: z.string(), tag: z.string().optional() })).default([]),
      }),
    )
    .optional(),
});
export type BlueskyPostRecord = z.infer<typeof postRecordSchema>;

/** The tags a post's author linked as tags, normalised. Text that merely looks like `#x` is not one. */
export function facetTags(record: BlueskyPostRecord): string[] {
  const tags: string[] = [];
  for (const facet of record.facets ?? []) {
    for (const feature of facet.features) {
      if (feature.$type === TAG_FACET && feature.tag) tags.push(feature.tag);
    }
  }
  return normaliseTags(tags);
}

export function postUri(did: string, rkey: string): string {
  return `at://${did}/${POST_COLLECTION}/${rkey}`;
}

function isoFromMicros(timeUs: number): string {
  return new Date(Math.floor(timeUs / 1000)).toISOString();
}

/** `createdAt` is written by the author's client: fall back to Jetstream's own time if it is not a date. */
function isoOr(claimed: string, timeUs: number): string {
  const ms = Date.parse(claimed);
  return Number.isNaN(ms) ? isoFromMicros(timeUs) : new Date(ms).toISOString();
}

export function recordToPost(
  did: string,
  rkey: string,
  record: BlueskyPostRecord,
  timeUs: number,
  edited: boolean,
): IncomingPost {
  return {
    source: 'bluesky',
    externalId: postUri(did, rkey),
    url: `https://bsky.app/profile/${did}/post/${rkey}`,
    // A commit carries the DID only; resolving handles would cost a request per author.
    author: did,
    text: record.text,
    tags: facetTags(record),
    postedAt: isoOr(record.createdAt, timeUs),
    editedAt: edited ? isoFromMicros(timeUs) : null,
  };
}

function rawDataToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function parseCursor(cursor: string | null): number | null {
  if (cursor === null) return null;
  const value = Number(cursor);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

export function createBlueskyConnector(opts: ConnectorOptions<BlueskyConfig>): Connector {
  const { config, sink, log } = opts;
  const wanted = new Set(normaliseTags(config.tags));
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

  let lastTimeUs = parseCursor(opts.cursor);
  if (opts.cursor !== null && lastTimeUs === null) {
    log.warn({ cursor: opts.cursor }, 'bluesky: ignoring a saved cursor that is not a time in microseconds');
  }
  let savedTimeUs = lastTimeUs;
  let lastSaveAt = 0;
  let socketOpen = false;
  let controller: AbortController | null = null;
  let running: Promise<void> | null = null;

  function subscribeUrl(): string {
    const url = new URL(config.endpoint);
    url.searchParams.append('wantedCollections', POST_COLLECTION);
    if (lastTimeUs !== null) url.searchParams.set('cursor', String(Math.max(0, lastTimeUs - RESUME_OVERLAP_US)));
    return url.toString();
  }

  async function saveCursor(force: boolean): Promise<void> {
    if (lastTimeUs === null || lastTimeUs === savedTimeUs) return;
    if (!force && Date.now() - lastSaveAt < CURSOR_SAVE_INTERVAL_MS) return;
    const timeUs = lastTimeUs;
    lastSaveAt = Date.now();
    await sink.saveCursor(String(timeUs));
    savedTimeUs = timeUs;
  }

  async function handleCommit(did: string, timeUs: number, commitValue: unknown): Promise<void> {
    const commit = commitSchema.safeParse(commitValue);
    if (!commit.success || commit.data.collection !== POST_COLLECTION) return;
    const { operation, rkey, record } = commit.data;
    if (operation === 'delete') {
      // A delete carries no record, so its tags are unknowable: pass every one on and let the
      // sink ignore posts it never had.
      await sink.remove('bluesky', postUri(did, rkey));
      return;
    }
    const parsed = postRecordSchema.safeParse(record);
    if (!parsed.success) return;
    if (!facetTags(parsed.data).some((tag) => wanted.has(tag))) return;
    await sink.upsert(recordToPost(did, rkey, parsed.data, timeUs, operation === 'update'));
  }

  async function handleMessage(text: string): Promise<void> {
    const value = parseJsonMessage(text, log, 'bluesky');
    if (value === undefined) return;
    const envelope = envelopeSchema.safeParse(value);
    if (!envelope.success) return;
    const { did, time_us: timeUs, kind } = envelope.data;
    // identity and account events (handle changes, deactivations) say nothing about posts.
    if (kind === 'commit' && typeof value === 'object' && value !== null && 'commit' in value) {
      await handleCommit(did, timeUs, value.commit);
    }
    lastTimeUs = Math.max(lastTimeUs ?? 0, timeUs);
    await saveCursor(false);
  }

  function connectOnce(signal: AbortSignal, backoff: Backoff): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(subscribeUrl());
      let failure: unknown = null;
      let handling: Promise<void> = Promise.resolve();
      let queued = 0;

      const fail = (error: unknown): void => {
        failure ??= error;
        socket.terminate();
      };
      const watchdog = startIdleWatchdog(idleTimeoutMs, () =>
        fail(new Error(`Jetstream was silent for ${idleTimeoutMs} ms`)),
      );
      // Pings make a quiet but healthy connection answer, so only a dead one trips the watchdog.
      const pinger = setInterval(() => {
        // ping() throws while the handshake is still under way.
        if (socket.readyState === WebSocket.OPEN) socket.ping();
      }, Math.max(10, Math.floor(idleTimeoutMs / 3)));
      const onAbort = (): void => socket.terminate();
      signal.addEventListener('abort', onAbort, { once: true });

      socket.on('open', () => {
        socketOpen = true;
        backoff.reset();
        log.info({ resumeFromUs: lastTimeUs }, 'bluesky: connected to Jetstream');
      });
      socket.on('pong', () => watchdog.touch());
      socket.on('message', (data) => {
        watchdog.touch();
        const text = rawDataToString(data);
        queued += 1;
        if (queued >= QUEUE_HIGH_WATER) socket.pause();
        // One at a time, in the order Jetstream sent them, so the cursor only moves past handled events.
        handling = handling.then(async () => {
          queued -= 1;
          if (queued <= QUEUE_LOW_WATER && socket.isPaused) socket.resume();
          // After stop() nothing more reaches the sink; unhandled events are replayed next time.
          if (signal.aborted || failure !== null) return;
          try {
            await handleMessage(text);
          } catch (error) {
            fail(error);
          }
        });
      });
      socket.on('error', (error) => {
        failure ??= error;
      });
      socket.on('close', (code, reason) => {
        socketOpen = false;
        watchdog.stop();
        clearInterval(pinger);
        signal.removeEventListener('abort', onAbort);
        void handling.then(() => {
          if (failure !== null) reject(failure instanceof Error ? failure : new Error(describeError(failure)));
          else if (signal.aborted) resolve();
          else {
            log.warn({ code, reason: reason.toString('utf8') }, 'bluesky: Jetstream closed the connection');
            resolve();
          }
        });
      });
    });
  }

  async function run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(opts.minBackoffMs, opts.maxBackoffMs);
    await keepReconnecting({ name: 'bluesky', signal, backoff, log, connectOnce: () => connectOnce(signal, backoff) });
    // Whatever was handled since the last periodic save is kept for the next start.
    await saveCursor(true).catch((error: unknown) => log.error({ err: error }, 'bluesky: could not save the cursor'));
  }

  return {
    start() {
      if (running) return;
      if (wanted.size === 0) log.warn('bluesky: no hashtags configured; only deletes will be passed on');
      controller = new AbortController();
      running = run(controller.signal);
    },
    async stop() {
      controller?.abort();
      await running;
      running = null;
      controller = null;
    },
    get connected() {
      return socketOpen;
    },
  };
}

/**
 * Helpers the channel connectors share: turning a network's markup into plain text, normalising
 * hashtags, comparing snowflake ids, and the reconnect loop with back-off and jitter.
 */
import type { Logger } from 'pino';

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  // A non-breaking space is a plain space to anyone searching or reading the text.
  nbsp: ' ',
  hellip: '…',
  mdash: '—',
  ndash: '–',
  lsquo: '‘',
  rsquo: '’',
  ldquo: '“',
  rdquo: '”',
  pound: '£',
  euro: '€',
  copy: '©',
};

const REPLACEMENT_CHARACTER = '\uFFFD';

function codePointToString(codePoint: number): string {
  const isSurrogate = codePoint >= 0xd800 && codePoint <= 0xdfff;
  if (!Number.isInteger(codePoint) || codePoint <= 0 || codePoint > 0x10ffff || isSurrogate) {
    return REPLACEMENT_CHARACTER;
  }
  return String.fromCodePoint(codePoint);
}

/** Decodes named (`&amp;`), decimal (`&#39;`) and hexadecimal (`&#x27;`) character references. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (reference: string, body: string) => {
    if (body[0] === '#') {
      const isHex = body[1] === 'x' || body[1] === 'X';
      return codePointToString(Number.parseInt(body.slice(isHex ? 2 : 1), isHex ? 16 : 10));
    }
    // Unknown names stay as written rather than vanishing from what the author said.
    return NAMED_ENTITIES[body.toLowerCase()] ?? reference;
  });
}

/**
 * Mastodon's `content` is sanitised HTML: paragraphs, line breaks, links and spans. Paragraphs
 * become blank lines and `<br>` a newline; every tag is dropped (a link keeps its visible text,
 * and the spans Mastodon uses to shorten long URLs join back into the whole URL); entities are
 * decoded last so that an escaped `&lt;p&gt;` the author typed survives as text.
 */
export function htmlToText(html: string): string {
  const withBreaks = html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/p>\s*<p(\s[^>]*)?>/gi, '\n\n');
  const withoutTags = withBreaks.replace(/<[^>]*>/g, '');
  return decodeEntities(withoutTags)
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();
}

/** `#Ward7LGI` and `ward7lgi` are the same tag: lower-case, no `#`, Unicode compatibility form. */
export function normaliseTag(tag: string): string {
  return tag.trim().replace(/^#+/, '').normalize('NFKC').toLowerCase();
}

/** Normalised, without duplicates or empties, in first-seen order. */
export function normaliseTags(tags: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const tag of tags) {
    const normalised = normaliseTag(tag);
    if (normalised) seen.add(normalised);
  }
  return [...seen];
}

// ---------------------------------------------------------------------------------------------
// Snowflake ids
// ---------------------------------------------------------------------------------------------

/**
 * Mastodon status ids and tweet ids are numbers written as strings of varying length, larger than
 * a double can hold exactly: `'99' < '100'` fails as a string comparison and loses precision as
 * a Number, so they are compared as BigInt.
 */
export function compareSnowflakes(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

export function isSnowflake(value: string): boolean {
  return /^[0-9]{1,40}$/.test(value);
}

/** The larger of two ids, where `null` means "nothing seen yet". */
export function maxSnowflake(current: string | null, candidate: string): string {
  return current === null || compareSnowflakes(candidate, current) > 0 ? candidate : current;
}

// ---------------------------------------------------------------------------------------------
// Reconnecting
// ---------------------------------------------------------------------------------------------

export const DEFAULT_MIN_BACKOFF_MS = 1_000;
export const DEFAULT_MAX_BACKOFF_MS = 60_000;
/** Every network here sends something (a heartbeat, a keep-alive, a post) well within this. */
export const DEFAULT_IDLE_TIMEOUT_MS = 90_000;

/**
 * Exponential back-off with "equal jitter": the n-th wait is between half and all of
 * min·2ⁿ (capped at max), so it still grows but many clients dropped at once do not come back
 * in the same instant.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    readonly minMs: number = DEFAULT_MIN_BACKOFF_MS,
    readonly maxMs: number = DEFAULT_MAX_BACKOFF_MS,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    // Capping the exponent keeps 2ⁿ finite however long the outage lasts.
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** The longest wait, for failures that retrying soon cannot fix (a refused token). */
  longest(): number {
    return this.maxMs;
  }

  /** After a connection that worked, the next failure starts again from the shortest wait. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Waits `ms`, or less if the signal aborts first; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A failure with an HTTP status, so the reconnect loop can choose how long to wait. */
export class ChannelHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** How long the server asked us to wait (a rate limit's reset time), when it said. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'ChannelHttpError';
  }
}

export interface ReconnectLoopOptions {
  /** Names the connection in logs, e.g. `mastodon #ward7lgi`. */
  name: string;
  signal: AbortSignal;
  backoff: Backoff;
  log: Logger;
  /**
   * One connection from opening to its end. Resolves when the server ends it, throws when it
   * fails. It calls `backoff.reset()` itself once it is live.
   */
  connectOnce(): Promise<void>;
}

function waitAfterFailure(error: unknown, backoff: Backoff): number {
  if (error instanceof ChannelHttpError) {
    if (error.status === 401 || error.status === 403) return backoff.longest();
    if (error.status === 429) return error.retryAfterMs ?? backoff.longest();
  }
  return backoff.next();
}

/** Keeps a connection up until the signal aborts: connect, and after every end or failure wait. */
export async function keepReconnecting(options: ReconnectLoopOptions): Promise<void> {
  const { name, signal, backoff, log } = options;
  while (!signal.aborted) {
    let waitMs: number;
    try {
      await options.connectOnce();
      if (signal.aborted) break;
      waitMs = backoff.next();
      log.warn({ channel: name, retryInMs: waitMs }, `${name}: the stream ended; reconnecting`);
    } catch (error) {
      if (signal.aborted) break;
      waitMs = waitAfterFailure(error, backoff);
      const refused = error instanceof ChannelHttpError && (error.status === 401 || error.status === 403);
      // A refused credential will not fix itself: say so loudly, once per (long) retry.
      const level = refused ? 'error' : 'warn';
      log[level]({ channel: name, err: error, retryInMs: waitMs }, `${name}: ${describeError(error)}; retrying`);
    }
    await sleep(waitMs, signal);
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads `x-rate-limit-reset` (epoch seconds, as X sends it) into a wait in milliseconds; null
 * when the header is missing or unreadable. A reset time already past means "retry now".
 */
export function rateLimitWaitMs(resetHeader: string | null, nowMs: number = Date.now()): number | null {
  if (resetHeader === null || !/^\s*\d+\s*$/.test(resetHeader)) return null;
  return Math.max(0, Number(resetHeader) * 1000 - nowMs);
}

/**
 * Calls `onIdle` when `touch` has not been called for `ms`: a half-open TCP connection never
 * errors by itself, so silence longer than the network's heartbeat means the stream is dead.
 */
export function startIdleWatchdog(ms: number, onIdle: () => void): { touch(): void; stop(): void } {
  let timer = setTimeout(onIdle, ms);
  return {
    touch() {
      clearTimeout(timer);
      timer = setTimeout(onIdle, ms);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}

/** One message of a stream as JSON; one that is not JSON is logged and skipped (undefined). */
export function parseJsonMessage(text: string, log: Logger, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    log.warn(`${what}: skipping a message that is not JSON`);
    return undefined;
  }
}

import type { Logger } from 'pino';

/** The social networks and feeds Carevoice listens to. */
export type Source = 'mastodon' | 'bluesky' | 'x' | 'webhook';

/** One post as a connector hands it over, already reduced to what Carevoice keeps. */
export interface IncomingPost {
  source: Source;
  /** Unique within its source: a Mastodon status id, a Bluesky at:// URI, a tweet id, a webhook id. */
  externalId: string;
  /** Where the post can be read at its source, when it has an address. */
  url: string | null;
  /** The author's handle as the source shows it (`@name@instance`, `name.bsky.social`, `@name`). */
  author: string;
  /** Plain text: markup removed, entities decoded. */
  text: string;
  /** Hashtags the post carries, lower-case, without `#`. */
  tags: string[];
  /** When the author posted it (ISO-8601 UTC). */
  postedAt: string;
  /** Set when this is an edit of a post already handed over. */
  editedAt?: string | null;
}

/** Where a connector delivers what it hears. Every method is idempotent: a post may arrive twice. */
export interface ConnectorSink {
  /** A new post, or a new version of a post already delivered. */
  upsert(post: IncomingPost): Promise<void>;
  /** The author deleted the post at its source. */
  remove(source: Source, externalId: string): Promise<void>;
  /** Remember how far the connector has read, so a restart resumes there. */
  saveCursor(cursor: string): Promise<void>;
}

export interface ConnectorOptions<C> {
  config: C;
  /** The cursor saved last time (null on first start). */
  cursor: string | null;
  sink: ConnectorSink;
  log: Logger;
  /** Injected for tests; defaults to global fetch. */
  fetch?: typeof fetch;
  /** Back-off bounds for reconnecting, in milliseconds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Reconnect when the live stream has sent nothing (not even a heartbeat) for this long; a
   * half-open connection never errors by itself. Defaults to 90 s.
   */
  idleTimeoutMs?: number;
}

/** A running connection to one channel. `stop` closes it and resolves once nothing more is delivered. */
export interface Connector {
  start(): void;
  stop(): Promise<void>;
  /** Connected to the live stream right now (for the admin page and tests). */
  readonly connected: boolean;
}

export interface MastodonConfig {
  /** Base URL of the instance, e.g. https://mastodon.social */
  instance: string;
  token: string;
  /** Hashtags to follow, lower-case, without `#`. */
  tags: string[];
}

export interface BlueskyConfig {
  /** Jetstream endpoint, e.g. wss://jetstream2.us-east.bsky.network/subscribe */
  endpoint: string;
  tags: string[];
}

export interface XConfig {
  /** API base, https://api.x.com */
  apiBase: string;
  bearerToken: string;
  tags: string[];
}

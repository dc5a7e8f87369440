import type nunjucks from 'nunjucks';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { DbHandle } from './db/index.ts';
import type { JobWorker } from './jobs.ts';
import type { RequestRate } from './load.ts';

/** What every route and use case needs, built once in main.ts (or a test) and passed down. */
export interface AppContext {
  config: Config;
  handle: DbHandle;
  log: Logger;
  views: nunjucks.Environment;
  /** Signs cookies; kept in the database so every app server shares it (see secrets.ts). */
  secret: string;
  worker?: JobWorker;
  /** Counts requests so the job loop can yield to a burst (see load.ts). */
  requests?: RequestRate;
  /** The live wall's connections (set by the listening routes); tests and metrics read its size. */
  liveFeed?: { readonly size: number };
}

// A small HTTP client over node:http with keep-alive: less overhead per request than fetch, so the
// latencies measured are the server's, and the same agent settings for every measurement.
import http from 'node:http';
import { summarise, type LatencySummary } from './stats.ts';

export interface Answer {
  status: number;
  body: string;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export function request(url: string, o: { agent: http.Agent; method?: string; headers?: Record<string, string>; json?: unknown }): Promise<Answer> {
  const body = o.json === undefined ? undefined : JSON.stringify(o.json);
  const headers = { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', agent: o.agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface LatencyOptions {
  /** Paths under `base`, taken in turn. */
  paths: readonly string[];
  requests: number;
  /** The first requests warm up the server (JIT, caches, page cache) and are not counted. */
  warmup: number;
  /**
   * And the warm-up lasts at least this long: a count alone ended it too soon. 30 searches took
   * 0.06 s; on a server just started, the 95th percentile of the next 150 was 17-21 ms against
   * 13-15 ms for those after, while V8 was still compiling the hot paths.
   */
  warmupSeconds?: number;
  concurrency: number;
  /** No new request after this long: on a large data set a slow route would otherwise take hours. */
  maxSeconds?: number;
  headers?: Record<string, string>;
}

export interface LatencyResult extends LatencySummary {
  /** Answers other than 200. */
  errors: number;
}

/**
 * Closed-loop latency: `concurrency` clients, each sending its next request when the last one has
 * answered. The warm-up comes first (`warmup` requests and at least `warmupSeconds`); then
 * `requests` are measured, or as many as `maxSeconds` from the start allow (the summary's `n` says
 * how many were measured). A request is measured when it was sent after the warm-up ended. Low
 * concurrency measures the time one request takes rather than how requests queue.
 */
export async function sampleLatency(base: string, o: LatencyOptions): Promise<LatencyResult> {
  const agent = keepAliveAgent(o.concurrency);
  const times: number[] = [];
  let sent = 0;
  let measured = 0;
  let errors = 0;
  const started = performance.now();
  const stopAt = started + (o.maxSeconds ?? Infinity) * 1000;
  const warmUntil = started + (o.warmupSeconds ?? 0) * 1000;
  const warm = () => sent >= o.warmup && performance.now() >= warmUntil;
  const client = async () => {
    while (measured < o.requests && performance.now() < stopAt) {
      const counted = warm();
      if (counted) measured++;
      const i = sent++;
      const t0 = performance.now();
      const res = await request(base + o.paths[i % o.paths.length]!, { agent, headers: o.headers });
      const ms = performance.now() - t0;
      if (res.status !== 200) errors++;
      if (counted) times.push(ms);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, client));
  } finally {
    agent.destroy();
  }
  return { ...summarise(times), errors };
}
